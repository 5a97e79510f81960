// A fleet upgrade by bumping the ClusterClass: five Clusters on
// ironplane-kvm take a new Kairos image and Kubernetes version. The class
// gains the new image (its kairosImages setting), then every Cluster's
// version is bumped at once; our BeforeClusterUpgrade lets at most two of
// the class upgrade at a time, and CAPI rolls each control plane and then
// its workers, surging before it removes a worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clusters, Machines } from '../../providers/capi/contract.js';
import { KvmMachines } from '../../providers/kubevirt/resources.js';
import { condition, PLATFORM_NS, setClassImages, startE2E, tenantNamespace, topologyCluster, upgraded, upgrading, waitAvailable, type E2E, type Obj } from './world.js';

const N = Number(process.env['IRONPLANE_E2E_FLEET'] ?? 5);
const CONCURRENCY = 2;
const REPLICAS = 2;
const OLD = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';
const NEW = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.1-k8sv1.35.1';
const names = Array.from({ length: N }, (_, i) => ({ ns: `fleet-${i % 2 === 0 ? 'a' : 'b'}`, name: `c${i}` }));

let w: E2E;

beforeAll(async () => {
  w = await startE2E({ name: 'e2e-fleet', upgradeConcurrency: CONCURRENCY, upgradeRetrySeconds: 3, infraNodes: 3 });
  for (const ns of new Set(names.map((n) => n.ns))) await tenantNamespace(w.client, ns);
  await setClassImages(w.client, 'ironplane-kvm', [OLD]);
}, 180_000);

afterAll(async () => {
  await w?.stop();
});

describe(`a fleet of ${N} Clusters on one ClusterClass`, () => {
  it('given one Cluster object each, should bring every Cluster to Available', async () => {
    const t0 = Date.now();
    for (const [i, { ns, name }] of names.entries())
      await w.client.create(Clusters, topologyCluster({ namespace: ns, name, cls: 'ironplane-kvm', version: 'v1.35.0', replicas: REPLICAS, nodeCIDR: `10.50.${i}.0/24` }));
    for (const { ns, name } of names) await waitAvailable(w, ns, name, 240_000);
    console.log(`e2e: ${N} Clusters Available in ${Date.now() - t0} ms`);
  }, 300_000);

  it(`given the class bumped to a new Kairos image and every Cluster to a new version, should roll all of them, at most ${CONCURRENCY} at a time, never below ${REPLICAS} available workers`, async () => {
    await setClassImages(w.client, 'ironplane-kvm', [OLD, NEW]);
    const t0 = Date.now();
    for (const { ns, name } of names) await w.client.mergePatch(Clusters, name, ns, { spec: { topology: { version: 'v1.35.1' } } });

    let maxUpgrading = 0;
    let heldMessage: string | undefined;
    const shortfalls: string[] = [];
    const done = new Set<string>();
    while (done.size < N) {
      if (Date.now() - t0 > 420_000) throw new Error(`fleet upgrade: only ${[...done].join(', ')} finished in 420 s`);
      // One list is one consistent snapshot: reading the Clusters one by one
      // could see one finish and the next start within a single sweep.
      const snapshot = new Map((await w.client.list<Obj>(Clusters)).items.map((c) => [`${c.metadata!.namespace}/${c.metadata!.name}`, c]));
      const inFlight = [...snapshot.values()].filter(upgrading).length;
      for (const { ns, name } of names) {
        const key = `${ns}/${name}`;
        const c = snapshot.get(key)!;
        const held = condition(c, 'TopologyReconciled');
        if (held?.status === 'False' && held.message?.includes('may upgrade at once')) heldMessage ??= held.message;
        // CAPI's own count of a MachineDeployment's available workers.
        const machines = (await w.client.list<Obj>(Machines, { namespace: ns, labelSelector: `cluster.x-k8s.io/cluster-name=${name}` })).items;
        const available = machines.filter((m) => !m.metadata!.deletionTimestamp && condition(m, 'Available')?.status === 'True').length;
        if (available < REPLICAS) shortfalls.push(`${key}: ${available} available at ${Date.now() - t0} ms`);
        if (done.has(key)) continue;
        if (await upgraded(w.client, c, 'v1.35.1', REPLICAS)) {
          done.add(key);
          console.log(`e2e: ${key} upgraded at ${Date.now() - t0} ms`);
        }
      }
      maxUpgrading = Math.max(maxUpgrading, inFlight);
      await new Promise((r) => setTimeout(r, 250));
    }
    const total = Date.now() - t0;
    console.log(`e2e: fleet of ${N} upgraded in ${total} ms (${Math.round(total / N)} ms per cluster), at most ${maxUpgrading} at once`);

    expect(maxUpgrading).toBeLessThanOrEqual(CONCURRENCY);
    if (N > CONCURRENCY) {
      expect(maxUpgrading).toBe(CONCURRENCY);
      expect(heldMessage).toMatch(new RegExp(`other Clusters? of ClusterClass ${PLATFORM_NS}/ironplane-kvm (is|are) upgrading .* and at most ${CONCURRENCY} may upgrade at once`));
    }
    expect(shortfalls).toEqual([]);
    // Every worker now boots the new image, chosen by the extension for v1.35.1.
    const kvm = (await Promise.all([...new Set(names.map((n) => n.ns))].map((ns) => w.client.list<Obj>(KvmMachines, { namespace: ns })))).flatMap((l) => l.items);
    expect(kvm).toHaveLength(N * REPLICAS);
    for (const m of kvm) expect((m.spec?.['image'] as { containerDisk?: { image?: string } }).containerDisk?.image).toBe(NEW);
  }, 480_000);
});

