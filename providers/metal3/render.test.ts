import fs from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MetalMachine } from '../api/generated/ironplane/v1alpha1/metalmachine.js';
import type { Host, HostNic } from './hosts.js';
import { dataSecretName, nodeReuseValue, providerIDFor } from './names.js';
import { addressesFrom, desiredHostSpec, hostImage, NetworkDataError, renderMetaData, renderNetworkData } from './render.js';

const GOLDEN = path.join(import.meta.dirname, 'testdata');

/** Compares with testdata/<name>.golden.json; UPDATE_GOLDEN=1 rewrites it. */
function golden(name: string, text: string): void {
  const file = path.join(GOLDEN, `${name}.golden.json`);
  if (process.env['UPDATE_GOLDEN']) fs.writeFileSync(file, text);
  expect(text).toBe(fs.readFileSync(file, 'utf8'));
}

type Spec = NonNullable<MetalMachine['spec']>;
type Network = NonNullable<Spec['network']>;

const KAIROS = 'oci://quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';

function machine(spec: Partial<Spec> = {}): MetalMachine {
  return {
    apiVersion: 'infrastructure.ironplane.dev/v1alpha1',
    kind: 'MetalMachine',
    metadata: { name: 'tenant-a-md-0-x7k2p', namespace: 'team-a', uid: '5f0c2a1e-0000-4000-8000-000000000001' },
    spec: { image: { url: KAIROS }, ...spec },
  };
}

function host(namespace: string, nics?: HostNic[]): Host {
  return {
    metadata: { name: 'node-07', namespace, uid: 'host-uid' },
    spec: { online: false },
    status: { provisioning: { state: 'available' }, ...(nics ? { hardware: { hostname: 'node-07', nics } } : {}) },
  };
}

const NICS: HostNic[] = [
  { name: 'eno1', mac: 'aa:bb:cc:00:00:01', ip: '10.0.0.7' },
  { name: 'eno2', mac: 'AA:BB:CC:00:00:02' },
  { name: 'eno3', mac: 'aa:bb:cc:00:00:03', ip: '10.0.1.7' },
];

/** A representative network: an LACP bond of two NICs carrying a VLAN, a DHCP uplink, IPv6, DNS. */
const NETWORK: Network = {
  links: [
    { id: 'nic1', type: 'phy', macAddress: 'AA:BB:CC:00:00:01', mtu: 9000 },
    { id: 'nic2', type: 'phy', fromHostInterface: 'eno2', mtu: 9000 },
    { id: 'bond0', type: 'bond', bondLinks: ['nic1', 'nic2'], bondMode: '802.3ad', mtu: 9000 },
    { id: 'bond0-100', type: 'vlan', vlanLink: 'bond0', vlanId: 100 },
    { id: 'uplink', type: 'phy', fromHostInterface: 'eno3' },
  ],
  networks: [
    { link: 'bond0-100', type: 'ipv4', address: '192.168.10.21/24', gateway: '192.168.10.1' },
    { link: 'uplink', type: 'ipv4_dhcp' },
    { link: 'bond0', type: 'ipv6', address: '2001:db8::10/64' },
  ],
  nameservers: ['192.168.10.1', '2001:db8::53'],
};

interface NetworkData {
  links: Record<string, unknown>[];
  networks: { id: string; type: string; link: string; ip_address?: string; netmask?: string; routes?: { network: string; netmask: string; gateway: string }[] }[];
  services: { type: string; address: string }[];
}

const parseNet = (net: Network, h: Host = host('pool-a', NICS)) => JSON.parse(renderNetworkData(net, h)) as NetworkData;

/** The netmask of one static network with this address. */
const netmaskOf = (type: 'ipv4' | 'ipv6', address: string) => parseNet({ links: [{ id: 'l', type: 'phy', macAddress: 'aa:bb:cc:00:00:01' }], networks: [{ link: 'l', type, address }] }).networks[0]!.netmask!;

/** The bits of a dotted-quad or (possibly compressed) IPv6 mask, as a string of 0s and 1s; checked independently of the code under test. */
function maskBits(mask: string): string {
  if (isIPv4(mask)) return mask.split('.').map((o) => Number(o).toString(2).padStart(8, '0')).join('');
  expect(isIPv6(mask)).toBe(true);
  const [head, tail] = mask.includes('::') ? (mask.split('::') as [string, string]) : [mask, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => parseInt(g, 16).toString(2).padStart(16, '0')).join('');
}

