// The manager is killed (SIGKILL) at random points while it creates and
// deletes machines. Deterministic names, server-side apply and finalizers
// must leave exactly one VM per KvmMachine, and nothing behind after delete.
// The random delays come from a seeded generator: IRONPLANE_CHAOS_SEED=<n>
// replays a run (the seed is printed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KvmMachine } from '../../../providers/api/generated/ironplane/v1alpha1/kvmmachine.js';
import { Secrets, type KubeObject } from '../../../providers/kit/types.js';
import { tenantNetworkName, tenantSubnetName } from '../../../providers/kubevirt/names.js';
import { KvmClusters, KvmMachines, Subnets, VirtualMachineInstances, VirtualMachines, Vpcs } from '../../../providers/kubevirt/resources.js';
import { chaosRandom, until } from '../processes.js';
import { createCluster, createMachine, startWorld, type World } from './world.js';

const MACHINES = 22;
const DELETE_KILLS = 10;
const NS = 'chaos';

const { seed, random } = chaosRandom();
let w: World;

beforeAll(async () => {
  console.log(JSON.stringify({ chaosSeed: seed }));
  w = await startWorld('chaos');
  await createCluster(w, NS, 'kill', '10.50.0.0/24');
}, 180_000);

afterAll(async () => {
  await w?.stop();
});

/** Starts the manager and kills it after a random 0–2.5 s: during start-up, listing, or mid-reconcile. */
async function killSoon(): Promise<void> {
  w.startManager();
  await new Promise((r) => setTimeout(r, Math.floor(random() * 2500)));
  await w.stopManager('SIGKILL');
}

const list = async (rt: Parameters<World['client']['list']>[0], labelSelector?: string) =>
  (await w.client.list<KubeObject>(rt, { namespace: NS, ...(labelSelector ? { labelSelector } : {}) })).items;

describe('the KubeVirt manager killed at random points', () => {
  it(`given ${MACHINES} creations, each interrupted by a SIGKILL, should end with exactly one VM per KvmMachine`, async () => {
    for (let i = 0; i < MACHINES; i++) {
      await createMachine(w, NS, 'kill', `k${i}`);
      await killSoon();
    }
    w.startManager();
    await until(
      'every KvmMachine to be provisioned',
      async () => (await w.client.list<KvmMachine>(KvmMachines, { namespace: NS })).items.filter((m) => m.status?.initialization?.provisioned).length === MACHINES,
      240_000,
    );
    const machines = (await w.client.list<KvmMachine>(KvmMachines, { namespace: NS })).items;
    const uids = new Map(machines.map((m) => [m.metadata.name, m.metadata.uid]));
    const vms = await list(VirtualMachines);
    expect(vms).toHaveLength(MACHINES);
    for (const vm of vms) expect(vm.metadata?.ownerReferences?.[0]?.uid).toBe(uids.get(vm.metadata?.name));
    expect(await list(Secrets, 'infrastructure.ironplane.dev/kvm-machine')).toHaveLength(MACHINES);
    expect(await list(VirtualMachineInstances)).toHaveLength(MACHINES);
    expect(await w.client.tryGet(Subnets, tenantSubnetName(NS, 'kill'))).toBeDefined();
    await w.stopManager();
  });

  it(`given deletion interrupted by ${DELETE_KILLS} SIGKILLs, should leave no VM, VMI, Secret or network behind`, async () => {
    for (const m of await list(KvmMachines)) await w.client.delete(KvmMachines, m.metadata!.name!, NS);
    await w.client.delete(KvmClusters, 'kill', NS);
    for (let i = 0; i < DELETE_KILLS; i++) await killSoon();
    w.startManager();
    await until('the cluster and its machines to be gone', async () => (await list(KvmMachines)).length === 0 && (await list(KvmClusters)).length === 0, 240_000);
    expect(await list(VirtualMachines)).toEqual([]);
    expect(await list(VirtualMachineInstances)).toEqual([]);
    expect(await list(Secrets, 'infrastructure.ironplane.dev/kvm-machine')).toEqual([]);
    expect(await w.client.tryGet(Subnets, tenantSubnetName(NS, 'kill'))).toBeUndefined();
    expect(await w.client.tryGet(Vpcs, tenantNetworkName(NS, 'kill'))).toBeUndefined();
  });
});
