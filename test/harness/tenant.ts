// Tenant control planes the way Kamaji hosts them: one more kube-apiserver per
// tenant, sharing the management plane's etcd under a key prefix of its own
// (Kamaji's "shared datastore" model), with a CA, service-account keys and
// admin credentials of its own. Nothing in the management plane can read the
// tenant's objects except through this apiserver.
//
// In tests this stands in for Kamaji's TenantControlPlane pods; the Secrets
// that Kamaji's CAPI control-plane provider copies into the management
// cluster are written by publishTenantSecrets().
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Client } from '../../providers/kit/client.js';
import { Secrets, type KubeObject, type OwnerReference } from '../../providers/kit/types.js';
import {
  apiServerArgs,
  binary,
  defaultBinDir,
  DIR_PREFIX,
  LocalControlPlane,
  SERVICE_IP,
  type ControlPlane,
  type Dependent,
} from './controlplane.js';
import { request, waitFor, type ClientCredentials } from './http.js';
import { renderKubeconfig } from './kubeconfig.js';
import { createCA, createServiceAccountKeyPair, issueApiServerCert, issueCert, type CertificateAuthority } from './pki.js';
import {
  freePorts,
  killGroup,
  OWNER_FILE,
  registerLive,
  spawnLogged,
  tail,
  terminate,
  unregisterLive,
  type ManagedProcess,
  type OwnerRecord,
} from './procs.js';

export interface TenantApiServerOptions {
  /** Tenant name: the etcd prefix is /tenants/<name>, and the kubeconfig's cluster/context name. */
  name: string;
  /** Only needed when `cp` did not come from startControlPlane(). Default: $IRONPLANE_BIN_DIR, else <repo>/bin. */
  binDir?: string;
  log?: (line: string) => void;
}

export interface TenantPlane {
  readonly name: string;
  /** https://127.0.0.1:<port> */
  readonly url: string;
  /** Where this tenant's objects live in the shared etcd. */
  readonly etcdPrefix: string;
  /** The tenant's own CA (not the management plane's): signs its serving and client certs. */
  readonly ca: CertificateAuthority;
  /** Admin kubeconfig (client cert in system:masters), as YAML text: what Kamaji puts in admin.conf. */
  readonly adminKubeconfig: string;
  readonly kubeConfig: KubeConfig;
  /** SIGTERM (SIGKILL after 5 s) and remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;

class LocalTenantPlane implements TenantPlane, Dependent {
  readonly kubeConfig = new KubeConfig();
  private proc: ManagedProcess | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly url: string,
    readonly etcdPrefix: string,
    readonly ca: CertificateAuthority,
    readonly adminKubeconfig: string,
    private readonly admin: ClientCredentials,
    private readonly dir: string,
    private readonly host: LocalControlPlane | undefined,
  ) {
    this.kubeConfig.loadFromString(adminKubeconfig);
  }

  async boot(bin: string, args: string[]): Promise<void> {
    const proc = spawnLogged('kube-apiserver', bin, args, join(this.dir, 'kube-apiserver.log'));
    this.proc = proc;
    // Lets a later run reap this dir if this Node process dies by SIGKILL.
    const owner: OwnerRecord = { ownerPid: process.pid, pids: [proc.pid] };
    writeFileSync(join(this.dir, OWNER_FILE), JSON.stringify(owner));
    try {
      await waitFor(`tenant ${this.name} kube-apiserver to become ready`, READY_TIMEOUT_MS, async (note) => {
        if (proc.exitReason !== undefined) throw new Error(`kube-apiserver ${proc.exitReason}`);
        if (this.stopping) throw new Error(`tenant ${this.name} is stopping`);
        try {
          const res = await request(`${this.url}/readyz`, this.admin, { timeoutMs: 2000 });
          return res.status === 200 ? true : note(`HTTP ${res.status}: ${res.body.split('\n').filter((l) => l.includes('[-]')).join(' ')}`);
        } catch (err) {
          return note((err as Error).message);
        }
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- last lines of ${proc.logPath} ---\n${tail(proc.logPath)}`);
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        if (this.proc) await terminate(this.proc);
      } finally {
        rmSync(this.dir, { recursive: true, force: true });
        unregisterLive(this);
        this.host?.release(this);
      }
    })();
    return this.stopping;
  }

  cleanupSync(): void {
    if (this.proc && this.proc.exitReason === undefined) killGroup(this.proc.pid, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts a tenant kube-apiserver on `cp`'s etcd under /tenants/<name>, with
 * its own PKI, RBAC and bootstrap-token authentication, and waits for /readyz.
 * cp.stop() stops it too (before etcd); so does the exit of this Node process.
 */
export async function startTenantApiServer(cp: ControlPlane, opts: TenantApiServerOptions): Promise<TenantPlane> {
  const { name } = opts;
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) throw new Error(`tenant name '${name}' must be a DNS subdomain`);
  const log = opts.log ?? ((): void => {});
  const host = cp instanceof LocalControlPlane ? cp : undefined;
  const bin = host && !opts.binDir ? host.apiServerBinary : binary(opts.binDir ?? defaultBinDir(), 'kube-apiserver');
  const t0 = Date.now();

