// PeeringRequest → kube-OVN Vpc peering. A request names a Cluster of its
// namespace and a peer Cluster; once accepted (the peer's owner made the
// mirror request, or a platform operator approved it), both Clusters' Vpcs
// get a router port on a /30 link toward each other (spec.vpcPeerings) and a
// route to the other's node CIDR via that link (spec.staticRoutes).
//
// Where the state lives (all in the apiserver):
// - the link of a pair is a record, a ConfigMap named after its /30 in the
//   manager's namespace: the apiserver's name uniqueness makes allocation
//   collision-free, and a record exists exactly while the pair is peered;
// - each Vpc's peering fields are a function of the records that name its
//   Cluster, written with server-side apply under this manager's own field
//   manager. kube-OVN's lists are atomic, so the whole list is ours: the
//   KvmCluster controller never applies these fields, and a list someone
//   else manages is a conflict we report, never a list we write over.
// A Vpc is written only after its labels prove it belongs to the KvmCluster
// that the Cluster resolves to, and only that very object (its
// resourceVersion): never a Vpc of the name that replaced it, never one
// created by the write.
//
// The controller runs with one worker: every reconcile computes whole lists
// for two Vpcs from the records, and one at a time keeps each computation
// from racing another's record change.
import type { KvmCluster } from '../api/generated/ironplane/v1alpha1/kvmcluster.js';
import type { PeeringRequest, PeeringRequestStatus } from '../api/generated/ironplane/v1alpha1/peeringrequest.js';
import { clusterNameOf, ownerClusterName, type Cluster } from '../capi/contract.js';
import { notMarkedFor } from '../capi/ownership.js';
import { ApiError, isAlreadyExists, isConflict, type Client } from '../kit/client.js';
import type { Request, Result } from '../kit/controller.js';
import type { EventRecorder } from '../kit/events.js';
import type { Informer } from '../kit/informer.js';
import type { Logger } from '../kit/log.js';
import { jsonEqual } from '../kit/patch.js';
import { objectReconciler, type Scope } from '../kit/reconciler.js';
import { ConfigMaps, type KubeObject } from '../kit/types.js';
import { ownerOf } from '../kubevirt/kvmcluster.js';
import { KVM_CLUSTER_OWNER_LABELS, tenantNetworkName } from '../kubevirt/names.js';
import { Vpcs } from '../kubevirt/resources.js';
import { formatIPv4, linkAt, linkCount, overlaps, parseCidr, type Cidr, type Link } from './cidr.js';
import { linkRecordName, MANAGED_BY, MANAGED_BY_LABEL, PAIR_LABEL, PEERING_FINALIZER, PeeringRequests } from './names.js';
import {
  acceptanceOf,
  firstLinkIndex,
  isSelfPeering,
  pairLabel,
  pairOfRequest,
  pairStillAccepted,
  parsePair,
  peeringFieldsFor,
  refKey,
  sidesOf,
  type AcceptancePolicy,
  type ClusterRef,
  type Pair,
  type PeeringFields,
  type RecordedLink,
  type SideNetwork,
} from './peering.js';
import { matchesSelector, type Selector } from './selector.js';

export const Conditions = {
  /** The request is accepted (mirror request or platform approval) and nothing refuses the pair. */
  Accepted: 'Accepted',
  /** Both Vpcs carry the peering: router ports on the link and routes to each other. */
  Programmed: 'Programmed',
} as const;

export const Reasons = {
  MirrorRequest: 'MirrorRequest',
  PlatformApproval: 'PlatformApproval',
  WaitingForAcceptance: 'WaitingForAcceptance',
  NotAllowed: 'NotAllowed',
  SelfPeering: 'SelfPeering',
  ClusterNotFound: 'ClusterNotFound',
  PeerNotFound: 'PeerNotFound',
  ClusterDeleting: 'ClusterDeleting',
  NotKvmCluster: 'NotKvmCluster',
  CIDROverlap: 'CIDROverlap',
  RouteOverlap: 'RouteOverlap',
  WaitingForInfrastructure: 'WaitingForInfrastructure',
  WaitingForNetwork: 'WaitingForNetwork',
  NotAccepted: 'NotAccepted',
  VpcFieldConflict: 'VpcFieldConflict',
  LinksExhausted: 'LinksExhausted',
  Programmed: 'Programmed',
  Deleting: 'Deleting',
} as const;

