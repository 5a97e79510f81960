// An address of a pool on the platform's external network (LoadBalancerPool
// spec.externalSubnet), exposed there: the rule (the allocation, services.ts)
// balances inside the tenant's VPC; an OvnEip of the same address and one
// OvnDnatRule per port on the tenant's own router carry external clients to
// one entry node's node port (adr/0011 "External pools"). kube-OVN has no
// router load balancer with several backends, so one node takes the traffic
// and kube-proxy there spreads it; the entry moves when that node stops
// being a target (MetalLB's layer-2 model).
//
// Everything made here carries the rule's marks and the rule's name
// (RULE_LABEL); it is changed or deleted only when those marks name this very
// Cluster and Service. kube-OVN acts on an OvnDnatRule's target only when it
// is created (its update handler ignores spec.v4Ip), so a rule that should
// point elsewhere is deleted and made again once it is gone.
import type { OvnDnatRule } from '../api/generated/kubeovn/v1/ovndnatrule.js';
import type { OvnEip } from '../api/generated/kubeovn/v1/ovneip.js';
import type { SwitchLBRule } from '../api/generated/kubeovn/v1/switchlbrule.js';
import { notMarkedFor, type Owner } from '../capi/ownership.js';
import { isAlreadyExists, type Client } from '../kit/client.js';
import type { Informer } from '../kit/informer.js';
import { jsonEqual } from '../kit/patch.js';
import type { KubeObject } from '../kit/types.js';
import { CLUSTER_OWNER_LABELS, eipName, EXTERNAL_SUBNET_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, OvnDnatRules, OvnEips, RULE_LABEL, SERVICE_OWNER_LABELS } from './names.js';
import { renderDnats, renderEip, type TenantService } from './render.js';

export interface ExternalCaches {
  eips: Informer<OvnEip>;
  dnats: Informer<OvnDnatRule>;
}

/** Where an address stands on the external network. */
export interface Exposure {
  /** The external network (the rule's), for the messages. */
  subnet: string;
  /** True once kube-OVN reports every port's DNAT ready to the entry node. */
  ready: boolean;
  /** The node taking the external traffic, when there is one. */
  entry?: string;
  /** What is missing, when not ready. */
  waiting?: string;
  /** The entry changed in this pass (from, to). */
  moved?: { from: string; to: string | undefined };
}

/** The external network an address was taken for, if any. */
export const externalSubnetOf = (rule: SwitchLBRule): string | undefined => rule.metadata.annotations?.[EXTERNAL_SUBNET_ANNOTATION] || undefined;

const ruleOf = (o: KubeObject): string | undefined => o.metadata?.labels?.[RULE_LABEL];

const unallocated = (eip: string, subnet: string): string =>
  `waiting for kube-OVN to allocate OvnEip ${eip} in Subnet ${subnet} (an address the external Subnet already uses elsewhere is never given)`;

/** An object marked for this Cluster and Service (all three of each owner's marks). */
const ours = (o: KubeObject, cluster: Owner, service: Owner): boolean => notMarkedFor(o, CLUSTER_OWNER_LABELS, cluster) === undefined && notMarkedFor(o, SERVICE_OWNER_LABELS, service) === undefined;

/** The fields of a DNAT rule this provider decides. */
const dnatSpec = (d: OvnDnatRule) => {
  const s = d.spec ?? {};
  return { ovnEip: s.ovnEip, vpc: s.vpc, v4Ip: s.v4Ip, v6Ip: s.v6Ip, externalPort: s.externalPort, internalPort: s.internalPort, protocol: s.protocol };
};

