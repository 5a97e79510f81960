// The tenant network at scale, on the real kube-ovn-controller and OVN of
// adr/0012 (userspace OVS in a network namespace of the world).
//
// 1. VPCs: <clusters> Clusters + KvmClusters, each in a namespace of its own
//    and all on the same nodeCIDR, created at once with `ironplane manager
//    --role kubevirt` running. Measured from the first create: every
//    KvmCluster NetworkReady=True (our manager has written the Vpc and Subnet;
//    it does not wait for kube-OVN), and every tenant's logical router and
//    switch present in OVN Northbound (kube-ovn-controller has programmed
//    them), each with p50/p95 over the clusters (from that cluster's own
//    create). Then the memory of kube-ovn-controller, of our manager and of
//    NB's ovsdb-server, and the time from deleting every KvmCluster until NB
//    holds none of their routers or switches (and until the KvmClusters are
//    gone, finalizers released). kube-ovn-controller runs as the harness
//    starts it, with one worker (--worker-num=1): tenants are programmed one
//    after another, so the per-cluster NB figures grow with the position in
//    its queue.
// 2. Load balancers: in a second, simpler world (the one of
//    test/integration/cloudprovider: no OVN, one tenant apiserver), the time
//    from a LoadBalancer Service created in the tenant apiserver to its
//    status.loadBalancer.ingress, written by `ironplane manager --role
//    cloud-provider`; median of <services> Services created one after another,
//    after one unmeasured warm-up Service. The time to the first packet
//    through the address is a datapath figure of
//    test/integration/network/planes.test.ts, not measured here.
//
// Run: node --import tsx bench/network.ts [clusters] [services]
// Needs root, network namespaces and bin/ from `make tools`, and dist/ from
// `make build`. Prints one JSON line: {"bench":"network",...}, with the 1-minute
// load average before and after: on a shared machine the figures follow it.
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { startControlPlane, startOvn, type ControlPlane, type OvnWorld } from '../test/harness/index.js';
import { Client } from '../providers/kit/client.js';
import { Informer } from '../providers/kit/informer.js';
import { keyOf, type KubeObject } from '../providers/kit/types.js';
import type { KvmCluster } from '../providers/api/generated/ironplane/v1alpha1/kvmcluster.js';
import { KvmClusters } from '../providers/kubevirt/resources.js';
import { tenantNetworkName, tenantSubnetName } from '../providers/kubevirt/names.js';
import { LoadBalancerPools, Services } from '../providers/cloudprovider/names.js';
import { Clusters } from '../providers/capi/contract.js';
import { REPO, run, until, type Proc } from '../test/integration/processes.js';
import { ensureNamespace, restrictedKubeconfig } from '../test/integration/roles.js';
import { createCapiCluster, ownedBy } from '../test/integration/capi-objects.js';
import { createCluster, createService, registerNode, tenantOf, type Svc, type World } from '../test/integration/cloudprovider/world.js';
import { exitWhenManagerDies, seconds } from './lib.js';

const CLUSTERS = Number(process.argv[2] ?? 50);
const SERVICES = Number(process.argv[3] ?? 10);
const NODE_CIDR = '10.0.0.0/24';
const CLUSTER = 'c';
/** How often NB is read while waiting for it to change. */
const NB_POLL_MS = 250;
const nodeArgs = process.env['BENCH_MANAGER_NODE_ARGS']?.split(' ').filter(Boolean) ?? [];

const ms = (n: number): number => Math.round(n);

/** The q-quantile (nearest rank) of durations. */
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return Number.isInteger(mid) ? (sorted[mid - 1]! + sorted[mid]!) / 2 : sorted[Math.floor(mid)]!;
}

/** Milliseconds as seconds with two decimals (per-cluster figures are below a second). */
const seconds2 = (v: number): number => Math.round(v / 10) / 100;

/** VmRSS and VmHWM of a process, in MiB with one decimal. */
function memoryMiB(pid: number): { rssMiB: number; peakRssMiB: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const mib = (field: string): number => Math.round((Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024) * 10) / 10;
  return { rssMiB: mib('VmRSS'), peakRssMiB: mib('VmHWM') };
}

/** The pid of the one process whose command line contains every fragment (the harness keeps its processes' pids to itself). */
function pidOf(...fragments: string[]): number {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue; // gone meanwhile
    }
    if (fragments.every((f) => cmdline.includes(f))) found.push(Number(entry));
  }
  if (found.length !== 1) throw new Error(`expected one process with ${fragments.join(' ')} in its command line, found ${found.length}`);
  return found[0]!;
}

const names = (out: string): Set<string> => new Set(out.split('\n').map((l) => l.trim()).filter(Boolean));

async function nbNames(ovn: OvnWorld): Promise<{ routers: Set<string>; switches: Set<string> }> {
  const [routers, switches] = await Promise.all([ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Router'), ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch')]);
  return { routers: names(routers), switches: names(switches) };
}

