// Our managers killed at random points while a KVM and a bare-metal Cluster
// provision: each kill is a SIGKILL of one of kubevirt, metal3, kairos or
// the extension, chosen at random after a random delay, and the manager is
// started again at once. Both Clusters must still reach Available with
// exactly one VM per KvmMachine and one host per MetalMachine.
//
// IRONPLANE_E2E_KILLS sets the number of kills (default 20; `make soak`
// runs 200). IRONPLANE_CHAOS_SEED=<n> replays a run (the seed is printed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clusters } from '../../providers/capi/contract.js';
import { KvmMachines, VirtualMachines } from '../../providers/kubevirt/resources.js';
import { BareMetalHosts, MetalMachines } from '../../providers/metal3/resources.js';
import { chaosRandom } from '../integration/processes.js';
import { condition, POOL_NS, ROLES, startE2E, tenantNamespace, topologyCluster, waitAvailable, type E2E, type Obj } from './world.js';

const KILLS = Number(process.env['IRONPLANE_E2E_KILLS'] ?? 20);
const NS = 'chaos';
const IMAGE = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';
const { seed, random } = chaosRandom();

let w: E2E;

beforeAll(async () => {
  console.log(JSON.stringify({ chaosSeed: seed, kills: KILLS }));
  w = await startE2E({ name: 'e2e-chaos', hosts: 3, leaderElection: false });
  await tenantNamespace(w.client, NS);
}, 180_000);

afterAll(async () => {
  await w?.stop();
});

const available = async (name: string): Promise<boolean> => condition(await w.client.get<Obj>(Clusters, name, NS), 'Available')?.status === 'True';

describe('our managers killed at random while Clusters provision', () => {
  it(`given ${KILLS} SIGKILLs of random managers at random points, should still bring a KVM and a metal Cluster to Available with no duplicate VM or host`, async () => {
    await w.client.create(Clusters, topologyCluster({ namespace: NS, name: 'kvm', cls: 'ironplane-kvm', version: 'v1.35.0', kairosImages: [IMAGE], nodeCIDR: '10.70.0.0/24' }));
    await w.client.create(Clusters, topologyCluster({ namespace: NS, name: 'metal', cls: 'ironplane-metal', version: 'v1.35.0', kairosImages: [IMAGE] }));
    const killed: Record<string, number> = {};
    let kills = 0;
    // Kill while they provision; once both are Available, keep killing
    // until the count is reached (the managers then reconcile settled
    // objects, which must stay as they are).
    while (kills < KILLS) {
      const role = ROLES[Math.floor(random() * ROLES.length)]!;
      await new Promise((r) => setTimeout(r, 200 + Math.floor(random() * 1800)));
      await w.managers[role].stop('SIGKILL');
      w.managers[role].start();
      killed[role] = (killed[role] ?? 0) + 1;
      kills++;
    }
    console.log(JSON.stringify({ killed, availableDuringChaos: { kvm: await available('kvm'), metal: await available('metal') } }));
    for (const role of ROLES) await w.managers[role].webhooksUp();
    await waitAvailable(w, NS, 'kvm', 240_000);
    await waitAvailable(w, NS, 'metal', 240_000);
    expect(kills).toBeGreaterThanOrEqual(20);

    // Exactly one VM per KvmMachine, owned by it.
    const kvmMachines = (await w.client.list<Obj>(KvmMachines, { namespace: NS })).items;
    const vms = (await w.client.list<Obj>(VirtualMachines, { namespace: NS })).items;
    expect(kvmMachines).toHaveLength(2);
    expect(vms.map((v) => v.metadata!.ownerReferences?.[0]?.uid).sort()).toEqual(kvmMachines.map((m) => m.metadata!.uid).sort());
    // Exactly one host per MetalMachine, and no host claimed by anything else.
    const metalMachines = (await w.client.list<Obj>(MetalMachines, { namespace: NS })).items;
    const hosts = (await w.client.list<Obj>(BareMetalHosts, { namespace: POOL_NS })).items;
    const consumers = hosts.map((h) => (h.spec?.['consumerRef'] as { name?: string } | undefined)?.name).filter((n): n is string => !!n);
    expect(metalMachines).toHaveLength(2);
    expect(consumers.sort()).toEqual(metalMachines.map((m) => m.metadata!.name!).sort());
  }, 600_000 + KILLS * 3_000);
});