/**
 * Queue keys of link records start with this (the rest is the record's
 * namespace/name): a record whose requests all vanished without their
 * finalizer running is swept by the same single worker.
 */
export const LINK_KEY_PREFIX = 'link:';

/** A Vpc whose fields another manager holds is looked at again after this long (its manager is not watched). */
export const CONFLICT_RETRY_MS = 60_000;

export type NetworkObject = KubeObject & { spec?: Record<string, unknown> };
export type LinkRecord = KubeObject & { data?: Record<string, string> };

export interface NetworkCaches {
  requests: Informer<PeeringRequest>;
  clusters: Informer<Cluster>;
  kvmClusters: Informer<KvmCluster>;
  vpcs: Informer<NetworkObject>;
  namespaces: Informer<KubeObject>;
  links: Informer<LinkRecord>;
}

export interface NetworkSettings {
  acceptance: AcceptancePolicy;
  /** Where links are allocated from. */
  interconnect: Cidr;
  /** The manager's namespace, where link records live. */
  recordNamespace: string;
  /** Namespaces whose Clusters may peer (both sides); every namespace when empty. */
  namespaceSelector: Selector;
}

/** One side of a pair, resolved from the apiserver's state: its KvmCluster, Vpc (proven ours) and node CIDR. */
interface Side extends SideNetwork {
  kvmCluster: KvmCluster;
  live: NetworkObject;
}

type Resolution = { side: Side } | { refuse: true; reason: string; message: string } | { refuse: false; reason: string; message: string };

interface Ctx {
  pair: Pair;
}

/** The link a record holds, or undefined when the record is not one of ours or is malformed. */
export function recordedLink(r: LinkRecord): RecordedLink | undefined {
  if (r.metadata?.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY || r.metadata?.deletionTimestamp) return undefined;
  const pair = parsePair(r.data?.['pair']);
  const net = parseCidr(r.data?.['link'] ?? '');
  if (!pair || !net || net.family !== 4 || net.prefix !== 30) return undefined;
  return { pair, link: linkAt(net, 0) };
}

/** The Vpc's current peering fields, reduced to the keys we write, for comparison. */
function currentFields(vpc: NetworkObject): PeeringFields {
  const spec = vpc.spec ?? {};
  const peerings = Array.isArray(spec['vpcPeerings']) ? (spec['vpcPeerings'] as Record<string, unknown>[]) : [];
  const routes = Array.isArray(spec['staticRoutes']) ? (spec['staticRoutes'] as Record<string, unknown>[]) : [];
  return {
    vpcPeerings: peerings.map((p) => ({ remoteVpc: String(p['remoteVpc'] ?? ''), localConnectIP: String(p['localConnectIP'] ?? '') })),
    staticRoutes: routes.map((r) => ({ policy: String(r['policy'] ?? ''), cidr: String(r['cidr'] ?? ''), nextHopIP: String(r['nextHopIP'] ?? '') })),
  };
}

