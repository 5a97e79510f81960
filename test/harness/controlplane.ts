// The local control plane: etcd + kube-apiserver (+ kube-controller-manager)
// from bin/, on free loopback ports, with generated certificates and RBAC on.
// Used by integration tests, e2e and `ironplane dev`.
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { installCRDs as applyCRDs } from './crds.js';
import { request, waitFor, type ClientCredentials } from './http.js';
import { writeKubeconfig } from './kubeconfig.js';
import { createCA, createServiceAccountKeyPair, issueApiServerCert, issueCert, type CertificateAuthority } from './pki.js';
import {
  freePorts,
  killGroup,
  OWNER_FILE,
  reapOrphans,
  registerLive,
  spawnLogged,
  tail,
  terminate,
  unregisterLive,
  type ManagedProcess,
  type OwnerRecord,
  type SyncCleanup,
} from './procs.js';

export interface ControlPlaneOptions {
  /** Where etcd, kube-apiserver, kube-controller-manager live. Default: $IRONPLANE_BIN_DIR, else <repo>/bin. */
  binDir?: string;
  /** CRD YAML files or directories to install, waiting until Established. */
  crds?: string[];
  /** Also start kube-controller-manager (GC, bootstrap-token signer, tokencleaner, SA tokens). */
  controllerManager?: boolean;
  /** Used in the temp dir name and as the kubeconfig cluster/context name. Default 'ironplane'. */
  name?: string;
  /**
   * Serve real nodes (test/harness/node.ts): also start kube-scheduler and
   * kube-controller-manager; the `kubernetes` Service's endpoint becomes
   * NODE_API_ADDRESS (where each node's network namespace reaches this
   * apiserver); the Node authorizer, NodeRestriction and ServiceAccount
   * admission are on; kubelets are reached by InternalIP. Off by default:
   * other tests rely on the Service having no endpoints and Pods needing no
   * ServiceAccount.
   */
  nodes?: boolean;
  /** etcd key prefix for this apiserver. Default '/registry'. */
  etcdPrefix?: string;
  /** Harness progress lines. Process output goes to <dir>/<process>.log; its tail is in any start-up error. */
  log?: (line: string) => void;
}

export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  readonly url: string;
  /** Admin kubeconfig (client cert in system:masters). */
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  /** Temp dir holding certs, logs, etcd data; removed by stop(). */
  readonly dir: string;
  /** Cluster CA: signs webhook/serving certs, gives the kubeadm CA hash. */
  readonly ca: { certPem: string; keyPem: string };
  /** http://127.0.0.1:<port>, e.g. for more apiservers sharing etcd under other prefixes. */
  readonly etcdUrl: string;
  installCRDs(paths: string[]): Promise<void>;
  /** SIGTERM kube-apiserver only; etcd (and kube-controller-manager) keep running. */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port and certs and waits for /readyz. */
  startApiServer(): Promise<void>;
  /** Kills everything (SIGTERM, SIGKILL after 5 s) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export const DIR_PREFIX = 'ironplane-harness-';
const READY_TIMEOUT_MS = 60_000;
// The apiserver's ClusterIP for the `kubernetes` Service is the first address of this range.
const SERVICE_CIDR = '10.0.0.0/24';
export const SERVICE_IP = '10.0.0.1';
/**
 * With `nodes`, the apiserver's advertised address: local in every node's
 * network namespace, where a proxy carries it to this apiserver.
 */
export const NODE_API_ADDRESS = '10.255.254.1';

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler';

/** The repository root: the nearest directory above this module with a package.json. */
export function repoRoot(): string {
  // Walk up from this module (test/harness, or dist/test/harness once built) to package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('harness: cannot find the repository root (no package.json above this module)');
    dir = up;
  }
  return dir;
}

/** The bin dir startControlPlane uses when given none. */
export function defaultBinDir(): string {
  return resolve(process.env.IRONPLANE_BIN_DIR ?? join(repoRoot(), 'bin'));
}

export function binary(binDir: string, name: Component): string {
  const path = join(binDir, name);
  try {
    accessSync(path, constants.X_OK);
    if (statSync(path).isFile()) return path;
  } catch {
    // Fall through to the actionable message.
  }
  throw new Error(`${name} not found at ${path}: run 'make tools'`);
}

