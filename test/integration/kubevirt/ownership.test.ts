// No shared names without ownership, on the real apiserver with the
// manager's own RBAC: the cluster-scoped network of two tenants whose
// "<namespace>-<name>" read the same, and objects someone else created under
// the names the provider wants. What is not the provider's is never changed
// or deleted, and the condition says which object is in the way and why.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KvmCluster } from '../../../providers/api/generated/ironplane/v1alpha1/kvmcluster.js';
import type { KvmMachine } from '../../../providers/api/generated/ironplane/v1alpha1/kvmmachine.js';
import { getCondition } from '../../../providers/kit/conditions.js';
import { Events, Secrets, type KubeObject, type ResourceType } from '../../../providers/kit/types.js';
import { tenantNetworkName, tenantSubnetName } from '../../../providers/kubevirt/names.js';
import type { VirtualMachineInstance } from '../../../providers/kubevirt/render.js';
import { KvmClusters, KvmMachines, Subnets, VirtualMachineInstances, VirtualMachines, Vpcs } from '../../../providers/kubevirt/resources.js';
import { until } from '../processes.js';
import { createCluster, createMachine, startWorld, type World } from './world.js';

let w: World;

beforeAll(async () => {
  w = await startWorld('kubevirt-ownership');
  w.startManager();
}, 180_000);

afterAll(async () => {
  if (w?.manager && process.env['IRONPLANE_TEST_LOG']) console.log(w.manager.output());
  await w?.stop();
});

type Obj = KubeObject & { spec?: Record<string, unknown> };
const OWNER_LABELS = ['infrastructure.ironplane.dev/kvm-cluster', 'infrastructure.ironplane.dev/kvm-cluster-namespace', 'infrastructure.ironplane.dev/kvm-cluster-uid'];

/** What the provider must never change on an object that is not its own. */
async function fingerprint(rt: ResourceType, name: string, ns?: string) {
  const o = await w.client.get<Obj>(rt, name, ns);
  const m = o.metadata!;
  return {
    uid: m.uid,
    labels: m.labels,
    annotations: m.annotations,
    ownerReferences: m.ownerReferences,
    deletionTimestamp: m.deletionTimestamp,
    spec: o.spec,
    data: (o as { data?: unknown }).data,
    writers: [...new Set((m.managedFields as { manager: string }[] | undefined)?.map((f) => f.manager) ?? [])].filter((x) => x.startsWith('ironplane-kubevirt')),
  };
}

const networkCondition = async (ns: string, name: string) => getCondition((await w.client.get<KvmCluster>(KvmClusters, name, ns)).status?.conditions, 'NetworkReady');
const machineCondition = async (ns: string, name: string) => getCondition((await w.client.get<KvmMachine>(KvmMachines, name, ns)).status?.conditions, 'VirtualMachineReady');

async function conditionWith(what: string, read: () => Promise<{ reason?: string; message?: string } | undefined>, reason: string) {
  return until(what, async () => {
    const c = await read();
    return c?.reason === reason ? c : undefined;
  });
}

/** The Warning events about one object with that reason. */
async function warnings(ns: string, kind: string, name: string, reason: string): Promise<string[]> {
  const events = (await w.client.list<KubeObject & { type?: string; reason?: string; note?: string; regarding?: { kind?: string; name?: string } }>(Events, { namespace: ns })).items;
  return events.filter((e) => e.type === 'Warning' && e.reason === reason && e.regarding?.kind === kind && e.regarding.name === name).map((e) => e.note ?? '');
}

/** Waits for at least one such Warning event and returns their notes. */
const warned = (ns: string, kind: string, name: string, reason: string) =>
  until(`a ${reason} event about ${kind} ${ns}/${name}`, async () => {
    const notes = await warnings(ns, kind, name, reason);
    return notes.length ? notes : undefined;
  });

const gone = (rt: ResourceType, name: string, ns?: string) => until(`${rt.kind} ${ns ? `${ns}/` : ''}${name} to be gone`, async () => (await w.client.tryGet(rt, name, ns)) === undefined, 90_000);

