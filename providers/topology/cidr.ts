// IP addresses and CIDR ranges, IPv4 and IPv6, as 128-bit integers: enough
// to check tenant networks for sanity and overlap without a dependency.
import net from 'node:net';

export interface Cidr {
  family: 4 | 6;
  /** The network address. */
  base: bigint;
  prefix: number;
  /** Canonical text, e.g. "10.0.0.0/24". */
  text: string;
}

export interface Ip {
  family: 4 | 6;
  value: bigint;
}

const BITS = { 4: 32, 6: 128 } as const;

export function parseIp(s: string): Ip | undefined {
  const family = net.isIP(s);
  if (family === 4) return { family: 4, value: v4ToBigInt(s) };
  if (family === 6) return { family: 6, value: v6ToBigInt(s) };
  return undefined;
}

function v4ToBigInt(s: string): bigint {
  return s.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function v6ToBigInt(s: string): bigint {
  // net.isIP has accepted the text, so only the forms below remain: groups,
  // one "::" and an optional trailing dotted IPv4 part.
  let text = s.split('%')[0] ?? s;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const n = v4ToBigInt(v4[1]);
    text = `${text.slice(0, -v4[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export function formatIp(family: 4 | 6, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((value >> BigInt((7 - i) * 16)) & 0xffffn).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

function mask(family: 4 | 6, prefix: number): bigint {
  const bits = BITS[family];
  return ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
}

/** Parses "a.b.c.d/n" or "x::/n"; returns the reason as a string when it is not a clean network CIDR. */
export function parseCidr(s: string): Cidr | string {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return `"${s}" is not a CIDR (address/prefix, e.g. 10.0.0.0/24)`;
  const ip = parseIp(m[1] ?? '');
  if (!ip) return `"${s}" is not a CIDR: "${m[1]}" is not an IP address`;
  const prefix = Number(m[2]);
  if (prefix > BITS[ip.family]) return `"${s}" is not a CIDR: an IPv${ip.family} prefix is at most /${BITS[ip.family]}`;
  const base = ip.value & mask(ip.family, prefix);
  const text = `${formatIp(ip.family, base)}/${prefix}`;
  if (base !== ip.value) return `"${s}" has host bits set: use ${text}`;
  return { family: ip.family, base, prefix, text };
}

/** The last address of the range. */
export function lastAddress(c: Cidr): bigint {
  return c.base | ((1n << BigInt(BITS[c.family] - c.prefix)) - 1n);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.base <= lastAddress(b) && b.base <= lastAddress(a);
}

export function containsIp(c: Cidr, ip: Ip): boolean {
  return c.family === ip.family && ip.value >= c.base && ip.value <= lastAddress(c);
}

/** Parses a comma-separated list, naming each bad entry. */
export function parseCidrList(s: string): { cidrs: Cidr[]; problems: string[] } {
  const cidrs: Cidr[] = [];
  const problems: string[] = [];
  for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const c = parseCidr(part);
    if (typeof c === 'string') problems.push(c);
    else cidrs.push(c);
  }
  return { cidrs, problems };
}
