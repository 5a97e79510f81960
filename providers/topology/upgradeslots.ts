// The upgrade concurrency of a ClusterClass, kept in the apiserver so that
// every replica of the extension, and a restarted one, count the same
// upgrades: one coordination.k8s.io Lease per ClusterClass in the extension's
// namespace, whose annotation lists the Clusters BeforeClusterUpgrade let
// through. Writes carry the Lease's resourceVersion, so two replicas
// admitting at once cannot both take the last slot: the second gets 409,
// reads again and counts the first.
//
// "Upgrading" is what CAPI records: its pending-hooks annotation lists
// AfterClusterUpgrade from the moment an upgrade is let through until it has
// finished. An admission covers the moment before that mark shows: it counts
// until the mark has been seen and then removed, or until ADMITTED_TTL_MS
// (CAPI never started the upgrade, e.g. another extension held it).
//
// This file is pure: the Lease's name and contents, and which admissions
// still count. state.ts reads and writes the Lease.
import { createHash } from 'node:crypto';
import type { Cluster } from '../capi/contract.js';
import type { KubeObject } from '../kit/types.js';

export const PENDING_HOOKS_ANNOTATION = 'runtime.cluster.x-k8s.io/pending-hooks';
/** The JSON list of admissions. */
export const ADMISSIONS_ANNOTATION = 'ironplane.dev/upgrade-admissions';
/** "namespace/name" of the ClusterClass whose slots the Lease holds: proves the Lease is ours and for which class. */
export const CLASS_ANNOTATION = 'ironplane.dev/cluster-class';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'ironplane-extension';
export const LEASE_PREFIX = 'ironplane-upgrades-';

/**
 * How long a cluster let through BeforeClusterUpgrade counts as upgrading
 * before CAPI's mark shows on it: two clusters asking within the same moment
 * must not both take the last slot. Once the mark is seen, it alone says
 * whether the cluster still upgrades.
 */
export const ADMITTED_TTL_MS = 120_000;

/** A Cluster let through BeforeClusterUpgrade. */
export interface Admission {
  namespace: string;
  name: string;
  uid: string;
  /** The version it was let through to. */
  version: string;
  /** RFC 3339: when it stops counting unless CAPI's mark shows. */
  until: string;
  /** CAPI's AfterClusterUpgrade mark has been seen on it: from then on, the mark's removal ends the upgrade. */
  markSeen?: boolean;
}

export type Lease = KubeObject & { spec?: Record<string, unknown> };

export const classKeyOf = (c: Cluster): string => `${c.spec.topology?.classRef.namespace || c.metadata.namespace}/${c.spec.topology?.classRef.name ?? ''}`;
export const keyOf = (c: { metadata: { namespace?: string; name?: string } }): string => `${c.metadata.namespace}/${c.metadata.name}`;
const admissionKey = (a: Admission): string => `${a.namespace}/${a.name}`;

export function pendingHooks(obj: KubeObject): string[] {
  return (obj.metadata?.annotations?.[PENDING_HOOKS_ANNOTATION] ?? '').split(',').filter(Boolean);
}

export const upgradeMarked = (c: KubeObject): boolean => pendingHooks(c).includes('AfterClusterUpgrade');

/** The Lease of a class: a readable prefix and a hash of "namespace/name", so that no two classes share one and any class name fits. */
export function leaseName(classKey: string): string {
  return `${LEASE_PREFIX}${createHash('sha256').update(classKey).digest('hex').slice(0, 20)}`;
}

/** Why the Lease found under the class's name is not the extension's Lease for it; undefined when it is. */
export function notOurs(lease: Lease, classKey: string): string | undefined {
  const m = lease.metadata ?? {};
  if (m.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY || m.annotations?.[CLASS_ANNOTATION] !== classKey) {
    return `Lease ${m.namespace}/${m.name} does not hold the upgrade slots of ClusterClass ${classKey} (it lacks ${MANAGED_BY_LABEL}=${MANAGED_BY} or ${CLASS_ANNOTATION}=${classKey}): no upgrade of the class is let through until it is removed`;
  }
  return undefined;
}

const isAdmission = (v: unknown): v is Admission => {
  if (typeof v !== 'object' || v === null) return false;
  const a = v as Record<string, unknown>;
  return ['namespace', 'name', 'uid', 'version', 'until'].every((k) => typeof a[k] === 'string') && (a['markSeen'] === undefined || typeof a['markSeen'] === 'boolean');
};