export function externalExposure(client: Client, caches: ExternalCaches) {
  /**
   * The rule's DNAT rules. From the cache while converging (a rule made a
   * moment ago and not yet cached only answers 409 when made again); with
   * `live`, also from the apiserver, so that a release misses none.
   */
  async function dnatsOf(rule: string, live = false): Promise<OvnDnatRule[]> {
    const byName = new Map(caches.dnats.list((d) => ruleOf(d) === rule).map((d) => [d.metadata.name!, d]));
    if (live) {
      const { items } = await client.list<OvnDnatRule>(OvnDnatRules, { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY},${RULE_LABEL}=${rule}` });
      for (const d of items) byName.set(d.metadata.name!, d);
    }
    return [...byName.values()];
  }

  /** Deletes by uid (never an object that replaced it); one already gone is fine (the kit's delete answers false). */
  async function remove(rt: typeof OvnEips, o: KubeObject): Promise<void> {
    if (!o.metadata?.deletionTimestamp) await client.delete(rt, o.metadata!.name!, undefined, { uid: o.metadata!.uid! });
  }

  /**
   * Makes the address answer on its external network at `endpoints[0]`, or
   * at the current entry while that is still one of `endpoints`. No endpoint:
   * no DNAT (nothing to carry the traffic to), the OvnEip kept.
   */
  async function ensure(a: { rule: SwitchLBRule; cluster: Owner; service: Owner; svc: TenantService; vpc: string; connected: string | undefined; endpoints: string[] }): Promise<Exposure | undefined> {
    const subnet = externalSubnetOf(a.rule);
    if (!subnet) return undefined;
    const address = a.rule.spec!.vip!;
    const dnats = (await dnatsOf(a.rule.metadata.name!)).filter((d) => ours(d, a.cluster, a.service));
    if (a.connected !== subnet) {
      // Nothing on a router that is not on that network: what was made goes, the address stays held.
      for (const d of dnats) await remove(OvnDnatRules, d);
      return { subnet, ready: false, waiting: `the tenant network is not connected to external network ${subnet} (the platform's IRONPLANE_EXTERNAL_NETWORK of the KubeVirt provider)` };
    }

    const name = eipName(address);
    const eip = caches.eips.get(name) ?? (await client.tryGet<OvnEip>(OvnEips, name));
    if (!eip) {
      try {
        await client.create<OvnEip>(OvnEips, renderEip({ rule: a.rule, subnet }));
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
      }
      return { subnet, ready: false, waiting: unallocated(name, subnet) };
    }
    if (!ours(eip, a.cluster, a.service)) {
      // A previous holder's, still going, or someone else's: never touched.
      const why = eip.metadata?.deletionTimestamp ? 'is still being deleted' : 'exists and is not this Service’s';
      return { subnet, ready: false, waiting: `OvnEip ${name} ${why}` };
    }
    if (eip.metadata?.deletionTimestamp) return { subnet, ready: false, waiting: `OvnEip ${name} is being deleted` };
    const eipAddress = eip.status?.v4Ip || eip.status?.v6Ip;
    if (!eipAddress) return { subnet, ready: false, waiting: unallocated(name, subnet) };

    const current = dnats.find((d) => !d.metadata.deletionTimestamp)?.spec;
    const currentEntry = current?.v4Ip || current?.v6Ip;
    const entry = currentEntry && a.endpoints.includes(currentEntry) ? currentEntry : a.endpoints[0];
    const moved = currentEntry && currentEntry !== entry ? { from: currentEntry, to: entry } : undefined;
    const want = entry ? renderDnats({ rule: a.rule, subnet, vpc: a.vpc, entry, svc: a.svc }) : [];
    const wanted = new Map(want.map((d) => [d.metadata.name!, d]));
    // Stale first (another target, port or Vpc): kube-OVN programs a rule's target only when it is made.
    for (const d of dnats) {
      const w = wanted.get(d.metadata.name!);
      if (!w || !jsonEqual(dnatSpec(d), dnatSpec(w))) await remove(OvnDnatRules, d);
    }
    if (!entry) return { subnet, ready: false, waiting: 'no node of this cluster can take traffic', ...(moved ? { moved } : {}) };
    let ready = true;
    const pending: string[] = [];
    for (const w of want) {
      const live = dnats.find((d) => d.metadata.name === w.metadata.name);
      if (live && live.metadata.deletionTimestamp) {
        // Made again once kube-OVN has let it go (its delete event brings the Cluster back).
        ready = false;
        pending.push(`${w.metadata.name} (being replaced)`);
        continue;
      }
      if (live && jsonEqual(dnatSpec(live), dnatSpec(w))) {
        if (live.status?.ready !== true) {
          ready = false;
          pending.push(w.metadata.name!);
        }
        continue;
      }
      if (live) {
        ready = false;
        continue;
      }
      try {
        await client.create<OvnDnatRule>(OvnDnatRules, w);
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
      }
      ready = false;
      pending.push(w.metadata.name!);
    }
    return { subnet, ready, entry, ...(ready ? {} : { waiting: `waiting for kube-OVN to program OvnDnatRule(s) ${pending.join(', ')}` }), ...(moved ? { moved } : {}) };
  }

  /**
   * Deletes the rule's DNAT rules and OvnEip when their marks are the rule's
   * (same Cluster and Service). True once none of them is left: kube-OVN holds
   * each with a finalizer until its NAT is gone from OVN, and until then the
   * address still answers outside, so the rule (the allocation) must stay.
   * Their delete events bring the Cluster back.
   */
  async function release(rule: SwitchLBRule): Promise<boolean> {
    const marks = (o: KubeObject) =>
      [CLUSTER_OWNER_LABELS.uid, SERVICE_OWNER_LABELS.uid].every((k) => o.metadata?.labels?.[k] !== undefined && o.metadata.labels[k] === rule.metadata.labels?.[k]);
    const dnats = (await dnatsOf(rule.metadata.name!, true)).filter(marks);
    for (const d of dnats) await remove(OvnDnatRules, d);
    const address = rule.spec?.vip;
    const name = address ? eipName(address) : undefined;
    const eip = name ? await client.tryGet<OvnEip>(OvnEips, name) : undefined;
    const ourEip = eip && ruleOf(eip) === rule.metadata.name && marks(eip) ? eip : undefined;
    if (ourEip) await remove(OvnEips, ourEip);
    if (!dnats.length && !ourEip) return true;
    // What was there a moment ago: gone at once without kube-OVN's finalizers, else still going.
    for (const d of dnats) if (await client.tryGet(OvnDnatRules, d.metadata.name!)) return false;
    return !(ourEip && (await client.tryGet(OvnEips, ourEip.metadata!.name!)));
  }

  /** Deletes OvnEips and DNAT rules of `key` whose rule is gone (the apiserver confirms): DNAT rules first. */
  async function releaseStray(clusterKey: (o: KubeObject) => string | undefined, key: string, ruleExists: (name: string) => Promise<boolean>): Promise<void> {
    const of = <T extends KubeObject>(c: Informer<T>) => c.list((o) => clusterKey(o) === key && ruleOf(o) !== undefined && !o.metadata?.deletionTimestamp);
    const dnats = of(caches.dnats);
    const eips = of(caches.eips);
    const gone = new Map<string, boolean>();
    const isGone = async (rule: string) => {
      if (!gone.has(rule)) gone.set(rule, !(await ruleExists(rule)));
      return gone.get(rule)!;
    };
    for (const d of dnats) if (await isGone(ruleOf(d)!)) await remove(OvnDnatRules, d);
    for (const e of eips) if (await isGone(ruleOf(e)!)) await remove(OvnEips, e);
  }

  return { ensure, release, releaseStray };
}
