// Tenant control planes the way Kamaji hosts them: one more kube-apiserver per
// tenant, sharing the management plane's etcd under a key prefix of its own
// (Kamaji's "shared datastore" model), with a CA, service-account keys and
// admin credentials of its own. Nothing in the management plane can read the
// tenant's objects except through this apiserver.
//
// In tests this stands in for Kamaji's TenantControlPlane pods; the Secrets
// that Kamaji's CAPI control-plane provider copies into the management
// cluster are written by publishTenantSecrets(). With `kubeadm: true` the
// tenant is also ready for kubeadm workers, as Kamaji leaves it: a
// kube-controller-manager runs the bootstrap signer and token cleaner, and
// kubeadm's cluster-info ConfigMap, bootstrap RBAC and kubeadm-config /
// kubelet-config ConfigMaps exist.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { Client } from '../../providers/kit/client.js';
import { ConfigMaps, Secrets, type KubeObject, type OwnerReference, type ResourceType } from '../../providers/kit/types.js';
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
import { FIELD_MANAGER } from './crds.js';
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
  /**
   * Ready the tenant for kubeadm workers as Kamaji does: kube-controller-manager
   * (bootstrap signer, token cleaner), kube-public/cluster-info, kubeadm's
   * bootstrap RBAC, kube-system/kubeadm-config and kubelet-config.
   */
  kubeadm?: boolean;
  /** The loopback port to serve on. Default: a free one. */
  port?: number;
  /**
   * More subject alternative names for the serving certificate, as Kamaji
   * adds a TenantControlPlane's spec.networkProfile.certSANs: IP addresses
   * become IP SANs, anything else DNS SANs.
   */
  certSANs?: readonly string[];
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
  /** host and port of `url`, as a Cluster's spec.controlPlaneEndpoint names it. */
  readonly endpoint: { host: string; port: number };
  /** The processes serving the tenant (kube-apiserver, and kube-controller-manager with kubeadm), e.g. to measure memory. */
  readonly pids: readonly number[];
  /** SIGTERM (SIGKILL after 5 s) and remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;

class LocalTenantPlane implements TenantPlane, Dependent {
  readonly kubeConfig = new KubeConfig();
  readonly endpoint: { host: string; port: number };
  private readonly procs: ManagedProcess[] = [];
  private stopping: Promise<void> | undefined;

  get pids(): readonly number[] {
    return this.procs.map((p) => p.pid);
  }

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
    const u = new URL(url);
    this.endpoint = { host: u.hostname, port: Number(u.port) };
  }

  private spawn(name: string, bin: string, args: string[]): ManagedProcess {
    const proc = spawnLogged(name, bin, args, join(this.dir, `${name}.log`));
    this.procs.push(proc);
    // Lets a later run reap this dir if this Node process dies by SIGKILL.
    const owner: OwnerRecord = { ownerPid: process.pid, pids: this.procs.map((p) => p.pid) };
    writeFileSync(join(this.dir, OWNER_FILE), JSON.stringify(owner));
    return proc;
  }

  async boot(bin: string, args: string[]): Promise<void> {
    const proc = this.spawn('kube-apiserver', bin, args);
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

  /**
   * Starts kube-controller-manager with the bootstrap signer and the token
   * cleaner, writes kubeadm's objects, and waits until a probe token's
   * signature appears in cluster-info: from then on the tenant signs tokens.
   */
  async readyForKubeadm(bin: string, kubeconfigPath: string): Promise<void> {
    const proc = this.spawn('kube-controller-manager', bin, [
      `--kubeconfig=${kubeconfigPath}`,
      // No HTTPS endpoint: readiness is judged by what the controllers do.
      '--secure-port=0',
      '--leader-elect=false',
      '--use-service-account-credentials=false',
      '--controllers=bootstrapsigner,tokencleaner',
      `--cluster-name=${this.name}`,
    ]);
    const client = new Client(this.kubeConfig, { fieldManager: FIELD_MANAGER, timeoutMs: 10_000 });
    try {
      await installKubeadmObjects(client, this.url, this.ca.certPem);
      const probe = 'h0rnss';
      const probeSecret = `bootstrap-token-${probe}`;
      await client.create(Secrets, {
        metadata: { name: probeSecret, namespace: 'kube-system' },
        type: 'bootstrap.kubernetes.io/token',
        stringData: { 'token-id': probe, 'token-secret': '0123456789abcdef', expiration: new Date(Date.now() + 5 * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z'), 'usage-bootstrap-signing': 'true' },
      } as KubeObject);
      try {
        await waitFor(`tenant ${this.name}: the bootstrap signer to sign cluster-info`, READY_TIMEOUT_MS, async (note) => {
          if (proc.exitReason !== undefined) throw new Error(`kube-controller-manager ${proc.exitReason}`);
          const cm = await client.get<KubeObject & { data?: Record<string, string> }>(ConfigMaps, 'cluster-info', 'kube-public');
          return cm.data?.[`jws-kubeconfig-${probe}`] ? true : note('no signature yet');
        });
      } finally {
        await client.delete(Secrets, probeSecret, 'kube-system');
      }
    } catch (err) {
      const logPath = join(this.dir, 'kube-controller-manager.log');
      throw new Error(`${(err as Error).message}\n--- last lines of ${logPath} ---\n${tail(logPath)}`);
    } finally {
      client.close();
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        // The controller-manager first: it needs the apiserver on its way out.
        for (const p of [...this.procs].reverse()) await terminate(p);
      } finally {
        rmSync(this.dir, { recursive: true, force: true });
        unregisterLive(this);
        this.host?.release(this);
      }
    })();
    return this.stopping;
  }

  cleanupSync(): void {
    for (const p of this.procs) if (p.exitReason === undefined) killGroup(p.pid, 'SIGKILL');
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

  const [[port], ca, sa] = await Promise.all([opts.port ? [opts.port] : freePorts(1), createCA(`${name}-ca`), createServiceAccountKeyPair()]);
  if (port === undefined) throw new Error('harness: port allocation failed');
  const [serving, admin, kcm] = await Promise.all([
    issueApiServerCert(ca, SERVICE_IP, opts.certSANs),
    issueCert({ ca, commonName: 'kubernetes-admin', organizations: ['system:masters'], usages: 'client' }),
    // As on the management plane: the bootstrap signer updates cluster-info,
    // which the bootstrap RBAC role of kube-controller-manager does not allow.
    opts.kubeadm ? issueCert({ ca, commonName: 'system:kube-controller-manager', organizations: ['system:masters'], usages: 'client' }) : undefined,
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
  const kcmKubeconfig = join(dir, 'kube-controller-manager.kubeconfig');
  if (kcm) writeFileSync(kcmKubeconfig, renderKubeconfig({ server: url, caPem: ca.certPem, name, user: 'kube-controller-manager', certPem: kcm.certPem, keyPem: kcm.keyPem }), { mode: 0o600 });
  const kcmBin = opts.kubeadm ? binary(opts.binDir ?? defaultBinDir(), 'kube-controller-manager') : undefined;

  const plane = new LocalTenantPlane(name, url, etcdPrefix, ca, adminKubeconfig, { ca: ca.certPem, cert: admin.certPem, key: admin.keyPem }, dir, host);
  registerLive(plane);
  try {
    host?.adopt(plane);
    await plane.boot(bin, args);
    if (kcmBin) await plane.readyForKubeadm(kcmBin, kcmKubeconfig);
  } catch (err) {
    await plane.stop().catch(() => undefined);
    throw err;
  }
  log(`tenant ${name} kube-apiserver ready at ${url} (etcd prefix ${etcdPrefix}${kcmBin ? ', kubeadm-ready' : ''}, ${Date.now() - t0} ms)`);
  return plane;
}

const rbac = (kind: string, plural: string, namespaced: boolean): ResourceType => ({ group: 'rbac.authorization.k8s.io', version: 'v1', kind, plural, namespaced });
const Roles = rbac('Role', 'roles', true);
const RoleBindings = rbac('RoleBinding', 'rolebindings', true);
const ClusterRoles = rbac('ClusterRole', 'clusterroles', false);
const ClusterRoleBindings = rbac('ClusterRoleBinding', 'clusterrolebindings', false);
const NODE_BOOTSTRAP_GROUP = 'system:bootstrappers:kubeadm:default-node-token';
const group = (name: string) => ({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name });

/**
 * What kubeadm's init phases (bootstrap-token, upload-config), which Kamaji
 * runs for every tenant, leave in a cluster for workers to join it:
 * - kube-public/cluster-info with a kubeconfig naming the server and CA,
 *   readable by system:anonymous (the bootstrap signer adds the signatures);
 * - the node bootstrap group may post and auto-approve CSRs, read the
 *   kubeadm-config and kubelet-config ConfigMaps and get Nodes;
 * - those two ConfigMaps.
 */
async function installKubeadmObjects(client: Client, server: string, caPem: string): Promise<void> {
  const version = (await client.version()).gitVersion;
  const clusterInfo = stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ cluster: { 'certificate-authority-data': b64(caPem), server }, name: '' }],
    contexts: null,
    'current-context': '',
    preferences: {},
    users: null,
  });
  const apply = (rt: ResourceType, o: KubeObject) => client.apply(rt, o, { force: true });
  const readConfigMap = (ns: string, role: string, configMap: string, groups: string[]) =>
    Promise.all([
      apply(Roles, { metadata: { name: role, namespace: ns }, rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [configMap], verbs: ['get'] }] } as KubeObject),
      apply(RoleBindings, { metadata: { name: role, namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role }, subjects: groups.map(group) } as KubeObject),
    ]);
  const bindCluster = (name: string, role: string, groups: string[]) =>
    apply(ClusterRoleBindings, { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: groups.map(group) } as KubeObject);
  await Promise.all([
    apply(ConfigMaps, { metadata: { name: 'cluster-info', namespace: 'kube-public' }, data: { kubeconfig: clusterInfo } } as KubeObject),
    apply(Roles, { metadata: { name: 'kubeadm:bootstrap-signer-clusterinfo', namespace: 'kube-public' }, rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['cluster-info'], verbs: ['get'] }] } as KubeObject),
    apply(RoleBindings, {
      metadata: { name: 'kubeadm:bootstrap-signer-clusterinfo', namespace: 'kube-public' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kubeadm:bootstrap-signer-clusterinfo' },
      subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'system:anonymous' }],
    } as KubeObject),
    bindCluster('kubeadm:kubelet-bootstrap', 'system:node-bootstrapper', [NODE_BOOTSTRAP_GROUP]),
    bindCluster('kubeadm:node-autoapprove-bootstrap', 'system:certificates.k8s.io:certificatesigningrequests:nodeclient', [NODE_BOOTSTRAP_GROUP]),
    bindCluster('kubeadm:node-autoapprove-certificate-rotation', 'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', ['system:nodes']),
    apply(ClusterRoles, { metadata: { name: 'kubeadm:get-nodes' }, rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }] } as KubeObject),
    bindCluster('kubeadm:get-nodes', 'kubeadm:get-nodes', [NODE_BOOTSTRAP_GROUP]),
    readConfigMap('kube-system', 'kubeadm:nodes-kubeadm-config', 'kubeadm-config', [NODE_BOOTSTRAP_GROUP, 'system:nodes']),
    readConfigMap('kube-system', 'kubeadm:kubelet-config', 'kubelet-config', [NODE_BOOTSTRAP_GROUP, 'system:nodes']),
    apply(ConfigMaps, {
      metadata: { name: 'kubeadm-config', namespace: 'kube-system' },
      data: {
        ClusterConfiguration: stringify({
          apiVersion: 'kubeadm.k8s.io/v1beta4',
          kind: 'ClusterConfiguration',
          kubernetesVersion: version,
          controlPlaneEndpoint: new URL(server).host,
          certificatesDir: '/etc/kubernetes/pki',
          networking: { dnsDomain: 'cluster.local', serviceSubnet: '10.0.0.0/24', podSubnet: '10.244.0.0/16' },
        }),
      },
    } as KubeObject),
    apply(ConfigMaps, {
      metadata: { name: 'kubelet-config', namespace: 'kube-system' },
      data: {
        kubelet: stringify({
          apiVersion: 'kubelet.config.k8s.io/v1beta1',
          kind: 'KubeletConfiguration',
          cgroupDriver: 'systemd',
          clusterDNS: ['10.0.0.10'],
          clusterDomain: 'cluster.local',
          authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: '/etc/kubernetes/pki/ca.crt' } },
          authorization: { mode: 'Webhook' },
          rotateCertificates: true,
        }),
      },
    } as KubeObject),
  ]);
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
