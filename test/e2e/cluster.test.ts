// One object to an Available tenant cluster: a tenant applies a single
// Cluster with a topology on the shipped ClusterClass, and everything else
// follows from the real CAPI core manager, the real Kamaji control-plane
// provider, our managers and the simulated nodes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clusters, Machines } from '../../providers/capi/contract.js';
import { KvmMachines } from '../../providers/kubevirt/resources.js';
import { VirtualMachines } from '../sim/kinds.js';
import { condition, explain, startE2E, tenantNamespace, tenantNodes, topologyCluster, waitAvailable, type E2E, type Obj } from './world.js';

const NS = 'team-a';
const IMAGE = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';

let w: E2E;

beforeAll(async () => {
  w = await startE2E({ name: 'e2e-cluster' });
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
});