describe('cluster-scoped network names', () => {
  it('given team/a-alpha and team-a/alpha, should give each its own Vpc and Subnet, each VM its own Subnet, and keep one network when the other cluster goes', async () => {
    const A = { ns: 'team', name: 'a-alpha', cidr: '10.61.0.0/24', prefix: '10.61.0.' };
    const B = { ns: 'team-a', name: 'alpha', cidr: '10.62.0.0/24', prefix: '10.62.0.' };
    for (const c of [A, B]) await createCluster(w, c.ns, c.name, c.cidr, { tenant: false });

    const names: string[] = [];
    const subnets: string[] = [];
    for (const c of [A, B]) {
      await conditionWith(`${c.ns}/${c.name} network`, () => networkCondition(c.ns, c.name), 'Provisioned');
      const kc = await w.client.get<KvmCluster>(KvmClusters, c.name, c.ns);
      const name = tenantNetworkName(c.ns, c.name);
      const subnetName = tenantSubnetName(c.ns, c.name);
      expect(kc.status?.network).toEqual({ vpc: name, subnet: subnetName });
      const subnet = await w.client.get<Obj>(Subnets, subnetName);
      expect(subnet.spec).toMatchObject({ vpc: name, cidrBlock: c.cidr });
      expect(subnet.metadata?.labels).toMatchObject({ [OWNER_LABELS[0]!]: c.name, [OWNER_LABELS[1]!]: c.ns, [OWNER_LABELS[2]!]: kc.metadata.uid });
      expect((await w.client.get<Obj>(Vpcs, name)).metadata?.labels).toMatchObject({ [OWNER_LABELS[2]!]: kc.metadata.uid });
      names.push(name);
      subnets.push(subnetName);
    }
    // Both read "team-a-alpha" before the hash; the hash tells them apart.
    expect(names[0]).not.toBe(names[1]);
    expect(names.every((n) => n.startsWith('team-a-alpha-'))).toBe(true);

    // Each cluster's VM attaches to its own cluster's Subnet and gets an address from it.
    for (const [i, c] of [A, B].entries()) {
      await createMachine(w, c.ns, c.name, `${c.name}-m1`);
      const vmi = await until(`${c.ns}/${c.name}-m1 to run`, async () => {
        const o = await w.client.tryGet<VirtualMachineInstance>(VirtualMachineInstances, `${c.name}-m1`, c.ns);
        return o?.status?.phase === 'Running' && o.status.interfaces?.[0]?.ipAddress ? o : undefined;
      }, 90_000);
      expect(vmi.metadata?.annotations?.['ovn.kubernetes.io/logical_switch']).toBe(subnets[i]);
      expect(vmi.status?.interfaces?.[0]?.ipAddress?.startsWith(c.prefix)).toBe(true);
    }

    // Deleting team/a-alpha removes its network only.
    const before = { vpc: await fingerprint(Vpcs, names[1]!), subnet: await fingerprint(Subnets, subnets[1]!) };
    await w.client.delete(KvmMachines, `${A.name}-m1`, A.ns);
    await w.client.delete(KvmClusters, A.name, A.ns);
    await gone(KvmClusters, A.name, A.ns);
    expect(await w.client.tryGet(Subnets, subnets[0]!)).toBeUndefined();
    expect(await w.client.tryGet(Vpcs, names[0]!)).toBeUndefined();
    expect(await fingerprint(Vpcs, names[1]!)).toEqual(before.vpc);
    expect(await fingerprint(Subnets, subnets[1]!)).toEqual(before.subnet);
    expect(await networkCondition(B.ns, B.name)).toMatchObject({ status: 'True', reason: 'Provisioned' });
    expect((await w.client.get<VirtualMachineInstance>(VirtualMachineInstances, `${B.name}-m1`, B.ns)).status?.phase).toBe('Running');
  });
});