describe('desiredHostSpec', () => {
  it('given a host in the machine namespace, should name the data Secrets there, without networkData when the machine has no network', () => {
    const m = machine();
    expect(desiredHostSpec({ machine: m, host: host('team-a'), withNetworkData: Boolean(m.spec!.network) })).toEqual({
      online: true,
      image: { url: KAIROS },
      userData: { name: dataSecretName('team-a', 'tenant-a-md-0-x7k2p', 'userdata'), namespace: 'team-a' },
      metaData: { name: dataSecretName('team-a', 'tenant-a-md-0-x7k2p', 'metadata'), namespace: 'team-a' },
      networkData: null,
      automatedCleaningMode: 'metadata',
    });
  });

  it('given a host in a pool, should put the same-named Secrets in the pool, with networkData when asked', () => {
    const m = machine({ network: NETWORK, automatedCleaningMode: 'disabled' });
    expect(desiredHostSpec({ machine: m, host: host('pool-a'), withNetworkData: Boolean(m.spec!.network) })).toEqual({
      online: true,
      image: { url: KAIROS },
      userData: { name: dataSecretName('team-a', 'tenant-a-md-0-x7k2p', 'userdata'), namespace: 'pool-a' },
      metaData: { name: dataSecretName('team-a', 'tenant-a-md-0-x7k2p', 'metadata'), namespace: 'pool-a' },
      networkData: { name: dataSecretName('team-a', 'tenant-a-md-0-x7k2p', 'networkdata'), namespace: 'pool-a' },
      automatedCleaningMode: 'disabled',
    });
  });
});

describe('hostImage', () => {
  it('given an oci:// image without a checksum, should invent none', () => {
    const img = hostImage({ url: KAIROS });
    expect(img).toEqual({ url: KAIROS });
    expect(Object.keys(img)).toEqual(['url']);
  });

  it('given an http image, should pass its checksum, checksum type and format', () => {
    const image = { url: 'https://images.example.com/kairos.raw', checksum: 'https://images.example.com/kairos.raw.sha256', checksumType: 'sha256' as const, format: 'raw' as const };
    expect(hostImage(image)).toEqual(image);
  });

  it('given an empty checksum, should leave it out', () => {
    expect(hostImage({ url: 'https://images.example.com/kairos.iso', checksum: '', format: 'live-iso' })).toEqual({ url: 'https://images.example.com/kairos.iso', format: 'live-iso' });
  });
});

describe('renderMetaData', () => {
  it('should render JSON with both hostname spellings, the providerID and who the host serves', () => {
    const text = renderMetaData({ hostname: 'tenant-a-md-0-x7k2p', providerID: 'metal3://pool-a/node-07/tenant-a-md-0-x7k2p', machine: 'tenant-a-md-0-x7k2p', machineNamespace: 'team-a', cluster: 'tenant-a' });
    expect(text.endsWith('}\n')).toBe(true);
    expect(JSON.parse(text)).toEqual({
      'local-hostname': 'tenant-a-md-0-x7k2p',
      local_hostname: 'tenant-a-md-0-x7k2p',
      providerid: 'metal3://pool-a/node-07/tenant-a-md-0-x7k2p',
      'ironplane-machine': 'team-a/tenant-a-md-0-x7k2p',
      'ironplane-cluster': 'tenant-a',
    });
  });
});