/** The admissions a Lease records. An unreadable annotation records none (the next write replaces it), and says so. */
export function readAdmissions(lease: Lease | undefined): { admissions: Admission[]; problem?: string } {
  const raw = lease?.metadata?.annotations?.[ADMISSIONS_ANNOTATION];
  if (raw === undefined || raw === '') return { admissions: [] };
  try {
    const v: unknown = JSON.parse(raw);
    if (Array.isArray(v) && v.every(isAdmission)) return { admissions: v };
  } catch {
    // Reported below.
  }
  return { admissions: [], problem: `annotation ${ADMISSIONS_ANNOTATION} of Lease ${lease?.metadata?.namespace}/${lease?.metadata?.name} is not a list of admissions` };
}

/** The Lease of a class with these admissions: a new one, or `current` with its annotation replaced (keeping its resourceVersion for the write). */
export function leaseWith(current: Lease | undefined, name: string, namespace: string, classKey: string, admissions: readonly Admission[]): Lease {
  const sorted = [...admissions].sort((a, b) => admissionKey(a).localeCompare(admissionKey(b)));
  const meta = current?.metadata ?? {};
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    ...(current ?? {}),
    metadata: {
      ...meta,
      name,
      namespace,
      labels: { ...(meta.labels ?? {}), [MANAGED_BY_LABEL]: MANAGED_BY },
      annotations: { ...(meta.annotations ?? {}), [CLASS_ANNOTATION]: classKey, [ADMISSIONS_ANNOTATION]: JSON.stringify(sorted) },
    },
    spec: current?.spec ?? {},
  };
}

export const sameAdmissions = (a: readonly Admission[], b: readonly Admission[]): boolean => JSON.stringify(a) === JSON.stringify(b);

/** What a replica knows about a Cluster named by an admission: from its cache, or read live when the cache cannot tell. */
export type ClusterView = { found: false } | { found: true; uid: string; marked: boolean; deleting: boolean };

export interface Count {
  /** Other Clusters of the class that are upgrading, "namespace/name", sorted. */
  upgrading: string[];
  /** The admissions to keep (expired and finished ones dropped, marks recorded). */
  kept: Admission[];
}

/**
 * Which other Clusters of class `cls` are upgrading: those CAPI marks (from
 * `clusters`, the cache), and those admitted that still count. `view` tells,
 * for an admission, what the Cluster looks like now; it is asked only when
 * the cache cannot settle it (a mark seen before and not in the cache now,
 * which means either the upgrade ended or the cache lags: the caller reads
 * live). `self` (namespace/name) is left out of the count but its admission
 * is kept.
 */
export async function countUpgrades(
  clusters: readonly Cluster[],
  admissions: readonly Admission[],
  self: string,
  cls: string,
  now: number,
  view: (a: Admission) => Promise<ClusterView>,
): Promise<Count> {
  const upgrading = new Set<string>();
  for (const c of clusters) {
    if (upgradeMarked(c) && keyOf(c) !== self && classKeyOf(c) === cls && !c.metadata.deletionTimestamp) upgrading.add(keyOf(c));
  }
  const cached = new Map(clusters.map((c) => [keyOf(c), c]));
  const kept: Admission[] = [];
  for (const a of admissions) {
    if (Date.parse(a.until) <= now) continue;
    const key = admissionKey(a);
    const c = cached.get(key);
    let v: ClusterView | undefined;
    if (c && c.metadata.uid === a.uid && upgradeMarked(c)) v = { found: true, uid: a.uid, marked: true, deleting: !!c.metadata.deletionTimestamp };
    else if (c && c.metadata.uid === a.uid && !a.markSeen) v = { found: true, uid: a.uid, marked: false, deleting: !!c.metadata.deletionTimestamp };
    else v = await view(a);
    if (!v.found || v.uid !== a.uid || v.deleting) continue;
    if (v.marked) {
      kept.push({ ...a, markSeen: true });
      if (key !== self) upgrading.add(key);
    } else if (!a.markSeen) {
      kept.push(a);
      if (key !== self) upgrading.add(key);
    }
    // Marked before and not now: the upgrade ended.
  }
  return { upgrading: [...upgrading].sort(), kept };
}

/** `kept` with the cluster's admission added or renewed. */
export function admit(kept: readonly Admission[], cluster: Cluster, version: string, now: number): Admission[] {
  const key = keyOf(cluster);
  const others = kept.filter((a) => admissionKey(a) !== key);
  return [...others, { namespace: cluster.metadata.namespace ?? '', name: cluster.metadata.name ?? '', uid: cluster.metadata.uid ?? '', version, until: new Date(now + ADMITTED_TTL_MS).toISOString() }];
}