const networkReady = (kc: KvmCluster | undefined): boolean => kc?.status?.conditions?.some((c) => c.type === 'NetworkReady' && c.status === 'True') ?? false;

async function vpcs(): Promise<Record<string, unknown>> {
  let cp: ControlPlane | undefined;
  let ovn: OvnWorld | undefined;
  let client: Client | undefined;
  let mgr: Proc | undefined;
  let informer: Informer<KvmCluster> | undefined;
  try {
    const t0 = performance.now();
    cp = await startControlPlane({
      name: 'bench-net',
      controllerManager: true,
      crds: ['config/external/capi', 'config/external/kubevirt', 'config/external/kube-ovn', 'config/crd/bases'].map((p) => path.join(REPO, p)),
    });
    ovn = await startOvn(cp);
    const worldSeconds = seconds(performance.now() - t0);
    client = new Client(cp.kubeConfig, { fieldManager: 'bench' });
    mgr = run([...nodeArgs, 'dist/providers/cli/main.js', 'manager', '--role', 'kubevirt', '--kubeconfig', cp.kubeconfigPath, '--metrics-bind-address', '0', '--health-probe-bind-address', '0', '--webhook-port', '0', '--log-level', 'warn']);
    exitWhenManagerDies(mgr);
    const kovnPid = pidOf(path.join(ovn.dir, 'kube-ovn-controller'), '--ovn-nb-addr');
    const nbPid = pidOf('ovsdb-server', path.join(ovn.dir, 'nb.db'));

    const tenants = Array.from({ length: CLUSTERS }, (_, i) => {
      const ns = `tenant-${String(i).padStart(3, '0')}`;
      return { ns, key: `${ns}/${CLUSTER}`, router: tenantNetworkName(ns, CLUSTER), switch: tenantSubnetName(ns, CLUSTER) };
    });
    const createdAt = new Map<string, number>();
    const readyAt = new Map<string, number>();
    const inNbAt = new Map<string, number>();
    informer = new Informer<KvmCluster>(client, KvmClusters);
    const seen = (kc: KvmCluster): void => {
      const key = keyOf(kc);
      if (networkReady(kc) && !readyAt.has(key)) readyAt.set(key, performance.now());
    };
    informer.addHandlers({ add: seen, update: (_old, kc) => seen(kc) });
    await informer.start();

    const start = performance.now();
    await Promise.all(
      tenants.map(async (t) => {
        await ensureNamespace(client!, t.ns);
        createdAt.set(t.key, performance.now());
        const uid = await createCapiCluster(client!, t.ns, CLUSTER, 'KvmCluster');
        await client!.create<KubeObject>(KvmClusters, { metadata: ownedBy(t.ns, CLUSTER, CLUSTER, { kind: 'Cluster', name: CLUSTER, uid }), spec: { network: { nodeCIDR: NODE_CIDR } } } as KubeObject);
      }),
    );
    const created = performance.now();
    await until('every KvmCluster to be NetworkReady', () => readyAt.size >= CLUSTERS, 240_000);
    const allReady = Math.max(...readyAt.values());
    const allInNb = await until(
      'every tenant router and switch to be in NB',
      async () => {
        const nb = await nbNames(ovn!);
        const now = performance.now();
        for (const t of tenants) if (!inNbAt.has(t.key) && nb.routers.has(t.router) && nb.switches.has(t.switch)) inNbAt.set(t.key, now);
        if (inNbAt.size >= CLUSTERS) return now;
        await new Promise((r) => setTimeout(r, NB_POLL_MS));
        return undefined;
      },
      240_000,
    );
    // Settled: kube-OVN has nothing left to do for them.
    await new Promise((r) => setTimeout(r, 2000));
    const memory = { kubeOvnController: memoryMiB(kovnPid), kubevirtManager: memoryMiB(mgr.child.pid!), nbOvsdbServer: memoryMiB(nbPid) };
    const per = (at: Map<string, number>): number[] => tenants.map((t) => at.get(t.key)! - createdAt.get(t.key)!);

    // Teardown, as CAPI does it: the infrastructure cluster first.
    const delStart = performance.now();
    await Promise.all(tenants.map((t) => client!.delete(KvmClusters, CLUSTER, t.ns)));
    const nbEmpty = await until(
      'NB to hold none of the tenant routers and switches',
      async () => {
        const nb = await nbNames(ovn!);
        if (tenants.every((t) => !nb.routers.has(t.router) && !nb.switches.has(t.switch))) return performance.now();
        await new Promise((r) => setTimeout(r, NB_POLL_MS));
        return undefined;
      },
      240_000,
    );
    const kvmGone = await until('every KvmCluster to be gone', () => (informer!.list().length === 0 ? performance.now() : undefined), 240_000);
    await Promise.all(tenants.map((t) => client!.delete(Clusters, CLUSTER, t.ns)));

    return {
      clusters: CLUSTERS,
      nodeCIDR: NODE_CIDR,
      worldStartSeconds: worldSeconds,
      createSeconds: seconds(created - start),
      toAllNetworkReadySeconds: seconds(allReady - start),
      networkReadyPerClusterSeconds: { p50: seconds2(quantile(per(readyAt), 0.5)), p95: seconds2(quantile(per(readyAt), 0.95)) },
      toAllInOvnNbSeconds: seconds(allInNb - start),
      inOvnNbPerClusterSeconds: { p50: seconds2(quantile(per(inNbAt), 0.5)), p95: seconds2(quantile(per(inNbAt), 0.95)) },
      nbPollMs: NB_POLL_MS,
      memoryAfterProgrammingMiB: memory,
      deleteToNbEmptySeconds: seconds(nbEmpty - delStart),
      deleteToKvmClustersGoneSeconds: seconds(kvmGone - delStart),
    };
  } finally {
    await informer?.stop();
    if (mgr) {
      mgr.child.kill('SIGTERM');
      await mgr.exited;
    }
    client?.close();
    await ovn?.stop();
    await cp?.stop();
  }
}

