// One object to an Available tenant cluster: a tenant applies a single
// Cluster with a topology on the shipped ClusterClass, and everything else
// follows from the real CAPI core manager, the real Kamaji control-plane
// provider, our managers and the simulated nodes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clusters, Machines } from '../../providers/capi/contract.js';
import { KvmMachines } from '../../providers/kubevirt/resources.js';
import { BareMetalHosts, MetalMachines } from '../../providers/metal3/resources.js';
import { Subnets, VirtualMachineInstances, VirtualMachines, Vpcs } from '../../providers/kubevirt/resources.js';
import { TenantControlPlanes } from '../sim/kamaji.js';
import { KVM_CLUSTER_NAMESPACE_LABEL } from '../../providers/kubevirt/names.js';
import { Secrets } from '../../providers/kit/types.js';
import { condition, explain, POOL_NS, startE2E, tenantNamespace, tenantNodes, topologyCluster, until, waitAvailable, type E2E, type Obj } from './world.js';

const NS = 'team-a';
const IMAGE = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';

let w: E2E;

beforeAll(async () => {
  w = await startE2E({ name: 'e2e-cluster', hosts: 3 });
  await tenantNamespace(w.client, NS);
}, 180_000);

afterAll(async () => {
  await w?.stop();
});

describe('one Cluster object', () => {
  it('given a Cluster on ironplane-kvm with two workers, should become Available with both Nodes joined', async () => {
    const t0 = Date.now();
    await w.client.create(Clusters, topologyCluster({ namespace: NS, name: 'alpha', cls: 'ironplane-kvm', version: 'v1.35.0', kairosImages: [IMAGE], nodeCIDR: '10.40.0.0/24' }));
    const cluster = await waitAvailable(w, NS, 'alpha', 150_000);
    console.log(`e2e: Cluster ${NS}/alpha Available in ${Date.now() - t0} ms`);
    expect(condition(cluster, 'Available')).toMatchObject({ status: 'True' });

    const machines = (await w.client.list<Obj>(Machines, { namespace: NS, labelSelector: 'cluster.x-k8s.io/cluster-name=alpha' })).items;
    expect(machines).toHaveLength(2);
    const nodes = await tenantNodes(w, NS, 'alpha');
    const kvmMachines = (await w.client.list<Obj>(KvmMachines, { namespace: NS })).items;
    // Each Machine is linked to the Node its VM registered, by our providerID.
    for (const m of machines) {
      const nodeRef = m.status?.['nodeRef'] as { name: string } | undefined;
      expect(nodeRef, await explain(w, NS, 'alpha')).toBeDefined();
      const node = nodes.find((n) => n.metadata!.name === nodeRef!.name)!;
      expect(node.spec?.providerID).toBe(m.spec?.['providerID']);
    }
    expect(kvmMachines.map((k) => k.spec?.['providerID']).sort()).toEqual(machines.map((m) => m.spec?.['providerID']).sort());
    expect((await w.client.list(VirtualMachines, { namespace: NS })).items).toHaveLength(2);
  }, 180_000);

  it('given a Cluster on ironplane-metal with two workers, should claim two pool hosts and become Available', async () => {
    const t0 = Date.now();
    await w.client.create(Clusters, topologyCluster({ namespace: NS, name: 'bravo', cls: 'ironplane-metal', version: 'v1.35.0', kairosImages: [IMAGE] }));
    await waitAvailable(w, NS, 'bravo', 150_000);
    console.log(`e2e: Cluster ${NS}/bravo (metal) Available in ${Date.now() - t0} ms`);

    const machines = (await w.client.list<Obj>(Machines, { namespace: NS, labelSelector: 'cluster.x-k8s.io/cluster-name=bravo' })).items;
    expect(machines).toHaveLength(2);
    const hosts = (await w.client.list<Obj>(BareMetalHosts, { namespace: POOL_NS })).items;
    const claimed = hosts.filter((h) => (h.spec?.['consumerRef'] as { namespace?: string } | undefined)?.namespace === NS);
    expect(claimed).toHaveLength(2);
    for (const h of claimed) expect((h.status?.['provisioning'] as { state: string }).state).toBe('provisioned');
    const nodes = await tenantNodes(w, NS, 'bravo');
    expect(nodes.map((n) => n.spec?.providerID).sort()).toEqual(machines.map((m) => m.spec?.['providerID']).sort());
    for (const m of (await w.client.list<Obj>(MetalMachines, { namespace: NS })).items) expect(m.spec?.['providerID']).toMatch(new RegExp(`^metal3://${POOL_NS}/host-\\d+/`));
  }, 180_000);

  it('given both Clusters deleted, should leave no VM, claimed host, Secret, tenant control plane or network behind', async () => {
    for (const name of ['alpha', 'bravo']) await w.client.delete(Clusters, name, NS);
    await until('both Clusters to be gone', async () => (await w.client.list(Clusters, { namespace: NS })).items.length === 0 || undefined, 150_000);
    expect((await w.client.list(Machines, { namespace: NS })).items).toEqual([]);
    expect((await w.client.list(KvmMachines, { namespace: NS })).items).toEqual([]);
    expect((await w.client.list(MetalMachines, { namespace: NS })).items).toEqual([]);
    expect((await w.client.list(VirtualMachines, { namespace: NS })).items).toEqual([]);
    expect((await w.client.list(VirtualMachineInstances, { namespace: NS })).items).toEqual([]);
    expect((await w.client.list(TenantControlPlanes, { namespace: NS })).items).toEqual([]);
    // Our kube-OVN VPC and subnet of the KVM cluster.
    const owned = `${KVM_CLUSTER_NAMESPACE_LABEL}=${NS}`;
    expect((await w.client.list(Vpcs, { labelSelector: owned })).items).toEqual([]);
    expect((await w.client.list(Subnets, { labelSelector: owned })).items).toEqual([]);
    // Every Secret of the tenant namespace (kubeconfig, CA, bootstrap data, VM userdata) is gone,
    // and the hosts are released with their userdata Secrets deleted.
    expect((await w.client.list(Secrets, { namespace: NS })).items.map((x) => x.metadata!.name)).toEqual([]);
    await until('the pool hosts to be released and available', async () => {
      const hosts = (await w.client.list<Obj>(BareMetalHosts, { namespace: POOL_NS })).items;
      return hosts.every((h) => !h.spec?.['consumerRef'] && (h.status?.['provisioning'] as { state?: string } | undefined)?.state === 'available') || undefined;
    }, 120_000);
    const poolSecrets = (await w.client.list(Secrets, { namespace: POOL_NS })).items.map((x) => x.metadata!.name!);
    expect(poolSecrets.filter((n) => !n.endsWith('-bmc'))).toEqual([]);
  }, 300_000);
});

