import { describe, expect, it } from 'vitest';
import type { LoadBalancerPool } from '../api/generated/ironplane/v1alpha1/loadbalancerpool.js';
import { parseIp } from '../topology/cidr.js';
import { canonicalAddress, capacityOf, freeAddresses, parseAddresses } from './addresses.js';
import { ruleName } from './names.js';
import { evaluatePools, mayUse, poolsHolding, reservedRanges } from './pools.js';

const pool = (name: string, addresses: string[], tenants: LoadBalancerPool['spec'] extends infer S ? (S extends { tenants: infer T } ? T : never) : never = { namespaces: ['team-a'] }, perTenant?: number): LoadBalancerPool => ({
  apiVersion: 'infrastructure.ironplane.dev/v1alpha1',
  kind: 'LoadBalancerPool',
  metadata: { name },
  spec: { addresses, tenants, ...(perTenant ? { limits: { perTenant } } : {}) },
});

describe('parseAddresses', () => {
  it('given CIDRs and ranges, should count every address of both', () => {
    const { ranges, problems } = parseAddresses(['192.0.2.0/30', '192.0.2.10-192.0.2.12', 'fd00::/126']);
    expect(problems).toEqual([]);
    expect(capacityOf(ranges)).toBe(4 + 3 + 4);
  });

  it('given entries CEL cannot judge, should name the field of each', () => {
    const { problems } = parseAddresses(['fd00::9-fd00::1', '10.0.0.1/28', '10.0.0.1-fd00::1', 'x-y']);
    expect(problems).toEqual([
      'spec.addresses[0]: "fd00::9-fd00::1" starts after it ends',
      'spec.addresses[1]: "10.0.0.1/28" has host bits set: use 10.0.0.0/28',
      'spec.addresses[2]: "10.0.0.1-fd00::1" mixes IPv4 and IPv6',
      'spec.addresses[3]: "x-y" is not a range of two addresses start-end',
    ]);
  });

  it('given two entries of one pool that overlap, should say so naming both', () => {
    expect(parseAddresses(['10.0.0.0/28', '10.0.0.8-10.0.0.20']).problems).toEqual(['spec.addresses[1]: "10.0.0.8-10.0.0.20" overlaps spec.addresses[0] "10.0.0.0/28" of the same pool']);
  });

  it('given a huge IPv6 range, should cap the capacity and hand out its first free address without enumerating it', () => {
    const { ranges } = parseAddresses(['fd00::/64']);
    expect(capacityOf(ranges)).toBe(Number.MAX_SAFE_INTEGER);
    expect(freeAddresses(ranges, new Set(['fd00::', 'fd00::1'])).next().value).toBe('fd00::2');
  });
});

describe('freeAddresses', () => {
  it('should go through the entries in order, skipping taken ones', () => {
    const { ranges } = parseAddresses(['10.0.0.5-10.0.0.6', '10.0.1.0/31']);
    expect([...freeAddresses(ranges, new Set(['10.0.0.6', '10.0.1.0']))]).toEqual(['10.0.0.5', '10.0.1.1']);
  });
});

describe('canonicalAddress and ruleName', () => {
  it('should give one text and one rule name per address, however it is written', () => {
    expect(canonicalAddress('fd00:0::0:1')).toBe('fd00::1');
    expect(canonicalAddress(' 10.0.0.1 ')).toBe('10.0.0.1');
    expect(canonicalAddress('10.0.0.256')).toBeUndefined();
    expect(ruleName('10.0.0.1')).toBe(ruleName(canonicalAddress('10.0.0.1')!));
    expect(ruleName('10.0.0.1')).not.toBe(ruleName('10.0.0.10'));
  });

  it('should stay within 59 characters and start with a letter (kube-OVN names a Service slr-<name>)', () => {
    for (const a of ['10.0.0.1', 'fd00:1234:5678:9abc:def0:1234:5678:9abc']) {
      const n = ruleName(a);
      expect(n.length).toBeLessThanOrEqual(59);
      expect(n).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    }
  });
});

