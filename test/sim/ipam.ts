// kube-OVN's IP address management, as much of it as a VM's primary NIC
// needs: addresses come from the Subnet's cidrBlock, never the network,
// broadcast or gateway address, nor anything in excludeIps, and an address is
// never handed to a second owner while the first still holds it. Allocation
// is sequential (lowest free address first) so tests can predict it.
//
// Like kube-OVN for KubeVirt VMs, an owner (the VM's namespace/name) keeps
// its address across VMI restarts until it is released.
import { createHash } from 'node:crypto';

/** The Subnet fields allocation depends on (kubeovn.io/v1 Subnet spec). */
export interface SubnetSpec {
  cidrBlock?: string;
  gateway?: string;
  excludeIps?: string[];
}

export interface Pool {
  /** First and last address of the CIDR, as integers. */
  network: number;
  broadcast: number;
  cidr: string;
  gateway: number;
  excluded: [number, number][];
}

export function ipToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** A Subnet's IPv4 pool, or why there is none. Dual-stack cidrBlocks ("v4,v6") use their IPv4 part. */
export function parsePool(spec: SubnetSpec): Pool | string {
  const v4 = (spec.cidrBlock ?? '').split(',').map((s) => s.trim()).find((s) => s.includes('.'));
  if (!v4) return `has no IPv4 cidrBlock (got '${spec.cidrBlock ?? ''}'); the simulation allocates IPv4 only`;
  const [addr, bits] = v4.split('/');
  const base = addr === undefined ? undefined : ipToInt(addr);
  const prefix = Number(bits);
  if (base === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 30) return `has an unusable cidrBlock '${v4}'`;
  const size = 2 ** (32 - prefix);
  const network = base - (base % size);
  const broadcast = network + size - 1;
  // kube-OVN's default gateway is the first address of the CIDR.
  const gateway = spec.gateway ? ipToInt(spec.gateway.split(',').find((g) => g.includes('.')) ?? '') : network + 1;
  if (gateway === undefined) return `has an unusable gateway '${spec.gateway ?? ''}'`;
  const excluded: [number, number][] = [];
  for (const e of spec.excludeIps ?? []) {
    if (!e.includes('.')) continue; // an IPv6 exclusion
    const [from, to] = e.split('..');
    const a = from === undefined ? undefined : ipToInt(from);
    const b = to === undefined ? a : ipToInt(to);
    if (a === undefined || b === undefined) return `has an unusable excludeIps entry '${e}'`;
    excluded.push([Math.min(a, b), Math.max(a, b)]);
  }
  return { network, broadcast, cidr: `${intToIp(network)}/${prefix}`, gateway, excluded };
}

function usable(pool: Pool, n: number): boolean {
  return n > pool.network && n < pool.broadcast && n !== pool.gateway && !pool.excluded.some(([a, b]) => n >= a && n <= b);
}

export interface Lease {
  subnet: string;
  ip: string;
  mac: string;
}

/** A MAC for an address, stable across runs, in kube-OVN's 00:00:00 prefix. */
function macFor(subnet: string, ip: string): string {
  const h = createHash('sha256').update(`${subnet}/${ip}`).digest();
  return ['00', '00', '00', ...[0, 1, 2].map((i) => (h[i] ?? 0).toString(16).padStart(2, '0'))].join(':');
}

export class Ipam {
  /** subnet → ip → owner */
  private readonly used = new Map<string, Map<string, string>>();
  /** owner → lease */
  private readonly leases = new Map<string, Lease>();

  leaseOf(owner: string): Lease | undefined {
    return this.leases.get(owner);
  }

  /**
   * The owner's address in `subnet`: the one it holds if still valid, else
   * `requested` (kube-OVN's ip_address annotation) or the lowest free one.
   * Returns why not when none can be given.
   */
  allocate(subnet: string, pool: Pool, owner: string, requested?: string): Lease | string {
    const held = this.leases.get(owner);
    if (held) {
      const n = ipToInt(held.ip);
      const keep = held.subnet === subnet && n !== undefined && usable(pool, n) && (requested === undefined || requested === held.ip);
      if (keep) return held;
      this.release(owner);
    }
    const taken = this.used.get(subnet) ?? new Map<string, string>();
    let ip: string | undefined;
    if (requested !== undefined) {
      const n = ipToInt(requested);
      if (n === undefined) return `requested address '${requested}' is not an IPv4 address`;
      if (!usable(pool, n)) return `requested address ${requested} is not allocatable in ${pool.cidr} (network, broadcast, gateway or excluded)`;
      const other = taken.get(requested);
      if (other !== undefined) return `requested address ${requested} is already in use by ${other}`;
      ip = requested;
    } else {
      for (let n = pool.network + 1; n < pool.broadcast; n++) {
        if (usable(pool, n) && !taken.has(intToIp(n))) {
          ip = intToIp(n);
          break;
        }
      }
      if (ip === undefined) return `has no free address left in ${pool.cidr}`;
    }
    taken.set(ip, owner);
    this.used.set(subnet, taken);
    const lease = { subnet, ip, mac: macFor(subnet, ip) };
    this.leases.set(owner, lease);
    return lease;
  }

  /** Re-adopts an address seen on an existing VMI (after a restart of the simulation). */
  restore(owner: string, subnet: string, ip: string): void {
    if (this.leases.has(owner)) return;
    const taken = this.used.get(subnet) ?? new Map<string, string>();
    if (taken.has(ip)) return;
    taken.set(ip, owner);
    this.used.set(subnet, taken);
    this.leases.set(owner, { subnet, ip, mac: macFor(subnet, ip) });
  }

  /** Frees the owner's address; returns the lease it held, if any. */
  release(owner: string): Lease | undefined {
    const lease = this.leases.get(owner);
    if (!lease) return undefined;
    this.leases.delete(owner);
    this.used.get(lease.subnet)?.delete(lease.ip);
    return lease;
  }
}
