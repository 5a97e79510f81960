import { describe, expect, it } from 'vitest';
import { linkAt, linkCount, overlaps, parseCidr, parseInterconnectRange } from './cidr.js';

const c = (s: string) => {
  const v = parseCidr(s);
  if (!v) throw new Error(`not a CIDR: ${s}`);
  return v;
};

describe('parseCidr', () => {
  it('should clear host bits and keep the family', () => {
    expect(c('10.1.2.3/16')).toEqual({ family: 4, base: c('10.1.0.0/16').base, prefix: 16, text: '10.1.0.0/16' });
    expect(c('fd00::1/64').family).toBe(6);
    expect(c('::ffff:10.0.0.0/120').family).toBe(6);
  });

  it('given something that is not a CIDR, should return undefined', () => {
    for (const bad of ['10.0.0.0', '10.0.0.256/24', '10.0.0.0/33', 'fd00::/129', 'fd00:::1/64', '1:2:3:4:5:6:7:8:9/64', 'x/8', '10.0.0.0/24/1', '']) expect(parseCidr(bad)).toBeUndefined();
  });
});

describe('overlaps', () => {
  it('given equal, nested or disjoint ranges, should say whether they share an address', () => {
    expect(overlaps(c('10.1.0.0/24'), c('10.1.0.0/24'))).toBe(true);
    expect(overlaps(c('10.1.0.0/16'), c('10.1.200.0/24'))).toBe(true);
    expect(overlaps(c('10.1.200.0/24'), c('10.1.0.0/16'))).toBe(true);
    expect(overlaps(c('10.1.0.0/24'), c('10.1.1.0/24'))).toBe(false);
    expect(overlaps(c('fd00::/64'), c('fd00::1:0/112'))).toBe(true);
    expect(overlaps(c('fd00::/64'), c('fd01::/64'))).toBe(false);
  });

  it('should never find ranges of different families overlapping', () => {
    expect(overlaps(c('0.0.0.0/0'), c('::/0'))).toBe(false);
  });
});

describe('links', () => {
  it('should carve /30s with the first two usable addresses for the two sides', () => {
    const r = parseInterconnectRange('169.254.0.0/16');
    expect(linkCount(r)).toBe(16384);
    expect(linkAt(r, 0)).toEqual({ cidr: '169.254.0.0/30', a: '169.254.0.1', b: '169.254.0.2', prefix: 30 });
    expect(linkAt(r, 16383)).toEqual({ cidr: '169.254.255.252/30', a: '169.254.255.253', b: '169.254.255.254', prefix: 30 });
  });

  it('given a bad interconnect range, should refuse it saying why', () => {
    expect(() => parseInterconnectRange('fd00::/64')).toThrow('the interconnect range must be an IPv4 CIDR such as 169.254.0.0/16, got "fd00::/64"');
    expect(() => parseInterconnectRange('10.0.0.0/31')).toThrow('the interconnect range 10.0.0.0/31 is smaller than one /30 link');
    expect(() => parseInterconnectRange('10.0.0.0/7')).toThrow('wider than /8');
    expect(linkCount(parseInterconnectRange('10.0.0.0/30'))).toBe(1);
  });
});
