import { describe, expect, it } from 'vitest';
import type { GeneratePatchesRequest, ValidateTopologyRequest } from '../api.js';
import { parseCidr, type Cidr } from '../cidr.js';
import { applyResponse, fixture, NO_RESERVED, tenancy } from '../testdata/fixtures.js';
import { generatePatches } from './generatepatches.js';
import { validateTopology } from './validatetopology.js';

const kvmGenerate = fixture<GeneratePatchesRequest>('generatepatches-kvm');
const metalGenerate = fixture<GeneratePatchesRequest>('generatepatches-metal');
/** What CAPI sends after applying our patches. */
const patched = (req: GeneratePatchesRequest): ValidateTopologyRequest => applyResponse(req, generatePatches(req, NO_RESERVED));
const reserved = (...ranges: string[]) => ({ reservedCIDRs: ranges.map((r) => parseCidr(r) as Cidr), upgradeConcurrency: 3 });

function withVariable(req: ValidateTopologyRequest, name: string, value: unknown): ValidateTopologyRequest {
  return { ...structuredClone(req), variables: [...req.variables!.filter((v) => v.name !== name), { name, value }] };
}

function withBuiltinNetwork(req: ValidateTopologyRequest, network: unknown): ValidateTopologyRequest {
  const r = structuredClone(req);
  const builtin = r.variables!.find((v) => v.name === 'builtin')!.value as { cluster: { network?: unknown } };
  builtin.cluster.network = network;
  return r;
}

const fails = (req: ValidateTopologyRequest, base = NO_RESERVED, t = tenancy()) => {
  const res = validateTopology(req, base, t);
  expect(res.status).toBe('Failure');
  expect(res.kind).toBe('ValidateTopologyResponse');
  return res.message;
};

