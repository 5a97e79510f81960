// What a PeeringRequest means, as pure functions of what the caches hold:
// which two Clusters it joins (an unordered pair, so that a request and its
// mirror name the same peering), whether it is accepted, and what each VPC's
// vpcPeerings and staticRoutes must be given the links recorded for it.
import type { PeeringRequest } from '../api/generated/ironplane/v1alpha1/peeringrequest.js';
import { nameHash } from '../capi/ownership.js';
import type { Link } from './cidr.js';
import { ROUTE_POLICY } from './names.js';

export interface ClusterRef {
  namespace: string;
  name: string;
}

export const refKey = (r: ClusterRef): string => `${r.namespace}/${r.name}`;

export function parseRef(s: string | undefined): ClusterRef | undefined {
  const [namespace, name, extra] = (s ?? '').split('/');
  return namespace && name && extra === undefined ? { namespace, name } : undefined;
}

/** The requesting Cluster (in the request's own namespace, which the apiserver sets) and the peer. */
export function sidesOf(pr: PeeringRequest): { own: ClusterRef; peer: ClusterRef } {
  const ns = pr.metadata.namespace!;
  return {
    own: { namespace: ns, name: pr.spec?.clusterName ?? '' },
    peer: { namespace: pr.spec?.peer.namespace || ns, name: pr.spec?.peer.clusterName ?? '' },
  };
}

export interface Pair {
  /** "<ns>/<cluster>|<ns>/<cluster>", sides sorted. */
  key: string;
  sides: [ClusterRef, ClusterRef];
}

export function pairOf(a: ClusterRef, b: ClusterRef): Pair {
  const [x, y] = [a, b].sort((p, q) => (refKey(p) < refKey(q) ? -1 : refKey(p) > refKey(q) ? 1 : 0)) as [ClusterRef, ClusterRef];
  return { key: `${refKey(x)}|${refKey(y)}`, sides: [x, y] };
}

export function parsePair(key: string | undefined): Pair | undefined {
  const [a, b, extra] = (key ?? '').split('|');
  const x = parseRef(a);
  const y = parseRef(b);
  if (!x || !y || extra !== undefined) return undefined;
  const p = pairOf(x, y);
  return p.key === key ? p : undefined;
}

/** A label value for the pair (a pair key holds '/' and '|', which label values cannot). */
export const pairLabel = (p: Pair): string => nameHash(p.key);

/** The pair a request asks for. */
export const pairOfRequest = (pr: PeeringRequest): Pair => {
  const { own, peer } = sidesOf(pr);
  return pairOf(own, peer);
};

export const isSelfPeering = (pr: PeeringRequest): boolean => {
  const { own, peer } = sidesOf(pr);
  return refKey(own) === refKey(peer);
};

/** Which ways of accepting a request the platform allows (--peering-acceptance). */
export interface AcceptancePolicy {
  mirror: boolean;
  platform: boolean;
}

export function parseAcceptance(s: string): AcceptancePolicy {
  const words = s
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean);
  const bad = words.filter((w) => w !== 'mirror' && w !== 'platform');
  if (bad.length || !words.length) throw new Error(`--peering-acceptance takes mirror, platform or mirror,platform, got "${s}"`);
  return { mirror: words.includes('mirror'), platform: words.includes('platform') };
}

export type Acceptance = { by: 'Mirror'; mirror: PeeringRequest } | { by: 'Platform'; approvedBy: string } | { by: undefined; why: string };

const live = (pr: PeeringRequest) => !pr.metadata.deletionTimestamp;

/** Requests in the other direction: made in the peer's namespace for the peer Cluster, naming this one. */
export function mirrorsOf(pr: PeeringRequest, all: readonly PeeringRequest[]): PeeringRequest[] {
  const { own, peer } = sidesOf(pr);
  return all.filter((o) => {
    if (!live(o)) return false;
    const s = sidesOf(o);
    return refKey(s.own) === refKey(peer) && refKey(s.peer) === refKey(own);
  });
}

/**
 * Whether the request is accepted: the mirror request exists (made by
 * whoever may create requests in the peer's namespace: its owner), or a
 * platform operator approved it. Only what the policy allows counts.
 */