export function peeringReconciler(deps: { client: Client; caches: NetworkCaches; settings: NetworkSettings; recorder?: EventRecorder }) {
  const { client, caches, settings } = deps;
  const ns = settings.recordNamespace;

  /** The KvmCluster's Vpc, when the KvmCluster controller made it and its labels prove it is this KvmCluster's. */
  function networkOf(ref: ClusterRef, kc: KvmCluster, field: string, allowDeleting = false): Resolution {
    const name = tenantNetworkName(kc.metadata.namespace!, kc.metadata.name!);
    const live = caches.vpcs.get(name);
    const waiting = (why: string): Resolution => ({ refuse: false, reason: Reasons.WaitingForNetwork, message: `${field}: the network of Cluster ${refKey(ref)} is not ready: ${why}` });
    if (kc.metadata.deletionTimestamp && !allowDeleting) return { refuse: true, reason: Reasons.ClusterDeleting, message: `${field}: the KvmCluster of Cluster ${refKey(ref)} is being deleted` };
    if (kc.status?.network?.vpc !== name) return waiting(`KvmCluster ${kc.metadata.name} has not reported its Vpc yet`);
    if (!live) return waiting(`Vpc ${name} does not exist yet`);
    const why = notMarkedFor(live, KVM_CLUSTER_OWNER_LABELS, ownerOf(kc));
    if (why) return waiting(`Vpc ${name} does not belong to KvmCluster ${kc.metadata.name}: ${why}`);
    return { side: { ref, vpc: name, nodeCIDR: kc.spec!.network.nodeCIDR, kvmCluster: kc, live } };
  }

  /** One side as a request names it: the Cluster, its KvmCluster (by the Cluster's infrastructureRef), its network. */
  function resolve(ref: ClusterRef, field: string, own: boolean): Resolution {
    const cluster = caches.clusters.get(refKey(ref));
    if (!cluster) {
      return own
        ? { refuse: true, reason: Reasons.ClusterNotFound, message: `${field}: there is no Cluster ${ref.name} in this namespace` }
        : { refuse: true, reason: Reasons.PeerNotFound, message: `${field}: there is no Cluster ${refKey(ref)}` };
    }
    if (cluster.metadata.deletionTimestamp) return { refuse: true, reason: Reasons.ClusterDeleting, message: `${field}: Cluster ${refKey(ref)} is being deleted` };
    const infra = cluster.spec?.infrastructureRef;
    if (!infra?.name) return { refuse: false, reason: Reasons.WaitingForInfrastructure, message: `${field}: Cluster ${refKey(ref)} has no infrastructure yet (spec.infrastructureRef)` };
    if (infra.kind !== 'KvmCluster' || (infra.apiGroup && infra.apiGroup !== 'infrastructure.ironplane.dev')) {
      return { refuse: true, reason: Reasons.NotKvmCluster, message: `${field}: Cluster ${refKey(ref)} runs on a ${infra.kind}, not a KvmCluster: only the VPCs of KvmCluster-backed Clusters can be peered` };
    }
    const kc = caches.kvmClusters.get(`${ref.namespace}/${infra.name}`);
    if (!kc) return { refuse: false, reason: Reasons.WaitingForNetwork, message: `${field}: KvmCluster ${infra.name} of Cluster ${refKey(ref)} does not exist yet` };
    return networkOf(ref, kc, field);
  }

  /**
   * A side of some recorded pair, found by the KvmCluster that belongs to
   * the Cluster (which may already be gone). A KvmCluster being deleted
   * counts only for teardown: its Vpc, while it lasts, loses its ports
   * toward peers, but nothing routes toward it.
   */
  function resolveRecorded(ref: ClusterRef, allowDeleting = false): Side | undefined {
    const byRef = caches.clusters.get(refKey(ref))?.spec?.infrastructureRef;
    const kc =
      (byRef?.kind === 'KvmCluster' ? caches.kvmClusters.get(`${ref.namespace}/${byRef.name}`) : undefined) ??
      caches.kvmClusters.list((k) => k.metadata.namespace === ref.namespace && (clusterNameOf(k) === ref.name || ownerClusterName(k) === ref.name))[0];
    if (!kc) return undefined;
    const r = networkOf(ref, kc, 'peer', allowDeleting);
    return 'side' in r ? r.side : undefined;
  }

  /** Recorded links, from the cache, with this reconcile's own record changes applied on top (the cache may not have them yet). */
  function links(change?: { add?: RecordedLink; remove?: string }): RecordedLink[] {
    const all = caches.links
      .list((r) => r.metadata?.namespace === ns)
      .map(recordedLink)
      .filter((l): l is RecordedLink => l !== undefined && l.pair.key !== change?.remove && l.pair.key !== change?.add?.pair.key);
    return change?.add ? [...all, change.add] : all;
  }

  const recordOf = (pair: Pair): LinkRecord | undefined => caches.links.list((r) => r.metadata?.namespace === ns && r.data?.['pair'] === pair.key && recordedLink(r) !== undefined)[0];

  /**
   * The pair's link: the recorded one, or the first free /30 from a slot
   * derived from the pair. Free means no record of that name: a create
   * that finds the name taken reads the holder and moves on, unless the
   * holder is this very pair (its other request got there first).
   */
  async function ensureLink(pair: Pair, a: Side, b: Side): Promise<RecordedLink | undefined> {
    const recorded = recordOf(pair);
    if (recorded) return recordedLink(recorded);
    const count = linkCount(settings.interconnect);
    const start = firstLinkIndex(pair, count);
    const nodes = [a.nodeCIDR, b.nodeCIDR].map(parseCidr).filter((c): c is Cidr => c !== undefined);
    for (let i = 0; i < count; i++) {
      const index = (start + i) % count;
      const link = linkAt(settings.interconnect, index);
      const net = parseCidr(link.cidr)!;
      if (nodes.some((n) => overlaps(n, net))) continue;
      const name = linkRecordName(index);
      const cached = caches.links.get(`${ns}/${name}`);
      if (cached) {
        if (cached.data?.['pair'] === pair.key) return recordedLink(cached);
        continue;
      }
      const record: LinkRecord = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace: ns, labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [PAIR_LABEL]: pairLabel(pair) } },
        data: { pair: pair.key, link: link.cidr },
      };
      try {
        await client.create(ConfigMaps, record);
        return { pair, link };
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
        const holder = await client.tryGet<LinkRecord>(ConfigMaps, name, ns);
        if (holder?.data?.['pair'] === pair.key) return recordedLink(holder);
      }
    }
    return undefined;
  }

  /**
   * Writes the Vpc's vpcPeerings and staticRoutes as the records say, with
   * this manager's field manager and the resourceVersion of the Vpc whose
   * labels were checked. Returns a conflict message when another manager
   * holds those fields.
   */
  async function converge(side: Side, recorded: readonly RecordedLink[]): Promise<string | undefined> {
    const want = peeringFieldsFor(side.ref, recorded, resolveRecorded);
    if (jsonEqual(currentFields(side.live), want)) return undefined;
    // Empty lists are applied, not left out: leaving them out would drop
    // the fields, and with them the Vpc's spec, which no manager owns while
    // it is empty (the CRD refuses a null spec).
    const spec = { vpcPeerings: want.vpcPeerings, staticRoutes: want.staticRoutes };
    try {
      await client.apply(Vpcs, { apiVersion: 'kubeovn.io/v1', kind: 'Vpc', metadata: { name: side.vpc, resourceVersion: side.live.metadata!.resourceVersion! }, spec });
      return undefined;
    } catch (e) {
      // A field conflict names the other manager; a stale resourceVersion is retried.
      if (isConflict(e) && e instanceof ApiError && e.message.includes('Apply failed')) {
        return `Vpc ${side.vpc}: spec.vpcPeerings or spec.staticRoutes is managed by another field manager (${e.message}); the peering does not write over it`;
      }
      throw e;
    }
  }

  /** Removes the pair's entries from every Vpc it can prove, then its record. */
  async function teardown(pair: Pair, log: Logger): Promise<boolean> {
    const record = recordOf(pair);
    if (!record) return false;
    const rest = links({ remove: pair.key });
    for (const ref of pair.sides) {
      const side = resolveRecorded(ref, true);
      if (!side) continue;
      // Another manager holding the lists means none of this pair's
      // entries are there as ours: nothing to remove, and nothing to wait for.
      const conflict = await converge(side, rest);
      if (conflict) log.info('peering fields of a Vpc are held by another manager; nothing of this pair to remove there', { vpc: side.vpc, pair: pair.key });
    }
    await client.delete(ConfigMaps, record.metadata!.name!, ns, { uid: record.metadata!.uid! });
    return true;
  }

  /** Whether a namespace is open to peering by the platform's selector. */
  function allowed(namespace: string): boolean {
    if (!settings.namespaceSelector.length) return true;
    const obj = caches.namespaces.get(namespace);
    return obj !== undefined && matchesSelector(obj.metadata?.labels ?? {}, settings.namespaceSelector);
  }

  /** A pair refusal that does not depend on acceptance, or the two resolved sides. */
  function check(pr: PeeringRequest): { own: Side; peer: Side } | { refuse: boolean; reason: string; message: string } {
    const { own, peer } = sidesOf(pr);
    if (!allowed(own.namespace)) return { refuse: true, reason: Reasons.NotAllowed, message: `metadata.namespace: namespace ${own.namespace} is not open to VPC peering on this platform` };
    if (!allowed(peer.namespace)) return { refuse: true, reason: Reasons.NotAllowed, message: `spec.peer.namespace: namespace ${peer.namespace} is not open to VPC peering on this platform` };
    if (isSelfPeering(pr)) return { refuse: true, reason: Reasons.SelfPeering, message: 'spec.peer: a Cluster cannot peer with itself' };
    const a = resolve(own, 'spec.clusterName', true);
    if (!('side' in a)) return a;
    const b = resolve(peer, 'spec.peer', false);
    if (!('side' in b)) return b;
    const ca = parseCidr(a.side.nodeCIDR);
    const cb = parseCidr(b.side.nodeCIDR);
    if (!ca || !cb || ca.family !== cb.family) {
      return { refuse: true, reason: Reasons.CIDROverlap, message: `spec.peer: the node networks of ${refKey(own)} and ${refKey(peer)} are of different IP families and cannot be routed to each other` };
    }
    // The peer's CIDR is not named: it is another tenant's.
    if (overlaps(ca, cb)) {
      return {
        refuse: true,
        reason: Reasons.CIDROverlap,
        message: `spec.peer: the node CIDR of Cluster ${own.name} (${a.side.nodeCIDR}) overlaps the node CIDR of the peer: overlapping ranges cannot be routed between two VPCs`,
      };
    }
    // One range, one next hop: a VPC cannot route a range to two peers.
    const pair = pairOfRequest(pr);
    for (const [mine, theirs, whose] of [
      [a.side, cb, `Cluster ${own.name} already peers with a Cluster whose node CIDR overlaps the peer's`],
      [b.side, ca, `the peer already peers with a Cluster whose node CIDR overlaps the node CIDR of Cluster ${own.name}`],
    ] as const) {
      for (const l of links()) {
        if (l.pair.key === pair.key) continue;
        const [x, y] = l.pair.sides;
        const other = refKey(x) === refKey(mine.ref) ? y : refKey(y) === refKey(mine.ref) ? x : undefined;
        if (!other) continue;
        const net = resolveRecorded(other);
        const oc = net && parseCidr(net.nodeCIDR);
        if (oc && overlaps(oc, theirs)) return { refuse: true, reason: Reasons.RouteOverlap, message: `spec.peer: ${whose}: a VPC cannot route one range to two peers` };
      }
    }
    return { own: a.side, peer: b.side };
  }

  const warnOnce = (scope: Scope<PeeringRequest, Ctx>, type: 'Normal' | 'Warning', reason: string, message: string) => {
    const before = scope.original.status?.conditions?.find((c) => c.reason === reason);
    if (before?.message !== message) void deps.recorder?.event(scope.obj, type, reason, message);
  };

  /**
   * A record no request names any more (all removed without their
   * finalizer running): its pair's entries leave both Vpcs and the record
   * goes. A record with any request, live or deleting, is left to them.
   */
  async function sweepLink(key: string, log: Logger): Promise<void> {
    const record = caches.links.get(key);
    const l = record && recordedLink(record);
    if (!l || caches.requests.list((pr) => pairOfRequest(pr).key === l.pair.key).length) return;
    if (await teardown(l.pair, log)) log.info('removed the peering of a pair no PeeringRequest names any more', { pair: l.pair.key, link: l.link.cidr });
  }

  const reconcileRequest = objectReconciler<PeeringRequest, Ctx>({
    client,
    resource: PeeringRequests,
    cache: caches.requests,
    finalizer: PEERING_FINALIZER,
    ownedConditions: [Conditions.Accepted, Conditions.Programmed],

    async normal(scope): Promise<Result | void> {
      const pr = scope.obj;
      const { own, peer } = sidesOf(pr);
      const pair = pairOfRequest(pr);
      const status: PeeringRequestStatus = {
        ...pr.status,
        requester: { namespace: own.namespace, clusterName: own.name },
        peer: refKey(peer),
        observedGeneration: pr.metadata.generation,
      };
      delete status.acceptedBy;
      delete status.approvedBy;
      pr.status = status;

      const checked = check(pr);
      const acceptance = acceptanceOf(pr, caches.requests.list(), settings.acceptance);
      if (!('own' in checked) || acceptance.by === undefined) {
        const refused = !('own' in checked) && checked.refuse;
        const [reason, message] = !('own' in checked) ? [checked.reason, checked.message] : [Reasons.WaitingForAcceptance, acceptance.by === undefined ? acceptance.why : ''];
        scope.setCondition({ type: Conditions.Accepted, status: false, reason, message });
        // A refused pair is taken down; one that merely waits (for the
        // network, or for acceptance while another request of the pair is
        // accepted) keeps what it has.
        const waitingForNetwork = !('own' in checked) && !checked.refuse;
        const stillAccepted = pairStillAccepted(pair, pr, caches.requests.list(), settings.acceptance);
        let tornDown = false;
        if (refused || (!waitingForNetwork && !stillAccepted)) tornDown = await teardown(pair, scope.log);
        if (tornDown) void deps.recorder?.event(pr, 'Normal', 'PeeringRemoved', `the peering of ${pair.sides.map(refKey).join(' and ')} was removed: ${message}`);
        if (refused) warnOnce(scope, 'Warning', reason, message);
        const programmed = !refused && waitingForNetwork && recordOf(pair) !== undefined;
        scope.setCondition({
          type: Conditions.Programmed,
          status: programmed,
          reason: programmed ? Reasons.Programmed : Reasons.NotAccepted,
          message: programmed ? 'the peering is programmed; the request waits for its network to be looked at again' : 'nothing is programmed until the request is accepted',
        });
        if (!programmed) {
          delete status.interconnect;
          delete status.localVpc;
          delete status.remoteVpc;
        }
        status.phase = refused ? 'Refused' : 'Pending';
        return;
      }

      status.acceptedBy = acceptance.by;
      if (acceptance.by === 'Platform') status.approvedBy = acceptance.approvedBy;
      const acceptedMessage =
        acceptance.by === 'Mirror'
          ? `accepted: ${peer.namespace}/${acceptance.mirror.metadata.name} asks for the same peering`
          : `accepted: approved by ${acceptance.approvedBy}${pr.spec?.approval?.reason ? ` (${pr.spec.approval.reason})` : ''}`;
      scope.setCondition({ type: Conditions.Accepted, status: true, reason: acceptance.by === 'Mirror' ? Reasons.MirrorRequest : Reasons.PlatformApproval, message: acceptedMessage });
      if (scope.original.status?.phase !== 'Accepted' && scope.original.status?.phase !== 'Active') void deps.recorder?.event(pr, 'Normal', 'Accepted', acceptedMessage);
      status.phase = 'Accepted';
      status.localVpc = checked.own.vpc;
      status.remoteVpc = checked.peer.vpc;

      const link = await ensureLink(pair, checked.own, checked.peer);
      if (!link) {
        const range = `${formatIPv4(settings.interconnect.base)}/${settings.interconnect.prefix}`;
        const message = `no free /30 link is left in the interconnect range ${range}; the platform must widen it (--peering-interconnect-range)`;
        warnOnce(scope, 'Warning', Reasons.LinksExhausted, message);
        scope.setCondition({ type: Conditions.Programmed, status: false, reason: Reasons.LinksExhausted, message });
        return { requeueAfterMs: CONFLICT_RETRY_MS };
      }
      const first = refKey(link.pair.sides[0]) === refKey(own);
      status.interconnect = {
        cidr: link.link.cidr,
        localConnectIP: `${first ? link.link.a : link.link.b}/${link.link.prefix}`,
        remoteConnectIP: first ? link.link.b : link.link.a,
      };
      const recorded = links({ add: link });
      for (const side of [checked.own, checked.peer]) {
        const conflict = await converge(side, recorded);
        if (conflict) {
          warnOnce(scope, 'Warning', Reasons.VpcFieldConflict, conflict);
          scope.setCondition({ type: Conditions.Programmed, status: false, reason: Reasons.VpcFieldConflict, message: conflict });
          return { requeueAfterMs: CONFLICT_RETRY_MS };
        }
      }
      const message = `Vpc ${checked.own.vpc} and Vpc ${checked.peer.vpc} are peered over ${link.link.cidr}; each routes the other's node CIDR via the link`;
      scope.setCondition({ type: Conditions.Programmed, status: true, reason: Reasons.Programmed, message });
      if (scope.original.status?.phase !== 'Active') void deps.recorder?.event(pr, 'Normal', 'Programmed', message);
      status.phase = 'Active';
    },

    async delete(scope) {
      const pr = scope.obj;
      const pair = pairOfRequest(pr);
      pr.status = { ...pr.status, phase: 'Deleting' };
      scope.setCondition({ type: Conditions.Programmed, status: false, reason: Reasons.Deleting, message: 'removing the peering from both Vpcs' });
      // Another request of the pair may still accept it (e.g. an approved one): its own reconcile keeps it.
      if (!isSelfPeering(pr) && !pairStillAccepted(pair, pr, caches.requests.list(), settings.acceptance)) {
        if (await teardown(pair, scope.log)) void deps.recorder?.event(pr, 'Normal', 'PeeringRemoved', `the peering of ${pair.sides.map(refKey).join(' and ')} was removed from both Vpcs`);
      }
      scope.removeFinalizer();
    },
  });

  return (req: Request, log: Logger): Promise<Result | void> => (req.key.startsWith(LINK_KEY_PREFIX) ? sweepLink(req.key.slice(LINK_KEY_PREFIX.length), log) : reconcileRequest(req, log));
}

/** The keys of every request that names `ref` on either side (for watches of Clusters, KvmClusters and Vpcs). */
export function requestsNaming(requests: Informer<PeeringRequest>, ref: ClusterRef): string[] {
  const key = refKey(ref);
  return requests
    .list((pr) => {
      const s = sidesOf(pr);
      return refKey(s.own) === key || refKey(s.peer) === key;
    })
    .map((pr) => `${pr.metadata.namespace}/${pr.metadata.name}`);
}

/** The keys of every request of a pair. */
export function requestsOfPair(requests: Informer<PeeringRequest>, pair: Pair): string[] {
  return requests.list((pr) => pairOfRequest(pr).key === pair.key).map((pr) => `${pr.metadata.namespace}/${pr.metadata.name}`);
}

export type { Link };
