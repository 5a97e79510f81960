// Address arithmetic for peering: whether two node CIDRs overlap (overlapping
// ranges cannot be routed between two VPCs: the router would send the peer's
// addresses to its own switch), and the /30 links between two VPC routers,
// carved from the manager's interconnect range. Pure; IPv4 and IPv6.

export interface Cidr {
  family: 4 | 6;
  /** The network address (host bits cleared). */
  base: bigint;
  prefix: number;
}

const BITS = { 4: 32, 6: 128 } as const;

function parseIPv4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    v = (v << 8n) | BigInt(Number(p));
  }
  return v;
}

function parseIPv6(s: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string | undefined): string[] | undefined => {
    if (!h) return [];
    const g = h.split(':');
    // An embedded IPv4 tail (::ffff:10.0.0.1) is two groups.
    const last = g[g.length - 1]!;
    if (last.includes('.')) {
      const v4 = parseIPv4(last);
      if (v4 === undefined) return undefined;
      g.splice(g.length - 1, 1, ((v4 >> 16n) & 0xffffn).toString(16), (v4 & 0xffffn).toString(16));
    }
    return g.every((x) => /^[0-9a-fA-F]{1,4}$/.test(x)) ? g : undefined;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  let v = 0n;
  for (const g of [...head, ...Array<string>(missing).fill('0'), ...tail]) v = (v << 16n) | BigInt(parseInt(g, 16));
  return v;
}

/** Parses "10.0.0.0/24" or "fd00::/64"; host bits are cleared. Undefined when it is not a CIDR. */
export function parseCidr(s: string): Cidr | undefined {
  const [addr, len, extra] = s.split('/');
  if (addr === undefined || len === undefined || extra !== undefined || !/^\d{1,3}$/.test(len)) return undefined;
  const family = addr.includes(':') ? 6 : 4;
  const ip = family === 4 ? parseIPv4(addr) : parseIPv6(addr);
  const prefix = Number(len);
  if (ip === undefined || prefix > BITS[family]) return undefined;
  return { family, base: ip & mask(family, prefix), prefix };
}

function mask(family: 4 | 6, prefix: number): bigint {
  const bits = BigInt(BITS[family]);
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

/** True when the two ranges share an address (one contains the other). Ranges of different families never overlap. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const p = Math.min(a.prefix, b.prefix);
  const m = mask(a.family, p);
  return (a.base & m) === (b.base & m);
}

export function formatIPv4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
}

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
