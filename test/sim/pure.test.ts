// The simulation's pure parts: kube-OVN address allocation, the scheduler's
// node matching, reading cloud-config userdata, and what the OS on a
// BareMetalHost sees. No apiserver needed.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { hostAddresses, hostOS, metaDataHostname } from './baremetal.js';
import { findJoinConfig, parseCloudConfig, providerIDOf, type CloudConfig } from './cloudinit.js';
import { Ipam, parsePool, type Pool } from './ipam.js';
import type { BareMetalHost } from './kinds.js';
import { fits, schedule, type NodeSelectorTerm, type Placement } from './scheduling.js';

function pool(spec: Parameters<typeof parsePool>[0]): Pool {
  const p = parsePool(spec);
  if (typeof p === 'string') throw new Error(p);
  return p;
}

describe('kube-OVN address allocation', () => {
  it('given a Subnet, should hand out addresses in order, skipping network, gateway, excludeIps and broadcast', () => {
    const p = pool({ cidrBlock: '10.0.0.0/29', excludeIps: ['10.0.0.3..10.0.0.4'] });
    const ipam = new Ipam();
    const ips = ['a', 'b', 'c', 'd'].map((o) => ipam.allocate('s', p, o));
    // .0 network, .1 default gateway, .3-.4 excluded, .7 broadcast.
    expect(ips.map((l) => (typeof l === 'string' ? l : l.ip))).toEqual(['10.0.0.2', '10.0.0.5', '10.0.0.6', 'has no free address left in 10.0.0.0/29']);
  });

  it('given an owner that already holds an address, should give it the same one, and never give it to another before release', () => {
    const p = pool({ cidrBlock: '10.0.0.0/30' });
    const ipam = new Ipam();
    expect(ipam.allocate('s', p, 'a')).toMatchObject({ ip: '10.0.0.2' });
    expect(ipam.allocate('s', p, 'a')).toMatchObject({ ip: '10.0.0.2' });
    expect(ipam.allocate('s', p, 'b')).toBe('has no free address left in 10.0.0.0/30');
    expect(ipam.release('a')).toMatchObject({ ip: '10.0.0.2' });
    expect(ipam.allocate('s', p, 'b')).toMatchObject({ ip: '10.0.0.2' });
  });

  it('given overlapping CIDRs in two Subnets (two VPCs), should allocate each independently', () => {
    const p = pool({ cidrBlock: '10.0.0.0/24' });
    const ipam = new Ipam();
    expect(ipam.allocate('vpc1-nodes', p, 'a')).toMatchObject({ ip: '10.0.0.2' });
    expect(ipam.allocate('vpc2-nodes', p, 'b')).toMatchObject({ ip: '10.0.0.2' });
  });

  it('given a requested address, should honour it only when free and allocatable', () => {
    const p = pool({ cidrBlock: '10.0.0.0/24', gateway: '10.0.0.254' });
    const ipam = new Ipam();
    expect(ipam.allocate('s', p, 'a', '10.0.0.100')).toMatchObject({ ip: '10.0.0.100' });
    expect(ipam.allocate('s', p, 'b', '10.0.0.100')).toBe('requested address 10.0.0.100 is already in use by a');
    expect(ipam.allocate('s', p, 'b', '10.0.0.254')).toMatch(/not allocatable/);
    // With a non-default gateway, .1 is a host address.
    expect(ipam.allocate('s', p, 'c')).toMatchObject({ ip: '10.0.0.1' });
  });

  it('given a dual-stack or unusable cidrBlock, should use the IPv4 part or say why not', () => {
    expect(pool({ cidrBlock: '10.1.0.0/24,fd00:10:1::/120' }).cidr).toBe('10.1.0.0/24');
    expect(parsePool({ cidrBlock: 'fd00::/120' })).toMatch(/no IPv4 cidrBlock/);
    expect(parsePool({ cidrBlock: '10.1.0.0' })).toMatch(/unusable cidrBlock/);
    expect(parsePool({})).toMatch(/no IPv4 cidrBlock/);
  });

  it('should give MACs in kube-OVN\'s 00:00:00 prefix, stable for an address', () => {
    const p = pool({ cidrBlock: '10.0.0.0/24' });
    const a = new Ipam().allocate('s', p, 'x');
    const b = new Ipam().allocate('s', p, 'y');
    expect(a).toMatchObject({ mac: expect.stringMatching(/^00:00:00(:[0-9a-f]{2}){3}$/) });
    expect(typeof a !== 'string' && typeof b !== 'string' && a.mac === b.mac).toBe(true);
  });
});

