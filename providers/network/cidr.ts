// Address arithmetic for peering: whether two node CIDRs overlap (overlapping
// ranges cannot be routed between two VPCs: the router would send the peer's
// addresses to its own switch), and the /30 links between two VPC routers,
// carved from the manager's interconnect range. Pure; IPv4 and IPv6.
import { formatIp, overlaps, parseIp, type Cidr } from '../topology/cidr.js';

export type { Cidr };
/** True when the two ranges share an address. Ranges of different families never overlap. */
export { overlaps };

const BITS = { 4: 32, 6: 128 } as const;

/**
 * Parses "10.0.0.0/24" or "fd00::/64" with topology/cidr.ts's address
 * parser; host bits are cleared (a node CIDR written with them still names
 * its network). Undefined when it is not a CIDR.
 */
export function parseCidr(s: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  const ip = m ? parseIp(m[1]!) : undefined;
  const prefix = Number(m?.[2]);
  if (!ip || prefix > BITS[ip.family]) return undefined;
  const host = BigInt(BITS[ip.family] - prefix);
  const base = (ip.value >> host) << host;
  return { family: ip.family, base, prefix, text: `${formatIp(ip.family, base)}/${prefix}` };
}

export const formatIPv4 = (v: bigint): string => formatIp(4, v);

/** A link between two VPC routers: a /30, its two usable addresses in the order of the pair's sides. */
export interface Link {
  cidr: string;
  /** The first side's router address. */
  a: string;
  /** The second side's router address. */
  b: string;
  prefix: number;
}

export const LINK_PREFIX = 30;

/** How many links the interconnect range holds. */
export function linkCount(range: Cidr): number {
  return 2 ** (LINK_PREFIX - range.prefix);
}

/** The index-th /30 of the range. */
export function linkAt(range: Cidr, index: number): Link {
  const net = range.base + BigInt(index) * 4n;
  return { cidr: `${formatIPv4(net)}/${LINK_PREFIX}`, a: formatIPv4(net + 1n), b: formatIPv4(net + 2n), prefix: LINK_PREFIX };
}

/** Checks the interconnect range flag: IPv4, with room for at least one /30. */
export function parseInterconnectRange(s: string): Cidr {
  const c = parseCidr(s);
  if (!c || c.family !== 4) throw new Error(`the interconnect range must be an IPv4 CIDR such as 169.254.0.0/16, got "${s}"`);
  if (c.prefix > LINK_PREFIX) throw new Error(`the interconnect range ${s} is smaller than one /${LINK_PREFIX} link`);
  if (c.prefix < 8) throw new Error(`the interconnect range ${s} is wider than /8: links are allocated from a small range of its own`);
  return c;
}
