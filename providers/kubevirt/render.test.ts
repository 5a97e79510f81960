import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { KvmMachine } from '../api/generated/ironplane/v1alpha1/kvmmachine.js';
import { validateVirtualMachine } from '../api/generated/kubevirt/index.js';
import { validateOrThrow } from '../api/validate.js';
import { tenantNetworkName, tenantSubnetName, hostnameFor } from './names.js';
import { connectedTo, covers, failureDomainsFrom, renderNetwork, vpcExternalStatus } from './kvmcluster.js';
import { externalNetworkFromEnv } from './setup.js';
import { addressesFrom, renderVirtualMachine, specProblems, type RenderInput } from './render.js';

const GOLDEN = path.join(import.meta.dirname, 'testdata');

/** Compares with testdata/<name>.golden.yaml; UPDATE_GOLDEN=1 rewrites it. */
function golden(name: string, value: unknown): void {
  // Every golden VM must also satisfy KubeVirt's own CRD schema.
  if ((value as { kind?: string }).kind === 'VirtualMachine') validateOrThrow(validateVirtualMachine, value, `golden ${name}`);
  const file = path.join(GOLDEN, `${name}.golden.yaml`);
  const text = stringify(value, { sortMapEntries: false });
  if (process.env['UPDATE_GOLDEN']) fs.writeFileSync(file, text);
  expect(text).toBe(fs.readFileSync(file, 'utf8'));
}

