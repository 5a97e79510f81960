// The KubeVirt provider end to end on the local management plane: the real
// apiserver validates every object against the real CRDs (CAPI, KubeVirt,
// kube-OVN, ours); test/sim plays the hypervisor and the guest's kubelet.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KvmCluster } from '../../../providers/api/generated/ironplane/v1alpha1/kvmcluster.js';
import type { KvmMachine } from '../../../providers/api/generated/ironplane/v1alpha1/kvmmachine.js';
import { getCondition } from '../../../providers/kit/conditions.js';
import { Client } from '../../../providers/kit/client.js';
import { Secrets, type KubeObject } from '../../../providers/kit/types.js';
import { tenantNetworkName, tenantSubnetName } from '../../../providers/kubevirt/names.js';
import { KvmClusters, KvmMachines, Nodes, Subnets, VirtualMachineInstances, VirtualMachines, Vpcs } from '../../../providers/kubevirt/resources.js';
import type { VirtualMachineInstance } from '../../../providers/kubevirt/render.js';
import { until } from '../processes.js';
import { createCluster, createMachine, startWorld, type World } from './world.js';

let w: World;
const TEAM_A = tenantNetworkName('team-a', 'alpha');
const TEAM_B = tenantNetworkName('team-b', 'alpha');
const SUBNET_A = tenantSubnetName('team-a', 'alpha');
const SUBNET_B = tenantSubnetName('team-b', 'alpha');

beforeAll(async () => {
  w = await startWorld('kubevirt');
  w.startManager();
}, 180_000);

afterAll(async () => {
  if (w?.manager && process.env['IRONPLANE_TEST_LOG']) console.log(w.manager.output());
  await w?.stop();
});

const kvmMachine = (ns: string, name: string) => w.client.get<KvmMachine>(KvmMachines, name, ns);
const condition = async (ns: string, name: string, type: string) => getCondition((await kvmMachine(ns, name)).status?.conditions, type);