export function acceptanceOf(pr: PeeringRequest, all: readonly PeeringRequest[], policy: AcceptancePolicy): Acceptance {
  const { own, peer } = sidesOf(pr);
  const mirror = mirrorsOf(pr, all).sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1))[0];
  if (policy.mirror && mirror) return { by: 'Mirror', mirror };
  const approvedBy = pr.spec?.approval?.approvedBy;
  if (policy.platform && approvedBy) return { by: 'Platform', approvedBy };
  const ways: string[] = [];
  if (policy.mirror) {
    ways.push(
      `the owner of ${refKey(peer)} to create the mirror PeeringRequest in namespace ${peer.namespace} (spec.clusterName: ${peer.name}, spec.peer: {namespace: ${own.namespace}, clusterName: ${own.name}})`,
    );
  }
  if (policy.platform) ways.push('a platform operator to approve this request (spec.approval)');
  let why = `waiting for ${ways.join(', or for ')}`;
  if (approvedBy && !policy.platform) why += `; the approval by ${approvedBy} does not count: this platform accepts mirror requests only`;
  if (mirror && !policy.mirror) why += '; the mirror request does not count: this platform accepts platform approvals only';
  return { by: undefined, why };
}

/** Whether a pair is still accepted by its requests other than `leaving` (on deletion). */
export function pairStillAccepted(pair: Pair, leaving: PeeringRequest, all: readonly PeeringRequest[], policy: AcceptancePolicy): boolean {
  const others = all.filter((o) => live(o) && o.metadata.uid !== leaving.metadata.uid && pairOfRequest(o).key === pair.key && !isSelfPeering(o));
  return others.some((o) => acceptanceOf(o, others, policy).by !== undefined);
}

/** One side's network as the KvmCluster and its Vpc say. */
export interface SideNetwork {
  ref: ClusterRef;
  vpc: string;
  nodeCIDR: string;
}

/** A recorded link between the two sides of a pair. */
export interface RecordedLink {
  pair: Pair;
  link: Link;
}

export interface VpcPeering {
  remoteVpc: string;
  localConnectIP: string;
}

export interface StaticRoute {
  policy: string;
  cidr: string;
  nextHopIP: string;
}

export interface PeeringFields {
  vpcPeerings: VpcPeering[];
  staticRoutes: StaticRoute[];
}

/**
 * The vpcPeerings and staticRoutes of `self`'s Vpc: for every link of a
 * pair it is in, a router port on the link toward the peer's Vpc, and a
 * route to the peer's node CIDR via the peer router's link address. A link
 * whose other side cannot be resolved contributes nothing: no route toward a
 * network nobody can vouch for. Sorted, so equal inputs give equal lists.
 */
export function peeringFieldsFor(self: ClusterRef, links: readonly RecordedLink[], resolve: (ref: ClusterRef) => SideNetwork | undefined): PeeringFields {
  const vpcPeerings: VpcPeering[] = [];
  const staticRoutes: StaticRoute[] = [];
  const me = refKey(self);
  for (const { pair, link } of links) {
    const [a, b] = pair.sides;
    const first = refKey(a) === me;
    if (!first && refKey(b) !== me) continue;
    const other = resolve(first ? b : a);
    if (!other) continue;
    vpcPeerings.push({ remoteVpc: other.vpc, localConnectIP: `${first ? link.a : link.b}/${link.prefix}` });
    staticRoutes.push({ policy: ROUTE_POLICY, cidr: other.nodeCIDR, nextHopIP: first ? link.b : link.a });
  }
  vpcPeerings.sort((x, y) => (x.remoteVpc < y.remoteVpc ? -1 : x.remoteVpc > y.remoteVpc ? 1 : 0));
  staticRoutes.sort((x, y) => (x.cidr < y.cidr ? -1 : x.cidr > y.cidr ? 1 : 0));
  return { vpcPeerings, staticRoutes };
}

/** The first index to try for a pair's link: a hash of the pair, so both requests of a pair look at the same slot first. */
export function firstLinkIndex(pair: Pair, count: number): number {
  return Number(BigInt(`0x${nameHash(pair.key)}`) % BigInt(count));
}
