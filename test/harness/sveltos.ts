// The real Sveltos addon-controller (bin/sveltos-addon-controller from `make
// tools`, built from the version pinned in hack/tools/sveltos), run out of
// cluster against a harness control plane.
//
// What it needs there:
// - Sveltos's CRDs (config/external/sveltos/addon-controller and
//   .../libsveltos) and, to act on Cluster API Clusters, CAPI's CRDs with
//   v1beta2 served. Both must be installed before it starts: it looks for the
//   Cluster CRD once, and when the CRD only appears later it stops itself
//   (SIGTERM to its own pid) so that its Deployment would restart it.
// - The namespace it runs in (env NAMESPACE, `projectsveltos` as in Sveltos's
//   own manifests), where it keeps its shard-tracking ConfigMaps. Created here.
// - Credentials: the plane's admin kubeconfig (system:masters). Sveltos's own
//   ClusterRole is not installed.
// It reaches a managed cluster through the Cluster's `<cluster>-kubeconfig`
// Secret (key `value`), and only once the Cluster's control plane is
// initialized (status.initialization.controlPlaneInitialized, or the
// ControlPlaneInitialized condition).
//
// Flags, beyond kubeconfig and loopback ports: telemetry off (it would report
// to Sveltos's collector), reports collected from the management cluster
// (--report-mode=0, no sveltos-agent needed), no agent in the management
// cluster, no shard key (every controller runs), no onboarding annotation
// (every CAPI Cluster is considered). It has no leader election and registers
// no webhooks. drift-detection-manager is deployed into a managed cluster only
// for profiles with syncMode ContinuousWithDriftDetection; profiles with
// Continuous or OneTime need nothing in the managed cluster beyond its
// apiserver.
//
// The process gets a temp dir of its own (owner file, and the path it is
// started from, so a later run reaps it if this Node process dies by
// SIGKILL), also used as its TMPDIR: the kubeconfigs of managed clusters it
// writes there go with it. Its log goes to <cp.dir>/sveltos-addon-controller.log
// and so outlives stop() until the plane is stopped. The plane stops it before
// its own processes, and so does the exit of this Node process.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../../providers/kit/client.js';
import { CustomResourceDefinitions, Namespaces, type KubeObject } from '../../providers/kit/types.js';
import { launch, managerBinary, workersStarted, type ManagerProcess } from './capi.js';
import { repoRoot, type ControlPlane } from './controlplane.js';
import { FIELD_MANAGER } from './crds.js';
import { freePorts } from './procs.js';

export interface SveltosOptions {
  /** Where the binary lives. Default: $IRONPLANE_BIN_DIR, else <repo>/bin. */
  binDir?: string;
  /** Kubeconfig the controller uses. Default: the plane's admin kubeconfig. */
  kubeconfigPath?: string;
  /** The namespace Sveltos runs in (its NAMESPACE), created if missing. Default 'projectsveltos'. */
  namespace?: string;
  /** Appended to the harness's flags (a later flag wins over an earlier one). */
  extraArgs?: string[];
  /** How long to wait for the controller to become ready. Default 60 s. */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface SveltosProcess extends ManagerProcess {
  /** The namespace Sveltos runs in. */
  readonly namespace: string;
  /** The addon-controller version it was started with (--version), from hack/tools/sveltos/go.mod. */
  readonly version: string;
}

const NAME = 'sveltos-addon-controller';
const MODULE = 'github.com/projectsveltos/addon-controller';
const READY_TIMEOUT_MS = 60_000;
const REQUIRED_CRDS = ['clusterprofiles.config.projectsveltos.io', 'clustersummaries.config.projectsveltos.io', 'sveltosclusters.lib.projectsveltos.io', 'debuggingconfigurations.lib.projectsveltos.io'];

/**
 * Log lines that say the controller is working: the ClusterProfile and
 * ClusterSummary controllers' workers run, and the check for Cluster API's
 * CRD is done.
 */
const READY_LINES = [workersStarted('clusterprofile'), workersStarted('clustersummary'), /"CAPI (present\. Start CAPI watchers|currently not present)/];

/** The addon-controller version the wrapper module requires. */
function pinnedVersion(): string {
  const gomod = join(repoRoot(), 'hack/tools/sveltos/go.mod');
  const m = new RegExp(`^\\s*(?:require\\s+)?${MODULE.replace(/[./]/g, '\\$&')}\\s+(v\\S+)`, 'm').exec(readFileSync(gomod, 'utf8'));
  if (!m?.[1]) throw new Error(`${gomod} does not require ${MODULE}`);
  return m[1];
}

/** Fails with what to install when one of the CRDs Sveltos watches is missing. */
async function checkCRDs(client: Client): Promise<void> {
  const missing: string[] = [];
  for (const name of REQUIRED_CRDS) if (!(await client.tryGet(CustomResourceDefinitions, name))) missing.push(name);
  if (missing.length > 0) {
    throw new Error(
      `${NAME}: CRDs missing: ${missing.join(', ')} (install config/external/sveltos/addon-controller and config/external/sveltos/libsveltos, e.g. startControlPlane({crds: [...]}))`,
    );
  }
}

/**
 * Starts Sveltos's addon-controller (bin/sveltos-addon-controller) against
 * `cp` with the plane's admin credentials, health and metrics on loopback,
 * telemetry off and reports collected from the management cluster. Sveltos's
 * CRDs must be installed, and CAPI's too if it is to act on CAPI Clusters;
 * the namespace it runs in is created. Resolves once /readyz answers 200, the
 * ClusterProfile and ClusterSummary controllers' workers have started and it
 * has looked for Cluster API.
 */
export async function startSveltos(cp: ControlPlane, opts: SveltosOptions = {}): Promise<SveltosProcess> {
  const log = opts.log ?? ((): void => {});
  const bin = managerBinary(opts.binDir, NAME);
  const version = pinnedVersion();
  const namespace = opts.namespace ?? 'projectsveltos';
  const t0 = Date.now();

  const client = new Client(cp.kubeConfig, { fieldManager: FIELD_MANAGER, timeoutMs: 30_000 });
  try {
    await checkCRDs(client);
    await client.apply(Namespaces, { metadata: { name: namespace } } as KubeObject, { force: true });
  } finally {
    client.close();
  }

  const [health, metrics] = await freePorts(2);
  if (health === undefined || metrics === undefined) throw new Error('harness: port allocation failed');
  const m = await launch(cp, NAME, { health, metrics, logPath: join(cp.dir, `${NAME}.log`) }, async (mgr, dir) => {
    mgr.spawn(
      bin,
      [
        `--kubeconfig=${opts.kubeconfigPath ?? cp.kubeconfigPath}`,
        `--health-addr=127.0.0.1:${health}`,
        `--diagnostics-address=127.0.0.1:${metrics}`,
        '--insecure-diagnostics=true',
        '--disable-telemetry=true',
        '--report-mode=0',
        '--agent-in-mgmt-cluster=false',
        '--shard-key=',
        '--capi-onboard-annotation=',
        `--version=${version}`,
        ...(opts.extraArgs ?? []),
      ],
      { NAMESPACE: namespace, TMPDIR: dir },
    );
    await mgr.waitReady(opts.readyTimeoutMs ?? READY_TIMEOUT_MS, READY_LINES);
  });
  const s = Object.assign(m, { namespace, version });
  log(`${NAME} ${version} ready in namespace ${namespace} (${Date.now() - t0} ms, log ${s.logPath})`);
  return s;
}
