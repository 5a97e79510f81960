// Which BareMetalHost a MetalMachine may claim, and which host pools a
// cluster is granted. Pure functions over what the caches hold; the
// reconciler does the claiming.
//
// The grant model is Metal3's own: a shared pool is a namespace of
// BareMetalHosts, and a metal3.io HostDeployPolicy in that namespace says
// which tenant namespaces may deploy onto its hosts (by name, by a name
// pattern, or by namespace labels), with the same rules BMO applies to
// HostClaims. Tenants cannot write HostDeployPolicies in a pool namespace,
// nor label their own namespaces where Capsule governs them, so a MetalCluster
// that names a pool it is not granted gets no host from it.
import type { KubeObject } from '../kit/types.js';
import type { HostDeployPolicy } from '../api/generated/metal3/v1alpha1/hostdeploypolicy.js';
import { HOST_DETACHED_ANNOTATION, HOST_PAUSED_ANNOTATION, HOST_UNHEALTHY_ANNOTATION, NODE_REUSE_LABEL } from './names.js';

export interface SecretRef {
  name: string;
  namespace?: string;
}

export interface ConsumerRef {
  apiVersion?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  uid?: string;
}

export interface HostImage {
  url: string;
  checksum?: string;
  checksumType?: string;
  format?: string;
}

export interface HostNic {
  name?: string;
  mac?: string;
  ip?: string;
}

/** The part of a BareMetalHost the provider reads and writes. */
export interface Host extends KubeObject {
  spec?: {
    online?: boolean;
    consumerRef?: ConsumerRef | null;
    image?: HostImage | null;
    userData?: SecretRef | null;
    networkData?: SecretRef | null;
    metaData?: SecretRef | null;
    automatedCleaningMode?: string;
    customDeploy?: { method: string } | null;
  };
  status?: {
    provisioning?: { state?: string };
    operationalStatus?: string;
    errorType?: string;
    errorMessage?: string;
    errorCount?: number;
    poweredOn?: boolean;
    hardware?: { hostname?: string; nics?: HostNic[] };
  };
}

/** The cache keeps only the fields above: BMO's status carries whole hardware inventories. */
export function slimHost(h: Host): Host {
  const s = h.spec ?? {};
  const st = h.status;
  return {
    metadata: h.metadata,
    spec: {
      ...(s.online !== undefined ? { online: s.online } : {}),
      ...(s.consumerRef ? { consumerRef: s.consumerRef } : {}),
      ...(s.image ? { image: s.image } : {}),
      ...(s.userData ? { userData: s.userData } : {}),
      ...(s.networkData ? { networkData: s.networkData } : {}),
      ...(s.metaData ? { metaData: s.metaData } : {}),
      ...(s.automatedCleaningMode ? { automatedCleaningMode: s.automatedCleaningMode } : {}),
      ...(s.customDeploy ? { customDeploy: s.customDeploy } : {}),
    },
    ...(st
      ? {
          status: {
            ...(st.provisioning ? { provisioning: { ...(st.provisioning.state !== undefined ? { state: st.provisioning.state } : {}) } } : {}),
            ...(st.operationalStatus !== undefined ? { operationalStatus: st.operationalStatus } : {}),
            ...(st.errorType ? { errorType: st.errorType } : {}),
            ...(st.errorMessage ? { errorMessage: st.errorMessage } : {}),
            ...(st.errorCount !== undefined ? { errorCount: st.errorCount } : {}),
            ...(st.poweredOn !== undefined ? { poweredOn: st.poweredOn } : {}),
            ...(st.hardware
              ? { hardware: { ...(st.hardware.hostname ? { hostname: st.hardware.hostname } : {}), nics: (st.hardware.nics ?? []).map((n) => ({ name: n.name, mac: n.mac, ip: n.ip })) } }
              : {}),
          },
        }
      : {}),
  };
}

export const hostKey = (h: KubeObject): string => `${h.metadata?.namespace}/${h.metadata?.name}`;

/** States from which BMO provisions a host when it is given an image. */
export const CLAIMABLE_STATES: ReadonlySet<string> = new Set(['available', 'ready']);

/** The MetalMachine a host is claimed by, if any (any version of our group). */
export function consumerOf(h: Host): { namespace: string; name: string } | undefined {
  const c = h.spec?.consumerRef;
  if (!c?.name || c.kind !== 'MetalMachine' || !c.apiVersion?.startsWith('infrastructure.ironplane.dev/')) return undefined;
  return { namespace: c.namespace ?? h.metadata?.namespace ?? '', name: c.name };
}

/**
 * Whether the host is claimed by that MetalMachine. With `uid`, a consumerRef
 * carrying another uid (an earlier MetalMachine of the same name) is not
 * the machine's; one without a uid is taken at its name (every claim of
 * ours writes the uid).
 */
