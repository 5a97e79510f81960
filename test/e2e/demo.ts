// `make demo` and `make demo-down`.
//
//   up:    starts the local management plane in a background process (the
//          `serve` mode below), waits while it prints progress, and returns
//          once one tenant cluster is Available, leaving the plane running.
//          When a demo plane is already running it only prints its state.
//   serve: the background process: the e2e world (test/e2e/world.ts), one
//          Cluster applied from a single object, then it stays up until
//          SIGTERM and stops every process it started.
//   down:  SIGTERM to the background process, and waits until it is gone.
//
// State lives in .demo/ at the repository root (git-ignored): serve.pid,
// serve.log and state.json (the management kubeconfig and the tenant's).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Clusters } from '../../providers/capi/contract.js';
import { Secrets, type KubeObject } from '../../providers/kit/types.js';
import { REPO } from '../integration/processes.js';
import { clusterctlDescribe } from './clusterctl.js';
import { startE2E, tenantNamespace, topologyCluster, waitAvailable, type E2E } from './world.js';

const DIR = path.join(REPO, '.demo');
const PID = path.join(DIR, 'serve.pid');
const LOG = path.join(DIR, 'serve.log');
const STATE = path.join(DIR, 'state.json');
const READY = 'ironplane demo: ready';
const NS = 'team-a';
const CLUSTER = 'demo';
const IMAGE = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';

interface State {
  kubeconfig: string;
  tenantKubeconfig: string;
  clusterctlConfig?: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function runningPid(): number | undefined {
  if (!fs.existsSync(PID)) return undefined;
  const pid = Number(fs.readFileSync(PID, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

async function summary(state: State): Promise<string> {
  const describe = await clusterctlDescribe({ kubeconfig: state.kubeconfig, namespace: NS, cluster: CLUSTER, ...(state.clusterctlConfig ? { config: state.clusterctlConfig } : {}) });
  return [
    '',
    `$ clusterctl describe cluster ${CLUSTER} -n ${NS}`,
    describe.trimEnd(),
    '',
    'The management plane keeps running. To use it:',
    `  export KUBECONFIG=${state.kubeconfig}`,
    `  bin/clusterctl describe cluster ${CLUSTER} -n ${NS} --show-conditions all`,
    '  bin/kubectl get clusters,machines,kvmmachines,virtualmachines -A',
    '',
    `The tenant cluster ${NS}/${CLUSTER} (its hosted control plane is a real kube-apiserver; its workers are simulated):`,
    `  KUBECONFIG=${state.tenantKubeconfig} bin/kubectl get nodes -o wide`,
    '',
    'Stop everything with: make demo-down',
  ].join('\n');
}

async function up(): Promise<void> {
  fs.mkdirSync(DIR, { recursive: true });
  const pid = runningPid();
  if (pid !== undefined && fs.existsSync(STATE)) {
    console.log(`ironplane demo: already running (pid ${pid})`);
    console.log(await summary(JSON.parse(fs.readFileSync(STATE, 'utf8')) as State));
    return;
  }
  if (pid !== undefined) {
    console.error(`ironplane demo: a demo is still starting (pid ${pid}); follow ${LOG}, or stop it with make demo-down`);
    process.exit(1);
  }
  const out = fs.openSync(LOG, 'w');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'test/e2e/demo.ts'), 'serve'], { cwd: REPO, detached: true, stdio: ['ignore', out, out] });
  fs.writeFileSync(PID, String(child.pid));
  child.unref();
  // Follow the log until the plane is ready or the process is gone.
  let printed = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const text = fs.readFileSync(LOG, 'utf8');
    const lines = text.split('\n');
    for (const line of lines.slice(printed, -1)) if (line.startsWith('ironplane demo:')) console.log(line);
    printed = Math.max(printed, lines.length - 1);
    if (text.includes(READY)) break;
    if (!alive(child.pid!)) {
      console.error(`ironplane demo: the background process exited; its log (${LOG}) ends with:\n${lines.slice(-40).join('\n')}`);
      process.exit(1);
    }
  }
  console.log(await summary(JSON.parse(fs.readFileSync(STATE, 'utf8')) as State));
}

async function serve(): Promise<void> {
  const say = (line: string): void => console.log(`ironplane demo: ${line}`);
  const t0 = Date.now();
  const started: { world?: E2E } = {};
  const stop = async (signal: string): Promise<void> => {
    say(`${signal}: stopping every process of the demo`);
    await started.world?.stop();
    fs.rmSync(STATE, { force: true });
    fs.rmSync(PID, { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  const w = await startE2E({ name: 'demo', hosts: 2, progress: say, clusterctl: true });
  started.world = w;
  await tenantNamespace(w.client, NS);
  say(`applying one Cluster object: ${NS}/${CLUSTER} on ClusterClass ironplane-kvm, Kubernetes v1.35.0, 2 workers`);
  const t1 = Date.now();
  await w.client.create(Clusters, topologyCluster({ namespace: NS, name: CLUSTER, cls: 'ironplane-kvm', version: 'v1.35.0', kairosImages: [IMAGE], nodeCIDR: '10.60.0.0/24' }));
  await waitAvailable(w, NS, CLUSTER, 300_000);
  say(`Cluster ${NS}/${CLUSTER} is Available (${Math.round((Date.now() - t1) / 1000)} s after it was applied; ${Math.round((Date.now() - t0) / 1000)} s in all)`);
  const secret = await w.client.get<KubeObject & { data: Record<string, string> }>(Secrets, `${CLUSTER}-kubeconfig`, NS);
  const tenantKubeconfig = path.join(DIR, `${NS}-${CLUSTER}.kubeconfig`);
  fs.writeFileSync(tenantKubeconfig, Buffer.from(secret.data['value']!, 'base64'), { mode: 0o600 });
  const state: State = { kubeconfig: w.cp.kubeconfigPath, tenantKubeconfig, ...(w.clusterctlConfig ? { clusterctlConfig: w.clusterctlConfig } : {}) };
  fs.writeFileSync(STATE, JSON.stringify(state));
  say('ready');
  await new Promise(() => {});
}

async function down(): Promise<void> {
  const pid = runningPid();
  if (pid === undefined) {
    console.log('ironplane demo: not running');
    fs.rmSync(PID, { force: true });
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  if (alive(pid)) {
    // The group: the background process and every child it started.
    spawnSync('kill', ['-KILL', `-${pid}`]);
    console.log(`ironplane demo: pid ${pid} did not stop within 60 s; killed its process group`);
  }
  fs.rmSync(PID, { force: true });
  fs.rmSync(STATE, { force: true });
  console.log('ironplane demo: stopped');
}

const mode = process.argv[2];
const modes: Record<string, () => Promise<void>> = { up, serve, down };
const fn = mode ? modes[mode] : undefined;
if (!fn) {
  console.error(`usage: demo.ts up|serve|down (got ${mode ?? 'nothing'})`);
  process.exit(2);
}
await fn();
