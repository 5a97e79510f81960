import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { KvmCluster } from '../api/generated/ironplane/v1alpha1/kvmcluster.js';
import { parseAddress, startForwarder } from './cpproxy.js';
import { proxyOptionsFromEnv } from './setup.js';
import {
  controlPlaneTarget,
  endpointRuleName,
  excludeIpsEqual,
  parseEndpoint,
  proxyDeploymentName,
  renderEndpointRule,
  renderProxyDeployment,
  reservedAddresses,
  sharedAddressRefusal,
  subnetExcludeIps,
} from './privateendpoint.js';

const kc = (name: string, cidr: string, created = '2026-01-01T00:00:00Z', uid = `uid-${name}`): KvmCluster => ({
  apiVersion: 'infrastructure.ironplane.dev/v1alpha1',
  kind: 'KvmCluster',
  metadata: { name, namespace: 'team-a', uid, creationTimestamp: created },
  spec: { network: { nodeCIDR: cidr } },
});

describe('private endpoint addresses', () => {
  it('should reserve the last usable address of the node CIDR for the proxy, and serve the platform VIP outside it', () => {
    expect(reservedAddresses({ nodeCIDR: '10.10.0.0/24' })).toEqual({ vip: '198.18.0.1', proxy: '10.10.0.254' });
    expect(reservedAddresses({ nodeCIDR: '10.10.4.7/22' }, '100.127.0.1')).toEqual({ vip: '100.127.0.1', proxy: '10.10.7.254' });
    expect(reservedAddresses({ nodeCIDR: '192.168.1.0/29' })).toEqual({ vip: '198.18.0.1', proxy: '192.168.1.6' });
    expect(subnetExcludeIps({ nodeCIDR: '10.10.0.0/24', excludeIPs: ['10.10.0.2..10.10.0.9'] })).toEqual(['10.10.0.2..10.10.0.9', '10.10.0.254']);
  });

  it('should refuse, naming the field, when the gateway, an excluded range or the CIDR leaves no room, or the CIDR holds the VIP', () => {
    expect(reservedAddresses({ nodeCIDR: '10.10.0.0/24', gateway: '10.10.0.254' })).toMatchObject({
      reason: 'AddressUnavailable',
      message: expect.stringContaining("spec.network.gateway 10.10.0.254 is the control-plane proxy's address 10.10.0.254") as string,
    });
    expect(reservedAddresses({ nodeCIDR: '10.10.0.0/24', excludeIPs: ['10.10.0.5', '10.10.0.200..10.10.0.254'] })).toMatchObject({
      reason: 'AddressUnavailable',
      message: expect.stringContaining("spec.network.excludeIPs[1] 10.10.0.200..10.10.0.254 holds the control-plane proxy's address 10.10.0.254") as string,
    });
    expect(reservedAddresses({ nodeCIDR: '198.18.0.0/16' })).toMatchObject({
      reason: 'AddressUnavailable',
      message: 'spec.network.nodeCIDR 198.18.0.0/16 holds 198.18.0.1, the address at which every tenant reaches its own control plane; choose a node network without it',
    });
    expect(reservedAddresses({ nodeCIDR: '10.10.0.0/30' })).toMatchObject({ message: expect.stringContaining('spec.network.nodeCIDR 10.10.0.0/30 is too small') as string });
    expect(reservedAddresses({ nodeCIDR: 'fd00::/64' })).toMatchObject({ message: expect.stringContaining('spec.network.nodeCIDR fd00::/64 is not an IPv4 CIDR') as string });
    // No reservation means nothing is added to the Subnet.
    expect(subnetExcludeIps({ nodeCIDR: '10.10.0.0/24', gateway: '10.10.0.254', excludeIPs: ['10.10.0.9'] })).toEqual(['10.10.0.9']);
    expect(subnetExcludeIps({ nodeCIDR: '10.10.0.0/24', excludeIPs: ['10.10.0.9'] }, '10.10.0.77')).toEqual(['10.10.0.9']);
  });

  it('should take the VIP from IRONPLANE_CP_VIP, and refuse one that is not an IPv4 address, naming the variable', () => {
    expect(proxyOptionsFromEnv({ IRONPLANE_CP_PROXY_IMAGE: 'img:1', IRONPLANE_CP_VIP: '100.127.0.1' })).toEqual({ image: 'img:1', vip: '100.127.0.1' });
    expect(proxyOptionsFromEnv({ IRONPLANE_CP_PROXY_IMAGE: 'img:1' })).toEqual({ image: 'img:1' });
    expect(() => proxyOptionsFromEnv({ IRONPLANE_CP_VIP: '10.0.0.300' })).toThrow('IRONPLANE_CP_VIP: "10.0.0.300" is not an IPv4 address');
    expect(() => proxyOptionsFromEnv({ IRONPLANE_CP_VIP: 'fd00::1' })).toThrow('IRONPLANE_CP_VIP: "fd00::1" is not an IPv4 address');
  });

  it("should compare excludeIps as kube-OVN rewrites them (merged, sorted, gateway added)", () => {
    expect(excludeIpsEqual(['10.10.0.1', '10.10.0.2..10.10.0.9', '10.10.0.253..10.10.0.254'], ['10.10.0.2..10.10.0.9', '10.10.0.253', '10.10.0.254'], '10.10.0.1')).toBe(true);
    expect(excludeIpsEqual(['10.10.0.1', '10.10.0.253..10.10.0.254'], ['10.10.0.2..10.10.0.9', '10.10.0.253', '10.10.0.254'], '10.10.0.1')).toBe(false);
    expect(excludeIpsEqual(['10.10.0.1', '10.10.0.2..10.10.0.9', '10.10.0.253..10.10.0.254'], ['10.10.0.253', '10.10.0.254'], '10.10.0.1')).toBe(false);
  });

  it('should leave the proxy address to the earliest KvmCluster of the namespace whose node CIDR holds it', () => {
    const first = kc('first', '10.10.0.0/24', '2026-01-01T00:00:00Z');
    const second = kc('second', '10.10.0.0/24', '2026-01-02T00:00:00Z');
    const elsewhere = kc('elsewhere', '10.20.0.0/24', '2026-01-01T00:00:00Z');
    expect(sharedAddressRefusal(first, '10.10.0.253', [first, second, elsewhere])).toBeUndefined();
    expect(sharedAddressRefusal(second, '10.10.0.253', [first, second, elsewhere])).toMatchObject({
      reason: 'AddressShared',
      message: expect.stringContaining('KvmCluster first in this namespace, created earlier, has node CIDR 10.10.0.0/24') as string,
    });
    expect(sharedAddressRefusal(second, '10.10.0.253', [{ ...first, metadata: { ...first.metadata, namespace: 'team-b' } }])).toBeUndefined();
  });
});

