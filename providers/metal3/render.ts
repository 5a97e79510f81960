// What a claimed host is given, as pure functions: the image and data-Secret
// references on the BareMetalHost, the OpenStack network_data.json and
// meta_data that Ironic writes to the config drive, and the addresses read
// back from hardware inspection.
import type { MetalMachine } from '../api/generated/ironplane/v1alpha1/metalmachine.js';
import { dataSecretName } from './names.js';
import type { Host, HostImage, SecretRef } from './hosts.js';

type MachineNetwork = NonNullable<NonNullable<MetalMachine['spec']>['network']>;

/** Why the MetalMachine's network cannot be rendered for this host (e.g. a NIC the host lacks). */
export class NetworkDataError extends Error {}

export interface HostSpecInput {
  machine: MetalMachine;
  host: Host;
  /** Whether a networkData Secret is rendered (spec.network set). */
  withNetworkData: boolean;
}

export interface DesiredHostSpec {
  online: true;
  image: HostImage;
  userData: SecretRef;
  metaData: SecretRef;
  networkData: SecretRef | null;
  automatedCleaningMode: string;
}

/** The image as BMO takes it; oci:// images carry their digest, so no checksum is invented for them. */
export function hostImage(image: NonNullable<MetalMachine['spec']>['image']): HostImage {
  return {
    url: image.url,
    ...(image.checksum ? { checksum: image.checksum } : {}),
    ...(image.checksumType ? { checksumType: image.checksumType } : {}),
    ...(image.format ? { format: image.format } : {}),
  };
}

/** The fields of the host spec that provision it for this machine. */
export function desiredHostSpec({ machine, host, withNetworkData }: HostSpecInput): DesiredHostSpec {
  const ns = machine.metadata.namespace!;
  const name = machine.metadata.name!;
  const hostNs = host.metadata!.namespace!;
  const ref = (kind: 'userdata' | 'metadata' | 'networkdata'): SecretRef => ({ name: dataSecretName(ns, name, kind), namespace: hostNs });
  return {
    online: true,
    image: hostImage(machine.spec!.image),
    userData: ref('userdata'),
    metaData: ref('metadata'),
    networkData: withNetworkData ? ref('networkdata') : null,
    automatedCleaningMode: machine.spec!.automatedCleaningMode ?? 'metadata',
  };
}

/** meta_data for the config drive: the hostname the Node registers as, and who the host serves. */
export function renderMetaData(input: { hostname: string; providerID: string; machine: string; machineNamespace: string; cluster: string }): string {
  // Both spellings of the hostname key: cloud-init reads local-hostname, Ironic's config drive local_hostname.
  const meta = {
    'local-hostname': input.hostname,
    local_hostname: input.hostname,
    providerid: input.providerID,
    'ironplane-machine': `${input.machineNamespace}/${input.machine}`,
    'ironplane-cluster': input.cluster,
  };
  return JSON.stringify(meta, null, 2) + '\n';
}

function prefixToNetmask(prefix: number, v6: boolean): string {
  if (!v6) {
    const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
  }
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) {
    const n = Math.max(0, Math.min(16, prefix - i * 16));
    groups.push(((0xffff << (16 - n)) & 0xffff).toString(16));
  }
  return groups.join(':');
}

/**
 * OpenStack network_data.json, the format Ironic's config drive carries and
 * cloud-init and Kairos read. Kept simple on purpose: physical links (MAC
 * given, or taken from the host's inspected NIC of that name), bonds of
 * physical links, VLANs over either; static addresses with one default
 * gateway each, or DHCP/SLAAC; DNS servers.
 */
export function renderNetworkData(net: MachineNetwork, host: Host): string {
  const nics = host.status?.hardware?.nics ?? [];
  const links = net.links ?? [];
  const macOf = new Map<string, string>();
  const resolveMac = (l: (typeof links)[number]): string => {
    if (l.macAddress) return l.macAddress.toLowerCase();
    const nic = nics.find((n) => n.name === l.fromHostInterface);
    if (!nic?.mac) {
      const have = nics.map((n) => n.name).filter(Boolean).join(', ') || 'none inspected yet';
      throw new NetworkDataError(`link ${l.id}: host ${host.metadata?.namespace}/${host.metadata?.name} has no NIC named ${l.fromHostInterface} (it has: ${have})`);
    }
    return nic.mac.toLowerCase();
  };
  for (const l of links) if (l.type === 'phy') macOf.set(l.id, resolveMac(l));
  for (const l of links) if (l.type === 'bond') macOf.set(l.id, macOf.get(l.bondLinks![0]!) ?? '');
  const outLinks = links.map((l) => {
    const mtu = l.mtu !== undefined ? { mtu: l.mtu } : {};
    switch (l.type) {
      case 'phy':
        return { id: l.id, type: 'phy', ethernet_mac_address: macOf.get(l.id), ...mtu };
      case 'bond':
        return { id: l.id, type: 'bond', bond_links: l.bondLinks, bond_mode: l.bondMode, ethernet_mac_address: macOf.get(l.id), ...mtu };
      case 'vlan':
        return { id: l.id, type: 'vlan', vlan_link: l.vlanLink, vlan_id: l.vlanId, vlan_mac_address: macOf.get(l.vlanLink!), ...mtu };
    }
  });
  const networks = (net.networks ?? []).map((n, i) => {
    const base = { id: `network${i}`, link: n.link, network_id: `network${i}` };
    if (n.type !== 'ipv4' && n.type !== 'ipv6') return { ...base, type: n.type };
    const [ip, prefix] = n.address!.split('/') as [string, string];
    const v6 = n.type === 'ipv6';
    const anyNet = v6 ? '::' : '0.0.0.0';
    return {
      ...base,
      type: n.type,
      ip_address: ip,
      netmask: prefixToNetmask(Number(prefix), v6),
      routes: n.gateway ? [{ network: anyNet, netmask: anyNet, gateway: n.gateway }] : [],
    };
  });
  const services = (net.nameservers ?? []).map((address) => ({ type: 'dns', address }));
  return JSON.stringify({ links: outLinks, networks, services }, null, 2) + '\n';
}

/** status.addresses from inspection: each NIC's IP as InternalIP, then the hostname. */
export function addressesFrom(host: Host, hostname: string): { type: 'InternalIP' | 'Hostname'; address: string }[] {
  const ips = new Set<string>();
  for (const n of host.status?.hardware?.nics ?? []) if (n.ip) ips.add(n.ip);
  return [...[...ips].map((address) => ({ type: 'InternalIP' as const, address })), { type: 'Hostname', address: hostname }];
}
