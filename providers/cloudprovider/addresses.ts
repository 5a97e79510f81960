// The addresses of LoadBalancerPools: parsing spec.addresses (CIDRs and
// start-end ranges), capacity, overlap between pools, membership, and the
// order in which free addresses are handed out. Pure functions over 128-bit
// integers (topology/cidr.ts); every problem names the field it is about.
import { formatIp, lastAddress, parseCidr, parseIp, type Ip } from '../topology/cidr.js';

/** A closed range of addresses of one family. */
export interface Range {
  family: 4 | 6;
  start: bigint;
  end: bigint;
  /** The entry as written in spec.addresses. */
  text: string;
  /** Its index in spec.addresses, for messages. */
  index: number;
}

export interface ParsedAddresses {
  ranges: Range[];
  /** Each as "spec.addresses[i]: …". */
  problems: string[];
}

/**
 * Parses spec.addresses. The CRD's CEL rules refuse most bad entries already;
 * what CEL cannot check (the order of an IPv6 range's ends) and anything
 * written before those rules existed is reported here.
 */
export function parseAddresses(entries: readonly string[]): ParsedAddresses {
  const ranges: Range[] = [];
  const problems: string[] = [];
  entries.forEach((text, index) => {
    const field = `spec.addresses[${index}]`;
    if (text.includes('-')) {
      const parts = text.split('-');
      const a = parts.length === 2 ? parseIp(parts[0]!) : undefined;
      const b = parts.length === 2 ? parseIp(parts[1]!) : undefined;
      if (!a || !b) return void problems.push(`${field}: "${text}" is not a range of two addresses start-end`);
      if (a.family !== b.family) return void problems.push(`${field}: "${text}" mixes IPv${a.family} and IPv${b.family}`);
      if (a.value > b.value) return void problems.push(`${field}: "${text}" starts after it ends`);
      ranges.push({ family: a.family, start: a.value, end: b.value, text, index });
      return;
    }
    const c = parseCidr(text);
    if (typeof c === 'string') return void problems.push(`${field}: ${c}`);
    ranges.push({ family: c.family, start: c.base, end: lastAddress(c), text, index });
  });
  // Entries of one pool that overlap each other would count addresses twice.
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      const a = ranges[i]!;
      const b = ranges[j]!;
      if (rangesOverlap(a, b)) problems.push(`spec.addresses[${b.index}]: "${b.text}" overlaps spec.addresses[${a.index}] "${a.text}" of the same pool`);
    }
  }
  return { ranges, problems };
}

export function rangesOverlap(a: Range, b: Range): boolean {
  return a.family === b.family && a.start <= b.end && b.start <= a.end;
}

/** How many addresses the ranges hold, as a number (capped at Number.MAX_SAFE_INTEGER: an IPv6 /64 is "a lot"). */
export function capacityOf(ranges: readonly Range[]): number {
  const n = ranges.reduce((sum, r) => sum + (r.end - r.start + 1n), 0n);
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}

/** The first pair of overlapping entries between two pools, described from `mine`'s side, or undefined. */
export function overlapBetween(mine: readonly Range[], theirs: readonly Range[], theirName: string): string | undefined {
  for (const a of mine) {
    for (const b of theirs) {
      if (rangesOverlap(a, b)) return `spec.addresses[${a.index}]: "${a.text}" overlaps "${b.text}" of LoadBalancerPool ${theirName}`;
    }
  }
  return undefined;
}

export function contains(ranges: readonly Range[], ip: Ip): boolean {
  return ranges.some((r) => r.family === ip.family && ip.value >= r.start && ip.value <= r.end);
}

/** The canonical text of an address (what SwitchLBRule.spec.vip and the Service's ingress carry), or undefined when it is none. */
export function canonicalAddress(s: string): string | undefined {
  const ip = parseIp(s.trim());
  return ip ? formatIp(ip.family, ip.value) : undefined;
}

/**
 * The pool's addresses in the order they are handed out (entries in order,
 * each from its start), skipping `taken`. Lazy: a large IPv6 range is never
 * enumerated beyond the first free address.
 */
export function* freeAddresses(ranges: readonly Range[], taken: ReadonlySet<string>): Generator<string> {
  for (const r of ranges) {
    for (let v = r.start; v <= r.end; v++) {
      const text = formatIp(r.family, v);
      if (!taken.has(text)) yield text;
    }
  }
}