describe('renderNetworkData', () => {
  it('given a bond with a VLAN, a DHCP link and IPv6, should render the golden network_data.json', () => {
    golden('network-data', renderNetworkData(NETWORK, host('pool-a', NICS)));
  });

  it('should take MACs from the spec or from the inspected NIC, lower-cased, and give the bond and the VLAN the first member MAC', () => {
    const { links } = parseNet(NETWORK);
    expect(links).toEqual([
      { id: 'nic1', type: 'phy', ethernet_mac_address: 'aa:bb:cc:00:00:01', mtu: 9000 },
      { id: 'nic2', type: 'phy', ethernet_mac_address: 'aa:bb:cc:00:00:02', mtu: 9000 },
      { id: 'bond0', type: 'bond', bond_links: ['nic1', 'nic2'], bond_mode: '802.3ad', ethernet_mac_address: 'aa:bb:cc:00:00:01', mtu: 9000 },
      { id: 'bond0-100', type: 'vlan', vlan_link: 'bond0', vlan_id: 100, vlan_mac_address: 'aa:bb:cc:00:00:01' },
      { id: 'uplink', type: 'phy', ethernet_mac_address: 'aa:bb:cc:00:00:03' },
    ]);
  });

  it('should render static networks with a default route through the gateway, DHCP networks bare, and DNS services', () => {
    const { networks, services } = parseNet(NETWORK);
    expect(networks).toEqual([
      {
        id: 'network0',
        network_id: 'network0',
        link: 'bond0-100',
        type: 'ipv4',
        ip_address: '192.168.10.21',
        netmask: '255.255.255.0',
        routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '192.168.10.1' }],
      },
      { id: 'network1', network_id: 'network1', link: 'uplink', type: 'ipv4_dhcp' },
      { id: 'network2', network_id: 'network2', link: 'bond0', type: 'ipv6', ip_address: '2001:db8::10', netmask: expect.any(String), routes: [] },
    ]);
    expect(services).toEqual([
      { type: 'dns', address: '192.168.10.1' },
      { type: 'dns', address: '2001:db8::53' },
    ]);
  });

  it('should route IPv6 through its gateway with the IPv6 any-network', () => {
    const { networks } = parseNet({ links: [{ id: 'l', type: 'phy', macAddress: 'aa:bb:cc:00:00:01' }], networks: [{ link: 'l', type: 'ipv6', address: '2001:db8::10/64', gateway: '2001:db8::1' }] });
    expect(networks[0]!.routes).toEqual([{ network: '::', netmask: '::', gateway: '2001:db8::1' }]);
  });

  it('should compute correct netmasks: /24 is 255.255.255.0, /64 is the upper half of the IPv6 bits', () => {
    expect(netmaskOf('ipv4', '192.168.10.21/24')).toBe('255.255.255.0');
    expect(maskBits(netmaskOf('ipv6', '2001:db8::10/64'))).toBe('1'.repeat(64) + '0'.repeat(64));
  });

  it('should compute a contiguous mask of exactly the prefix length for every IPv4 and IPv6 prefix', () => {
    for (let p = 0; p <= 32; p++) expect([p, maskBits(netmaskOf('ipv4', `10.1.2.3/${p}`))]).toEqual([p, '1'.repeat(p) + '0'.repeat(32 - p)]);
    for (let p = 0; p <= 128; p++) expect([p, maskBits(netmaskOf('ipv6', `2001:db8::1/${p}`))]).toEqual([p, '1'.repeat(p) + '0'.repeat(128 - p)]);
  });

  it('given a NIC the host lacks, should throw a NetworkDataError naming the NICs it has', () => {
    const net: Network = { links: [{ id: 'storage', type: 'phy', fromHostInterface: 'ens5f1' }] };
    const attempt = () => renderNetworkData(net, host('pool-a', NICS));
    expect(attempt).toThrow(NetworkDataError);
    expect(attempt).toThrow('link storage: host pool-a/node-07 has no NIC named ens5f1 (it has: eno1, eno2, eno3)');
  });

  it('given a host not inspected yet, should say so', () => {
    const net: Network = { links: [{ id: 'storage', type: 'phy', fromHostInterface: 'eno1' }] };
    expect(() => renderNetworkData(net, host('pool-a'))).toThrow(new NetworkDataError('link storage: host pool-a/node-07 has no NIC named eno1 (it has: none inspected yet)'));
    expect(() => renderNetworkData(net, host('pool-a', []))).toThrow(new NetworkDataError('link storage: host pool-a/node-07 has no NIC named eno1 (it has: none inspected yet)'));
  });

  it('given an empty network, should render empty lists', () => {
    expect(renderNetworkData({}, host('pool-a'))).toBe('{\n  "links": [],\n  "networks": [],\n  "services": []\n}\n');
  });
});

describe('addressesFrom', () => {
  it('should give each inspected IP once as InternalIP, in NIC order, then the hostname', () => {
    const nics: HostNic[] = [{ name: 'eno1', mac: 'a', ip: '10.0.0.7' }, { name: 'eno2', mac: 'b' }, { name: 'eno3', mac: 'c', ip: '2001:db8::7' }, { name: 'eno4', mac: 'd', ip: '10.0.0.7' }, { name: 'eno5', mac: 'e', ip: '' }];
    expect(addressesFrom(host('pool-a', nics), 'tenant-a-md-0-x7k2p')).toEqual([
      { type: 'InternalIP', address: '10.0.0.7' },
      { type: 'InternalIP', address: '2001:db8::7' },
      { type: 'Hostname', address: 'tenant-a-md-0-x7k2p' },
    ]);
  });

  it('given a host not inspected, should give the hostname only', () => {
    expect(addressesFrom(host('pool-a'), 'h')).toEqual([{ type: 'Hostname', address: 'h' }]);
  });
});