async function loadBalancers(): Promise<Record<string, unknown>> {
  const cp = await startControlPlane({ name: 'bench-lb', crds: ['config/external/capi', 'config/external/kube-ovn', 'config/crd/bases'].map((p) => path.join(REPO, p)) });
  const client = new Client(cp.kubeConfig, { fieldManager: 'bench' });
  let mgr: Proc | undefined;
  const w: World = { cp, client, tenants: new Map(), manager: undefined as unknown as Proc, kubeconfig: '', metricsPort: 0, stop: () => Promise.resolve() };
  try {
    w.kubeconfig = await restrictedKubeconfig(cp, client, 'cloud-provider');
    mgr = run([...nodeArgs, 'dist/providers/cli/main.js', 'manager', '--role', 'cloud-provider', '--kubeconfig', w.kubeconfig, '--metrics-bind-address', '0', '--health-probe-bind-address', '0', '--webhook-port', '0', '--log-level', 'warn']);
    w.manager = mgr;
    exitWhenManagerDies(mgr);
    const ns = 'team-lb';
    await ensureNamespace(client, ns);
    await client.create(LoadBalancerPools, { metadata: { name: 'bench' }, spec: { addresses: ['192.0.2.0/24'], tenants: { namespaces: [ns] } } } as KubeObject);
    await createCluster(w, ns, 'prod', [
      { name: 'w1', ips: ['10.10.0.11'] },
      { name: 'w2', ips: ['10.10.0.12'] },
    ]);
    const tenant = tenantOf(w, ns, 'prod');
    await registerNode(tenant, 'w1', `kubevirt://${ns}/w1`, ['10.10.0.11']);
    await registerNode(tenant, 'w2', `kubevirt://${ns}/w2`, ['10.10.0.12']);

    // Timed by a watch on the tenant's Services, not by polling.
    const ingressAt = new Map<string, number>();
    const services = new Informer<Svc>(tenant, Services, { namespace: 'default' });
    const seen = (s: Svc): void => {
      if (s.status?.loadBalancer?.ingress?.some((i) => i.ip) && !ingressAt.has(s.metadata!.name!)) ingressAt.set(s.metadata!.name!, performance.now());
    };
    services.addHandlers({ add: seen, update: (_old, s) => seen(s) });
    await services.start();
    const one = async (name: string): Promise<number> => {
      const t = performance.now();
      await createService(tenant, name);
      const at = await until(`Service ${name} to have an ingress address`, () => ingressAt.get(name), 90_000);
      return at - t;
    };
    try {
      const warmUp = await one('warm-up');
      const times: number[] = [];
      for (let i = 0; i < SERVICES; i++) times.push(await one(`svc-${i}`));
      return {
        services: SERVICES,
        warmUpServiceMs: ms(warmUp),
        createToIngressMs: { median: ms(median(times)), min: ms(Math.min(...times)), max: ms(Math.max(...times)) },
      };
    } finally {
      await services.stop();
    }
  } finally {
    if (mgr) {
      mgr.child.kill('SIGTERM');
      await mgr.exited;
    }
    for (const t of w.tenants.values()) {
      t.client.close();
      await t.plane.stop();
    }
    client.close();
    await cp.stop();
  }
}

const load1m = (): number => Math.round(os.loadavg()[0]! * 100) / 100;
const result: Record<string, unknown> = { bench: 'network', load1mBefore: load1m() };
let failed = false;
for (const [name, part] of [
  ['vpcs', vpcs],
  ['loadBalancers', loadBalancers],
] as const) {
  try {
    result[name] = await part();
  } catch (err) {
    failed = true;
    console.error(`network bench, ${name}: ${(err as Error).stack ?? String(err)}`);
    result[name] = { error: (err as Error).message.split('\n')[0] };
  }
}
result['load1mAfter'] = load1m();
console.log(JSON.stringify(result));
process.exit(failed ? 1 : 0);