describe('KubeVirt provider', () => {
  it('given a Cluster, Machine, KvmCluster and KvmMachine, should provision the network, run the VM and see its Node join', async () => {
    await createCluster(w, 'team-a', 'alpha', '10.10.0.0/24');
    await createMachine(w, 'team-a', 'alpha', 'alpha-m1', { failureDomain: 'zone-b' });

    const m = await until('alpha-m1 to be provisioned', async () => {
      const o = await kvmMachine('team-a', 'alpha-m1');
      return o.status?.initialization?.provisioned ? o : undefined;
    }, 90_000);
    expect(m.spec?.providerID).toBe('kubevirt://team-a/alpha-m1');
    expect(m.status?.failureDomain).toBe('zone-b');
    const ip = m.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    expect(ip).toMatch(/^10\.10\.0\.\d+$/);
    expect(m.status?.addresses).toContainEqual({ type: 'Hostname', address: 'alpha-m1' });
    expect(getCondition(m.status?.conditions, 'Ready')?.status).toBe('True');
    expect(getCondition(m.status?.conditions, 'BootstrapSucceeded')).toMatchObject({ status: 'True', reason: 'NodeJoined' });

    // The VM landed in its failure domain, on the tenant's Subnet.
    const vmi = await w.client.get<VirtualMachineInstance>(VirtualMachineInstances, 'alpha-m1', 'team-a');
    expect(vmi.status?.nodeName).toBe('infra-b');
    const vm = await w.client.get<KubeObject & { spec: { template: { metadata: { annotations: Record<string, string> } } } }>(VirtualMachines, 'alpha-m1', 'team-a');
    expect(vm.spec.template.metadata.annotations['ovn.kubernetes.io/logical_switch']).toBe(SUBNET_A);

    // The guest's userdata carries the providerID; the tenant Node has it.
    const userdata = await w.client.get<KubeObject & { data: Record<string, string> }>(Secrets, 'alpha-m1-userdata', 'team-a');
    expect(Buffer.from(userdata.data['userdata']!, 'base64').toString()).toContain('kubevirt://team-a/alpha-m1');
    const tenant = new Client(w.tenants.get('team-a/alpha')!.kubeConfig, { fieldManager: 't' });
    try {
      const node = await tenant.get<KubeObject & { spec: { providerID: string } }>(Nodes, 'alpha-m1');
      expect(node.spec.providerID).toBe('kubevirt://team-a/alpha-m1');
    } finally {
      tenant.close();
    }

    const kc = await w.client.get<KvmCluster>(KvmClusters, 'alpha', 'team-a');
    expect(kc.status?.initialization?.provisioned).toBe(true);
    expect(kc.status?.network).toEqual({ vpc: TEAM_A, subnet: SUBNET_A });
    expect(kc.status?.failureDomains).toEqual([
      { name: 'zone-a', controlPlane: false },
      { name: 'zone-b', controlPlane: false },
    ]);
  });

  it('given two clusters with the same node CIDR, should give each its own VPC', async () => {
    await createCluster(w, 'team-b', 'alpha', '10.10.0.0/24', { tenant: false });
    const subnet = await until('team-b Subnet', () => w.client.tryGet<KubeObject & { spec: Record<string, unknown> }>(Subnets, SUBNET_B));
    const first = await w.client.get<KubeObject & { spec: Record<string, unknown> }>(Subnets, SUBNET_A);
    expect(subnet.spec).toMatchObject({ vpc: TEAM_B, cidrBlock: '10.10.0.0/24' });
    expect(first.spec).toMatchObject({ vpc: TEAM_A, cidrBlock: '10.10.0.0/24' });
    expect(await w.client.tryGet(Vpcs, TEAM_B)).toBeDefined();
    expect(await w.client.tryGet(Vpcs, TEAM_A)).toBeDefined();
  });

  it('given a missing bootstrap Secret, should wait with a condition naming it, then go on when it appears', async () => {
    await createMachine(w, 'team-a', 'alpha', 'alpha-late', { bootstrap: null });
    const c = await until('a condition naming the Secret', async () => {
      const c = await condition('team-a', 'alpha-late', 'VirtualMachineReady');
      return c?.reason === 'WaitingForBootstrapData' ? c : undefined;
    });
    expect(c.message).toBe('bootstrap data Secret alpha-late-bootstrap not found');
    expect(await w.client.tryGet(VirtualMachines, 'alpha-late', 'team-a')).toBeUndefined();
    await w.client.create(Secrets, {
      metadata: { name: 'alpha-late-bootstrap', namespace: 'team-a' },
      type: 'cluster.x-k8s.io/secret',
      data: { value: Buffer.from('#cloud-config\n').toString('base64') },
    } as KubeObject);
    await until('alpha-late to be provisioned', async () => (await kvmMachine('team-a', 'alpha-late')).status?.initialization?.provisioned, 90_000);
  });

  it('given bootstrap data that is not cloud-config, should say so and create no VM', async () => {
    await createMachine(w, 'team-a', 'alpha', 'alpha-ign', { bootstrap: '{"ignition":{}}', format: 'ignition' });
    const c = await until('BootstrapDataInvalid', async () => {
      const c = await condition('team-a', 'alpha-ign', 'VirtualMachineReady');
      return c?.reason === 'BootstrapDataInvalid' ? c : undefined;
    });
    expect(c.message).toBe('Secret alpha-ign-bootstrap: bootstrap data format "ignition" is not supported: Ironplane machines boot cloud-config (Kairos)');
    expect(await w.client.tryGet(VirtualMachines, 'alpha-ign', 'team-a')).toBeUndefined();
  });

  it('given a PVC source in another namespace, should refuse it in a condition', async () => {
    await createMachine(w, 'team-a', 'alpha', 'alpha-xns', { spec: { image: { dataVolume: { source: { pvc: { name: 'golden', namespace: 'team-b' } }, storage: '10Gi' } } } });
    const c = await until('InvalidSpec', async () => {
      const c = await condition('team-a', 'alpha-xns', 'VirtualMachineReady');
      return c?.reason === 'InvalidSpec' ? c : undefined;
    });
    expect(c.message).toBe('spec.image.dataVolume.source.pvc.namespace "team-b" is not this KvmMachine\'s namespace "team-a": cross-namespace references are not allowed');
    expect(await w.client.tryGet(VirtualMachines, 'alpha-xns', 'team-a')).toBeUndefined();
  });

  it('given a guest that KubeVirt restarts, should report the failure only while it lasts', async () => {
    await createMachine(w, 'team-a', 'alpha', 'alpha-bounce');
    await until('alpha-bounce to run', async () => (await condition('team-a', 'alpha-bounce', 'VirtualMachineReady'))?.status === 'True', 90_000);
    const before = await w.client.get<VirtualMachineInstance>(VirtualMachineInstances, 'alpha-bounce', 'team-a');
    await w.hypervisor.fail('team-a', 'alpha-bounce', 'GuestPanicked', 'guest kernel panic');
    await until('a new VMI', async () => (await w.client.tryGet<VirtualMachineInstance>(VirtualMachineInstances, 'alpha-bounce', 'team-a'))?.metadata?.uid !== before.metadata?.uid);
    // runStrategy Always: KubeVirt starts a new VMI; the machine is not failed for good.
    await until('alpha-bounce to run again', async () => (await condition('team-a', 'alpha-bounce', 'VirtualMachineReady'))?.status === 'True', 90_000);
    expect((await kvmMachine('team-a', 'alpha-bounce')).status?.deprecated).toBeUndefined();
  });

  it('given a Once guest that fails, should report a terminal failure a MachineHealthCheck can act on', async () => {
    await createMachine(w, 'team-a', 'alpha', 'alpha-doomed', { spec: { runStrategy: 'Once' } });
    await until('alpha-doomed to run', async () => (await condition('team-a', 'alpha-doomed', 'VirtualMachineReady'))?.status === 'True', 90_000);
    await w.hypervisor.fail('team-a', 'alpha-doomed', 'GuestPanicked', 'guest kernel panic');
    const m = await until('a recorded failure', async () => {
      const o = await kvmMachine('team-a', 'alpha-doomed');
      return o.status?.deprecated?.v1beta1?.failureReason ? o : undefined;
    });
    expect(m.status?.deprecated?.v1beta1?.failureReason).toBe('VirtualMachineFailed');
    expect(getCondition(m.status?.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'VirtualMachineFailed' });
  });

  it('given a KvmMachineTemplate, should refuse spec changes but allow them on dry-run and allow label changes', async () => {
    const T = { group: 'infrastructure.ironplane.dev', version: 'v1alpha1', kind: 'KvmMachineTemplate', plural: 'kvmmachinetemplates', namespaced: true };
    const tpl = { metadata: { name: 'workers', namespace: 'team-a' }, spec: { template: { spec: { image: { containerDisk: { image: 'quay.io/kairos/ubuntu:24.04' } } } } } };
    await w.client.create(T, tpl);
    try {
      await w.client.mergePatch(T, 'workers', 'team-a', { spec: { template: { spec: { memory: '16Gi' } } } });
      throw new Error('the change was accepted');
    } catch (e) {
      expect((e as Error).message).toContain('spec.template.spec is immutable; create a new KvmMachineTemplate');
    }
    // The topology controller's server-side apply dry-run must pass.
    const dry = await w.client.apply<KubeObject & { spec: { template: { spec: { memory: string } } } }>(
      T,
      { ...tpl, spec: { template: { spec: { ...tpl.spec.template.spec, memory: '16Gi' } } } },
      { dryRun: true, force: true },
    );
    expect(dry.spec.template.spec.memory).toBe('16Gi');
    await w.client.mergePatch(T, 'workers', 'team-a', { metadata: { labels: { tier: 'gold' } } });
    expect((await w.client.get<KubeObject & { spec: { template: { spec: { memory: string } } } }>(T, 'workers', 'team-a')).spec.template.spec.memory).toBe('4Gi');
  });

  it('given the cluster is deleted, should remove the VMs first, then the network', async () => {
    await w.client.delete(KvmClusters, 'alpha', 'team-a');
    const waiting = await until('the KvmCluster to wait for its machines', async () => {
      const kc = await w.client.get<KvmCluster>(KvmClusters, 'alpha', 'team-a');
      const c = getCondition(kc.status?.conditions, 'NetworkReady');
      return c?.reason === 'Deleting' && c.message?.startsWith('waiting for') ? c : undefined;
    });
    expect(waiting.message).toContain('KvmMachine(s) to be deleted');
    expect(await w.client.tryGet(Subnets, SUBNET_A)).toBeDefined();

    const machines = await w.client.list<KvmMachine>(KvmMachines, { namespace: 'team-a' });
    for (const m of machines.items) await w.client.delete(KvmMachines, m.metadata.name!, 'team-a');
    await until('every KvmMachine to be gone', async () => (await w.client.list(KvmMachines, { namespace: 'team-a' })).items.length === 0, 90_000);
    expect((await w.client.list(VirtualMachines, { namespace: 'team-a' })).items).toEqual([]);
    expect((await w.client.list(VirtualMachineInstances, { namespace: 'team-a' })).items).toEqual([]);
    expect((await w.client.list(Secrets, { namespace: 'team-a', labelSelector: 'infrastructure.ironplane.dev/kvm-machine' })).items).toEqual([]);

    await until('the KvmCluster to be gone', async () => (await w.client.tryGet(KvmClusters, 'alpha', 'team-a')) === undefined, 60_000);
    expect(await w.client.tryGet(Subnets, SUBNET_A)).toBeUndefined();
    expect(await w.client.tryGet(Vpcs, TEAM_A)).toBeUndefined();
    // The other tenant's network is untouched.
    expect(await w.client.tryGet(Subnets, SUBNET_B)).toBeDefined();
  });
});