describe('private endpoint objects', () => {
  const owner = { kind: 'KvmCluster', namespace: 'team-a', name: 'alpha', uid: 'uid-alpha' };
  const a = kc('alpha', '10.10.0.0/24');

  it('should forward only to the TenantControlPlane its KamajiControlPlane controls, from its status', () => {
    const cluster = { metadata: { name: 'alpha', namespace: 'team-a' }, spec: { controlPlaneRef: { apiGroup: 'controlplane.cluster.x-k8s.io', kind: 'KamajiControlPlane', name: 'alpha' } } };
    const tcp = (owners: { kind: string; name: string; controller?: boolean }[], ep?: string) => ({
      metadata: { name: 'alpha', namespace: 'team-a', ownerReferences: owners.map((o) => ({ apiVersion: 'controlplane.cluster.x-k8s.io/v1alpha1', uid: 'u', ...o })) },
      status: ep ? { controlPlaneEndpoint: ep } : {},
    });
    expect(controlPlaneTarget(cluster as never, tcp([{ kind: 'KamajiControlPlane', name: 'alpha', controller: true }], '10.96.0.10:6443'))).toEqual({ target: { host: '10.96.0.10', port: 6443 } });
    expect(controlPlaneTarget(cluster as never, tcp([{ kind: 'KamajiControlPlane', name: 'other', controller: true }], '10.96.0.10:6443'))).toMatchObject({ reason: 'ControlPlaneNotOwned' });
    expect(controlPlaneTarget(cluster as never, tcp([{ kind: 'KamajiControlPlane', name: 'alpha', controller: true }]))).toMatchObject({ reason: 'WaitingForControlPlane' });
    expect(controlPlaneTarget(cluster as never, undefined)).toMatchObject({ reason: 'WaitingForControlPlane' });
    expect(controlPlaneTarget({ ...cluster, spec: { controlPlaneRef: { ...cluster.spec.controlPlaneRef, kind: 'KubeadmControlPlane' } } } as never, undefined)).toMatchObject({
      reason: 'WaitingForControlPlane',
      message: expect.stringContaining('spec.controlPlaneRef') as string,
    });
    expect(parseEndpoint('[fd00::1]:6443')).toEqual({ host: 'fd00::1', port: 6443 });
    expect(parseEndpoint('h:99999')).toBeUndefined();
  });

  it('should render a rule on the tenant namespace with the proxy as its only endpoint, and a proxy Deployment owned by the KvmCluster on the tenant Subnet', () => {
    const rule = renderEndpointRule(a, owner, { vip: '198.18.0.1', proxy: '10.10.0.254' });
    expect(rule.metadata?.name).toBe(endpointRuleName('team-a', 'alpha'));
    expect(rule.metadata?.labels).toEqual({ 'infrastructure.ironplane.dev/kvm-cluster': 'alpha', 'infrastructure.ironplane.dev/kvm-cluster-namespace': 'team-a', 'infrastructure.ironplane.dev/kvm-cluster-uid': 'uid-alpha' });
    expect(rule.spec).toEqual({ vip: '198.18.0.1', namespace: 'team-a', endpoints: ['10.10.0.254'], sessionAffinity: 'None', ports: [{ name: 'kube-apiserver', port: 6443, targetPort: 6443, protocol: 'TCP' }] });

    const d = renderProxyDeployment(a, owner, 'subnet-x', '10.10.0.253', { host: '10.96.0.10', port: 6443 }, { image: 'img:1', networks: 'ironplane-system/cp-proxy' });
    expect(d.metadata?.name).toBe(proxyDeploymentName('team-a', 'alpha'));
    expect(d.metadata?.ownerReferences).toEqual([{ apiVersion: 'infrastructure.ironplane.dev/v1alpha1', kind: 'KvmCluster', name: 'alpha', uid: 'uid-alpha', controller: true, blockOwnerDeletion: true }]);
    const tpl = (d.spec as { template: { metadata: { annotations: Record<string, string> }; spec: { containers: { args: string[] }[] } } }).template;
    expect(tpl.metadata.annotations).toEqual({ 'ovn.kubernetes.io/logical_switch': 'subnet-x', 'ovn.kubernetes.io/ip_address': '10.10.0.253', 'k8s.v1.cni.cncf.io/networks': 'ironplane-system/cp-proxy' });
    expect(tpl.spec.containers[0]!.args).toEqual(['cp-proxy', '--listen', '0.0.0.0:6443', '--to', '10.96.0.10:6443', '--max-connections', '512']);
    expect(proxyDeploymentName('team', 'a-alpha')).not.toBe(proxyDeploymentName('team-a', 'alpha'));
  });
});