describe('evaluatePools', () => {
  it('given two pools sharing an address, should mark both unusable naming the field and the other pool', () => {
    const views = evaluatePools([pool('a', ['10.0.0.0/28']), pool('b', ['10.1.0.0/28', '10.0.0.15-10.0.0.20']), pool('c', ['10.2.0.0/28'])]);
    expect(views.get('a')!.problems).toEqual(['spec.addresses[0]: "10.0.0.0/28" overlaps "10.0.0.15-10.0.0.20" of LoadBalancerPool b']);
    expect(views.get('b')!.problems).toEqual(['spec.addresses[1]: "10.0.0.15-10.0.0.20" overlaps "10.0.0.0/28" of LoadBalancerPool a']);
    expect(views.get('a')!.overlapping).toBe(true);
    expect(views.get('c')!.problems).toEqual([]);
  });

  it('should find the pool holding an address', () => {
    const views = evaluatePools([pool('a', ['10.0.0.0/28']), pool('c', ['10.2.0.0/28'])]);
    expect(poolsHolding(views, parseIp('10.2.0.3')!).map((p) => p.name)).toEqual(['c']);
    expect(poolsHolding(views, parseIp('10.3.0.3')!)).toEqual([]);
  });
});

describe('mayUse', () => {
  const views = evaluatePools([pool('p', ['10.0.0.0/28'], { namespaces: ['team-a'], capsuleTenants: ['acme'] })]);
  const p = views.get('p')!;
  it('given a namespace the pool names, should allow it', () => expect(mayUse(p, undefined, 'team-a')).toBe(true));
  it("given a namespace of a Capsule Tenant the pool names, should allow it by Capsule's label", () => expect(mayUse(p, { metadata: { name: 'acme-dev', labels: { 'capsule.clastix.io/tenant': 'acme' } } }, 'acme-dev')).toBe(true));
  it('given any other namespace, should refuse it (other labels do not count)', () => {
    expect(mayUse(p, { metadata: { name: 'team-b', labels: { tenant: 'acme', 'capsule.clastix.io/tenant': 'other' } } }, 'team-b')).toBe(false);
    expect(mayUse(p, undefined, 'team-b')).toBe(false);
  });
});

describe('reservedRanges', () => {
  it("given loadBalancerAddressRanges on the ExtensionConfig and a ClusterClass patch, should make pools overlapping them unusable, naming the entry and where the range is set", () => {
    const reserved = reservedRanges({ name: 'ironplane', settings: { loadBalancerAddressRanges: '192.0.2.0/29, bad' } }, [{ name: 'platform/kvm', settings: [undefined, { loadBalancerAddressRanges: '198.51.100.0/24' }] }]);
    expect(reserved.map((r) => [r.range.text, r.source])).toEqual([
      ['192.0.2.0/29', 'the loadBalancerAddressRanges setting of ExtensionConfig ironplane'],
      ['198.51.100.0/24', 'the loadBalancerAddressRanges setting of ClusterClass platform/kvm'],
    ]);
    const views = evaluatePools([pool('a', ['10.0.0.0/28', '192.0.2.6-192.0.2.9']), pool('b', ['203.0.113.0/28'])], reserved);
    expect(views.get('a')!.problems).toEqual([
      `spec.addresses[1]: "192.0.2.6-192.0.2.9" overlaps 192.0.2.0/29 of the loadBalancerAddressRanges setting of ExtensionConfig ironplane, where tenants may choose their control planes' addresses`,
    ]);
    expect(views.get('a')!.reserved).toBe(true);
    expect(views.get('b')!.problems).toEqual([]);
  });
});

describe('evaluatePools and spec.externalSubnet', () => {
  it("should carry the pool's external network, and none for a pool without one (or an empty one)", () => {
    const ext = { ...pool('public', ['203.0.113.0/28']), spec: { ...pool('public', ['203.0.113.0/28']).spec!, externalSubnet: 'external' } };
    const empty = { ...pool('blank', ['203.0.113.16/28']), spec: { ...pool('blank', ['203.0.113.16/28']).spec!, externalSubnet: '' } };
    const views = evaluatePools([ext, empty, pool('inside', ['10.0.0.0/28'])]);
    expect([views.get('public')!.externalSubnet, views.get('blank')!.externalSubnet, views.get('inside')!.externalSubnet]).toEqual(['external', undefined, undefined]);
    expect(views.get('public')!.problems).toEqual([]);
  });
});
