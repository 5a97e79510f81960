// Kamaji's data plane: what the Kamaji operator does for each
// kamaji.clastix.io TenantControlPlane, as seen through the API. The Kamaji
// operator itself does not run; its CAPI control-plane provider does (it
// creates the TenantControlPlanes from KamajiControlPlanes and reads back
// what is written here).
//
// For each TenantControlPlane <ns>/<tcp>:
// - a real tenant kube-apiserver (startTenantApiServer, name <ns>-<tcp>) on
//   the management etcd under /tenants/<ns>-<tcp>, Kamaji's shared datastore
//   model, its serving certificate carrying spec.networkProfile.certSANs;
//   stopped when the TenantControlPlane is gone;
// - Secret <tcp>-admin-kubeconfig (key admin.conf) and Secret <tcp>-ca
//   (ca.crt, ca.key), owned by the TenantControlPlane, as Kamaji names them;
// - status: controlPlaneEndpoint "host:port", kubeconfig.admin.secretName,
//   certificates.ca.secretName, storage.{driver,dataStoreName},
//   kubernetesResources.deployment (the Deployment <ns>/<tcp>, replicas from
//   spec.controlPlane.deployment.replicas, all ready and updated) and
//   kubernetesResources.version {version, status}: Provisioning until the
//   apiserver answers, then Ready with spec.kubernetes.version. A changed
//   spec.kubernetes.version is a rolling upgrade: Upgrading (the old version
//   still reported) for `upgradeMs`, then Ready with the new version.
//
// These are exactly the fields the provider (v0.15.2,
// controllers/kamajicontrolplane_controller*.go) reads: controlPlaneEndpoint
// for the KamajiControlPlane and infrastructure cluster endpoints,
// version.status for initialized/ready, version.version and deployment for
// the KamajiControlPlane's version and replica counts, and the two Secret
// names, whose contents it copies into <cluster>-kubeconfig and <cluster>-ca.
import { createServer } from 'node:net';
import { Client, isNotFound } from '../../providers/kit/client.js';
import { Controller, type Request, type Result } from '../../providers/kit/controller.js';
import { Informer } from '../../providers/kit/informer.js';
import { silentLogger, type Logger } from '../../providers/kit/log.js';
import { Secrets, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import type { ControlPlane } from '../harness/controlplane.js';
import { startTenantApiServer, type TenantPlane } from '../harness/tenant.js';

const FIELD_MANAGER = 'ironplane-sim-kamaji';

export const TenantControlPlanes: ResourceType = { group: 'kamaji.clastix.io', version: 'v1alpha1', kind: 'TenantControlPlane', plural: 'tenantcontrolplanes', namespaced: true };

export type KubernetesVersionStatus = 'Provisioning' | 'CertificateAuthorityRotating' | 'Upgrading' | 'Migrating' | 'Ready' | 'NotReady' | 'Sleeping';

export interface TenantControlPlane extends KubeObject {
  spec?: {
    dataStore?: string;
    networkProfile?: { certSANs?: string[] };
    controlPlane?: { deployment?: { replicas?: number } };
    kubernetes?: { version?: string };
  };
  status?: {
    controlPlaneEndpoint?: string;
    kubeconfig?: { admin?: { secretName?: string; lastUpdate?: string } };
    certificates?: { ca?: { secretName?: string; lastUpdate?: string } };
    storage?: { driver?: string; dataStoreName?: string };
    kubernetesResources?: {
      version?: { version?: string; status?: KubernetesVersionStatus };
      deployment?: { replicas?: number; readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number; unavailableReplicas?: number; selector?: string; name?: string; namespace?: string };
    };
  };
}

export interface KamajiOptions {
  /** The management plane: tenant apiservers share its etcd. */
  cp: ControlPlane;
  log?: Logger;
  /** Ready every tenant for kubeadm workers (see startTenantApiServer). Default false. */
  kubeadm?: boolean;
  /** How long a version change stays Upgrading. Default 2000 ms. */
  upgradeMs?: number;
}

export interface Kamaji {
  /** The tenant apiserver of TenantControlPlane namespace/name, once started. */
  tenant(namespace: string, name: string): TenantPlane | undefined;
  /** Every tenant apiserver running now. */
  all(): TenantPlane[];
  /** Stops the controller and every tenant apiserver it started. Idempotent. */
  stop(): Promise<void>;
}

const adminSecretName = (tcp: string) => `${tcp}-admin-kubeconfig`;
const caSecretName = (tcp: string) => `${tcp}-ca`;
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

class SimKamaji implements Kamaji {
  private readonly client: Client;
  private readonly log: Logger;
  private readonly tcps: Informer<TenantControlPlane>;
  private readonly controller: Controller;
  private readonly tenants = new Map<string, TenantPlane>();
  /** When each TenantControlPlane's current upgrade started. */
  private readonly upgrades = new Map<string, number>();
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: KamajiOptions) {
    this.log = (opts.log ?? silentLogger).with({ sim: 'kamaji' });
    this.client = new Client(opts.cp.kubeConfig, { fieldManager: FIELD_MANAGER, userAgent: FIELD_MANAGER });
    this.tcps = new Informer<TenantControlPlane>(this.client, TenantControlPlanes, { log: this.log, retryMaxMs: 2000 });
    this.controller = new Controller({ name: 'sim-kamaji', reconcile: (req) => this.reconcile(req), log: this.log, workers: 2 }).watch(this.tcps);
  }

  tenant(namespace: string, name: string): TenantPlane | undefined {
    return this.tenants.get(`${namespace}/${name}`);
  }

  all(): TenantPlane[] {
    return [...this.tenants.values()];
  }

  async start(): Promise<void> {
    await this.tcps.start();
    await this.controller.start();
  }

  private async reconcile(req: Request): Promise<Result | void> {
    const tcp = this.tcps.get(req.key);
    if (!tcp || tcp.metadata?.deletionTimestamp) {
      // The Secrets go with their owner (garbage collection); the pods stop.
      const plane = this.tenants.get(req.key);
      this.tenants.delete(req.key);
      this.upgrades.delete(req.key);
      await plane?.stop();
      return;
    }
    const namespace = req.namespace ?? '';
    const name = req.name;
    let plane = this.tenants.get(req.key);
    if (!plane) {
      // Kamaji puts spec.networkProfile.certSANs into the apiserver's serving
      // certificate; here they are taken when the apiserver starts.
      const certSANs = tcp.spec?.networkProfile?.certSANs ?? [];
      plane = await startTenantApiServer(this.opts.cp, { name: `${namespace}-${name}`, port: await lowPort(), kubeadm: this.opts.kubeadm ?? false, certSANs, log: (l) => this.log.info(l) });
      if (this.stopping) {
        await plane.stop();
        return;
      }
      this.tenants.set(req.key, plane);
    }
    const owner = { apiVersion: 'kamaji.clastix.io/v1alpha1', kind: 'TenantControlPlane', name, uid: tcp.metadata!.uid!, controller: true, blockOwnerDeletion: true };
    const labels = { 'kamaji.clastix.io/name': name, 'kamaji.clastix.io/project': 'kamaji' };
    const secret = (secretName: string, data: Record<string, string>): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secretName, namespace, labels, ownerReferences: [owner] },
      type: 'Opaque',
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
    }) as KubeObject;
    await this.client.apply(Secrets, secret(adminSecretName(name), { 'admin.conf': plane.adminKubeconfig }), { force: true });
    await this.client.apply(Secrets, secret(caSecretName(name), { 'ca.crt': plane.ca.certPem, 'ca.key': plane.ca.keyPem }), { force: true });

    const wanted = tcp.spec?.kubernetes?.version ?? '';
    const current = tcp.status?.kubernetesResources?.version;
    let version = wanted;
    let state: KubernetesVersionStatus = 'Ready';
    let result: Result | undefined;
    if (current?.version && current.version !== wanted) {
      // A rolling upgrade of the apiserver Deployment: the old version is
      // reported until every replica runs the new one.
      const since = this.upgrades.get(req.key) ?? Date.now();
      this.upgrades.set(req.key, since);
      const left = (this.opts.upgradeMs ?? 2000) - (Date.now() - since);
      if (left > 0) {
        version = current.version;
        state = 'Upgrading';
        result = { requeueAfterMs: left };
      } else {
        this.upgrades.delete(req.key);
      }
    }
    const replicas = tcp.spec?.controlPlane?.deployment?.replicas ?? 2;
    const status = {
      controlPlaneEndpoint: `${plane.endpoint.host}:${plane.endpoint.port}`,
      kubeconfig: { admin: { secretName: adminSecretName(name) } },
      certificates: { ca: { secretName: caSecretName(name) } },
      storage: { driver: 'etcd', dataStoreName: tcp.spec?.dataStore ?? '' },
      kubernetesResources: {
        version: { version, status: state },
        deployment: {
          replicas,
          readyReplicas: state === 'Ready' ? replicas : replicas - 1,
          updatedReplicas: state === 'Ready' ? replicas : 1,
          availableReplicas: replicas,
          unavailableReplicas: 0,
          selector: `kamaji.clastix.io/name=${name}`,
          name,
          namespace,
        },
      },
    };
    if (!covers(tcp.status, status)) {
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const stamped = { ...status, kubeconfig: { admin: { ...status.kubeconfig.admin, lastUpdate: now } }, certificates: { ca: { ...status.certificates.ca, lastUpdate: now } } };
      try {
        await this.client.mergePatch(TenantControlPlanes, name, namespace, { status: stamped }, { subresource: 'status' });
        this.log.info('TenantControlPlane status', { key: req.key, version, status: state });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    return result;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.controller.stop();
      await this.tcps.stop();
      const planes = [...this.tenants.values()];
      this.tenants.clear();
      await Promise.all(planes.map((p) => p.stop()));
      this.client.close();
    })();
    return this.stopping;
  }
}

/**
 * A free loopback port below 32768. The provider parses the port of
 * status.controlPlaneEndpoint as a signed 16-bit integer, so a port from the
 * kernel's ephemeral range (32768 and up) is refused; Kamaji serves on 6443
 * behind a Service, which loopback cannot give every tenant.
 */
async function lowPort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** Whether every field of `want` has the same value in `have`. */
function covers(have: unknown, want: unknown): boolean {
  if (want === null || typeof want !== 'object') return have === want;
  if (have === null || typeof have !== 'object') return false;
  return Object.entries(want).every(([k, v]) => covers((have as Record<string, unknown>)[k], v));
}

/**
 * Starts the simulation once its TenantControlPlane informer has synced.
 * Needs Kamaji's TenantControlPlane CRD (config/external/kamaji/kamaji).
 */
export async function startKamaji(opts: KamajiOptions): Promise<Kamaji> {
  const k = new SimKamaji(opts);
  try {
    await k.start();
  } catch (e) {
    await k.stop().catch(() => undefined);
    throw e;
  }
  return k;
}
