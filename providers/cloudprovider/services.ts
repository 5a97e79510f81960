// Tenant LoadBalancer Services → an address from a LoadBalancerPool and a
// kube-OVN SwitchLBRule in the tenant's own VPC (adr/0011).
//
// One key per Cluster ("<namespace>/<name>"). A reconcile reads the Cluster,
// its KvmCluster and KvmMachines and the pools from the management caches,
// the tenant's Services and Nodes from the cluster's own watch, and makes
// the SwitchLBRules match: one per address, named from the address alone,
// so that creating it is the allocation and 409 means taken. Each rule's
// Service (the one kube-OVN keeps the VIP on) is made just before it, naming
// the tenant's Vpc, so kube-OVN never places the VIP elsewhere. Everything it
// decides comes from what the apiservers hold; per-tenant limits are counted
// from the management apiserver, not a cache.
//
// A rule carries the Cluster's and the Service's namespace, name and uid. A
// rule is changed or deleted only when its marks name this very Cluster;
// rules of an earlier Cluster of the same name, and of a Cluster that is
// gone, are released. The tenant Service gets a finalizer while it holds an
// address, its status.loadBalancer.ingress, a condition saying why it has no
// address when it has none, and Events in the tenant cluster.
import type { KvmCluster } from '../api/generated/ironplane/v1alpha1/kvmcluster.js';
import type { KvmMachine } from '../api/generated/ironplane/v1alpha1/kvmmachine.js';
import type { LoadBalancerPool } from '../api/generated/ironplane/v1alpha1/loadbalancerpool.js';
import type { SwitchLBRule } from '../api/generated/kubeovn/v1/switchlbrule.js';
import type { OvnDnatRule } from '../api/generated/kubeovn/v1/ovndnatrule.js';
import type { OvnEip } from '../api/generated/kubeovn/v1/ovneip.js';
import { clusterNameOf, pausedReason, type Cluster } from '../capi/contract.js';
import { notMarkedFor, type Owner } from '../capi/ownership.js';
import { TenantNotReady, type TenantClients } from '../capi/tenant.js';
import { isAlreadyExists, isConflict, isInvalid, isNotFound, type Client } from '../kit/client.js';
import type { Request, Result } from '../kit/controller.js';
import type { EventRecorder } from '../kit/events.js';
import type { Informer } from '../kit/informer.js';
import type { Logger } from '../kit/log.js';
import { jsonEqual } from '../kit/patch.js';
import type { KubeObject } from '../kit/types.js';
import { parseIp } from '../topology/cidr.js';
import { canonicalAddress, freeAddresses } from './addresses.js';
import { externalExposure, externalSubnetOf, type Exposure } from './external.js';
import type { CloudMetrics } from './metrics.js';
import { CLUSTER_OWNER_LABELS, KUBEOVN_VPC_ANNOTATION, POOL_LABEL, RULE_SERVICE_PREFIX, ruleName, ruleServiceName, SERVICE_CONDITION, SERVICE_FINALIZER, SERVICE_OWNER_LABELS, Services, SwitchLBRules } from './names.js';
import { evaluatePools, mayUse, poolsHolding, type PoolView, type ReservedRange } from './pools.js';
import { isOurs, nodeEndpoints, renderRule, renderRuleService, requestedAddress, rulePorts, serviceOwner, type TenantService } from './render.js';
import type { TenantWatches } from './tenantwatch.js';

/** Reasons on the tenant Service's condition, its Events and the refusals metric. */
export const ServiceReasons = {
  Assigned: 'Assigned',
  /** The requested address is no address. */
  AddressInvalid: 'AddressInvalid',
  /** The requested address lies in no pool the Cluster's namespace may use. */
  AddressNotAllowed: 'AddressNotAllowed',
  /** The requested address is held by another Service. */
  AddressTaken: 'AddressTaken',
  /** The address's pool is on an external network the tenant network is not connected to. */
  ExternalNetworkUnavailable: 'ExternalNetworkUnavailable',
  /** The address is held and answers inside the tenant's VPC; kube-OVN is still programming it on the external network. */
  WaitingForExternalNetwork: 'WaitingForExternalNetwork',
  /** The node taking an external address's traffic changed (Event only). */
  ExternalEntryMoved: 'ExternalEntryMoved',
  /** The pool holding the requested address cannot be used (its Ready condition says why). */
  PoolNotReady: 'PoolNotReady',
  /** No pool lets the Cluster's namespace take addresses. */
  NoPool: 'NoPool',
  /** Every pool the namespace may use is full. */
  PoolExhausted: 'PoolExhausted',
  /** The namespace holds as many addresses of the pool as its limit allows. */
  TenantLimitReached: 'TenantLimitReached',
  /** The Service has no node ports, so nothing on the nodes can receive its traffic. */
  NoNodePorts: 'NoNodePorts',
  Released: 'Released',
} as const;