describe('names', () => {
  it('providerIDFor should write metal3://<host namespace>/<host>/<MetalMachine>, as CAPM3 does', () => {
    expect(providerIDFor('pool-a', 'node-07', 'tenant-a-md-0-x7k2p')).toBe('metal3://pool-a/node-07/tenant-a-md-0-x7k2p');
  });

  it('dataSecretName should be <namespace>.<machine>-<hash of namespace/machine>-<kind>, wherever the host is', () => {
    expect(dataSecretName('team-a', 'm1', 'userdata')).toMatch(/^team-a\.m1-[0-9a-f]{16}-userdata$/);
    expect(dataSecretName('team-a', 'm1', 'networkdata')).toBe(dataSecretName('team-a', 'm1', 'userdata').replace(/userdata$/, 'networkdata'));
    // Deterministic: a manager that restarts finds its Secrets by the same names.
    expect(dataSecretName('team-a', 'm1', 'metadata')).toBe(dataSecretName('team-a', 'm1', 'metadata'));
    // Two tenants with the same machine name never share a Secret in a pool.
    expect(dataSecretName('team-b', 'm1', 'metadata')).not.toBe(dataSecretName('team-a', 'm1', 'metadata'));
    // The readable part alone was ambiguous: machine "team-a.m1" in pool namespace pool-a and machine "m1" of
    // team-a, whose host is in pool-a, both read "team-a.m1"; the hash of namespace/machine tells them apart.
    expect(dataSecretName('pool-a', 'team-a.m1', 'userdata')).not.toBe(dataSecretName('team-a', 'm1', 'userdata'));
  });

  it('dataSecretName should fit a Secret name (253) for the longest machine names, and stay a DNS subdomain', () => {
    const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
    const long = `${'m'.repeat(120)}.${'n'.repeat(132)}`;
    for (const kind of ['userdata', 'metadata', 'networkdata'] as const) {
      const name = dataSecretName('n'.repeat(63), long, kind);
      expect(name.length).toBeLessThanOrEqual(253);
      expect(name).toMatch(SUBDOMAIN);
      expect(name.endsWith(`-${kind}`)).toBe(true);
    }
    expect(dataSecretName('n'.repeat(63), long, 'userdata')).not.toBe(dataSecretName('n'.repeat(63), `${long.slice(0, -1)}x`, 'userdata'));
  });

  describe('nodeReuseValue', () => {
    const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

    it('given a short namespace and template, should be <namespace>.<template>', () => {
      expect(nodeReuseValue('team-a', 'md-0')).toBe('team-a.md-0');
    });

    it('given exactly 63 characters, should keep them as they are', () => {
      const v = nodeReuseValue('team-a', 't'.repeat(63 - 'team-a.'.length));
      expect(v).toBe(`team-a.${'t'.repeat(56)}`);
      expect(v).toHaveLength(63);
    });

    it('given a long name, should hash it into a valid label value of at most 63 characters, the same every time', () => {
      const v = nodeReuseValue('team-a', `workers-${'x'.repeat(100)}`);
      expect(v.length).toBeLessThanOrEqual(63);
      expect(v).toMatch(LABEL_VALUE);
      expect(v).toMatch(/^team-a\.workers-x+-[0-9a-f]{10}$/);
      expect(nodeReuseValue('team-a', `workers-${'x'.repeat(100)}`)).toBe(v);
    });

    it('given long names that share their first 52 characters, should keep them apart', () => {
      const a = nodeReuseValue('team-a', `${'x'.repeat(60)}-a`);
      const b = nodeReuseValue('team-a', `${'x'.repeat(60)}-b`);
      expect(a).not.toBe(b);
      expect(a.slice(0, 52)).toBe(b.slice(0, 52));
    });

    it('given a cut that ends on a dash or dot, should not leave it before the hash', () => {
      // 52 characters: "team-a." (7) + 44 "y" + "-", then more.
      const v = nodeReuseValue('team-a', `${'y'.repeat(44)}-.${'z'.repeat(30)}`);
      expect(v).toMatch(/^team-a\.y{44}-[0-9a-f]{10}$/);
      expect(v).toMatch(LABEL_VALUE);
    });
  });
});