describe('names held by someone else', () => {
  it('given a Vpc of our name without ownership labels, should leave it untouched, say NameTaken, and take the name once it is free', async () => {
    const ns = 'squat-vpc';
    const name = tenantNetworkName(ns, 'c1');
    await w.client.create<Obj>(Vpcs, { metadata: { name, labels: { team: 'platform' } }, spec: { enableExternal: false } });
    const before = await fingerprint(Vpcs, name);
    await createCluster(w, ns, 'c1', '10.63.0.0/24', { tenant: false });

    const c = await conditionWith('NameTaken', () => networkCondition(ns, 'c1'), 'NameTaken');
    const message = `Vpc ${name} exists and does not belong to this KvmCluster: it carries no Ironplane ownership labels (${OWNER_LABELS.join(', ')}); it is left untouched, and the tenant network waits until the name is free`;
    expect(c).toMatchObject({ status: 'False', message });
    expect(await warned(ns, 'KvmCluster', 'c1', 'NameTaken')).toEqual([message]);
    const kc = await w.client.get<KvmCluster>(KvmClusters, 'c1', ns);
    expect(kc.status?.network).toBeUndefined();
    expect(kc.status?.initialization?.provisioned).toBeUndefined();
    // Nothing created inside a Vpc that is not ours, and the Vpc is as it was.
    expect(await w.client.tryGet(Subnets, tenantSubnetName(ns, 'c1'))).toBeUndefined();
    expect(await fingerprint(Vpcs, name)).toEqual(before);

    // The operator frees the name: the next reconcile takes it.
    await w.client.delete(Vpcs, name);
    await gone(Vpcs, name);
    await w.client.mergePatch(KvmClusters, 'c1', ns, { metadata: { annotations: { 'test.ironplane.dev/nudge': '1' } } });
    await conditionWith('the network', () => networkCondition(ns, 'c1'), 'Provisioned');
    expect((await w.client.get<Obj>(Vpcs, name)).metadata?.labels).toMatchObject({ [OWNER_LABELS[2]!]: kc.metadata.uid });
    await w.client.delete(KvmClusters, 'c1', ns);
    await gone(KvmClusters, 'c1', ns);
    expect(await w.client.tryGet(Vpcs, name)).toBeUndefined();
  });

  it("given a Subnet of our name marked for another namespace's KvmCluster, should create only our Vpc, and on deletion remove only the Vpc", async () => {
    const ns = 'squat-subnet';
    const name = tenantNetworkName(ns, 'c1');
    const subnet = tenantSubnetName(ns, 'c1');
    await w.client.create<Obj>(Subnets, {
      metadata: { name: subnet, labels: { [OWNER_LABELS[0]!]: 'other', [OWNER_LABELS[1]!]: 'other-tenant', [OWNER_LABELS[2]!]: '00000000-0000-0000-0000-000000000001' } },
      spec: { vpc: 'other-vpc', cidrBlock: '10.99.0.0/24', protocol: 'IPv4', provider: 'ovn' },
    });
    const before = await fingerprint(Subnets, subnet);
    await createCluster(w, ns, 'c1', '10.64.0.0/24', { tenant: false });

    const c = await conditionWith('NameTaken', () => networkCondition(ns, 'c1'), 'NameTaken');
    // The other tenant's namespace and cluster name are not revealed.
    expect(c.message).toBe(`Subnet ${subnet} exists and does not belong to this KvmCluster: it is marked for a KvmCluster in another namespace; it is left untouched, and the tenant network waits until the name is free`);
    const kc = await w.client.get<KvmCluster>(KvmClusters, 'c1', ns);
    expect((await w.client.get<Obj>(Vpcs, name)).metadata?.labels).toMatchObject({ [OWNER_LABELS[1]!]: ns, [OWNER_LABELS[2]!]: kc.metadata.uid });
    expect(await fingerprint(Subnets, subnet)).toEqual(before);

    await w.client.delete(KvmClusters, 'c1', ns);
    await gone(KvmClusters, 'c1', ns);
    expect(await w.client.tryGet(Vpcs, name)).toBeUndefined();
    expect(await fingerprint(Subnets, subnet)).toEqual(before);
    expect(await warnings(ns, 'KvmCluster', 'c1', 'NotOwned')).toContain(`Subnet ${subnet} does not belong to this KvmCluster: it is marked for a KvmCluster in another namespace; it is left in place`);
    await w.client.delete(Subnets, subnet);
  });

  it('given a Vpc marked for an earlier KvmCluster of the same name, should not adopt or delete it', async () => {
    const ns = 'squat-earlier';
    const name = tenantNetworkName(ns, 'c1');
    const labels = { [OWNER_LABELS[0]!]: 'c1', [OWNER_LABELS[1]!]: ns, [OWNER_LABELS[2]!]: '00000000-0000-0000-0000-000000000002' };
    await w.client.create<Obj>(Vpcs, { metadata: { name, labels }, spec: {} });
    const before = await fingerprint(Vpcs, name);
    await createCluster(w, ns, 'c1', '10.65.0.0/24', { tenant: false });
    const c = await conditionWith('NameTaken', () => networkCondition(ns, 'c1'), 'NameTaken');
    const uid = (await w.client.get<KvmCluster>(KvmClusters, 'c1', ns)).metadata.uid;
    expect(c.message).toBe(
      `Vpc ${name} exists and does not belong to this KvmCluster: it is marked for an earlier KvmCluster ${ns}/c1 (uid 00000000-0000-0000-0000-000000000002, this one is ${uid}); it is left untouched, and the tenant network waits until the name is free`,
    );
    await w.client.delete(KvmClusters, 'c1', ns);
    await gone(KvmClusters, 'c1', ns);
    expect(await fingerprint(Vpcs, name)).toEqual(before);
    expect(await warnings(ns, 'KvmCluster', 'c1', 'NotOwned')).toContain(
      `Vpc ${name} does not belong to this KvmCluster: it is marked for an earlier KvmCluster ${ns}/c1 (uid 00000000-0000-0000-0000-000000000002, this one is ${uid}); it is left in place`,
    );
    await w.client.delete(Vpcs, name);
  });

  describe('in a working cluster', () => {
    const ns = 'squat-vm';
    beforeAll(async () => {
      await createCluster(w, ns, 'c1', '10.66.0.0/24', { tenant: false });
      await conditionWith('the network', () => networkCondition(ns, 'c1'), 'Provisioned');
    });

    /** A halted VM, as someone else might have made it, optionally with our machine label so our cache sees it. */
    const foreignVM = (name: string, labels?: Record<string, string>): Obj => ({
      metadata: { name, namespace: ns, ...(labels ? { labels } : {}) },
      spec: { runStrategy: 'Halted', template: { spec: { domain: { devices: {} } } } },
    });

    it.each([
      ['without our label or ownerReference', 'sq-vm1', undefined],
      ['with our machine label but no ownerReference', 'sq-vm2', { 'infrastructure.ironplane.dev/kvm-machine': 'sq-vm2' }],
    ])('given a VirtualMachine of the machine name %s, should not adopt, change or delete it', async (_what, name, labels) => {
      await w.client.create<Obj>(VirtualMachines, foreignVM(name, labels));
      const before = await fingerprint(VirtualMachines, name, ns);
      await createMachine(w, ns, 'c1', name);
      const c = await conditionWith('VirtualMachineNotOwned', () => machineCondition(ns, name), 'VirtualMachineNotOwned');
      const message = `VirtualMachine ${ns}/${name} exists and does not belong to this KvmMachine: it has no controller ownerReference; it is left untouched`;
      expect(c).toMatchObject({ status: 'False', message });
      expect(await warned(ns, 'KvmMachine', name, 'VirtualMachineNotOwned')).toEqual([message]);
      expect((await w.client.get<KvmMachine>(KvmMachines, name, ns)).status?.virtualMachine).toBeUndefined();
      expect(await fingerprint(VirtualMachines, name, ns)).toEqual(before);

      await w.client.delete(KvmMachines, name, ns);
      await gone(KvmMachines, name, ns);
      expect(await fingerprint(VirtualMachines, name, ns)).toEqual(before);
      expect(await warnings(ns, 'KvmMachine', name, 'VirtualMachineNotOwned')).toContain(`VirtualMachine ${ns}/${name} does not belong to this KvmMachine: it has no controller ownerReference; it is left in place`);
    });

    it('given a userdata Secret of the machine name that is not its own, should not overwrite or delete it, and create no VM', async () => {
      const name = 'sq-ud';
      await w.client.create<Obj>(Secrets, { metadata: { name: `${name}-userdata`, namespace: ns }, type: 'Opaque', data: { userdata: Buffer.from('#cloud-config\n# not yours\n').toString('base64') } } as Obj);
      const before = await fingerprint(Secrets, `${name}-userdata`, ns);
      await createMachine(w, ns, 'c1', name);
      const c = await conditionWith('UserDataSecretNotOwned', () => machineCondition(ns, name), 'UserDataSecretNotOwned');
      expect(c).toMatchObject({ status: 'False', message: `Secret ${ns}/${name}-userdata exists and does not belong to this KvmMachine: it has no controller ownerReference; it is left untouched` });
      expect(await warned(ns, 'KvmMachine', name, 'UserDataSecretNotOwned')).toHaveLength(1);
      expect(await w.client.tryGet(VirtualMachines, name, ns)).toBeUndefined();
      expect(await fingerprint(Secrets, `${name}-userdata`, ns)).toEqual(before);

      await w.client.delete(KvmMachines, name, ns);
      await gone(KvmMachines, name, ns);
      expect(await fingerprint(Secrets, `${name}-userdata`, ns)).toEqual(before);
      expect(await warnings(ns, 'KvmMachine', name, 'UserDataSecretNotOwned')).toContain(`Secret ${ns}/${name}-userdata does not belong to this KvmMachine: it has no controller ownerReference; it is left in place`);
    });
  });
});
