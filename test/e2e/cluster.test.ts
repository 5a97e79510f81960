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
import { Secrets, type ResourceType } from '../../providers/kit/types.js';
import { clusterctlDescribe, clusterctlGenerate } from './clusterctl.js';
import { applyManifests, condition, explain, POOL_NS, startE2E, tenantNamespace, tenantNodes, topologyCluster, until, waitAvailable, type E2E, type Obj } from './world.js';

const NS = 'team-a';
const rtOf = (group: string, version: string, kind: string, plural: string, namespaced = true): ResourceType => ({ group, version, kind, plural, namespaced });
const IMAGE = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';

let w: E2E;

beforeAll(async () => {
  w = await startE2E({ name: 'e2e-cluster', hosts: 3, clusterctl: true, sveltos: true });
  await tenantNamespace(w.client, NS);
}, 180_000);

afterAll(async () => {
  await w?.stop();
});

describe('one Cluster object', () => {
  it('given the Cluster clusterctl generates from the ironplane-kvm template, with two workers, should become Available with both Nodes joined', async () => {
    const yaml = await clusterctlGenerate(w.clusterctlConfig!, ['cluster', 'alpha', '--kubeconfig', w.cp.kubeconfigPath, '--infrastructure', 'ironplane-kvm', '--target-namespace', NS, '--kubernetes-version', 'v1.35.0', '--worker-machine-count', '2', '--control-plane-machine-count', '1'], { env: { IRONPLANE_NODE_CIDR: '10.40.0.0/24' } });
    const t0 = Date.now();
    const applied = await applyManifests(w.client, yaml);
    // The Cluster, and the class with its templates, which the namespace did not have yet.
    expect(applied.map((o) => o.kind)).toEqual(expect.arrayContaining(['Cluster', 'ClusterClass', 'KvmMachineTemplate', 'KairosConfigTemplate', 'KamajiControlPlaneTemplate', 'KvmClusterTemplate']));
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

    // Sveltos delivers the add-ons of the template's `standard` set (cni, csi, policies) into the tenant.
    const tenant = await w.tenants.get(NS, 'alpha');
    await until('Sveltos to deliver the standard add-ons into the tenant', async () => {
      const found = await Promise.all([
        tenant.tryGet(rtOf('apps', 'v1', 'DaemonSet', 'daemonsets'), 'kube-router', 'kube-system'),
        tenant.tryGet(rtOf('storage.k8s.io', 'v1', 'StorageClass', 'storageclasses', false), 'local-path'),
        tenant.tryGet(rtOf('', 'v1', 'Namespace', 'namespaces', false), 'apps'),
      ]);
      return found.every(Boolean) || undefined;
    }, 90_000);

    const tree = await clusterctlDescribe({ kubeconfig: w.cp.kubeconfigPath, cluster: 'alpha', namespace: NS });
    // Cluster API's own view: replicas are the hosted control plane plus the workers.
    expect(tree).toMatch(/^Cluster\/alpha\s+3\/3\s+3\s+3\s+3\s+True\s+Available/m);
    expect(tree).toMatch(/ClusterInfrastructure - KvmCluster\/alpha-\S+\s+True\s+Ready/);
    expect(tree).toMatch(/ControlPlane - KamajiControlPlane\/alpha-\S+\s+1\/1/);
    expect(tree).toMatch(/MachineDeployment\/alpha-md-0-\S+\s+2\/2\s+2\s+2\s+2\s+True\s+Available/);
    expect(tree).toMatch(/2 Machines\.\.\.\s+2\s+2\s+2\s+True\s+Ready/);
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

