// The real Cluster API core manager and the real Kamaji CAPI control-plane
// provider (bin/capi-manager, bin/kamaji-cp-provider from `make tools`), run
// out of cluster against a harness control plane.
//
// Cluster API's webhooks are served the way envtest serves them: the manager
// listens on a free port with a serving certificate for 127.0.0.1 issued by
// the plane's CA, and CAPI's own webhook configurations (copied from the
// pinned module into config/external/capi-webhooks) and the conversion
// webhooks of CAPI's CRDs are pointed at https://127.0.0.1:<port><path> with
// that CA as caBundle.
//
// Each manager gets a temp dir of its own, recorded like the plane's (owner
// file, process started from a path inside the dir), so a later run reaps it
// if this Node process dies by SIGKILL; the plane stops it before its own
// processes, and so does the exit of this Node process.
import { accessSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Client, type JsonPatchOp } from '../../providers/kit/client.js';
import { CustomResourceDefinitions, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import { defaultBinDir, DIR_PREFIX, LocalControlPlane, repoRoot, type ControlPlane, type Dependent } from './controlplane.js';
import { FIELD_MANAGER, loadCRDs } from './crds.js';
import { request, waitFor } from './http.js';
import { issueCert } from './pki.js';
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

/** A manager process started by startCapiManager, startKamajiProvider or startSveltos. */
export interface ManagerProcess {
  /** 'capi-manager', 'kamaji-cp-provider' or 'sveltos-addon-controller'. */
  readonly name: string;
  readonly pid: number;
  /** stdout and stderr of the process. */
  readonly logPath: string;
  /** http://127.0.0.1:<port>: /healthz and /readyz. */
  readonly healthUrl: string;
  /** http://127.0.0.1:<port>/metrics */
  readonly metricsUrl: string;
  /** https://127.0.0.1:<port> when the manager serves webhooks. */
  readonly webhookUrl: string | undefined;
  /** Set once the process has exited, e.g. "exited with code 1". */
  readonly exitReason: string | undefined;
  /** The last lines of the log, for failure messages. */
  logTail(lines?: number): string;
  /** SIGTERM, SIGKILL after 5 s; removes the manager's temp dir. Idempotent. */
  stop(): Promise<void>;
}

interface CommonOptions {
  /** Where the binary lives. Default: $IRONPLANE_BIN_DIR, else <repo>/bin. */
  binDir?: string;
  /** Kubeconfig the manager uses. Default: the plane's admin kubeconfig. */
  kubeconfigPath?: string;
  /** Appended to the harness's flags (a later flag wins over an earlier one). */
  extraArgs?: string[];
  /** How long to wait for the manager to become ready. Default 60 s. */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface CapiManagerOptions extends CommonOptions {
  /**
   * Feature gates over the binary's defaults. ClusterTopology and RuntimeSDK
   * are on unless set here (what CLUSTER_TOPOLOGY=true and EXP_RUNTIME_SDK=true
   * give through clusterctl's variables).
   */
  featureGates?: Record<string, boolean>;
  /** CRD files or directories whose CRDs get CAPI's conversion webhook. Default: config/external/capi. */
  conversionCRDs?: string[];
  /** Webhook configuration manifests to install. Default: config/external/capi-webhooks. */
  webhookManifests?: string[];
}

export interface KamajiProviderOptions extends CommonOptions {
  /** Feature gates; DynamicInfrastructureClusterPatch is on unless set here. */
  featureGates?: Record<string, boolean>;
  /** Infrastructure cluster kinds the provider patches generically. Default: KvmCluster, MetalCluster. */
  dynamicInfrastructureClusters?: string[];
}

const READY_TIMEOUT_MS = 60_000;

/** The name prefix CAPI's kustomization (config/default) gives its objects. */
const CAPI_NAME_PREFIX = 'capi-';

/**
 * The controller-runtime line that says a controller's caches synced and its
 * workers run, in klog's text (controller="x") or zap's console form
 * ("controller": "x").
 */
export const workersStarted = (controller: string): RegExp => new RegExp(`Starting workers.*\\bcontroller"?(=|:\\s*)"${controller}"`);

const MutatingWebhookConfigurations: ResourceType = {
  group: 'admissionregistration.k8s.io',
  version: 'v1',
  kind: 'MutatingWebhookConfiguration',
  plural: 'mutatingwebhookconfigurations',
  namespaced: false,
};
const ValidatingWebhookConfigurations: ResourceType = { ...MutatingWebhookConfigurations, kind: 'ValidatingWebhookConfiguration', plural: 'validatingwebhookconfigurations' };
const WEBHOOK_KINDS: Record<string, ResourceType> = {
  MutatingWebhookConfiguration: MutatingWebhookConfigurations,
  ValidatingWebhookConfiguration: ValidatingWebhookConfigurations,
};

interface WebhookClientConfig {
  url?: string;
  service?: { name: string; namespace: string; path?: string; port?: number };
  caBundle?: string;
}

interface WebhookConfiguration extends KubeObject {
  webhooks?: { name: string; clientConfig: WebhookClientConfig }[];
}

/** The executable `name` in `binDir` (default: defaultBinDir()); fails with what to run when it is missing. */
export function managerBinary(binDir: string | undefined, name: string): string {
  const path = join(binDir ?? defaultBinDir(), name);
  try {
    accessSync(path, constants.X_OK);
    if (statSync(path).isFile()) return path;
  } catch {
    // Fall through to the actionable message.
  }
  throw new Error(`${name} not found at ${path}: run 'make tools'`);
}

const gatesFlag = (gates: Record<string, boolean>): string =>
  `--feature-gates=${Object.entries(gates)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`;

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** The text appended to `path` since byte `from`. */
function readFrom(path: string, from: number): string {
  const fd = openSync(path, 'r');
  try {
    const len = Math.max(0, statSync(path).size - from);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, from);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** A manager process run by launch(). */
export class LocalManager implements ManagerProcess, Dependent {
  private proc: ManagedProcess | undefined;
  private stopping: Promise<void> | undefined;
  /** The log's size when the process was started: waitReady looks only at what this run wrote. */
  private logStart = 0;

  constructor(
    readonly name: string,
    private readonly dir: string,
    readonly logPath: string,
    readonly healthUrl: string,
    readonly metricsUrl: string,
    readonly webhookUrl: string | undefined,
    private readonly host: LocalControlPlane | undefined,
  ) {}

  get pid(): number {
    return this.proc?.pid ?? 0;
  }

  get exitReason(): string | undefined {
    return this.proc?.exitReason;
  }

  logTail(lines = 40): string {
    return tail(this.logPath, lines);
  }

  /**
   * Starts the binary through a symlink inside our dir, so its command line
   * names the dir (what reapOrphans checks before killing a recorded pid), with
   * `env` (which execs it in place) when it needs environment variables.
   */
  spawn(bin: string, args: string[], env: Record<string, string> = {}): void {
    const exe = join(this.dir, this.name);
    symlinkSync(bin, exe);
    const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    this.logStart = existsSync(this.logPath) ? statSync(this.logPath).size : 0;
    this.proc =
      assignments.length > 0
        ? spawnLogged(this.name, '/usr/bin/env', [...assignments, exe, ...args], this.logPath)
        : spawnLogged(this.name, exe, args, this.logPath);
    // Lets a later run reap this dir if this Node process dies by SIGKILL.
    const owner: OwnerRecord = { ownerPid: process.pid, pids: [this.proc.pid] };
    writeFileSync(join(this.dir, OWNER_FILE), JSON.stringify(owner));
  }

  /** Waits for /readyz, then for each log pattern in what this run logged; fails fast if the process exits. */
  async waitReady(timeoutMs: number, logPatterns: RegExp[]): Promise<void> {
    const proc = this.proc;
    if (!proc) throw new Error(`${this.name} was not started`);
    try {
      await waitFor(`${this.name} to become ready`, timeoutMs, async (note) => {
        if (proc.exitReason !== undefined) throw new Error(`${this.name} ${proc.exitReason}`);
        if (this.stopping) throw new Error(`${this.name} is stopping`);
        try {
          const res = await request(`${this.healthUrl}/readyz`, undefined, { timeoutMs: 2000 });
          if (res.status !== 200) return note(`readyz: HTTP ${res.status}: ${res.body}`);
        } catch (err) {
          return note(`readyz: ${(err as Error).message}`);
        }
        const log = readFrom(this.logPath, this.logStart);
        const missing = logPatterns.find((p) => !p.test(log));
        return missing ? note(`no log line matching ${missing.source} yet`) : true;
      }, 100);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- last lines of ${this.logPath} ---\n${tail(this.logPath)}`);
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
 * Creates the manager's temp dir and registers it with the plane (stopped
 * before the plane's own processes) and with the exit hooks; runs `start`,
 * stopping the manager if it fails. Health, metrics and webhooks are served
 * on the given loopback ports; the log goes to `logPath`, by default
 * <dir>/<name>.log (removed with the dir by stop()).
 */
export async function launch(
  cp: ControlPlane,
  name: string,
  opts: { health: number; metrics: number; webhook?: number; logPath?: string },
  start: (m: LocalManager, dir: string) => Promise<void>,
): Promise<LocalManager> {
  const host = cp instanceof LocalControlPlane ? cp : undefined;
  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${name}-`));
  const m = new LocalManager(
    name,
    dir,
    opts.logPath ?? join(dir, `${name}.log`),
    `http://127.0.0.1:${opts.health}`,
    `http://127.0.0.1:${opts.metrics}/metrics`,
    opts.webhook === undefined ? undefined : `https://127.0.0.1:${opts.webhook}`,
    host,
  );
  registerLive(m);
  try {
    host?.adopt(m);
    await start(m, dir);
  } catch (err) {
    await m.stop().catch(() => undefined);
    throw err;
  }
  return m;
}

/** Writes tls.crt and tls.key for https://127.0.0.1, signed by the plane's CA, into `certDir`. */
async function writeServingCert(cp: ControlPlane, certDir: string, commonName: string): Promise<void> {
  const serving = await issueCert({ ca: cp.ca, commonName, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usages: 'server' });
  mkdirSync(certDir, { recursive: true });
  writeFileSync(join(certDir, 'tls.crt'), serving.certPem);
  writeFileSync(join(certDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
}

/** Every YAML document in the given files and directories (not recursive). */
function readManifests(paths: string[]): KubeObject[] {
  const docs: KubeObject[] = [];
  for (const path of paths) {
    let files: string[];
    try {
      files = statSync(path).isDirectory()
        ? readdirSync(path)
            .filter((f) => /\.ya?ml$/.test(f))
            .sort()
            .map((f) => join(path, f))
        : [path];
    } catch (err) {
      throw new Error(`cannot read manifests at ${path} (run 'make crds-external'): ${(err as Error).message}`);
    }
    for (const file of files) {
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
        if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
        const obj = doc.toJS() as KubeObject | null;
        if (obj?.kind) docs.push(obj);
      }
    }
  }
  return docs;
}

/**
 * Installs webhook configurations with every webhook's clientConfig pointed
 * at `base` + the path of the Service reference it had, trusting the plane's CA.
 * A configuration that already exists with Service references (one that
 * `clusterctl init` installed from a provider's components) is switched to
 * the URL first: server-side apply cannot drop a field another manager set.
 */
export async function installWebhookConfigurations(client: Client, docs: KubeObject[], base: string, caPem: string, namePrefix = ''): Promise<void> {
  for (const doc of docs) {
    const rt = doc.kind ? WEBHOOK_KINDS[doc.kind] : undefined;
    if (!rt) continue;
    const config = structuredClone(doc) as WebhookConfiguration;
    config.metadata = { ...config.metadata, name: `${namePrefix}${config.metadata?.name ?? ''}` };
    for (const hook of config.webhooks ?? []) {
      const path = hook.clientConfig.service?.path ?? '';
      hook.clientConfig = { url: `${base}${path}`, caBundle: b64(caPem) };
    }
    await replaceServiceReferences(client, rt, config.metadata.name ?? '', base);
    await client.apply(rt, config, { force: true });
  }
}

/**
 * Replaces the Service reference of each webhook of an existing
 * configuration by `base` + its path, with one JSON patch guarded by the
 * resourceVersion read. No-op when the configuration does not exist or
 * calls no Service.
 */
async function replaceServiceReferences(client: Client, rt: ResourceType, name: string, base: string): Promise<void> {
  const live = await client.tryGet<WebhookConfiguration>(rt, name);
  const ops: JsonPatchOp[] = [];
  (live?.webhooks ?? []).forEach((hook, i) => {
    const service = hook.clientConfig.service;
    if (!service) return;
    ops.push({ op: 'remove', path: `/webhooks/${i}/clientConfig/service` }, { op: 'add', path: `/webhooks/${i}/clientConfig/url`, value: `${base}${service.path ?? ''}` });
  });
  if (!live || ops.length === 0) return;
  await client.jsonPatch(rt, name, undefined, [{ op: 'test', path: '/metadata/resourceVersion', value: live.metadata?.resourceVersion }, ...ops]);
}

/**
 * Points the conversion of each named CRD at `${base}/convert`, as CAPI's
 * config/crd/patches/webhook_in_*.yaml do with its webhook Service.
 */
export async function pointConversionWebhooks(client: Client, crdNames: string[], base: string, caPem: string): Promise<void> {
  await Promise.all(
    crdNames.map(async (name) => {
      try {
        await client.mergePatch(CustomResourceDefinitions, name, undefined, {
          spec: {
            conversion: {
              strategy: 'Webhook',
              webhook: { clientConfig: { url: `${base}/convert`, caBundle: b64(caPem), service: null }, conversionReviewVersions: ['v1'] },
            },
          },
        });
      } catch (err) {
        throw new Error(`cannot set the conversion webhook of CRD ${name} (install CAPI's CRDs first, e.g. startControlPlane({crds: ['config/external/capi']})): ${(err as Error).message}`);
      }
    }),
  );
}

/**
 * Starts Cluster API's core manager (bin/capi-manager) against `cp`, with
 * ClusterTopology and RuntimeSDK on, leader election off, health and metrics
 * on loopback, and its webhooks (admission and CRD conversion) served on a
 * free port and installed pointing there. CAPI's CRDs must already be
 * installed. Resolves once /readyz answers 200 (which includes the webhook
 * server) and the Cluster controller's workers have started.
 */
export async function startCapiManager(cp: ControlPlane, opts: CapiManagerOptions = {}): Promise<ManagerProcess> {
  const log = opts.log ?? ((): void => {});
  const bin = managerBinary(opts.binDir, 'capi-manager');
  const root = repoRoot();
  const t0 = Date.now();
  const [webhook, health, metrics] = await freePorts(3);
  if (webhook === undefined || health === undefined || metrics === undefined) throw new Error('harness: port allocation failed');
  const base = `https://127.0.0.1:${webhook}`;
  const crdNames = loadCRDs(opts.conversionCRDs ?? [join(root, 'config/external/capi')]).map((c) => c.metadata.name);
  const webhookDocs = readManifests(opts.webhookManifests ?? [join(root, 'config/external/capi-webhooks')]);

  const m = await launch(cp, 'capi-manager', { health, metrics, webhook }, async (mgr, dir) => {
    const certDir = join(dir, 'webhook-certs');
    await writeServingCert(cp, certDir, 'capi-webhook-service');
    const client = new Client(cp.kubeConfig, { fieldManager: FIELD_MANAGER, timeoutMs: 30_000 });
    try {
      await installWebhookConfigurations(client, webhookDocs, base, cp.ca.certPem, CAPI_NAME_PREFIX);
      await pointConversionWebhooks(client, crdNames, base, cp.ca.certPem);
    } finally {
      client.close();
    }
    mgr.spawn(bin, [
      `--kubeconfig=${opts.kubeconfigPath ?? cp.kubeconfigPath}`,
      '--leader-elect=false',
      `--health-addr=127.0.0.1:${health}`,
      `--diagnostics-address=127.0.0.1:${metrics}`,
      '--insecure-diagnostics=true',
      `--webhook-port=${webhook}`,
      `--webhook-cert-dir=${certDir}`,
      gatesFlag({ ClusterTopology: true, RuntimeSDK: true, ...opts.featureGates }),
      ...(opts.extraArgs ?? []),
    ]);
    await mgr.waitReady(opts.readyTimeoutMs ?? READY_TIMEOUT_MS, [workersStarted('cluster')]);
  });
  log(`capi-manager ready, webhooks at ${base} (${Date.now() - t0} ms, log ${m.logPath})`);
  return m;
}

/**
 * Starts Kamaji's CAPI control-plane provider (bin/kamaji-cp-provider)
 * against `cp`, with DynamicInfrastructureClusterPatch on for our
 * infrastructure kinds, leader election off, and health and metrics on
 * loopback. It serves no webhooks. Its CRDs and Kamaji's TenantControlPlane
 * CRD (config/external/kamaji) must be installed, and CAPI's conversion
 * webhook must be reachable once Clusters exist (it reads them as v1beta1).
 * Resolves once /readyz answers 200 and the KamajiControlPlane controller's
 * workers have started, which needs its informers (TenantControlPlane
 * included) to have synced.
 */
export async function startKamajiProvider(cp: ControlPlane, opts: KamajiProviderOptions = {}): Promise<ManagerProcess> {
  const log = opts.log ?? ((): void => {});
  const bin = managerBinary(opts.binDir, 'kamaji-cp-provider');
  const t0 = Date.now();
  const [health, metrics] = await freePorts(2);
  if (health === undefined || metrics === undefined) throw new Error('harness: port allocation failed');
  const infraKinds = opts.dynamicInfrastructureClusters ?? ['KvmCluster', 'MetalCluster'];

  const m = await launch(cp, 'kamaji-cp-provider', { health, metrics }, async (mgr) => {
    // Its flag set does not carry controller-runtime's --kubeconfig flag, so
    // the kubeconfig comes through KUBECONFIG.
    mgr.spawn(
      bin,
      [
        '--leader-elect=false',
        `--health-probe-bind-address=127.0.0.1:${health}`,
        `--metrics-bind-address=127.0.0.1:${metrics}`,
        gatesFlag({ DynamicInfrastructureClusterPatch: true, ...opts.featureGates }),
        ...(infraKinds.length > 0 ? [`--dynamic-infrastructure-clusters=${infraKinds.join(',')}`] : []),
        ...(opts.extraArgs ?? []),
      ],
      { KUBECONFIG: opts.kubeconfigPath ?? cp.kubeconfigPath },
    );
    await mgr.waitReady(opts.readyTimeoutMs ?? READY_TIMEOUT_MS, [workersStarted('kamajicontrolplane')]);
  });
  log(`kamaji-cp-provider ready (${Date.now() - t0} ms, log ${m.logPath})`);
  return m;
}