describe('cp-proxy forwarder', () => {
  it('should parse addresses and refuse bad ones, naming the flag', () => {
    expect(parseAddress(':6443', '--listen')).toEqual({ host: '0.0.0.0', port: 6443 });
    expect(parseAddress('[::1]:6443', '--to')).toEqual({ host: '::1', port: 6443 });
    expect(parseAddress('unix:/tmp/x.sock', '--to')).toEqual({ path: '/tmp/x.sock' });
    expect(() => parseAddress('nope', '--to')).toThrow('--to: "nope" is not host:port');
    expect(() => parseAddress('h:0', '--listen')).toThrow('--listen: "h:0"');
  });

  it('should forward bytes both ways through a unix socket, refuse beyond its bound, and drain on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpproxy-'));
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const port = (echo.address() as net.AddressInfo).port;
    const inner = await startForwarder({ listen: { path: join(dir, 's') }, to: { host: '127.0.0.1', port }, maxConnections: 4 });
    const outer = await startForwarder({ listen: { host: '127.0.0.1', port: 0 }, to: { path: join(dir, 's') }, maxConnections: 1 });
    const addr = outer.address as { host: string; port: number };
    const talk = (c: net.Socket, msg: string) =>
      new Promise<string>((resolve, reject) => {
        c.once('data', (d) => resolve(d.toString()));
        c.once('error', reject);
        c.write(msg);
      });
    const c1 = net.connect(addr.port, addr.host);
    expect(await talk(c1, 'hello')).toBe('hello');
    // The second connection beyond max-connections=1 is closed.
    const c2 = net.connect(addr.port, addr.host);
    await new Promise<void>((r) => c2.on('close', () => r()));
    expect(outer.active()).toBe(1);
    c1.destroy();
    await outer.close();
    await inner.close();
    echo.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