export const ClusterEventReasons = {
  /** The tenant cluster cannot be reached (kubeconfig Secret missing or unusable). */
  TenantUnreachable: 'LoadBalancersWaitingForTenant',
  /** Everything held for the Cluster was released. */
  LoadBalancersReleased: 'LoadBalancersReleased',
} as const;

/** The kubeconfig Secret is read with `get` only (no watch): how soon to look again while it is missing. */
export const KUBECONFIG_RETRY_MS = 15_000;

export interface CloudCaches {
  clusters: Informer<Cluster>;
  kvmClusters: Informer<KvmCluster>;
  kvmMachines: Informer<KvmMachine>;
  pools: Informer<LoadBalancerPool>;
  rules: Informer<SwitchLBRule>;
  /** kube-OVN's Services of our rules (render.ts renderRuleService), by our managed-by label. */
  ruleServices: Informer<KubeObject>;
  namespaces: Informer<KubeObject>;
  /** OvnEips and OvnDnatRules of addresses of external pools (external.ts), by our managed-by label. */
  eips: Informer<OvnEip>;
  dnats: Informer<OvnDnatRule>;
}

export interface ServiceDeps {
  client: Client;
  caches: CloudCaches;
  tenants: TenantClients;
  watches: TenantWatches;
  /** Events on management objects (the Cluster). */
  /** Ranges no pool may hand out (pools.ts reservedRanges). */
  reserved: () => ReservedRange[];
  recorder?: EventRecorder;
  metrics?: CloudMetrics;
  now?: () => Date;
}

class Refusal {
  constructor(
    readonly reason: string,
    readonly message: string,
  ) {}
}

const labelOf = (o: KubeObject, key: string): string | undefined => o.metadata?.labels?.[key];

/** Oldest first, then by name: the order every allocator agrees on. */
const byAge = (a: KubeObject, b: KubeObject): number =>
  (a.metadata?.creationTimestamp ?? '').localeCompare(b.metadata?.creationTimestamp ?? '') || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');

/** Whose a rule is, from its marks: the key of its Cluster, and that Cluster's uid. */
export function ruleClusterKey(r: KubeObject): string | undefined {
  const ns = labelOf(r, CLUSTER_OWNER_LABELS.namespace);
  const name = labelOf(r, CLUSTER_OWNER_LABELS.name);
  return ns && name ? `${ns}/${name}` : undefined;
}

