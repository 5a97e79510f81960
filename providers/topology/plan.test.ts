import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateCluster } from '../api/generated/capi/v1beta2/cluster.js';
import { parseAllDocuments } from 'yaml';
import { diffRenders, loadClass, loadClusters, PlanInputError, renderCluster, renderOk, type Render, type Source } from './plan.js';
import { parseCidr, type Cidr } from './cidr.js';
import type { BaseConfig } from './variables.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const src = (rel: string): Source => ({ path: rel, text: fs.readFileSync(path.join(REPO, rel), 'utf8') });
const BASE: BaseConfig = { reservedCIDRs: [], upgradeConcurrency: 0 };

const KVM = src('clusterclasses/ironplane-kvm.yaml');
const METAL = src('clusterclasses/ironplane-metal.yaml');
const KVM_CLUSTER = src('templates/plan-examples/cluster-kvm.yaml');
const METAL_CLUSTER = src('templates/plan-examples/cluster-metal.yaml');

const render = (cls: Source, cluster: Source): Render => {
  const [c] = loadClusters(cluster);
  return renderCluster(loadClass(cls), c!, BASE);
};
const obj = (r: Render, role: string, md?: string) => r.objects.find((o) => o.role === role && o.machineDeployment === md)!.object;
const edit = (s: Source, from: string | RegExp, to: string, p = s.path): Source => {
  const text = s.text.replace(from, to);
  if (text === s.text) throw new Error(`edit of ${s.path} changed nothing`);
  return { path: p, text };
};
const inputError = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof PlanInputError) return e.message;
    throw e;
  }
  throw new Error('no PlanInputError');
};

describe('plan examples', () => {
  it('should be valid v1beta2 Clusters', () => {
    for (const s of [KVM_CLUSTER, METAL_CLUSTER]) {
      for (const d of parseAllDocuments(s.text)) expect(validateCluster(d.toJS()), s.path).toBe(true);
    }
  });
});