function machine(spec: Partial<NonNullable<KvmMachine['spec']>>): KvmMachine {
  return {
    apiVersion: 'infrastructure.ironplane.dev/v1alpha1',
    kind: 'KvmMachine',
    metadata: { name: 'tenant-a-md-0-x7k2p', namespace: 'team-a', uid: '5f0c2a1e-0000-4000-8000-000000000001' },
    spec: {
      runStrategy: 'Always',
      cpu: { cores: 4, sockets: 1, threads: 1 },
      memory: '8Gi',
      bootstrap: { mode: 'NoCloud' },
      image: { containerDisk: { image: 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0' } },
      ...spec,
    },
  };
}

const base: Omit<RenderInput, 'kvmMachine'> = { clusterName: 'tenant-a', subnet: 'team-a-tenant-a', zoneLabel: 'topology.kubernetes.io/zone', controlPlane: false };

describe('renderVirtualMachine', () => {
  it('given a containerDisk worker in a failure domain, should render the golden VM', () => {
    golden('vm-containerdisk', renderVirtualMachine({ ...base, kvmMachine: machine({}), failureDomain: 'zone-b', nodeSelector: { 'ironplane.dev/vm-host': 'true' } }));
  });

  it('given a DataVolume image, GPUs, host devices and ConfigDrive, should render the golden VM', () => {
    golden(
      'vm-datavolume-gpu',
      renderVirtualMachine({
        ...base,
        kvmMachine: machine({
          runStrategy: 'RerunOnFailure',
          image: { dataVolume: { source: { registry: { url: 'docker://quay.io/kairos/ubuntu:24.04' } }, storage: '40Gi', storageClassName: 'local-nvme' } },
          bootstrap: { mode: 'ConfigDrive' },
          gpus: [{ name: 'gpu1', deviceName: 'nvidia.com/GA102GL_A10' }],
          hostDevices: [{ name: 'nic1', deviceName: 'intel.com/sriov_vf' }],
        }),
      }),
    );
  });

  it('given an invalid rendering, the KubeVirt schema check should name the field', () => {
    const vm = renderVirtualMachine({ ...base, kvmMachine: machine({}) });
    (vm.spec!.template!.spec!['domain'] as { cpu: { cores: unknown } }).cpu.cores = 'four';
    expect(() => validateOrThrow(validateVirtualMachine, vm, 'VM')).toThrow('/spec/template/spec/domain/cpu/cores must be integer');
  });

  it('given no failure domain and no node selector, should not constrain placement', () => {
    const vm = renderVirtualMachine({ ...base, kvmMachine: machine({}) });
    expect(vm.spec?.template?.spec?.['affinity']).toBeUndefined();
  });

  it('should label the VM with its cluster, machine and role, and own it by the KvmMachine', () => {
    const vm = renderVirtualMachine({ ...base, kvmMachine: machine({}), controlPlane: true });
    expect(vm.metadata?.labels).toEqual({
      'cluster.x-k8s.io/cluster-name': 'tenant-a',
      'infrastructure.ironplane.dev/kvm-machine': 'tenant-a-md-0-x7k2p',
      'infrastructure.ironplane.dev/role': 'control-plane',
    });
    expect(vm.metadata?.ownerReferences).toEqual([
      { apiVersion: 'infrastructure.ironplane.dev/v1alpha1', kind: 'KvmMachine', name: 'tenant-a-md-0-x7k2p', uid: '5f0c2a1e-0000-4000-8000-000000000001', controller: true, blockOwnerDeletion: true },
    ]);
  });
});

describe('specProblems', () => {
  it('given a PVC source in another namespace, should refuse it by name', () => {
    const m = machine({ image: { dataVolume: { source: { pvc: { name: 'golden', namespace: 'team-b' } }, storage: '10Gi' } } });
    expect(specProblems(m)).toEqual([
      'spec.image.dataVolume.source.pvc.namespace "team-b" is not this KvmMachine\'s namespace "team-a": cross-namespace references are not allowed',
    ]);
  });

  it('given a PVC source in its own namespace, should accept it and render it without a namespace', () => {
    const m = machine({ image: { dataVolume: { source: { pvc: { name: 'golden', namespace: 'team-a' } }, storage: '10Gi' } } });
    expect(specProblems(m)).toEqual([]);
    expect(renderVirtualMachine({ ...base, kvmMachine: m }).spec?.dataVolumeTemplates?.[0]?.['spec']).toMatchObject({ source: { pvc: { name: 'golden' } } });
  });
});

describe('names and addresses', () => {
  const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

  it('given team/a-alpha and team-a/alpha, should give the two clusters different network names', () => {
    const a = tenantNetworkName('team', 'a-alpha');
    const b = tenantNetworkName('team-a', 'alpha');
    expect(a).not.toBe(b);
    // Both stay readable: the namespace and name lead, the hash of namespace/name follows.
    expect(a).toMatch(/^team-a-alpha-[0-9a-f]{16}$/);
    expect(b).toMatch(/^team-a-alpha-[0-9a-f]{16}$/);
  });

  it('should be deterministic, so that a restarted manager finds its network again', () => {
    expect(tenantNetworkName('team-a', 'c1')).toBe(tenantNetworkName('team-a', 'c1'));
    expect(tenantNetworkName('team-a', 'c1')).toBe('team-a-c1-21c2215f5b49e375');
  });

  it.each([
    ['short names', 'team-a', 'c1'],
    ['a long namespace and cluster', 'a'.repeat(63), 'b'.repeat(63)],
    ['a cluster name with dots (a DNS subdomain)', 'team-a', 'prod.eu-west.cluster'],
    ['names cut right after a dash', 'n'.repeat(45), 'c'.repeat(10)],
    ['a cluster name of 253 characters', 'team-a', `${'x'.repeat(120)}.${'y'.repeat(132)}`],
  ])('given %s, should be a DNS label of at most 63 characters', (_what, ns, name) => {
    const n = tenantNetworkName(ns, name);
    expect(n.length).toBeLessThanOrEqual(63);
    expect(n).toMatch(DNS_LABEL);
  });

  it('given long names that agree in their first 46 characters, should still tell them apart', () => {
    expect(tenantNetworkName('a'.repeat(40), 'b'.repeat(40))).not.toBe(tenantNetworkName('a'.repeat(40), 'b'.repeat(39) + 'c'));
    expect(hostnameFor('x'.repeat(80)).length).toBeLessThanOrEqual(63);
  });

  it('should take InternalIPs from every interface once, without prefixes, then the hostname', () => {
    expect(
      addressesFrom({ metadata: { name: 'vm' }, spec: { hostname: 'h' }, status: { interfaces: [{ ipAddress: '10.0.0.5', ipAddresses: ['10.0.0.5', 'fd00::5/64'] }, { ipAddress: '' }] } }),
    ).toEqual([
      { type: 'InternalIP', address: '10.0.0.5' },
      { type: 'InternalIP', address: 'fd00::5' },
      { type: 'Hostname', address: 'h' },
    ]);
  });
});

describe('KvmCluster network', () => {
  const kc = {
    apiVersion: 'infrastructure.ironplane.dev/v1alpha1' as const,
    kind: 'KvmCluster' as const,
    metadata: { name: 'alpha', namespace: 'team-a', uid: 'uid-alpha' },
    spec: { network: { nodeCIDR: '10.10.0.0/24', natOutgoing: true, excludeIPs: ['10.10.0.2..10.10.0.9'] } },
  };

  it('should render a Vpc and a Subnet (of another name) named after namespace and cluster, labelled back to the KvmCluster by name, namespace and uid', () => {
    const { vpc, subnet } = renderNetwork(kc);
    const name = tenantNetworkName('team-a', 'alpha');
    expect(vpc.metadata).toEqual({
      name,
      labels: { 'infrastructure.ironplane.dev/kvm-cluster': 'alpha', 'infrastructure.ironplane.dev/kvm-cluster-namespace': 'team-a', 'infrastructure.ironplane.dev/kvm-cluster-uid': 'uid-alpha' },
    });
    // Never the Vpc's name: kube-OVN's controller refuses such a Subnet.
    expect(subnet.metadata?.name).toBe(tenantSubnetName('team-a', 'alpha'));
    expect(subnet.metadata?.name).not.toBe(name);
    expect(subnet.metadata?.labels).toEqual(vpc.metadata?.labels);
    expect(subnet.spec).toEqual({ vpc: name, cidrBlock: '10.10.0.0/24', protocol: 'IPv4', provider: 'ovn', natOutgoing: true, excludeIps: ['10.10.0.2..10.10.0.9', '10.10.0.254'] });
    // kube-OVN's rewrite of that list (merged, gateway added) is the same list.
    expect(covers({ ...subnet, spec: { ...subnet.spec, gateway: '10.10.0.1', excludeIps: ['10.10.0.1', '10.10.0.2..10.10.0.9', '10.10.0.254'] } }, subnet)).toBe(true);
  });

  it('covers() should accept fields kube-OVN added and refuse a changed field of ours', () => {
    const { subnet } = renderNetwork(kc);
    const live = { ...subnet, spec: { ...subnet.spec, gateway: '10.10.0.1', default: false } };
    expect(covers(live, subnet)).toBe(true);
    expect(covers({ ...live, spec: { ...live.spec, natOutgoing: false } }, subnet)).toBe(false);
    expect(covers(undefined, subnet)).toBe(false);
  });

  it('should derive failure domains from schedulable, selected nodes only', () => {
    const node = (name: string, labels: Record<string, string>, unschedulable = false) => ({ metadata: { name, labels }, spec: { unschedulable } });
    expect(
      failureDomainsFrom(
        [node('a', { zone: 'z2', host: 'y' }), node('b', { zone: 'z1', host: 'y' }), node('c', { zone: 'z3', host: 'y' }, true), node('d', { zone: 'z4' }), node('e', { host: 'y' })],
        'zone',
        { host: 'y' },
      ),
    ).toEqual([
      { name: 'z1', controlPlane: false },
      { name: 'z2', controlPlane: false },
    ]);
  });
});

describe('the external network (IRONPLANE_EXTERNAL_NETWORK)', () => {
  const kc = {
    apiVersion: 'infrastructure.ironplane.dev/v1alpha1' as const,
    kind: 'KvmCluster' as const,
    metadata: { name: 'alpha', namespace: 'team-a', uid: 'uid-alpha' },
    spec: { network: { nodeCIDR: '10.10.0.0/24' } },
  };
  const connected = { enableExternal: true, extraExternalSubnets: ['external'] };

  it('should take the Subnet name from IRONPLANE_EXTERNAL_NETWORK, none when unset or empty', () => {
    expect(externalNetworkFromEnv({ IRONPLANE_EXTERNAL_NETWORK: 'external' })).toBe('external');
    expect(externalNetworkFromEnv({ IRONPLANE_EXTERNAL_NETWORK: 'ext-1' })).toBe('ext-1');
    expect(externalNetworkFromEnv({ IRONPLANE_EXTERNAL_NETWORK: 'a'.repeat(63) })).toBe('a'.repeat(63));
    expect(externalNetworkFromEnv({ IRONPLANE_EXTERNAL_NETWORK: '' })).toBeUndefined();
    expect(externalNetworkFromEnv({})).toBeUndefined();
  });

  it.each(['External', 'ext_net', '-external', 'external-', 'ovn/external', ' external', 'a'.repeat(64), 'ext.net'])('should refuse %j at start-up, naming the variable', (value) => {
    expect(() => externalNetworkFromEnv({ IRONPLANE_EXTERNAL_NETWORK: value })).toThrow(`IRONPLANE_EXTERNAL_NETWORK: ${JSON.stringify(value)} is not a Subnet name`);
  });

  it('given an external network, should connect the Vpc to that Subnet only, and see a Vpc without it as not covered', () => {
    const { vpc, subnet } = renderNetwork(kc, { externalNetwork: 'external' });
    expect(vpc.spec).toEqual({ enableExternal: true, extraExternalSubnets: ['external'] });
    // The Subnet is the same with or without it.
    expect(subnet).toEqual(renderNetwork(kc).subnet);
    expect(covers({ ...vpc, spec: {} }, vpc)).toBe(false);
    expect(covers({ ...vpc, spec: { enableExternal: true, extraExternalSubnets: ['external', 'other'] } }, vpc)).toBe(false);
    expect(covers({ ...vpc, spec: { ...vpc.spec, staticRoutes: [] }, status: connected }, vpc)).toBe(true);
    // Another name replaces the one connected before.
    expect(renderNetwork(kc, { externalNetwork: 'other', liveVpc: { ...vpc, status: connected } }).vpc.spec).toEqual({ enableExternal: true, extraExternalSubnets: ['other'] });
  });

  it('given none, should leave a Vpc that was never connected as it is (an empty spec, as before the setting existed)', () => {
    const { vpc } = renderNetwork(kc);
    expect(vpc.spec).toEqual({});
    expect(renderNetwork(kc, { liveVpc: { ...vpc, spec: {} } }).vpc.spec).toEqual({});
    expect(renderNetwork(kc, { liveVpc: { ...vpc, spec: { enableExternal: false } } }).vpc.spec).toEqual({});
    expect(covers({ ...vpc, spec: { namespaces: ['x'] } }, vpc)).toBe(true);
  });

  it('given none after it was on, should disconnect the Vpc until its spec asks for no connection', () => {
    const on = renderNetwork(kc, { externalNetwork: 'external' }).vpc;
    // The live Vpc as the setting left it: connected.
    const off = renderNetwork(kc, { liveVpc: on }).vpc;
    expect(off.spec).toEqual({ enableExternal: false, extraExternalSubnets: [] });
    expect(covers(on, off)).toBe(false);
    // Connected by hand, or with extra Subnets only: disconnected all the same.
    expect(renderNetwork(kc, { liveVpc: { ...on, spec: { enableExternal: true } } }).vpc.spec).toEqual({ enableExternal: false, extraExternalSubnets: [] });
    expect(renderNetwork(kc, { liveVpc: { ...on, spec: { extraExternalSubnets: ['external'] } } }).vpc.spec).toEqual({ enableExternal: false, extraExternalSubnets: [] });
    // Applied: the spec asks for nothing, and the empty spec covers it (no write on every reconcile).
    const applied = { ...on, spec: off.spec, status: connected };
    const next = renderNetwork(kc, { liveVpc: applied }).vpc;
    expect(next.spec).toEqual({});
    expect(covers(applied, next)).toBe(true);
    // kube-OVN writing its spec back without the zero values (omitempty) changes nothing.
    expect(renderNetwork(kc, { liveVpc: { ...on, spec: {} } }).vpc.spec).toEqual({});
  });

  it('should read the connection from the Vpc status kube-OVN writes, only for the named Subnet', () => {
    const vpc = { metadata: { name: 'v' }, spec: { enableExternal: true, extraExternalSubnets: ['external'] } };
    expect(connectedTo(vpc, 'external')).toBe(false);
    expect(connectedTo(undefined, 'external')).toBe(false);
    expect(connectedTo({ ...vpc, status: connected }, 'external')).toBe(true);
    expect(connectedTo({ ...vpc, status: { ...connected, extraExternalSubnets: ['a', 'external'] } }, 'external')).toBe(true);
    expect(connectedTo({ ...vpc, status: connected }, 'other')).toBe(false);
    // kube-OVN's status after a disconnect: enableExternal false, no Subnets (null from Go's nil slice).
    expect(connectedTo({ ...vpc, status: { enableExternal: false, extraExternalSubnets: null } }, 'external')).toBe(false);
    expect(connectedTo({ ...vpc, status: { enableExternal: false, extraExternalSubnets: ['external'] } }, 'external')).toBe(false);
    // The cache keeps only these two fields of the status.
    expect(vpcExternalStatus({ ...vpc, status: { ...connected, router: 'r', subnets: ['s'], conditions: [] } })).toEqual(connected);
    expect(vpcExternalStatus(vpc)).toBeUndefined();
  });
});
