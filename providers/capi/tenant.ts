// Clients for tenant clusters, from the `<cluster>-kubeconfig` Secret that
// the control-plane provider (Kamaji) writes in the management cluster. One
// client per cluster, rebuilt when the Secret changes (rotated credentials).
import { KubeConfig } from '@kubernetes/client-node';
import { Client, isNotFound } from '../kit/client.js';
import { Secrets, type KubeObject } from '../kit/types.js';

export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** The tenant cluster cannot be reached yet, and why; reconcilers turn this into a condition. */
export class TenantNotReady extends Error {
  constructor(
    readonly reason: 'KubeconfigNotFound' | 'KubeconfigInvalid',
    message: string,
  ) {
    super(message);
  }
}

export function kubeconfigSecretName(cluster: string): string {
  return `${cluster}-kubeconfig`;
}

const TENANT_TIMEOUT_MS = 5_000;

export class TenantClients {
  private readonly clients = new Map<string, { version: string; client: Client }>();

  constructor(
    private readonly management: Client,
    private readonly fieldManager: string,
  ) {}

  /** A client for the tenant cluster; throws TenantNotReady while its kubeconfig is missing or unusable. */
  async get(namespace: string, cluster: string): Promise<Client> {
    const name = kubeconfigSecretName(cluster);
    let secret: Secret;
    try {
      secret = await this.management.get<Secret>(Secrets, name, namespace);
    } catch (e) {
      if (isNotFound(e)) throw new TenantNotReady('KubeconfigNotFound', `Secret ${namespace}/${name} not found: the control plane has not published the tenant kubeconfig yet`);
      throw e;
    }
    const key = `${namespace}/${cluster}`;
    const version = secret.metadata?.resourceVersion ?? '';
    const cached = this.clients.get(key);
    if (cached && cached.version === version) return cached.client;
    const value = secret.data?.['value'];
    if (!value) throw new TenantNotReady('KubeconfigInvalid', `Secret ${namespace}/${name} has no "value" key`);
    const kc = new KubeConfig();
    try {
      kc.loadFromString(Buffer.from(value, 'base64').toString('utf8'));
    } catch (e) {
      throw new TenantNotReady('KubeconfigInvalid', `Secret ${namespace}/${name} does not hold a kubeconfig: ${(e as Error).message}`);
    }
    if (!kc.getCurrentCluster()) throw new TenantNotReady('KubeconfigInvalid', `the kubeconfig in Secret ${namespace}/${name} has no current cluster`);
    cached?.client.close();
    const client = new Client(kc, { fieldManager: this.fieldManager, timeoutMs: TENANT_TIMEOUT_MS });
    this.clients.set(key, { version, client });
    return client;
  }

  /** Forgets a deleted cluster's client. */
  forget(namespace: string, cluster: string): void {
    this.clients.get(`${namespace}/${cluster}`)?.client.close();
    this.clients.delete(`${namespace}/${cluster}`);
  }

  close(): void {
    for (const { client } of this.clients.values()) client.close();
    this.clients.clear();
  }
}