/** Everything fixed for the life of a control plane: ports, files and arguments. */
interface Layout {
  dir: string;
  name: string;
  bins: Partial<Record<Component, string>>;
  args: Partial<Record<Component, string[]>>;
  url: string;
  etcdUrl: string;
  kubeconfigPath: string;
  ca: CertificateAuthority;
  admin: ClientCredentials;
}

function findBinaries(opts: ControlPlaneOptions): Layout['bins'] {
  const binDir = opts.binDir ? resolve(opts.binDir) : defaultBinDir();
  return {
    etcd: binary(binDir, 'etcd'),
    'kube-apiserver': binary(binDir, 'kube-apiserver'),
    ...(opts.controllerManager || opts.nodes ? { 'kube-controller-manager': binary(binDir, 'kube-controller-manager') } : {}),
    ...(opts.nodes ? { 'kube-scheduler': binary(binDir, 'kube-scheduler') } : {}),
  };
}

/** Where one kube-apiserver finds its storage, port and key material. */
export interface ApiServerFiles {
  etcdUrl: string;
  etcdPrefix: string;
  port: number;
  certDir: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  clientCAFile: string;
  saPublicKeyFile: string;
  saSigningKeyFile: string;
}

/**
 * kube-apiserver flags shared by the management plane and the tenant planes
 * (test/harness/tenant.ts), which differ only in etcd prefix, port and PKI.
 */