describe('node matching', () => {
  const a = { name: 'a', labels: { zone: 'a', gpu: '2' } };
  const b = { name: 'b', labels: { zone: 'b' } };
  const required = (nodeSelectorTerms: NodeSelectorTerm[]): Placement => ({
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms } } },
  });

  it('should AND expressions within a term and OR the terms', () => {
    expect(fits(a, required([{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'gpu', operator: 'Exists' }] }]))).toBe(true);
    expect(fits(b, required([{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'gpu', operator: 'Exists' }] }]))).toBe(false);
    expect(fits(b, required([{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }]))).toBe(true);
  });

  it('should apply NotIn, DoesNotExist, Gt, Lt and matchFields as the apiserver does', () => {
    expect(fits(b, required([{ matchExpressions: [{ key: 'gpu', operator: 'NotIn', values: ['2'] }] }]))).toBe(true);
    expect(fits(b, required([{ matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }]))).toBe(true);
    expect(fits(a, required([{ matchExpressions: [{ key: 'gpu', operator: 'Gt', values: ['1'] }] }]))).toBe(true);
    expect(fits(a, required([{ matchExpressions: [{ key: 'gpu', operator: 'Lt', values: ['2'] }] }]))).toBe(false);
    expect(fits(b, required([{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['b'] }] }]))).toBe(true);
  });

  it('given an empty term, should match nothing; given no affinity, should match anything the nodeSelector allows', () => {
    expect(fits(a, required([{}]))).toBe(false);
    expect(fits(a, {})).toBe(true);
    expect(fits(a, { nodeSelector: { zone: 'b' } })).toBe(false);
  });

  it('should place on the least loaded fitting node, by name on ties, and explain when none fits', () => {
    expect(schedule([b, a], {}, () => 0)).toEqual({ node: a });
    expect(schedule([a, b], {}, (n) => (n === 'a' ? 1 : 0))).toEqual({ node: b });
    expect(schedule([a, b], { nodeSelector: { zone: 'c' } }, () => 0)).toEqual({
      message: "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
    });
  });
});

describe('cloud-config userdata', () => {
  const cc = (text: string): CloudConfig => {
    const r = parseCloudConfig(text);
    if (typeof r === 'string') throw new Error(r);
    return r;
  };

  it('should find the providerID in write_files, in any encoding cloud-init supports', () => {
    expect(providerIDOf(cc('#cloud-config\nwrite_files:\n- path: /etc/ironplane/provider-id\n  content: "kubevirt://ns/vm\\n"\n'))).toEqual({ providerID: 'kubevirt://ns/vm' });
    const b64 = Buffer.from('metal3://ns/host/m').toString('base64');
    expect(providerIDOf(cc(`#cloud-config\nwrite_files:\n- path: /etc/ironplane/provider-id\n  encoding: b64\n  content: ${b64}\n`))).toEqual({ providerID: 'metal3://ns/host/m' });
    const gz = gzipSync('kubevirt://ns/gz').toString('base64');
    expect(providerIDOf(cc(`#cloud-config\nwrite_files:\n- path: /etc/ironplane/provider-id\n  encoding: gz+b64\n  content: ${gz}\n`))).toEqual({ providerID: 'kubevirt://ns/gz' });
  });

  it('should refuse what a machine could not use', () => {
    expect(parseCloudConfig('#!/bin/bash\necho hi\n')).toMatch(/not cloud-config/);
    expect(parseCloudConfig('  #cloud-config\n')).toMatch(/not cloud-config/);
    expect(parseCloudConfig('#cloud-config\n- a list\n')).toBe('userdata is not a YAML mapping');
    expect(providerIDOf(cc('#cloud-config\n'))).toEqual({ why: expect.stringContaining('no write_files entry for /etc/ironplane/provider-id') });
    expect(providerIDOf(cc('#cloud-config\nwrite_files:\n- path: /etc/ironplane/provider-id\n  content: ""\n'))).toEqual({ why: expect.stringContaining('is empty') });
    expect(providerIDOf(cc('#cloud-config\nwrite_files:\n- path: /etc/ironplane/provider-id\n  content: just-a-name\n'))).toEqual({ why: expect.stringContaining('not of the form') });
  });

  it('should find join settings in a Kairos cluster block or a kubeadm JoinConfiguration file', () => {
    expect(findJoinConfig(cc('#cloud-config\n'))).toBeUndefined();
    const kairos = cc(
      [
        '#cloud-config',
        'cluster:',
        '  cluster_token: abcdef.0123456789abcdef',
        '  control_plane_host: 10.0.0.1:6443',
        '  role: worker',
        '  config: |',
        '    apiVersion: kubeadm.k8s.io/v1beta4',
        '    kind: JoinConfiguration',
        '    discovery:',
        '      bootstrapToken:',
        '        apiServerEndpoint: 10.0.0.1:6443',
        '        token: abcdef.0123456789abcdef',
        '        caCertHashes: [sha256:00ff]',
      ].join('\n'),
    );
    expect(findJoinConfig(kairos)).toEqual({ source: 'cluster.config', token: 'abcdef.0123456789abcdef', apiServerEndpoint: '10.0.0.1:6443', caCertHashes: ['sha256:00ff'] });
    const file = cc(
      '#cloud-config\nwrite_files:\n- path: /run/kubeadm/kubeadm-join-config.yaml\n  content: |\n    kind: JoinConfiguration\n    discovery:\n      bootstrapToken:\n        token: t.t\n        unsafeSkipCAVerification: true\n',
    );
    expect(findJoinConfig(file)).toEqual({ source: 'write_files /run/kubeadm/kubeadm-join-config.yaml', token: 't.t', unsafeSkipCAVerification: true });
  });
});