export function tenantServiceReconciler(deps: ServiceDeps) {
  const { client, caches } = deps;
  const now = deps.now ?? (() => new Date());
  const external = externalExposure(client, caches);

  /** Deletes a rule we made (the cache holds only ours), with its uid as precondition. */
  /** Deletes a rule we made (the cache holds only ours), with its uid as precondition; false when it was gone already. */
  async function release(rule: SwitchLBRule, log: Logger): Promise<boolean> {
    if (rule.metadata.deletionTimestamp) return false;
    // The external side first: the address is not handed out again while its OvnEip still answers.
    // Until kube-OVN has let go of it the rule stays; the OvnEip's and DNAT rules' delete events bring this Cluster back.
    if (!(await external.release(rule))) {
      log.debug('waiting for kube-OVN to let go of the external address before releasing it', { address: rule.spec?.vip, rule: rule.metadata.name });
      return false;
    }
    const gone = !(await client.delete(SwitchLBRules, rule.metadata.name!, undefined, { uid: rule.metadata.uid! }));
    // kube-OVN deletes the rule's Service too; the one we made goes also when kube-OVN does not run.
    await releaseRuleService(rule.metadata.name!, labelOf(rule, CLUSTER_OWNER_LABELS.namespace) ?? '', rule);
    if (gone) return false;
    deps.metrics?.releases.inc({ pool: labelOf(rule, POOL_LABEL) ?? '' });
    log.info('released load-balancer address', { address: rule.spec?.vip, rule: rule.metadata.name, service: `${labelOf(rule, SERVICE_OWNER_LABELS.namespace)}/${labelOf(rule, SERVICE_OWNER_LABELS.name)}` });
    return true;
  }

  /** Deletes the Service of a rule when its marks are the rule's (same Cluster and Service, by uid). */
  async function releaseRuleService(rule: string, namespace: string, marksOf: KubeObject): Promise<void> {
    const name = ruleServiceName(rule);
    const live = caches.ruleServices.get(`${namespace}/${name}`) ?? (await client.tryGet<KubeObject>(Services, name, namespace));
    if (!live || live.metadata?.deletionTimestamp) return;
    const same = (k: string) => labelOf(live, k) !== undefined && labelOf(live, k) === labelOf(marksOf, k);
    if (!same(CLUSTER_OWNER_LABELS.uid) || !same(SERVICE_OWNER_LABELS.uid)) return;
    await client.delete(Services, name, namespace, { uid: live.metadata!.uid! });
  }

  /** How many addresses of the pool the namespace holds, counted by the management apiserver (every replica and worker sees the same). */
  async function heldInPool(pool: string, namespace: string): Promise<SwitchLBRule[]> {
    const { items } = await client.list<SwitchLBRule>(SwitchLBRules, { labelSelector: `${POOL_LABEL}=${pool},${CLUSTER_OWNER_LABELS.namespace}=${namespace}` });
    return items;
  }

  const unconnected = (pool: PoolView) =>
    `load-balancer pool ${pool.name} hands out addresses of external network ${pool.externalSubnet}, which this cluster's network is not connected to (the platform's IRONPLANE_EXTERNAL_NETWORK of the KubeVirt provider)`;

  const limitMessage = (pool: PoolView, ns: string, held: number) =>
    `namespace ${ns} holds ${held} address(es) of its load-balancer pool ${pool.name}, the limit per tenant namespace is ${pool.perTenant}`;

  interface Ctx {
    cluster: Cluster;
    owner: Owner;
    ns: string;
    pools: Map<string, PoolView>;
    namespace: KubeObject | undefined;
    /** The tenant's own Vpc (the KvmCluster's status.network.vpc). */
    vpc: string;
    /** InternalIPs of machines of other Clusters in the namespace. */
    foreignAddresses: ReadonlySet<string>;
    /** The external network the tenant's Vpc is connected to (the KvmCluster's status.network.externalSubnet). */
    connected: string | undefined;
    log: Logger;
  }

  /**
   * Creates the rule for `address` of `pool`: the allocation. Undefined when
   * the address is taken (its name exists). A rule that pushed the namespace
   * over its limit (another worker or replica allocated at the same moment)
   * is given back: of the namespace's rules in the pool, the oldest `limit`
   * keep their addresses, the same answer for every allocator.
   */
  async function take(ctx: Ctx, pool: PoolView, address: string, svc: TenantService, endpoints: string[]): Promise<SwitchLBRule | Refusal | undefined> {
    const want = renderRule({ address, pool: pool.name, cluster: ctx.owner, service: serviceOwner(svc), svc, endpoints, ...(pool.externalSubnet ? { externalSubnet: pool.externalSubnet } : {}) });
    // The Service kube-OVN will keep the VIP on, naming the tenant's Vpc, before the rule exists.
    const ruleSvc = renderRuleService({ address, pool: pool.name, cluster: ctx.owner, service: serviceOwner(svc), vpc: ctx.vpc });
    try {
      await client.create(Services, ruleSvc);
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      // Ours from an attempt that died before the rule was made, or the Service of whoever holds the address.
      const existing = await client.tryGet<KubeObject>(Services, ruleSvc.metadata!.name!, ctx.ns);
      if (!existing || notMarkedFor(existing, CLUSTER_OWNER_LABELS, ctx.owner) || notMarkedFor(existing, SERVICE_OWNER_LABELS, serviceOwner(svc))) return undefined;
    }
    let made: SwitchLBRule;
    try {
      made = await client.create<SwitchLBRule>(SwitchLBRules, want);
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      await releaseRuleService(want.metadata.name!, ctx.ns, want);
      return undefined;
    }
    if (pool.perTenant !== undefined) {
      const held = await heldInPool(pool.name, ctx.ns);
      if (held.length > pool.perTenant) {
        const order = held.sort(byAge);
        const keep = order.slice(0, pool.perTenant).some((r) => r.metadata.uid === made.metadata.uid);
        if (!keep) {
          await client.delete(SwitchLBRules, made.metadata.name!, undefined, { uid: made.metadata.uid! });
          await releaseRuleService(made.metadata.name!, ctx.ns, made);
          return new Refusal(ServiceReasons.TenantLimitReached, limitMessage(pool, ctx.ns, pool.perTenant));
        }
      }
    }
    deps.metrics?.allocations.inc({ pool: pool.name });
    ctx.log.info('allocated load-balancer address', { address, pool: pool.name, rule: made.metadata.name, service: `${svc.metadata?.namespace}/${svc.metadata?.name}` });
    return made;
  }

  /** A specific address the Service asked for. */
  async function takeRequested(ctx: Ctx, svc: TenantService, field: string, value: string, endpoints: (family: 4 | 6) => string[]): Promise<SwitchLBRule | Refusal> {
    const address = canonicalAddress(value);
    const ip = address ? parseIp(address) : undefined;
    if (!address || !ip) return new Refusal(ServiceReasons.AddressInvalid, `${field}: "${value}" is not an IP address`);
    // The same words whether the address is in no pool or in another tenant's: a tenant learns nothing about pools it may not use.
    const notAllowed = new Refusal(ServiceReasons.AddressNotAllowed, `${field}: ${address} is not inside a load-balancer pool namespace ${ctx.ns} may use`);
    const holders = poolsHolding(ctx.pools, ip).filter((p) => mayUse(p, ctx.namespace, ctx.ns));
    const pool = holders[0];
    if (!pool) return notAllowed;
    if (pool.problems.length) return new Refusal(ServiceReasons.PoolNotReady, `${field}: ${address} lies in load-balancer pool ${pool.name}, which hands out no address until the platform fixes it (its Ready condition says why)`);
    if (pool.externalSubnet && pool.externalSubnet !== ctx.connected) return new Refusal(ServiceReasons.ExternalNetworkUnavailable, `${field}: ${address}: ${unconnected(pool)}`);
    if (pool.perTenant !== undefined) {
      const held = (await heldInPool(pool.name, ctx.ns)).length;
      if (held >= pool.perTenant) return new Refusal(ServiceReasons.TenantLimitReached, `${field}: ${address}: ${limitMessage(pool, ctx.ns, held)}`);
    }
    const taken = new Refusal(ServiceReasons.AddressTaken, `${field}: ${address} is already taken`);
    // Held by another Service as far as the cache knows: no create needed to find out (it would only answer 409).
    if (caches.rules.get(ruleName(address))) return taken;
    const got = await take(ctx, pool, address, svc, endpoints(ip.family));
    if (got === undefined) return taken;
    if (got instanceof Refusal) return new Refusal(got.reason, `${field}: ${address}: ${got.message}`);
    return got;
  }

  /** Any free address of the first pool (by name) the namespace may use and has room in. */
  async function takeAny(ctx: Ctx, svc: TenantService, endpoints: (family: 4 | 6) => string[]): Promise<SwitchLBRule | Refusal> {
    const usable = [...ctx.pools.values()].filter((p) => mayUse(p, ctx.namespace, ctx.ns));
    if (!usable.length) return new Refusal(ServiceReasons.NoPool, `no load-balancer pool lets namespace ${ctx.ns} take addresses: ask the platform for one`);
    const taken = new Set(caches.rules.list().map((r) => r.spec?.vip ?? ''));
    let limited: Refusal | undefined;
    for (const pool of usable) {
      if (pool.problems.length) continue;
      if (pool.externalSubnet && pool.externalSubnet !== ctx.connected) {
        limited ??= new Refusal(ServiceReasons.ExternalNetworkUnavailable, unconnected(pool));
        continue;
      }
      if (pool.perTenant !== undefined) {
        const held = (await heldInPool(pool.name, ctx.ns)).length;
        if (held >= pool.perTenant) {
          limited ??= new Refusal(ServiceReasons.TenantLimitReached, limitMessage(pool, ctx.ns, held));
          continue;
        }
      }
      for (const address of freeAddresses(pool.ranges, taken)) {
        const got = await take(ctx, pool, address, svc, endpoints(parseIp(address)!.family));
        if (got === undefined) {
          taken.add(address);
          continue;
        }
        if (got instanceof Refusal) {
          limited ??= got;
          break;
        }
        return got;
      }
    }
    return limited ?? new Refusal(ServiceReasons.PoolExhausted, `every load-balancer pool namespace ${ctx.ns} may use is exhausted`);
  }

  /** Writes the Service's ingress and our condition when they differ; other conditions are kept. */
  async function writeStatus(tenant: Client, svc: TenantService, ingress: { ip: string; ipMode: string }[] | undefined, cond: { status: 'True' | 'False'; reason: string; message: string }): Promise<void> {
    const others = (svc.status?.conditions ?? []).filter((c) => c.type !== SERVICE_CONDITION);
    const prev = svc.status?.conditions?.find((c) => c.type === SERVICE_CONDITION);
    const condition = {
      type: SERVICE_CONDITION,
      status: cond.status,
      reason: cond.reason,
      message: cond.message,
      observedGeneration: svc.metadata?.generation ?? 0,
      lastTransitionTime: prev && prev.status === cond.status ? prev.lastTransitionTime : now().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    const nextIngress = ingress ?? [];
    const curIngress = (svc.status?.loadBalancer?.ingress ?? []).map((i) => ({ ...i }));
    const sameCond = prev && prev.status === condition.status && prev.reason === condition.reason && prev.message === condition.message && prev.observedGeneration === condition.observedGeneration;
    if (sameCond && jsonEqual(curIngress, nextIngress)) return;
    await tenant.mergePatch(
      Services,
      svc.metadata!.name!,
      svc.metadata!.namespace,
      { metadata: { uid: svc.metadata!.uid, resourceVersion: svc.metadata!.resourceVersion }, status: { loadBalancer: { ingress: nextIngress }, conditions: [...others, condition] } },
      { subresource: 'status' },
    );
  }

  async function removeFinalizer(tenant: Client, svc: TenantService): Promise<void> {
    const fins = svc.metadata?.finalizers ?? [];
    const i = fins.indexOf(SERVICE_FINALIZER);
    if (i < 0) return;
    await tenant.jsonPatch(Services, svc.metadata!.name!, svc.metadata!.namespace, [
      { op: 'test', path: `/metadata/finalizers/${i}`, value: SERVICE_FINALIZER },
      { op: 'remove', path: `/metadata/finalizers/${i}` },
    ]);
  }

  /** The rule's Service names the tenant's Vpc: made if missing, its annotation put back if changed. Never one not marked as this rule's. */
  async function ensureRuleService(ctx: Ctx, rule: SwitchLBRule, svc: TenantService): Promise<void> {
    const name = ruleServiceName(rule.metadata.name!);
    const live = caches.ruleServices.get(`${ctx.ns}/${name}`);
    if (!live) {
      if (await client.tryGet(Services, name, ctx.ns)) return; // the cache will show it, or it is not ours to change
      try {
        await client.create(Services, renderRuleService({ address: rule.spec!.vip!, pool: labelOf(rule, POOL_LABEL) ?? '', cluster: ctx.owner, service: serviceOwner(svc), vpc: ctx.vpc }));
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
      }
      return;
    }
    if (notMarkedFor(live, CLUSTER_OWNER_LABELS, ctx.owner) || notMarkedFor(live, SERVICE_OWNER_LABELS, serviceOwner(svc))) return;
    if (live.metadata?.annotations?.[KUBEOVN_VPC_ANNOTATION] === ctx.vpc) return;
    try {
      await client.mergePatch(Services, name, ctx.ns, { metadata: { uid: live.metadata!.uid, resourceVersion: live.metadata!.resourceVersion, annotations: { [KUBEOVN_VPC_ANNOTATION]: ctx.vpc } } });
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e)) throw e;
    }
  }

  /** Brings one tenant Service and the rules held for it in line. */
  async function reconcileService(ctx: Ctx, tenant: Client, recorder: EventRecorder, svc: TenantService, cached: SwitchLBRule[], machines: KvmMachine[], nodes: Parameters<typeof nodeEndpoints>[2]): Promise<void> {
    const where = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    let held = cached;
    const hasFinalizer = svc.metadata?.finalizers?.includes(SERVICE_FINALIZER) ?? false;

    if (svc.metadata?.deletionTimestamp || !isOurs(svc)) {
      if (!hasFinalizer && !held.length) return;
      const released: string[] = [];
      for (const r of held) if (await release(r, ctx.log)) released.push(r.spec?.vip ?? '');
      if (!svc.metadata?.deletionTimestamp && (svc.status?.loadBalancer?.ingress?.length || svc.status?.conditions?.some((c) => c.type === SERVICE_CONDITION))) {
        // No longer a LoadBalancer of ours: its address is gone, so is our word on it.
        await tenant.mergePatch(
          Services,
          svc.metadata!.name!,
          svc.metadata!.namespace,
          { metadata: { uid: svc.metadata!.uid, resourceVersion: svc.metadata!.resourceVersion }, status: { loadBalancer: { ingress: [] }, conditions: (svc.status?.conditions ?? []).filter((c) => c.type !== SERVICE_CONDITION) } },
          { subresource: 'status' },
        );
      }
      await removeFinalizer(tenant, svc);
      if (released.length) void recorder.event(svc, 'Normal', ServiceReasons.Released, `released load-balancer address ${released.join(', ')}`);
      return;
    }

    if (!hasFinalizer) {
      // Nothing is allocated before the finalizer is there: a Service deleted meanwhile cannot leave an address behind.
      await tenant.jsonPatch(Services, svc.metadata!.name!, svc.metadata!.namespace, [
        { op: 'test', path: '/metadata/resourceVersion', value: svc.metadata!.resourceVersion },
        svc.metadata?.finalizers ? { op: 'add', path: '/metadata/finalizers/-', value: SERVICE_FINALIZER } : { op: 'add', path: '/metadata/finalizers', value: [SERVICE_FINALIZER] },
      ]);
      return;
    }

    // kube-OVN finds a rule's VPC through the namespace's pods whose IPs its endpoints are: an
    // address that a machine of another Cluster in this namespace also has could resolve to that
    // Cluster's VPC, so it is left out (and the condition says so).
    let ambiguous: string[] = [];
    const endpoints = (family: 4 | 6) => {
      const all = nodeEndpoints(ctx.ns, machines, nodes, family);
      ambiguous = all.filter((ip) => ctx.foreignAddresses.has(ip));
      return all.filter((ip) => !ctx.foreignAddresses.has(ip));
    };
    const req = requestedAddress(svc);
    const wanted = req ? canonicalAddress(req.value) : undefined;
    if (!held.length) {
      // The cache may not show a rule this controller made a moment ago: ask the apiserver before taking another address.
      const sel = `${SERVICE_OWNER_LABELS.uid}=${svc.metadata!.uid},${CLUSTER_OWNER_LABELS.uid}=${ctx.owner.uid}`;
      held = (await client.list<SwitchLBRule>(SwitchLBRules, { labelSelector: sel })).items.filter((r) => !r.metadata.deletionTimestamp && notMarkedFor(r, SERVICE_OWNER_LABELS, serviceOwner(svc)) === undefined && notMarkedFor(r, CLUSTER_OWNER_LABELS, ctx.owner) === undefined);
    }
    // Oldest first: should a Service ever hold two addresses (two allocators at once), every replica keeps the same one.
    held = [...held].sort(byAge);
    let rule = req ? held.find((r) => r.spec?.vip === wanted) : held[0];
    let refusal: Refusal | undefined;
    if (!rule) {
      const got = req ? await takeRequested(ctx, svc, req.field, req.value, endpoints) : await takeAny(ctx, svc, endpoints);
      if (got instanceof Refusal) {
        refusal = got;
        // A Service that asks for another address keeps the one it has until it gets the new one.
        rule = held[0];
      } else {
        rule = got;
      }
    }
    // Any other address held for this Service goes back to its pool.
    for (const r of held) if (r !== rule && r.metadata.uid !== rule?.metadata.uid) await release(r, ctx.log);

    // Converge the rule (also one kept through a refusal): ports, endpoints and affinity follow the Service and the nodes.
    let want: SwitchLBRule | undefined;
    if (rule) {
      want = renderRule({ address: rule.spec!.vip!, pool: labelOf(rule, POOL_LABEL) ?? '', cluster: ctx.owner, service: serviceOwner(svc), svc, endpoints: endpoints(parseIp(rule.spec!.vip!)!.family), ...(externalSubnetOf(rule) ? { externalSubnet: externalSubnetOf(rule)! } : {}) });
      const live = rule.spec ?? {};
      if (!jsonEqual(live as never, want.spec as never)) {
        try {
          await client.mergePatch(SwitchLBRules, rule.metadata.name!, undefined, {
            metadata: { uid: rule.metadata.uid, resourceVersion: rule.metadata.resourceVersion },
            spec: { ...want.spec, sessionAffinity: want.spec?.sessionAffinity ?? null },
          });
        } catch (e) {
          // Changed since the cache saw it: its update event brings us back.
          if (!isConflict(e) && !isNotFound(e)) throw e;
        }
      }
      await ensureRuleService(ctx, rule, svc);
    }
    // An address of an external pool also answers there, at one of the same nodes.
    let exposure: Exposure | undefined;
    if (rule && want) {
      exposure = await external.ensure({ rule, cluster: ctx.owner, service: serviceOwner(svc), svc, vpc: ctx.vpc, connected: ctx.connected, endpoints: want.spec?.endpoints ?? [] });
      if (exposure?.moved) {
        const to = exposure.moved.to ? `node ${exposure.moved.to}` : 'no node (none can take traffic)';
        void recorder.event(svc, 'Normal', ServiceReasons.ExternalEntryMoved, `${rule.spec?.vip} on external network ${exposure.subnet} moved from node ${exposure.moved.from} to ${to}`);
        ctx.log.info('external load-balancer entry moved', { service: where, address: rule.spec?.vip, from: exposure.moved.from, to: exposure.moved.to });
      }
    }

    if (refusal) {
      const msg = rule ? `${refusal.message}; it keeps ${rule.spec?.vip}` : refusal.message;
      const prev = svc.status?.conditions?.find((c) => c.type === SERVICE_CONDITION);
      // Counted and told once per decision, not on every look at an unchanged refusal.
      if (prev?.reason !== refusal.reason || prev.message !== msg) {
        deps.metrics?.refusals.inc({ reason: refusal.reason });
        void recorder.event(svc, 'Warning', refusal.reason, msg);
      }
      ctx.log.info('load-balancer address refused', { service: where, reason: refusal.reason, message: msg });
      await writeStatus(tenant, svc, rule ? [{ ip: rule.spec!.vip!, ipMode: 'VIP' }] : undefined, { status: 'False', reason: refusal.reason, message: msg });
      return;
    }
    if (!rule) return;

    const address = rule.spec!.vip!;
    if (!rulePorts(svc).length) {
      const msg = `${address} is held, but the Service has no node ports (spec.allocateLoadBalancerNodePorts is false), so no node can receive its traffic`;
      await writeStatus(tenant, svc, undefined, { status: 'False', reason: ServiceReasons.NoNodePorts, message: msg });
      return;
    }
    const prev = svc.status?.conditions?.find((c) => c.type === SERVICE_CONDITION);
    // Told once per address: not again while it waits for the external network, nor when that wait ends.
    const wasWaiting = prev?.reason === ServiceReasons.WaitingForExternalNetwork;
    if ((prev?.status !== 'True' && !wasWaiting) || !svc.status?.loadBalancer?.ingress?.some((i) => i.ip === address)) void recorder.event(svc, 'Normal', ServiceReasons.Assigned, `load-balancer address ${address}`);
    const targets = want?.spec?.endpoints?.length ?? 0;
    const leftOut = ambiguous.length ? `; left out: ${ambiguous.join(', ')}, also the address of a machine of another Cluster in namespace ${ctx.ns}, which would make the network it is programmed in ambiguous` : '';
    const inside = `${address} from the platform's load-balancer pool, to ${targets} node(s) of this cluster`;
    if (exposure && !exposure.ready) {
      const reason = exposure.subnet !== ctx.connected ? ServiceReasons.ExternalNetworkUnavailable : ServiceReasons.WaitingForExternalNetwork;
      await writeStatus(tenant, svc, [{ ip: address, ipMode: 'VIP' }], { status: 'False', reason, message: `${inside}, answering inside the cluster's network; not yet on external network ${exposure.subnet}: ${exposure.waiting}${leftOut}` });
      return;
    }
    await writeStatus(tenant, svc, [{ ip: address, ipMode: 'VIP' }], {
      status: 'True',
      reason: ServiceReasons.Assigned,
      message: inside + (exposure ? `; on external network ${exposure.subnet} through node ${exposure.entry}` : '') + leftOut,
    });
  }

  /**
   * Rule Services of this Cluster key whose rule does not exist (an
   * allocation that died between the two creates, a rule deleted by someone
   * else): deleted, after the apiserver confirms the rule is gone.
   */
  async function releaseStrayRuleServices(key: string): Promise<void> {
    await external.releaseStray(ruleClusterKey, key, async (rule) => caches.rules.get(rule) !== undefined || (await client.tryGet(SwitchLBRules, rule)) !== undefined);
    for (const s of caches.ruleServices.list((x) => ruleClusterKey(x) === key && !x.metadata?.deletionTimestamp)) {
      const rule = s.metadata!.name!.slice(RULE_SERVICE_PREFIX.length);
      if (caches.rules.get(rule) || (await client.tryGet(SwitchLBRules, rule))) continue;
      await client.delete(Services, s.metadata!.name!, s.metadata!.namespace, { uid: s.metadata!.uid! });
    }
  }

  /** Releases every rule held under this Cluster key; the tenant Services are cleaned up when the tenant can still be reached. */
  async function teardown(key: string, cluster: Cluster | undefined, rules: SwitchLBRule[], log: Logger): Promise<void> {
    const w = deps.watches.get(key);
    if (cluster && w && w.synced() && cluster.metadata.uid === w.uid) {
      // The Cluster is being deleted and its apiserver may still answer: take our finalizers off its Services so they do not hang.
      for (const svc of w.services.list((s) => s.metadata?.finalizers?.includes(SERVICE_FINALIZER) ?? false)) {
        try {
          await removeFinalizer(w.client, svc);
        } catch (e) {
          log.debug('could not remove the finalizer from a tenant Service of a deleted cluster', { service: `${svc.metadata?.namespace}/${svc.metadata?.name}`, error: (e as Error).message });
        }
      }
    }
    await deps.watches.stop(key);
    const [ns, name] = key.split('/') as [string, string];
    deps.tenants.forget(ns, name);
    const released: string[] = [];
    for (const r of rules) if (await release(r, log)) released.push(r.spec?.vip ?? '');
    if (released.length && cluster) void deps.recorder?.event(cluster, 'Normal', ClusterEventReasons.LoadBalancersReleased, `released ${released.length} load-balancer address(es): ${released.sort().join(', ')}`);
    await releaseStrayRuleServices(key);
  }

  return async (req: Request, log: Logger): Promise<Result | void> => {
    const key = req.key;
    const ns = req.namespace ?? '';
    const cluster = caches.clusters.get(key);
    const rules = caches.rules.list((r) => ruleClusterKey(r) === key);
    const infra = cluster?.spec?.infrastructureRef;
    if (!cluster || cluster.metadata.deletionTimestamp || infra?.kind !== 'KvmCluster') {
      await teardown(key, cluster, rules, log);
      return;
    }
    // Paused (clusterctl move, an operator): nothing is allocated, changed or released until it resumes.
    const paused = pausedReason(cluster, cluster);
    if (paused) {
      log.debug('paused', { reason: paused });
      return;
    }
    const uid = cluster.metadata.uid!;
    // Rules of an earlier Cluster of this name: that Cluster is gone, so are its Services.
    for (const r of rules.filter((x) => labelOf(x, CLUSTER_OWNER_LABELS.uid) !== uid)) await release(r, log);
    const mine = rules.filter((x) => labelOf(x, CLUSTER_OWNER_LABELS.uid) === uid);

    const kc = caches.kvmClusters.get(`${ns}/${infra.name}`);
    if (!kc?.status?.network?.vpc) {
      log.debug('waiting for the tenant network', { kvmCluster: infra.name });
      return;
    }
    let tenant: Client;
    try {
      tenant = await deps.tenants.get(ns, req.name);
    } catch (e) {
      if (e instanceof TenantNotReady) {
        if (mine.length || deps.watches.get(key)) void deps.recorder?.event(cluster, 'Warning', ClusterEventReasons.TenantUnreachable, `tenant LoadBalancer Services cannot be served: ${e.message}`);
        return { requeueAfterMs: KUBECONFIG_RETRY_MS };
      }
      throw e;
    }
    const w = await deps.watches.ensure(key, uid, tenant);
    if (!w.synced()) return; // the first lists enqueue this key again

    const owner: Owner = { kind: 'Cluster', namespace: ns, name: req.name, uid };
    const inNamespace = caches.kvmMachines.list((m) => m.metadata.namespace === ns);
    const machines = inNamespace.filter((m) => clusterNameOf(m) === req.name);
    const foreignAddresses = new Set(
      inNamespace
        .filter((m) => clusterNameOf(m) !== req.name)
        .flatMap((m) => (m.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => canonicalAddress(a.address)))
        .filter((a): a is string => a !== undefined),
    );
    const ctx: Ctx = { cluster, owner, ns, vpc: kc.status.network.vpc, connected: kc.status.network.externalSubnet, pools: evaluatePools(caches.pools.list(), deps.reserved()), namespace: caches.namespaces.get(ns), foreignAddresses, log };
    const nodes = w.nodes.list();
    const services = w.services.list();
    const failures: string[] = [];
    for (const svc of services) {
      const svcOwner = serviceOwner(svc);
      const held = mine.filter((r) => notMarkedFor(r, SERVICE_OWNER_LABELS, svcOwner) === undefined);
      try {
        await reconcileService(ctx, tenant, w.recorder, svc, held, machines, nodes);
      } catch (e) {
        // A Service changed meanwhile (409, a failed test op) is looked at again with its next event.
        if (isConflict(e) || isInvalid(e) || isNotFound(e)) continue;
        failures.push(`Service ${svc.metadata?.namespace}/${svc.metadata?.name}: ${(e as Error).message}`);
      }
    }
    // Addresses held for Services the tenant cluster no longer has.
    const present = new Set(services.map((s) => s.metadata?.uid));
    for (const r of mine) if (!present.has(labelOf(r, SERVICE_OWNER_LABELS.uid))) await release(r, log);
    await releaseStrayRuleServices(key);
    if (failures.length) throw new Error(failures.join('; '));
  };
}