export function apiServerArgs(f: ApiServerFiles): string[] {
  return [
    `--etcd-servers=${f.etcdUrl}`,
    `--etcd-prefix=${f.etcdPrefix}`,
    `--secure-port=${f.port}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    // The lease reconciler would write 127.0.0.1 into the `kubernetes` Endpoints,
    // which validation rejects (loopback) every 10 s; nothing here routes to the
    // Service IP anyway, so keep the Service without endpoints.
    '--endpoint-reconciler-type=none',
    `--cert-dir=${f.certDir}`,
    `--tls-cert-file=${f.tlsCertFile}`,
    `--tls-private-key-file=${f.tlsKeyFile}`,
    `--client-ca-file=${f.clientCAFile}`,
    '--authorization-mode=RBAC',
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${f.saPublicKeyFile}`,
    `--service-account-signing-key-file=${f.saSigningKeyFile}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--allow-privileged=true',
    // Nodes join the simulated clusters with bootstrap tokens.
    '--enable-bootstrap-token-auth=true',
    // Nothing mounts SA tokens into pods here, and the plugin would reject
    // pods until the controller-manager created the namespace's default SA.
    '--disable-admission-plugins=ServiceAccount',
    '--profiling=false',
  ];
}

/** What `nodes` changes in apiServerArgs(): see ControlPlaneOptions.nodes. */
export function nodeApiServerArgs(args: string[]): string[] {
  const dropped = new Set(['--advertise-address=127.0.0.1', '--endpoint-reconciler-type=none', '--disable-admission-plugins=ServiceAccount', '--authorization-mode=RBAC']);
  return [
    ...args.filter((a) => !dropped.has(a)),
    `--advertise-address=${NODE_API_ADDRESS}`,
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    // The kubelet's hostname means nothing here; its InternalIP is the node IP.
    '--kubelet-preferred-address-types=InternalIP',
  ];
}

async function prepare(dir: string, name: string, bins: Layout['bins'], opts: ControlPlaneOptions): Promise<Layout> {
  const withKcm = bins['kube-controller-manager'] !== undefined;
  const withScheduler = bins['kube-scheduler'] !== undefined;

  const [[etcdPort, peerPort, apiPort], ca, sa] = await Promise.all([
    freePorts(3),
    createCA(`${name}-ca`),
    createServiceAccountKeyPair(),
  ]);
  if (etcdPort === undefined || peerPort === undefined || apiPort === undefined) {
    throw new Error('harness: port allocation failed');
  }
  const [serving, admin, kcm, scheduler] = await Promise.all([
    issueApiServerCert(ca, SERVICE_IP, opts.nodes ? [NODE_API_ADDRESS] : []),
    issueCert({ ca, commonName: 'ironplane-admin', organizations: ['system:masters'], usages: 'client' }),
    // With --use-service-account-credentials=false every controller acts as this
    // user, and the bootstrap RBAC role system:kube-controller-manager only
    // covers what the process itself needs: the GC could not delete, the
    // bootstrapsigner could not update cluster-info. system:masters fixes that
    // without the per-controller ServiceAccount token dance.
    withKcm
      ? issueCert({ ca, commonName: 'system:kube-controller-manager', organizations: ['system:masters'], usages: 'client' })
      : undefined,
    withScheduler ? issueCert({ ca, commonName: 'system:kube-scheduler', usages: 'client' }) : undefined,
  ]);

  const pki = join(dir, 'pki');
  mkdirSync(pki);
  const file = (n: string, content: string): string => {
    const p = join(pki, n);
    writeFileSync(p, content, { mode: 0o600 });
    return p;
  };
  const caCrt = file('ca.crt', ca.certPem);
  const caKey = file('ca.key', ca.keyPem);
  const url = `https://127.0.0.1:${apiPort}`;
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeKubeconfig(kubeconfigPath, { server: url, caPem: ca.certPem, name, user: `${name}-admin`, certPem: admin.certPem, keyPem: admin.keyPem });
  const kcmKubeconfig = join(dir, 'kube-controller-manager.kubeconfig');
  if (kcm) {
    writeKubeconfig(kcmKubeconfig, { server: url, caPem: ca.certPem, name, user: 'kube-controller-manager', certPem: kcm.certPem, keyPem: kcm.keyPem });
  }
  const schedulerKubeconfig = join(dir, 'kube-scheduler.kubeconfig');
  if (scheduler) {
    writeKubeconfig(schedulerKubeconfig, { server: url, caPem: ca.certPem, name, user: 'kube-scheduler', certPem: scheduler.certPem, keyPem: scheduler.keyPem });
  }
  const saPub = file('sa.pub', sa.publicKeyPem);
  const saKey = file('sa.key', sa.privateKeyPem);

  const args: Layout['args'] = {
    etcd: [
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      // Must name the advertised peer URL, or etcd refuses to start (the default is localhost:2380).
      `--initial-cluster=default=${peerUrl}`,
      // A test cluster's data is disposable; fsync dominates etcd latency on CI disks.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    'kube-apiserver': (opts.nodes ? nodeApiServerArgs : (a: string[]): string[] => a)(apiServerArgs({
      etcdUrl,
      etcdPrefix: opts.etcdPrefix ?? '/registry',
      port: apiPort,
      certDir: join(dir, 'kube-apiserver'),
      tlsCertFile: file('apiserver.crt', serving.certPem),
      tlsKeyFile: file('apiserver.key', serving.keyPem),
      clientCAFile: caCrt,
      saPublicKeyFile: saPub,
      saSigningKeyFile: saKey,
    })),
    ...(withKcm
      ? {
          'kube-controller-manager': [
            `--kubeconfig=${kcmKubeconfig}`,
            // No HTTPS endpoint: readiness is judged by what the controllers do,
            // and serving would need delegated authn config (requestheader CA) we lack.
            '--secure-port=0',
            '--leader-elect=false',
            '--use-service-account-credentials=false',
            '--controllers=*,bootstrapsigner,tokencleaner',
            `--root-ca-file=${caCrt}`,
            `--service-account-private-key-file=${saKey}`,
            `--cluster-signing-cert-file=${caCrt}`,
            `--cluster-signing-key-file=${caKey}`,
            `--cluster-name=${name}`,
          ],
        }
      : {}),
    ...(withScheduler
      ? {
          'kube-scheduler': [
            `--kubeconfig=${schedulerKubeconfig}`,
            // Like kube-controller-manager: no HTTPS endpoint, readiness is Pods getting scheduled.
            '--secure-port=0',
            '--leader-elect=false',
          ],
        }
      : {}),
  };

  return {
    dir,
    name,
    bins,
    args,
    url,
    etcdUrl,
    kubeconfigPath,
    ca,
    admin: { ca: ca.certPem, cert: admin.certPem, key: admin.keyPem },
  };
}

