// LoadBalancerPools as the allocator sees them (pure): parsed, checked
// against each other, and who may use them.
import type { LoadBalancerPool } from '../api/generated/ironplane/v1alpha1/loadbalancerpool.js';
import { TENANT_LABEL } from '../topology/state.js';
import { lastAddress, parseCidrList, type Ip } from '../topology/cidr.js';
import type { KubeObject } from '../kit/types.js';
import { capacityOf, contains, overlapBetween, parseAddresses, rangesOverlap, type Range } from './addresses.js';

export interface PoolView {
  name: string;
  ranges: Range[];
  capacity: number;
  perTenant: number | undefined;
  namespaces: ReadonlySet<string>;
  capsuleTenants: ReadonlySet<string>;
  /** Why no address of it is handed out (bad entries, overlap with another pool), each naming the field; empty when usable. */
  problems: string[];
  /** Whether an address is also another pool's (the Ready condition's reason). */
  overlapping: boolean;
  /** Whether an address lies in a range tenants may choose control-plane addresses from. */
  reserved: boolean;
  /** The external network (kube-OVN Subnet) the addresses belong to; undefined: inside the tenant's VPC only. */
  externalSubnet: string | undefined;
}

/** A range the platform lets tenants pick control-plane addresses from (the extension's loadBalancerAddressRanges setting), and where it is set. */
export interface ReservedRange {
  range: Range;
  source: string;
}

type Settings = { [k: string]: string } | undefined;

/**
 * The loadBalancerAddressRanges of the ExtensionConfig's settings and of
 * every ClusterClass patch's settings (which override it per class). A
 * tenant may set its control plane's address anywhere in them (adr/0008),
 * so no pool may hand one of them to a Service: both would answer on it.
 * Entries that do not parse are the extension's to report.
 */
export function reservedRanges(extensionConfig: { name: string; settings: Settings } | undefined, classes: readonly { name: string; settings: Settings[] }[]): ReservedRange[] {
  const out: ReservedRange[] = [];
  const add = (value: string | undefined, source: string) => {
    if (value === undefined) return;
    parseCidrList(value).cidrs.forEach((c, index) => out.push({ range: { family: c.family, start: c.base, end: lastAddress(c), text: c.text, index }, source }));
  };
  if (extensionConfig) add(extensionConfig.settings?.['loadBalancerAddressRanges'], `the loadBalancerAddressRanges setting of ExtensionConfig ${extensionConfig.name}`);
  for (const cc of classes) for (const s of cc.settings) add(s?.['loadBalancerAddressRanges'], `the loadBalancerAddressRanges setting of ClusterClass ${cc.name}`);
  return out;
}

/**
 * Every pool with its problems. Pools that share an address are both
 * unusable until one is changed: which of two platform objects is right
 * cannot be decided here, and handing out a shared address from either could
 * give it twice.
 */
export function evaluatePools(pools: readonly LoadBalancerPool[], reserved: readonly ReservedRange[] = []): Map<string, PoolView> {
  const views = new Map<string, PoolView>();
  for (const p of [...pools].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''))) {
    const name = p.metadata.name ?? '';
    const { ranges, problems } = parseAddresses(p.spec?.addresses ?? []);
    views.set(name, {
      name,
      ranges,
      capacity: capacityOf(ranges),
      perTenant: p.spec?.limits?.perTenant,
      namespaces: new Set(p.spec?.tenants?.namespaces ?? []),
      capsuleTenants: new Set(p.spec?.tenants?.capsuleTenants ?? []),
      problems,
      overlapping: false,
      reserved: false,
      externalSubnet: p.spec?.externalSubnet || undefined,
    });
  }
  const all = [...views.values()];
  for (const v of all) {
    for (const o of all) {
      if (o === v) continue;
      const overlap = overlapBetween(v.ranges, o.ranges, o.name);
      if (overlap) {
        v.problems.push(overlap);
        v.overlapping = true;
      }
    }
    for (const r of reserved) {
      const hit = v.ranges.find((a) => rangesOverlap(a, r.range));
      if (hit) {
        v.problems.push(`spec.addresses[${hit.index}]: "${hit.text}" overlaps ${r.range.text} of ${r.source}, where tenants may choose their control planes' addresses`);
        v.reserved = true;
      }
    }
  }
  return views;
}

/**
 * Whether a namespace may take addresses from the pool: named in
 * spec.tenants.namespaces, or labelled by Capsule for a Tenant named in
 * spec.tenants.capsuleTenants (a label Capsule sets and a tenant cannot change).
 */
export function mayUse(pool: PoolView, namespace: KubeObject | undefined, name: string): boolean {
  if (pool.namespaces.has(name)) return true;
  const tenant = namespace?.metadata?.labels?.[TENANT_LABEL];
  return tenant !== undefined && pool.capsuleTenants.has(tenant);
}

/** The pools holding an address (more than one only while pools overlap). */
export function poolsHolding(views: ReadonlyMap<string, PoolView>, ip: Ip): PoolView[] {
  return [...views.values()].filter((v) => contains(v.ranges, ip));
}