export function isConsumedBy(h: Host, namespace: string, name: string, uid?: string): boolean {
  const c = consumerOf(h);
  if (c?.namespace !== namespace || c.name !== name) return false;
  const claimedUid = h.spec?.consumerRef?.uid;
  return !uid || !claimedUid || claimedUid === uid;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

/** Kubernetes label-selector semantics; an empty selector matches everything. */
export function matchesSelector(labels: Record<string, string> | undefined, sel: LabelSelector | undefined): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of sel?.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(l[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(l[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** The selector as kubectl prints it: "role=worker,rack in (r1,r2),!gpu". */
export function selectorString(sel: LabelSelector | undefined): string {
  const parts = Object.entries(sel?.matchLabels ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${e.operator === 'In' ? 'in' : 'notin'} (${[...(e.values ?? [])].sort().join(',')})`);
  }
  return parts.length ? parts.join(',') : '<everything>';
}

export interface HostQuery {
  /** Namespaces the machine may draw from, its own first. */
  namespaces: readonly string[];
  selector?: LabelSelector;
  /** The Machine's failure domain, matched against zoneLabel on the host. */
  failureDomain?: string;
  zoneLabel: string;
  /** Prefer hosts released by this template (node reuse). */
  reuse?: string;
  /** Spreads concurrent machines over different hosts: the machine's uid. */
  seed: string;
  /** Hosts this process has just claimed, before the cache shows it. */
  taken?: ReadonlySet<string>;
}

/** Why a host cannot be claimed, or undefined when it can. */
export function unclaimableReason(h: Host): string | undefined {
  const a = h.metadata?.annotations ?? {};
  if (h.spec?.consumerRef) return 'claimed';
  if (Object.hasOwn(a, HOST_PAUSED_ANNOTATION)) return 'paused';
  if (Object.hasOwn(a, HOST_DETACHED_ANNOTATION)) return 'detached';
  if (Object.hasOwn(a, HOST_UNHEALTHY_ANNOTATION)) return 'unhealthy';
  if (h.metadata?.deletionTimestamp) return 'deleting';
  if (h.status?.errorType || h.status?.operationalStatus === 'error') return 'in error';
  const state = h.status?.provisioning?.state || 'unregistered';
  if (!CLAIMABLE_STATES.has(state)) return state;
  return undefined;
}

/**
 * FNV-1a: a cheap, stable hash for ordering, not for security. It ends with
 * murmur3's finalizer: plain FNV-1a leaves the last character in the low
 * bits, so hosts named alike (node-0 … node-9) kept nearly the same order
 * under every seed and most machines tried the same two hosts first.
 */
function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Claimable hosts for a machine, best first: a host its template released
 * (node reuse), then hosts of its own namespace before pool hosts, then a
 * per-machine pseudo-random order, so that machines racing for hosts mostly
 * try different ones (rendezvous hashing) instead of all the first.
 */
export function candidates(hosts: readonly Host[], q: HostQuery): Host[] {
  const rank = new Map(q.namespaces.map((ns, i) => [ns, i]));
  const ok = hosts.filter(
    (h) =>
      rank.has(h.metadata?.namespace ?? '') &&
      !q.taken?.has(hostKey(h)) &&
      unclaimableReason(h) === undefined &&
      matchesSelector(h.metadata?.labels, q.selector) &&
      (!q.failureDomain || h.metadata?.labels?.[q.zoneLabel] === q.failureDomain),
  );
  const score = (h: Host) => ({
    reuse: q.reuse && h.metadata?.labels?.[NODE_REUSE_LABEL] === q.reuse ? 0 : 1,
    ns: rank.get(h.metadata?.namespace ?? '')!,
    spread: fnv(`${q.seed}/${hostKey(h)}`),
  });
  const scored = ok.map((h) => ({ h, s: score(h) }));
  scored.sort((a, b) => a.s.reuse - b.s.reuse || a.s.ns - b.s.ns || a.s.spread - b.s.spread || hostKey(a.h).localeCompare(hostKey(b.h)));
  return scored.map((x) => x.h);
}

/**
 * `candidates`, made sure of the host this machine's template released: when
 * node reuse is asked for and the cache offers no host with the template's
 * label first, the labelled hosts are read fresh (`listLabelled` with a label
 * selector) and replace their cached copies. The release and the next
 * machine's create race the watch, so the cache may still show that host
 * claimed by the machine that just let it go.
 */
export async function candidatesWithReleased(cached: readonly Host[], q: HostQuery, listLabelled: (labelSelector: string) => Promise<Host[]>): Promise<{ all: Host[]; options: Host[] }> {
  const options = candidates(cached, q);
  if (!q.reuse || options[0]?.metadata?.labels?.[NODE_REUSE_LABEL] === q.reuse) return { all: [...cached], options };
  const fresh = await listLabelled(`${NODE_REUSE_LABEL}=${q.reuse}`);
  if (!fresh.length) return { all: [...cached], options };
  const seen = new Set(fresh.map(hostKey));
  const all = [...cached.filter((h) => !seen.has(hostKey(h))), ...fresh];
  return { all, options: candidates(all, q) };
}

/**
 * The message of a machine that found no host: the selector, where it looked,
 * and why the hosts that match the selector cannot be claimed. Deterministic
 * (sorted counts), so that the condition does not churn.
 */
export function noHostMessage(hosts: readonly Host[], q: HostQuery): string {
  const inScope = hosts.filter((h) => q.namespaces.includes(h.metadata?.namespace ?? ''));
  const matching = inScope.filter((h) => matchesSelector(h.metadata?.labels, q.selector));
  const where = `in namespace${q.namespaces.length > 1 ? 's' : ''} ${q.namespaces.join(', ')}`;
  const head = `no available BareMetalHost matches selector "${selectorString(q.selector)}"${q.failureDomain ? ` in failure domain ${q.failureDomain} (${q.zoneLabel})` : ''} ${where}`;
  if (!matching.length) return `${head}: none of the ${inScope.length} host(s) there match the selector`;
  const why = new Map<string, number>();
  for (const h of matching) {
    let r = unclaimableReason(h) ?? (q.taken?.has(hostKey(h)) ? 'claimed' : undefined);
    if (!r && q.failureDomain && h.metadata?.labels?.[q.zoneLabel] !== q.failureDomain) r = 'in another failure domain';
    if (r) why.set(r, (why.get(r) ?? 0) + 1);
  }
  const counts = [...why.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([r, n]) => `${n} ${r}`);
  return `${head}: ${matching.length} match the selector but none is claimable (${counts.join(', ')})`;
}

/** Failure domains: the distinct zone-label values of the hosts a cluster may use, sorted. */
export function failureDomainsFrom(hosts: readonly Host[], namespaces: readonly string[], zoneLabel: string): { name: string; controlPlane: boolean }[] {
  const zones = new Set<string>();
  for (const h of hosts) {
    if (!namespaces.includes(h.metadata?.namespace ?? '')) continue;
    const z = h.metadata?.labels?.[zoneLabel];
    if (z) zones.add(z);
  }
  // Control planes are Kamaji pods, never hosts.
  return [...zones].sort().map((name) => ({ name, controlPlane: false }));
}

export interface NamespaceInfo {
  name: string;
  labels?: Record<string, string>;
}

/**
 * Whether a HostDeployPolicy admits a tenant namespace, with BMO's own
 * HostClaim rules: a policy without spec.hostClaimNamespaces admits nobody,
 * an empty one admits every namespace; names, the name pattern and the
 * labels must all hold when given. The pattern is an unanchored regular
 * expression, evaluated with JavaScript's engine (Go-only syntax such as
 * (?i) is refused). Throws on a bad pattern, which the caller reports.
 */
export function policyAdmits(policy: HostDeployPolicy, tenant: NamespaceInfo): boolean {
  const c = policy.spec?.hostClaimNamespaces;
  if (!c) return false;
  if (c.names && !c.names.includes(tenant.name)) return false;
  if (c.nameMatches && !new RegExp(c.nameMatches).test(tenant.name)) return false;
  for (const l of c.hasLabels ?? []) {
    const v = tenant.labels?.[l.name];
    if (v === undefined || (l.value && v !== l.value)) return false;
  }
  return true;
}

export interface PoolGrants {
  /** The namespaces hosts may come from: the tenant's own, then each granted pool in the order asked. */
  namespaces: string[];
  /** Asked-for pools without a grant, with why. */
  denied: { namespace: string; why: string }[];
}

export function resolvePools(tenant: NamespaceInfo, requested: readonly string[], policies: readonly HostDeployPolicy[]): PoolGrants {
  const namespaces = [tenant.name];
  const denied: PoolGrants['denied'] = [];
  for (const pool of requested) {
    if (pool === tenant.name || namespaces.includes(pool)) continue;
    const here = policies.filter((p) => p.metadata.namespace === pool);
    if (!here.length) {
      denied.push({ namespace: pool, why: 'it has no HostDeployPolicy' });
      continue;
    }
    const errors: string[] = [];
    const admitted = here.some((p) => {
      try {
        return policyAdmits(p, tenant);
      } catch (e) {
        errors.push(`HostDeployPolicy ${p.metadata.name}: ${(e as Error).message}`);
        return false;
      }
    });
    if (admitted) namespaces.push(pool);
    else denied.push({ namespace: pool, why: errors.length ? errors.join('; ') : `no HostDeployPolicy there admits namespace ${tenant.name}` });
  }
  return { namespaces, denied };
}