/**
 * Something started on top of a control plane (a tenant apiserver sharing its
 * etcd): stopped before the control plane's own processes, and with them.
 */
export interface Dependent extends SyncCleanup {
  stop(): Promise<void>;
}

export class LocalControlPlane implements ControlPlane, SyncCleanup {
  readonly url: string;
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  readonly dir: string;
  readonly ca: CertificateAuthority;
  readonly etcdUrl: string;
  private readonly procs = new Map<Component, ManagedProcess>();
  private readonly dependents = new Set<Dependent>();
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly layout: Layout,
    private readonly log: (line: string) => void,
  ) {
    this.url = layout.url;
    this.kubeconfigPath = layout.kubeconfigPath;
    this.dir = layout.dir;
    this.ca = layout.ca;
    this.etcdUrl = layout.etcdUrl;
    this.kubeConfig = new KubeConfig();
    this.kubeConfig.loadFromFile(layout.kubeconfigPath);
  }

  async boot(crds: string[] | undefined): Promise<void> {
    const t0 = Date.now();
    const etcd = this.spawn('etcd');
    const etcdReady = this.waitReady(etcd, 30_000, async () => {
      const res = await request(`${this.etcdUrl}/health`, undefined, { timeoutMs: 1000 });
      return res.status === 200 ? true : `HTTP ${res.status}: ${res.body}`;
    });
    // kube-apiserver keeps retrying until etcd answers, so start both at once:
    // etcd's start-up then hides inside the apiserver's own (~0.2-1 s saved).
    await Promise.all([
      etcdReady.then(() => this.log(`etcd ready at ${this.etcdUrl} (${Date.now() - t0} ms)`)),
      this.startApiServer(),
    ]);
    this.log(`kube-apiserver ready at ${this.url} (${Date.now() - t0} ms)`);
    // Independent of each other, so overlap them.
    await Promise.all([
      crds && crds.length > 0 ? this.installCRDs(crds) : undefined,
      this.layout.bins['kube-controller-manager'] ? this.startControllerManager() : undefined,
    ]);
    if (this.layout.bins['kube-scheduler']) {
      const scheduler = this.spawn('kube-scheduler');
      if (scheduler.exitReason !== undefined) throw new Error(`kube-scheduler ${scheduler.exitReason}`);
    }
    this.log(`control plane ${this.layout.name} up in ${Date.now() - t0} ms (dir ${this.dir})`);
  }

  /** The kube-apiserver binary this plane runs, for more apiservers on its etcd. */
  get apiServerBinary(): string {
    const bin = this.layout.bins['kube-apiserver'];
    if (!bin) throw new Error('harness: kube-apiserver is not configured');
    return bin;
  }

  /** Stops `d` first when this plane stops (it needs our etcd on its way out). */
  adopt(d: Dependent): void {
    if (this.stopping) throw new Error(`control plane ${this.layout.name} has been stopped`);
    this.dependents.add(d);
  }

  release(d: Dependent): void {
    this.dependents.delete(d);
  }

  async installCRDs(paths: string[]): Promise<void> {
    await applyCRDs(this.kubeConfig, paths);
  }

  async startApiServer(): Promise<void> {
    if (this.stopping) throw new Error(`control plane ${this.layout.name} has been stopped`);
    if (this.running('kube-apiserver')) return;
    const proc = this.spawn('kube-apiserver');
    try {
      await this.waitReady(proc, READY_TIMEOUT_MS, async () => {
        const res = await request(`${this.url}/readyz`, this.layout.admin, { timeoutMs: 2000 });
        // The body names the checks that are still failing.
        return res.status === 200 ? true : `HTTP ${res.status}: ${res.body.split('\n').filter((l) => l.includes('[-]')).join(' ')}`;
      });
    } catch (err) {
      // Never leave a half-started apiserver behind a failed call.
      await terminate(proc);
      throw err;
    }
  }

  async stopApiServer(): Promise<void> {
    const proc = this.procs.get('kube-apiserver');
    if (proc) await terminate(proc);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // Tenant apiservers first: they share our etcd.
      const results = await Promise.allSettled([...this.dependents].map((d) => d.stop()));
      this.dependents.clear();
      // etcd last: a kube-apiserver whose etcd vanished spends the whole grace
      // period retrying on its way out (over 5 s instead of about 1 s).
      const { etcd, ...clients } = Object.fromEntries(this.procs) as Partial<Record<Component, ManagedProcess>>;
      results.push(...(await Promise.allSettled(Object.values(clients).map((p) => terminate(p)))));
      if (etcd) results.push(...(await Promise.allSettled([terminate(etcd)])));
      try {
        rmSync(this.dir, { recursive: true, force: true });
      } finally {
        unregisterLive(this);
      }
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return this.stopping;
  }

  /** Called from process 'exit' / signal handlers, where only synchronous work runs. */
  cleanupSync(): void {
    for (const d of this.dependents) {
      try {
        d.cleanupSync();
      } catch {
        // Best effort: our own processes matter more.
      }
    }
    for (const p of this.procs.values()) {
      if (p.exitReason === undefined) killGroup(p.pid, 'SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async startControllerManager(): Promise<void> {
    const t0 = Date.now();
    const proc = this.spawn('kube-controller-manager');
    // The 'default' ServiceAccount is created by the serviceaccount controller:
    // its appearance proves the controllers are running, not just the process.
    await this.waitReady(proc, READY_TIMEOUT_MS, async () => {
      const res = await request(`${this.url}/api/v1/namespaces/default/serviceaccounts/default`, this.layout.admin);
      return res.status === 200 ? true : `HTTP ${res.status}`;
    });
    this.log(`kube-controller-manager running (${Date.now() - t0} ms)`);
  }

  private running(c: Component): boolean {
    const p = this.procs.get(c);
    return p !== undefined && p.exitReason === undefined;
  }

  private spawn(c: Component): ManagedProcess {
    const bin = this.layout.bins[c];
    const args = this.layout.args[c];
    if (!bin || !args) throw new Error(`harness: ${c} is not configured`);
    const proc = spawnLogged(c, bin, args, join(this.dir, `${c}.log`));
    this.procs.set(c, proc);
    // Lets a later run reap this dir if this Node process dies by SIGKILL.
    const owner: OwnerRecord = { ownerPid: process.pid, pids: [...this.procs.values()].map((p) => p.pid) };
    writeFileSync(join(this.dir, OWNER_FILE), JSON.stringify(owner));
    return proc;
  }

  /**
   * Polls `probe` (true = ready, string = why not) until ready; fails fast if
   * the process exits, and puts the tail of its log into any error.
   */
  private async waitReady(proc: ManagedProcess, timeoutMs: number, probe: () => Promise<true | string>): Promise<void> {
    try {
      await waitFor(`${proc.name} to become ready`, timeoutMs, async (note) => {
        if (proc.exitReason !== undefined) throw new Error(`${proc.name} ${proc.exitReason}`);
        // Another part of start-up failed and everything is being torn down.
        if (this.stopping) throw new Error('control plane is stopping');
        try {
          const r = await probe();
          return r === true ? true : note(r);
        } catch (err) {
          return note((err as Error).message);
        }
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- last lines of ${proc.logPath} ---\n${tail(proc.logPath)}`);
    }
  }
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const name = opts.name ?? 'ironplane';
  const log = opts.log ?? ((): void => {});
  // Before creating anything, so a missing binary leaves nothing behind.
  const bins = findBinaries(opts);
  // Clean up after earlier runs that were killed too hard to clean up themselves.
  reapOrphans(tmpdir(), DIR_PREFIX);
  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${name.replace(/[^A-Za-z0-9_.-]/g, '-')}-`));
  let plane: LocalControlPlane | undefined;
  try {
    const layout = await prepare(dir, name, bins, opts);
    plane = new LocalControlPlane(layout, log);
    registerLive(plane);
    await plane.boot(opts.crds);
    return plane;
  } catch (err) {
    if (plane) await plane.stop().catch(() => undefined);
    else rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