describe('ValidateTopology', () => {
  it('given the patched KVM and metal topologies, should accept them', () => {
    expect(validateTopology(patched(kvmGenerate), NO_RESERVED, tenancy())).toEqual({ apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'ValidateTopologyResponse', status: 'Success' });
    expect(validateTopology(patched(metalGenerate), NO_RESERVED, undefined).status).toBe('Success');
  });

  it('given a range overlapping the platform’s reserved ranges (flag or setting), should name both', () => {
    expect(fails(patched(kvmGenerate), reserved('10.0.0.0/8'))).toBe(
      "network.nodeCIDR 10.20.0.0/24 overlaps the platform's reserved range 10.0.0.0/8; network.podCIDR 10.244.0.0/16 overlaps the platform's reserved range 10.0.0.0/8; network.serviceCIDR 10.96.0.0/16 overlaps the platform's reserved range 10.0.0.0/8",
    );
    // The fixture's settings reserve 172.16.0.0/12.
    expect(fails(withVariable(patched(kvmGenerate), 'network', { nodeCIDR: '172.20.0.0/24' }))).toBe("network.nodeCIDR 172.20.0.0/24 overlaps the platform's reserved range 172.16.0.0/12");
  });

  it('given overlapping tenant ranges, should name the pair', () => {
    const req = withBuiltinNetwork(withVariable(patched(kvmGenerate), 'network', { nodeCIDR: '10.96.8.0/24', podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/16' }), { pods: ['10.244.0.0/16'], services: ['10.96.0.0/16'] });
    expect(fails(req)).toBe('network.nodeCIDR 10.96.8.0/24 overlaps network.serviceCIDR 10.96.0.0/16');
  });

  it('given ranges of a bad size or mixed families, should say which and why', () => {
    const req = withBuiltinNetwork(withVariable(patched(kvmGenerate), 'network', { nodeCIDR: '10.20.0.0/30', podCIDR: '10.128.0.0/26', serviceCIDR: '10.0.0.0/8' }), { pods: ['10.128.0.0/26'], services: ['10.0.0.0/8'] });
    expect(fails(req)).toBe(
      'network.nodeCIDR 10.20.0.0/30 is too small for a node range: use /29 or larger for IPv4; ' +
        'network.nodeCIDR 10.20.0.0/30 overlaps network.serviceCIDR 10.0.0.0/8; ' +
        'network.podCIDR 10.128.0.0/26 is too small for a pod range: use /24 or larger for IPv4; ' +
        'network.podCIDR 10.128.0.0/26 overlaps network.serviceCIDR 10.0.0.0/8; ' +
        'network.serviceCIDR 10.0.0.0/8 is too large for a service range: use /12 or smaller for IPv4',
    );
    const mixed = withBuiltinNetwork(withVariable(patched(kvmGenerate), 'network', { nodeCIDR: 'fd00:20::/64', podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/16' }), { pods: ['10.244.0.0/16'], services: ['10.96.0.0/16'] });
    expect(fails(mixed)).toBe('network: nodeCIDR fd00:20::/64, podCIDR 10.244.0.0/16 and serviceCIDR 10.96.0.0/16 must be of one IP family');
  });

  it('given pod and service ranges that are not what Kamaji will use, should say what to set', () => {
    expect(fails(withBuiltinNetwork(patched(kvmGenerate), { pods: ['192.168.0.0/16'], services: ['10.96.0.0/16'] }))).toBe(
      "network.podCIDR 10.244.0.0/16 differs from the Cluster's spec.clusterNetwork.pods.cidrBlocks[0] 192.168.0.0/16, which Kamaji uses: make them equal",
    );
    expect(fails(withBuiltinNetwork(withVariable(patched(kvmGenerate), 'network', { nodeCIDR: '10.20.0.0/24', serviceCIDR: '10.112.0.0/16' }), {}))).toBe(
      'network.serviceCIDR 10.112.0.0/16 is not in effect: the Cluster sets no spec.clusterNetwork.services.cidrBlocks, so Kamaji uses 10.96.0.0/16; set spec.clusterNetwork.services.cidrBlocks to ["10.112.0.0/16"]',
    );
  });

  it('given a machine template whose version no image supports, should say so', () => {
    const req = patched(kvmGenerate);
    for (const item of req.items) {
      const b = item.variables?.find((v) => v.name === 'builtin')?.value as { machineDeployment?: { version: string } } | undefined;
      if (b?.machineDeployment && item.holderReference.name === 'prod-md-0-5fz8x') b.machineDeployment.version = 'v1.36.1';
    }
    expect(fails(req)).toBe(
      'KvmMachineTemplate ironplane-kvm-v1-general of MachineDeployment prod-md-0-5fz8x: no Kairos image supports Kubernetes v1.36.1: the images carry v1.34.2, v1.35.0; add one tagged k8sv1.36.<patch ≤ 1>',
    );
  });

  it('given a MachineDeployment still on the old version during an upgrade, should accept the older image for it', () => {
    const req = patched(kvmGenerate);
    const builtin = req.variables!.find((v) => v.name === 'builtin')!.value as { cluster: { topology: { version: string } } };
    builtin.cluster.topology.version = 'v1.35.0';
    for (const item of req.items) {
      const b = item.variables?.find((v) => v.name === 'builtin')?.value as { machineDeployment?: { version: string } } | undefined;
      if (b?.machineDeployment) b.machineDeployment.version = 'v1.34.5';
    }
    expect(validateTopology(req, NO_RESERVED, tenancy()).status).toBe('Success');
  });

  it('given GPUs beyond the tenant’s quota, should give the numbers', () => {
    const t = tenancy({ hard: { 'requests.nvidia.com/GA102GL_A10': '6', 'requests.cpu': '8' }, used: { machines: 4, cpu: 20, memory: 0, gpus: { 'nvidia.com/GA102GL_A10': 3 } } });
    // md-gpu: 2 replicas × 2 GPUs = 4; 3 of 6 are used elsewhere. CPU is not checked here.
    expect(fails(patched(kvmGenerate), NO_RESERVED, t)).toBe("the GPUs exceed Capsule Tenant acme's quota: requests.nvidia.com/GA102GL_A10 needs 4, 3 of 6 left");
    expect(validateTopology(patched(kvmGenerate), NO_RESERVED, tenancy({ hard: { 'requests.nvidia.com/GA102GL_A10': '7' }, used: { machines: 0, cpu: 0, memory: 0, gpus: { 'nvidia.com/GA102GL_A10': 3 } } })).status).toBe('Success');
  });

  it('given a tenant whose quota cannot be read, should not let GPUs through unchecked', () => {
    const t = tenancy({ problem: 'Capsule Tenants cannot be read (tenants.capsule.clastix.io): is Capsule installed?' });
    expect(fails(patched(kvmGenerate), NO_RESERVED, t)).toBe("cannot check the GPUs against the tenant's quota: Capsule Tenants cannot be read (tenants.capsule.clastix.io): is Capsule installed?");
    // Without GPUs there is nothing to check.
    expect(validateTopology(patched(metalGenerate), NO_RESERVED, t).status).toBe('Success');
  });

  it('given a template that no longer matches its CRD, should quote the schema error', () => {
    const req = patched(kvmGenerate);
    (req.items[3]!.object.spec as { template: { spec: Record<string, unknown> } }).template.spec['runStrategy'] = 'Sometimes';
    expect(fails(req)).toBe(
      'KvmMachineTemplate ironplane-kvm-v1-general of MachineDeployment prod-md-0-5fz8x does not match its CRD: /spec/template/spec/runStrategy must be equal to one of the allowed values: "Always", "RerunOnFailure", "Once", "Manual", "Halted"',
    );
  });

  it('given a Kamaji template another patch broke, should quote Kamaji’s schema', () => {
    const req = patched(kvmGenerate);
    (req.items[1]!.object.spec as { template: { spec: { network: Record<string, unknown> } } }).template.spec.network['serviceType'] = 'ExternalName';
    expect(fails(req)).toBe(
      'KamajiControlPlaneTemplate ironplane-kvm-v1-control-plane of Cluster prod does not match its CRD: /spec/template/spec/network/serviceType must be equal to one of the allowed values: "ClusterIP", "NodePort", "LoadBalancer"',
    );
  });

  it('given a gateway outside the node range after patching, should report the CRD rule', () => {
    const req = patched(kvmGenerate);
    (req.items[0]!.object.spec as { template: { spec: { network: Record<string, unknown> } } }).template.spec.network['gateway'] = '10.0.0.1';
    expect(fails(req)).toBe('KvmClusterTemplate ironplane-kvm-v1 of Cluster prod: network.gateway 10.0.0.1 is outside nodeCIDR 10.20.0.0/24');
  });

  it('given bad variables, should report them like GeneratePatches', () => {
    expect(fails(withVariable(patched(kvmGenerate), 'addons', 'all'))).toBe('variable addons: must be one of none, minimal, standard, full, got "all"');
  });

  it('given the same topology in another order, should give the same message', () => {
    const req = withVariable(patched(kvmGenerate), 'workers', { cpu: 0 });
    const shuffled = { ...req, items: [req.items[3]!, req.items[0]!, ...req.items.slice(1, 3), ...req.items.slice(4)], variables: [...req.variables!].reverse() };
    const m = fails(req, reserved('10.20.0.0/16'));
    expect(fails(shuffled, reserved('10.20.0.0/16'))).toBe(m);
  });
});

describe('ValidateTopology and the platform’s allowlists', () => {
  it('given a value outside an allowlist that GeneratePatches never saw (a forged request), should refuse it naming the field and the allowed values', () => {
    expect(fails(withVariable(patched(kvmGenerate), 'gpu', { count: 1, model: 'amd.com/MI300X' }))).toBe(
      'variable gpu.model: must be a GPU model the platform allows (nvidia.com/AD102GL_L40S, nvidia.com/GA102GL_A10), got "amd.com/MI300X"',
    );
    expect(fails(withVariable(patched(kvmGenerate), 'kairosImages', ['docker.io/evil/kairos:v1-k8sv1.35.0', 'quay.io/kairos/ubuntu:v1-k8sv1.34.2']))).toBe(
      'variable kairosImages[0]: must be an image of a repository the platform allows (quay.io/kairos), got "docker.io/evil/kairos:v1-k8sv1.35.0"',
    );
    expect(fails(withVariable(patched(metalGenerate), 'loadBalancer', { address: '198.51.100.7' }))).toBe(
      'variable loadBalancer.address: must be an address in a range the platform allows (192.0.2.0/24), got "198.51.100.7"',
    );
  });

  it('given the settings stripped from the request, should not fall back to allowing anything', () => {
    expect(fails({ ...patched(metalGenerate), settings: {} })).toBe(
      [
        "variable kairosImages[0]: must be an image of a repository the platform allows (none: the platform sets neither allowedImageRegistries nor a kairosImages setting whose repositories would be allowed), got \"quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0\"",
        "variable loadBalancer.address: must be an address in a range the platform allows (none: the platform's loadBalancerAddressRanges setting allows none), got \"192.0.2.40\"",
      ].join('; '),
    );
  });

  it('given a per-MachineDeployment override outside an allowlist, should name the template', () => {
    const req = patched(kvmGenerate);
    const item = req.items.find((i) => i.holderReference.name === 'prod-md-gpu-q9wzt' && i.object.kind === 'KvmMachineTemplate')!;
    item.variables = [...(item.variables ?? []), { name: 'controlPlane', value: { dataStore: 'shared-etcd' } }];
    expect(fails(req)).toBe(
      'KvmMachineTemplate ironplane-kvm-v1-gpu of MachineDeployment prod-md-gpu-q9wzt: variable controlPlane.dataStore: must be a DataStore the platform allows (default, etcd-gold), got "shared-etcd"',
    );
  });
});