describe('the OS on a BareMetalHost', () => {
  const consumerRef = { apiVersion: 'infrastructure.ironplane.dev/v1alpha1', kind: 'MetalMachine', name: 'm1', namespace: 'team-a', uid: 'u1' };
  const host = (spec: BareMetalHost['spec'] = {}, state = 'provisioned', extra: Partial<BareMetalHost> = {}): BareMetalHost => ({
    metadata: { name: 'h1', namespace: 'pool' },
    spec: { online: true, image: { url: 'oci://kairos' }, consumerRef, userData: { name: 'm1-userdata' }, ...spec },
    status: { provisioning: { state } },
    ...extra,
  });

  it('given a provisioned, online host with an image and a MetalMachine consumer, should run for that consumer', () => {
    expect(hostOS(host())).toEqual({ os: 'up', consumer: { namespace: 'team-a', name: 'm1', uid: 'u1' } });
    // The consumerRef's namespace defaults to the host's.
    expect(hostOS(host({ consumerRef: { ...consumerRef, namespace: undefined, uid: undefined } }))).toEqual({ os: 'up', consumer: { namespace: 'pool', name: 'm1', uid: 'pool/m1' } });
    expect(hostOS(host({ image: null, customDeploy: { method: 'install_coreos' } }))).toMatchObject({ os: 'up' });
  });

  it('given a host that left provisioned, lost its image or consumer, or is being deleted, should say its OS is gone and why', () => {
    expect(hostOS(host({}, 'deprovisioning'))).toEqual({ os: 'gone', why: 'host is deprovisioning, not provisioned' });
    expect(hostOS(host({}, ''))).toEqual({ os: 'gone', why: 'host is unregistered, not provisioned' });
    expect(hostOS(host({ image: null }))).toEqual({ os: 'gone', why: expect.stringContaining('spec.image cleared') });
    expect(hostOS(host({ consumerRef: null }))).toEqual({ os: 'gone', why: expect.stringContaining('no spec.consumerRef') });
    expect(hostOS(host({ consumerRef: { ...consumerRef, apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1', kind: 'Metal3Machine' } }))).toEqual({
      os: 'gone',
      why: "host's consumerRef is Metal3Machine infrastructure.cluster.x-k8s.io/v1beta1, not an infrastructure.ironplane.dev MetalMachine",
    });
    expect(hostOS(host({}, 'provisioned', { metadata: { name: 'h1', namespace: 'pool', deletionTimestamp: '2025-01-01T00:00:00Z' } }))).toEqual({ os: 'gone', why: 'host is being deleted' });
  });

  it('given a provisioned host powered off, should say it is down, for its consumer', () => {
    expect(hostOS(host({ online: false }))).toEqual({ os: 'down', consumer: { namespace: 'team-a', name: 'm1', uid: 'u1' }, why: 'host is powered off (spec.online is not true)' });
  });

  it('should read the hostname from meta_data as JSON or YAML, and refuse one that cannot be a Node name', () => {
    expect(metaDataHostname('{"local-hostname": "w-1", "local_hostname": "w-1", "providerid": "metal3://pool/h1/m1"}')).toEqual({ hostname: 'w-1' });
    expect(metaDataHostname('local_hostname: w-2\n')).toEqual({ hostname: 'w-2' });
    expect(metaDataHostname('{}')).toEqual({ hostname: undefined });
    expect(metaDataHostname('')).toEqual({ hostname: undefined });
    expect(metaDataHostname('{"local-hostname": "Not_A_Name"}')).toEqual({ why: 'meta_data hostname "Not_A_Name" is not a valid Node name' });
    expect(metaDataHostname('[1]')).toEqual({ why: 'meta_data is not a mapping' });
    expect(metaDataHostname('{"a": ')).toEqual({ why: expect.stringMatching(/^meta_data is neither JSON nor YAML: /) });
  });

  it('should take the addresses from the inspected NICs, each once', () => {
    const nics = [{ name: 'eth0', ip: '192.168.111.20' }, { name: 'eth1' }, { name: 'eth0', ip: 'fd00::20' }, { name: 'bond0', ip: '192.168.111.20' }];
    expect(hostAddresses(host({}, 'provisioned', { status: { hardware: { nics } } }))).toEqual(['192.168.111.20', 'fd00::20']);
    expect(hostAddresses(host())).toEqual([]);
  });
});
