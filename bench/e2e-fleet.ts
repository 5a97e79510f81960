// The end-to-end world under load (issue #7 figures), on the simulated
// zero-latency infrastructure:
// - one Cluster object on ironplane-kvm (2 workers) to Available, alone;
// - a fleet of N such Clusters to Available, then a fleet upgrade by
//   bumping the class's Kairos images and every Cluster's version, with the
//   extension's upgrade concurrency C: total time and time per cluster;
// - memory: RSS of each simulated tenant control plane (its kube-apiserver
//   and kube-controller-manager), and the peak RSS of each of our managers.
//
// Usage: bench/e2e-fleet.ts [N=20] [C=5]
import fs from 'node:fs';
import { Clusters } from '../providers/capi/contract.js';
import { setClassImages, startE2E, tenantNamespace, topologyCluster, upgraded, waitAvailable, ROLES, type E2E, type Obj } from '../test/e2e/world.js';
import { peakRssMiB, seconds } from './lib.js';

const N = Number(process.argv[2] ?? 20);
const C = Number(process.argv[3] ?? 5);
const REPLICAS = 2;
const OLD = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';
const NEW = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.1-k8sv1.35.1';
const NS = 'bench';

function rssMiB(pid: number): number {
  try {
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

const cluster = (i: number): Obj => topologyCluster({ namespace: NS, name: `f${i}`, cls: 'ironplane-kvm', version: 'v1.35.0', replicas: REPLICAS, nodeCIDR: `10.${100 + Math.floor(i / 250)}.${i % 250}.0/24` });

async function main(): Promise<void> {
  const w: E2E = await startE2E({ name: 'bench-e2e', upgradeConcurrency: C, upgradeRetrySeconds: 3, infraNodes: 4 });
  try {
    await tenantNamespace(w.client, NS);
    await setClassImages(w.client, 'ironplane-kvm', [OLD]);

    // One Cluster alone: apply to Available.
    let t = Date.now();
    await w.client.create(Clusters, cluster(0));
    await waitAvailable(w, NS, 'f0', 300_000);
    const oneClusterMs = Date.now() - t;
    console.error(`bench: one Cluster Available in ${oneClusterMs} ms`);

    // The rest of the fleet at once.
    t = Date.now();
    for (let i = 1; i < N; i++) await w.client.create(Clusters, cluster(i));
    for (let i = 1; i < N; i++) await waitAvailable(w, NS, `f${i}`, 900_000);
    const fleetCreateMs = Date.now() - t;
    console.error(`bench: ${N - 1} more Clusters Available in ${fleetCreateMs} ms`);

    const tenants = w.kamaji.all();
    const perTenant = tenants.map((p) => p.pids.reduce((sum, pid) => sum + rssMiB(pid), 0));
    const tenantRssMiB = perTenant.reduce((a, b) => a + b, 0) / Math.max(1, perTenant.length);

    // Fleet upgrade.
    await setClassImages(w.client, 'ironplane-kvm', [OLD, NEW]);
    t = Date.now();
    for (let i = 0; i < N; i++) await w.client.mergePatch(Clusters, `f${i}`, NS, { spec: { topology: { version: 'v1.35.1' } } });
    const done = new Set<number>();
    while (done.size < N) {
      if (Date.now() - t > 3_600_000) throw new Error(`fleet upgrade: ${done.size}/${N} done in an hour`);
      for (let i = 0; i < N; i++) {
        if (done.has(i)) continue;
        if (await upgraded(w.client, await w.client.get<Obj>(Clusters, `f${i}`, NS), 'v1.35.1', REPLICAS)) done.add(i);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    const upgradeMs = Date.now() - t;
    console.error(`bench: fleet of ${N} upgraded in ${upgradeMs} ms`);

    const managersPeakRssMiB = Object.fromEntries(ROLES.map((r) => [r, w.managers[r].proc?.child.pid ? peakRssMiB(w.managers[r].proc!.child.pid!) : 0]));
    console.log(
      JSON.stringify({
        bench: 'e2e-fleet',
        clusters: N,
        workersPerCluster: REPLICAS,
        upgradeConcurrency: C,
        oneClusterToAvailableS: seconds(oneClusterMs),
        fleetToAvailableS: seconds(fleetCreateMs),
        fleetUpgradeS: seconds(upgradeMs),
        fleetUpgradePerClusterS: seconds(upgradeMs / N),
        tenantControlPlaneRssMiB: Math.round(tenantRssMiB),
        tenantControlPlanes: tenants.length,
        managersPeakRssMiB,
        capiManagerPeakRssMiB: peakRssMiB(w.capi.pid),
        kamajiProviderPeakRssMiB: peakRssMiB(w.kamajiProvider.pid),
      }),
    );
  } finally {
    await w.stop();
  }
}

await main();
process.exit(0);