describe('render', () => {
  it('given the KVM class and cluster, should render every object patched by the extension', () => {
    const r = render(KVM, KVM_CLUSTER);
    expect(r.generatePatches).toEqual({ status: 'Success' });
    expect(r.validateTopology).toEqual({ status: 'Success' });
    expect(r.objects.map((o) => `${o.role} ${o.object.kind} ${o.object.metadata.name}`)).toEqual([
      'InfraCluster KvmCluster prod',
      'ControlPlane KamajiControlPlane prod',
      'BootstrapTemplate KairosConfigTemplate prod-md-0',
      'InfraMachineTemplate KvmMachineTemplate prod-md-0',
      'BootstrapTemplate KairosConfigTemplate prod-md-gpu',
      'InfraMachineTemplate KvmMachineTemplate prod-md-gpu',
    ]);
    expect(obj(r, 'InfraCluster').spec).toEqual({ network: { nodeCIDR: '10.20.0.0/24' } });
    const cp = obj(r, 'ControlPlane').spec;
    expect(cp['dataStoreName']).toBe('etcd-gold');
    // The class's privateEndpointVIP among the apiserver's SANs (adr/0014).
    expect(cp['network']).toEqual({ serviceType: 'LoadBalancer', serviceAnnotations: { 'metallb.io/address-pool': 'tenants' }, certSANs: ['198.18.0.1'] });
    expect(cp['version']).toBe('v1.35.0');
    expect(cp['replicas']).toBe(2);
    const general = obj(r, 'InfraMachineTemplate', 'md-0').spec as { template: { spec: Record<string, unknown> } };
    expect(general.template.spec['cpu']).toEqual({ cores: 4, sockets: 1, threads: 1 });
    expect(general.template.spec['memory']).toBe('8Gi');
    expect(general.template.spec['gpus']).toBeUndefined();
    expect(general.template.spec['image']).toEqual({ containerDisk: { image: 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0' } });
    const gpu = obj(r, 'InfraMachineTemplate', 'md-gpu').spec as { template: { spec: Record<string, unknown> } };
    expect(gpu.template.spec['cpu']).toEqual({ cores: 16, sockets: 1, threads: 1 });
    expect(gpu.template.spec['memory']).toBe('64Gi');
    expect(gpu.template.spec['gpus']).toEqual([
      { name: 'gpu0', deviceName: 'nvidia.com/GA102GL_A10' },
      { name: 'gpu1', deviceName: 'nvidia.com/GA102GL_A10' },
    ]);
    const boot = obj(r, 'BootstrapTemplate', 'md-0').spec as { template: { spec: { users: unknown[] } } };
    expect(boot.template.spec.users).toEqual([{ name: 'kairos', groups: ['admin'], sshAuthorizedKeys: [expect.stringMatching(/^ssh-ed25519 /)] }]);
    expect(obj(r, 'InfraMachineTemplate', 'md-0').metadata.labels).toEqual({ 'cluster.x-k8s.io/cluster-name': 'prod', 'topology.cluster.x-k8s.io/owned': '', 'topology.cluster.x-k8s.io/deployment-name': 'md-0' });
  });

  it('given the metal class and cluster, should render host pools, the OCI image and the host selector', () => {
    const r = render(METAL, METAL_CLUSTER);
    expect(renderOk(r)).toBe(true);
    expect(obj(r, 'InfraCluster')).toMatchObject({ kind: 'MetalCluster', spec: { hostPools: [{ namespace: 'pool-a' }], failureDomains: { zoneLabel: 'topology.kubernetes.io/zone' } } });
    const m = obj(r, 'InfraMachineTemplate', 'md-0').spec as { template: { spec: Record<string, unknown> } };
    expect(m.template.spec['image']).toEqual({ url: 'oci://quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0' });
    expect(m.template.spec['hostSelector']).toEqual({ matchLabels: { 'ironplane.dev/rack': 'r1' } });
    // Without a controlPlane variable the class's own DataStore stays; no replicas in the topology, none on the object.
    expect(obj(r, 'ControlPlane').spec['dataStoreName']).toBe('default');
    expect(obj(r, 'ControlPlane').spec['replicas']).toBeUndefined();
    // Metal machines reach the control plane at its public endpoint: no private VIP among its SANs.
    expect(obj(r, 'ControlPlane').spec['network']).not.toHaveProperty('certSANs');
  });

  it('given a version no Kairos image supports, should fail GeneratePatches and render nothing', () => {
    const r = render(KVM, edit(KVM_CLUSTER, 'version: v1.35.0', 'version: v1.36.1'));
    expect(renderOk(r)).toBe(false);
    expect(r.generatePatches.status).toBe('Failure');
    expect(r.generatePatches.message).toContain('no Kairos image supports Kubernetes v1.36.1');
    expect(r.objects).toEqual([]);
  });

  it('given a value outside the class’s allowlists, should fail GeneratePatches naming the field and the allowed values', () => {
    const r = render(KVM, edit(edit(KVM_CLUSTER, 'model: nvidia.com/GA102GL_A10', 'model: amd.com/MI300X'), 'dataStore: etcd-gold', 'dataStore: tenant-b'));
    expect(renderOk(r)).toBe(false);
    expect(r.generatePatches).toEqual({
      status: 'Failure',
      message:
        'variable controlPlane.dataStore: must be a DataStore the platform allows (default, etcd-gold), got "tenant-b"; ' +
        'variable gpu.model: must be a GPU model the platform allows (nvidia.com/GA102GL_A10), got "amd.com/MI300X"',
    });
    expect(r.objects).toEqual([]);
  });

  it('given ranges that ValidateTopology refuses, should report its verdict', () => {
    const r = render(KVM, edit(KVM_CLUSTER, 'nodeCIDR: 10.20.0.0/24', 'nodeCIDR: 10.96.0.0/24'));
    expect(r.generatePatches.status).toBe('Success');
    expect(r.validateTopology).toEqual({ status: 'Failure', message: 'network.nodeCIDR 10.96.0.0/24 overlaps network.serviceCIDR 10.96.0.0/16' });
  });

  it('given reserved ranges, should check the tenant ranges against them', () => {
    const [c] = loadClusters(KVM_CLUSTER);
    const r = renderCluster(loadClass(KVM), c!, { reservedCIDRs: [parseCidr('10.20.0.0/16') as Cidr], upgradeConcurrency: 0 });
    expect(r.validateTopology).toEqual({ status: 'Failure', message: "network.nodeCIDR 10.20.0.0/24 overlaps the platform's reserved range 10.20.0.0/16" });
  });
});

describe('class change', () => {
  // The shipped class's patch has settings (its allowlists): the image goes beside them.
  const withImages = (s: Source, images: string, p: string) => edit(s, '        settings:\n', `        settings:\n          kairosImages: ${images}\n`, p);
  // A Cluster without the kairosImages variable: the class's kairosImages setting decides.
  const CLUSTER = edit(KVM_CLUSTER, / {6}- name: kairosImages\n {8}value:\n( {10}- .*\n)+/, '');

  it('given a new default Kairos image, should diff the image and roll every MachineDeployment', () => {
    const old = loadClass(withImages(KVM, 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0', 'old.yaml'));
    const next = loadClass(withImages(KVM, 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.1-k8sv1.35.0', 'new.yaml'));
    const [c] = loadClusters(CLUSTER);
    const d = diffRenders(renderCluster(old, c!, BASE), renderCluster(next, c!, BASE));
    expect(d.ok).toBe(true);
    expect(d.changes.map((x) => x.object)).toEqual(['KvmMachineTemplate prod-md-0', 'KvmMachineTemplate prod-md-gpu']);
    expect(d.changes[0]!.diff).toContain('--- KvmMachineTemplate prod-md-0 (ironplane-kvm)\n+++ KvmMachineTemplate prod-md-0 (ironplane-kvm)\n');
    expect(d.changes[0]!.diff).toContain('-          image: quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0\n+          image: quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.1-k8sv1.35.0\n');
    expect(d.summary).toBe('team-a/prod: KvmMachineTemplate prod-md-0, KvmMachineTemplate prod-md-gpu change → rollout of MachineDeployments md-0, md-gpu');
  });

  it('given a changed template of one machine class and of the control plane, should roll those only', () => {
    const next = loadClass(edit(edit(KVM, 'node.ironplane.dev/class: gpu', 'node.ironplane.dev/class: gpu-a10'), 'cgroupfs: systemd', 'cgroupfs: cgroupfs', 'new.yaml'));
    const [c] = loadClusters(KVM_CLUSTER);
    const d = diffRenders(renderCluster(loadClass(KVM), c!, BASE), renderCluster(next, c!, BASE));
    expect(d.changes.map((x) => x.object)).toEqual(['KamajiControlPlane prod', 'KairosConfigTemplate prod-md-gpu']);
    expect(d.changes[1]!.diff).toContain('-        node.ironplane.dev/class: gpu\n+        node.ironplane.dev/class: gpu-a10\n');
    expect(d.summary).toBe('team-a/prod: KamajiControlPlane prod, KairosConfigTemplate prod-md-gpu change → rollout of the control plane; rollout of MachineDeployment md-gpu');
  });

  it('given a changed InfraCluster template only, should say it is updated in place', () => {
    const next = loadClass(edit(METAL, 'zoneLabel: topology.kubernetes.io/zone', 'zoneLabel: ironplane.dev/rack', 'new.yaml'));
    const [c] = loadClusters(METAL_CLUSTER);
    const d = diffRenders(renderCluster(loadClass(METAL), c!, BASE), renderCluster(next, c!, BASE));
    expect(d.summary).toBe('team-b/edge: MetalCluster edge change → MetalCluster edge updated in place');
  });

  it('given identical classes, should say "no change"', () => {
    const [c] = loadClusters(KVM_CLUSTER);
    const d = diffRenders(render(KVM, KVM_CLUSTER), renderCluster(loadClass({ ...KVM, path: 'copy.yaml' }), c!, BASE));
    expect(d.changes).toEqual([]);
    expect(d.summary).toBe('team-a/prod: no change');
  });

  it('given a new class that fails validation, should say so in the summary', () => {
    const next = loadClass(edit(KVM, 'nodeCIDR: 10.10.0.0/24', 'nodeCIDR: 10.10.0.0/24\n        gateway: 10.10.0.1', 'new.yaml'));
    const [c] = loadClusters(KVM_CLUSTER);
    const d = diffRenders(render(KVM, KVM_CLUSTER), renderCluster(next, c!, BASE));
    expect(d.ok).toBe(false);
    expect(d.summary).toBe('team-a/prod: fails under ironplane-kvm (new): see the verdicts');
  });
});

describe('bad input', () => {
  const cluster = (patch: (s: Source) => Source = (s) => s) => () => render(KVM, patch(KVM_CLUSTER));
  it.each<[string, () => unknown, string]>([
    ['not YAML', () => loadClass({ path: 'x.yaml', text: 'a: [1,\n' }), 'x.yaml is not YAML: '],
    ['no ClusterClass', () => loadClass(KVM_CLUSTER), 'templates/plan-examples/cluster-kvm.yaml holds no ClusterClass'],
    ['a missing template', () => loadClass(edit(KVM, 'name: ironplane-kvm-gpu-v1\nspec:\n  template:\n    spec:\n      runStrategy', 'name: other\nspec:\n  template:\n    spec:\n      runStrategy')), 'clusterclasses/ironplane-kvm.yaml: ClusterClass ironplane-kvm refers to KvmMachineTemplate ironplane-kvm-gpu-v1 (infrastructure.ironplane.dev/v1alpha1) in workers.machineDeployments[gpu].infrastructure, which is not in the file'],
    ['no Cluster', () => loadClusters(KVM), 'clusterclasses/ironplane-kvm.yaml holds no Cluster'],
    ['a Cluster without topology', () => loadClusters({ path: 'c.yaml', text: 'apiVersion: cluster.x-k8s.io/v1beta2\nkind: Cluster\nmetadata: {name: a, namespace: n}\nspec: {}\n' }), 'c.yaml: Cluster n/a has no spec.topology: plan renders Clusters with a managed topology'],
    ['another class', cluster((s) => edit(s, 'name: ironplane-kvm\n', 'name: ironplane-metal\n')), 'templates/plan-examples/cluster-kvm.yaml: Cluster team-a/prod uses ClusterClass ironplane-metal (spec.topology.classRef), but clusterclasses/ironplane-kvm.yaml holds ironplane-kvm'],
    ['an unknown machine deployment class', cluster((s) => edit(s, 'class: gpu', 'class: huge')), 'templates/plan-examples/cluster-kvm.yaml: Cluster team-a/prod: MachineDeployment md-gpu has class "huge", which ClusterClass ironplane-kvm (clusterclasses/ironplane-kvm.yaml) does not define (it defines general, gpu)'],
    ['a variable against its schema', cluster((s) => edit(s, 'cpu: 4', 'cpu: 4000')), 'templates/plan-examples/cluster-kvm.yaml: Cluster team-a/prod: variable workers does not match its schema: /cpu must be <= 512'],
    ['an override against its schema', cluster((s) => edit(s, 'memory: 64Gi', 'memory: lots')), 'templates/plan-examples/cluster-kvm.yaml: Cluster team-a/prod: MachineDeployment md-gpu: variable workers does not match its schema: /memory must match pattern'],
    ['an undefined variable', cluster((s) => edit(s, 'name: loadBalancer', 'name: loadbalancer')), 'templates/plan-examples/cluster-kvm.yaml: Cluster team-a/prod: variable loadbalancer is not defined (defined: addons, controlPlane, gpu, kairosImages, loadBalancer, metal, network, ssh, workers)'],
  ])('given %s, should say what is wrong', (_what, f, message) => {
    // Exact, up to the part the parser or ajv words (after the last ": " of the expectation).
    expect(inputError(f).slice(0, message.length)).toBe(message);
  });
});