  const [[port], ca, sa] = await Promise.all([freePorts(1), createCA(`${name}-ca`), createServiceAccountKeyPair()]);
  if (port === undefined) throw new Error('harness: port allocation failed');
  const [serving, admin] = await Promise.all([
    issueApiServerCert(ca, SERVICE_IP),
    issueCert({ ca, commonName: 'kubernetes-admin', organizations: ['system:masters'], usages: 'client' }),
  ]);
  const url = `https://127.0.0.1:${port}`;
  const etcdPrefix = `/tenants/${name}`;
  const adminKubeconfig = renderKubeconfig({ server: url, caPem: ca.certPem, name, user: `${name}-admin`, certPem: admin.certPem, keyPem: admin.keyPem });

  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}tenant-${name}-`));
  const pki = join(dir, 'pki');
  mkdirSync(pki);
  const file = (n: string, content: string): string => {
    const p = join(pki, n);
    writeFileSync(p, content, { mode: 0o600 });
    return p;
  };
  const args = apiServerArgs({
    etcdUrl: cp.etcdUrl,
    etcdPrefix,
    port,
    certDir: join(dir, 'kube-apiserver'),
    tlsCertFile: file('apiserver.crt', serving.certPem),
    tlsKeyFile: file('apiserver.key', serving.keyPem),
    clientCAFile: file('ca.crt', ca.certPem),
    saPublicKeyFile: file('sa.pub', sa.publicKeyPem),
    saSigningKeyFile: file('sa.key', sa.privateKeyPem),
  });
  writeFileSync(join(dir, 'kubeconfig'), adminKubeconfig, { mode: 0o600 });

  const plane = new LocalTenantPlane(name, url, etcdPrefix, ca, adminKubeconfig, { ca: ca.certPem, cert: admin.certPem, key: admin.keyPem }, dir, host);
  registerLive(plane);
  try {
    host?.adopt(plane);
    await plane.boot(bin, args);
  } catch (err) {
    await plane.stop().catch(() => undefined);
    throw err;
  }
  log(`tenant ${name} kube-apiserver ready at ${url} (etcd prefix ${etcdPrefix}, ${Date.now() - t0} ms)`);
  return plane;
}

export interface PublishTenantSecretsOptions {
  namespace: string;
  /** The CAPI Cluster's name: the Secrets are <cluster>-kubeconfig and <cluster>-ca. */
  cluster: string;
  tenant: TenantPlane;
  /** Kamaji's provider makes its KamajiControlPlane the controller of both Secrets. */
  owner?: OwnerReference;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/**
 * Writes what Kamaji's CAPI control-plane provider writes into the management
 * cluster for a ready TenantControlPlane (createOrUpdateKubeconfig and
 * createOrUpdateCertificateAuthority in its kamajicontrolplane_controller_resources.go):
 * - Secret <cluster>-kubeconfig, key `value` = the admin kubeconfig;
 * - Secret <cluster>-ca, keys tls.crt and tls.key.
 * Both have type cluster.x-k8s.io/secret (the provider's current main; its
 * older releases left them Opaque) and carry cluster.x-k8s.io/cluster-name
 * plus Kamaji's own kamaji.clastix.io/* labels.
 */
export async function publishTenantSecrets(client: Client, opts: PublishTenantSecretsOptions): Promise<void> {
  const { namespace, cluster, tenant } = opts;
  const labels = (kind: string): Record<string, string> => ({
    'cluster.x-k8s.io/cluster-name': cluster,
    'kamaji.clastix.io/component': 'capi',
    'kamaji.clastix.io/secret': kind,
    'kamaji.clastix.io/cluster': cluster,
    'kamaji.clastix.io/tcp': tenant.name,
  });
  const secret = (name: string, kind: string, data: Record<string, string>): KubeObject & { type: string; data: Record<string, string> } => ({
    metadata: { name, namespace, labels: labels(kind), ...(opts.owner ? { ownerReferences: [opts.owner] } : {}) },
    type: 'cluster.x-k8s.io/secret',
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  });
  await Promise.all([
    client.apply(Secrets, secret(`${cluster}-kubeconfig`, 'kubeconfig', { value: tenant.adminKubeconfig }), { force: true }),
    client.apply(Secrets, secret(`${cluster}-ca`, 'ca', { 'tls.crt': tenant.ca.certPem, 'tls.key': tenant.ca.keyPem }), { force: true }),
  ]);
}
