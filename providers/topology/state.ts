// What the lifecycle hooks and ValidateTopology need to know about the
// management cluster, gathered by the server and handed to the pure
// handlers as plain snapshots.
//
// Read from informer caches (hooks are called on every topology reconcile,
// so no API call per request): Namespaces labelled with a Capsule tenant,
// Capsule Tenants, Clusters and ClusterClasses, each trimmed to the fields
// used. Read live, because only BeforeClusterDelete needs them and then it
// needs them fresh: the cluster's LoadBalancer Services and infrastructure
// machines, by label, in the cluster's namespace.
import { ClusterClassResource, type ClusterClass } from '../api/generated/capi/v1beta2/clusterclass.js';
import { TenantResource } from '../api/generated/capsule/v1beta2/tenant.js';
import { Clusters, type Cluster } from '../capi/contract.js';
import { isNotFound, type Client } from '../kit/client.js';
import { Informer } from '../kit/informer.js';
import type { Logger } from '../kit/log.js';
import { metadataOnly, Namespaces, type KubeObject, type ResourceType } from '../kit/types.js';
import { addAsk, askOf, emptyAsk, type Ask, type Tenancy } from './checks.js';
import type { Fleet } from './handlers/beforeclusterupgrade.js';
import type { InfraMachine, LoadBalancerService, Release } from './handlers/beforeclusterdelete.js';
import { clusterMachineSets, type ClassKinds } from './machinesets.js';
import { parseQuantity } from './quantity.js';

export const TENANT_LABEL = 'capsule.clastix.io/tenant';
export const PENDING_HOOKS_ANNOTATION = 'runtime.cluster.x-k8s.io/pending-hooks';
const CLUSTER_NAME_LABEL = 'cluster.x-k8s.io/cluster-name';

export const Tenants: ResourceType = TenantResource;
export const Services: ResourceType = { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true };
export const KvmMachines: ResourceType = { group: 'infrastructure.ironplane.dev', version: 'v1alpha1', kind: 'KvmMachine', plural: 'kvmmachines', namespaced: true };
export const MetalMachines: ResourceType = { group: 'infrastructure.ironplane.dev', version: 'v1alpha1', kind: 'MetalMachine', plural: 'metalmachines', namespaced: true };

/**
 * How long a cluster let through BeforeClusterUpgrade counts as upgrading
 * before our cache shows CAPI's pending-hooks annotation on it: two clusters
 * asking within the same moment must not both take the last slot. Once the
 * annotation is seen, it alone says whether the cluster still upgrades.
 */
export const ADMITTED_TTL_MS = 120_000;

/** An upgrade let through and not yet seen in the cache. */
export interface Admission {
  classKey: string;
  until: number;
}

/**
 * The other Clusters of class `cls` that are upgrading: those CAPI marks
 * with AfterClusterUpgrade pending, and those just let through whose mark the
 * cache does not show yet. Admissions that expired, or whose mark the cache
 * now shows, are dropped from `admitted`: from then on the mark (and its
 * removal when the upgrade ends) is the truth.
 */
export function upgradingOthers(clusters: readonly Cluster[], admitted: Map<string, Admission>, key: string, cls: string, now: number): string[] {
  const upgrading = new Set<string>();
  for (const c of clusters) {
    const k = keyOf(c);
    if (!pendingHooks(c).includes('AfterClusterUpgrade')) continue;
    admitted.delete(k);
    if (k !== key && classKey(c) === cls && !c.metadata.deletionTimestamp) upgrading.add(k);
  }
  for (const [k, v] of admitted) {
    if (v.until <= now) admitted.delete(k);
    else if (k !== key && v.classKey === cls) upgrading.add(k);
  }
  return [...upgrading].sort();
}

/** The snapshots the server hands to handlers. Tests give handlers their own. */
export interface StateSource {
  /** The Capsule tenancy of a namespace; `exclude` (a cluster name) is left out of what others use. */
  tenancy(namespace: string, exclude: string | undefined, gpuClass: string): Tenancy;
  classKinds(cluster: Cluster): ClassKinds | undefined;
  fleet(cluster: Cluster): Fleet;
  /** Records that an upgrade of the cluster was let through. */
  admitted(cluster: Cluster): void;
  release(cluster: Cluster): Promise<Release>;
  labelCluster(namespace: string, name: string, labels: Record<string, string | null>): Promise<void>;
  /** A reason the caches are not usable yet, for /readyz. */
  notReady(): string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface TenantObject extends KubeObject {
  spec?: { resourceQuotas?: { scope?: string; items?: { hard?: Record<string, string | number> }[] } };
}

const classKey = (c: Cluster): string => `${c.spec.topology?.classRef.namespace || c.metadata.namespace}/${c.spec.topology?.classRef.name ?? ''}`;
const keyOf = (c: Cluster): string => `${c.metadata.namespace}/${c.metadata.name}`;

export function pendingHooks(obj: KubeObject): string[] {
  return (obj.metadata?.annotations?.[PENDING_HOOKS_ANNOTATION] ?? '').split(',').filter(Boolean);
}

export class ClusterState implements StateSource {
  private readonly namespaces: Informer<KubeObject>;
  private readonly tenants: Informer<TenantObject>;
  private readonly clusters: Informer<Cluster>;
  private readonly classes: Informer<ClusterClass>;
  /** Clusters let through BeforeClusterUpgrade: key → class and until when they count. */
  private readonly admittedUpgrades = new Map<string, Admission>();

  constructor(
    private readonly client: Client,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.namespaces = new Informer(client, Namespaces, { log, labelSelector: TENANT_LABEL, transform: metadataOnly });
    this.tenants = new Informer<TenantObject>(client, Tenants, { log, transform: (t) => ({ ...metadataOnly(t), spec: { resourceQuotas: t.spec?.resourceQuotas } }) });
    this.clusters = new Informer<Cluster>(client, Clusters, {
      log,
      transform: (c) => ({ ...metadataOnly(c), spec: { topology: c.spec?.topology, controlPlaneRef: c.spec?.controlPlaneRef } }) as Cluster,
    });
    this.classes = new Informer<ClusterClass>(client, ClusterClassResource, {
      log,
      transform: (cc) =>
        ({
          ...metadataOnly(cc),
          spec: { workers: { machineDeployments: (cc.spec?.workers?.machineDeployments ?? []).map((md) => ({ class: md.class, infrastructure: { templateRef: { kind: md.infrastructure?.templateRef?.kind } } })) } },
        }) as unknown as ClusterClass,
    });
  }

  /** Starts the informers; resolves once the required caches are synced. Tenants are optional (Capsule may be absent): hooks say so when they need them. */
  async start(): Promise<void> {
    void this.tenants.start();
    await Promise.all([this.namespaces.start(), this.clusters.start(), this.classes.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.namespaces.stop(), this.tenants.stop(), this.clusters.stop(), this.classes.stop()]);
  }

  notReady(): string | undefined {
    const pending = [
      ['namespaces', this.namespaces],
      ['clusters', this.clusters],
      ['clusterclasses', this.classes],
    ].filter(([, i]) => !(i as Informer<KubeObject>).hasSynced());
    return pending.length ? `caches not synced: ${pending.map(([n]) => n).join(', ')}` : undefined;
  }

  classKinds(cluster: Cluster): ClassKinds | undefined {
    const ref = cluster.spec.topology?.classRef;
    if (!ref) return undefined;
    const cc = this.classes.get(`${ref.namespace || cluster.metadata.namespace}/${ref.name}`);
    if (!cc) return undefined;
    const kinds: ClassKinds = {};
    for (const md of cc.spec?.workers?.machineDeployments ?? []) {
      const kind = md.infrastructure?.templateRef?.kind;
      if (kind) kinds[md.class] = kind;
    }
    return kinds;
  }

  tenancy(namespace: string, exclude: string | undefined, gpuClass: string): Tenancy {
    const none = (problem: string, tenant?: string): Tenancy => ({ namespace, problem, ...(tenant ? { tenant } : {}), hard: {}, scope: 'Tenant', used: emptyAsk() });
    if (!this.namespaces.hasSynced()) return none('the extension has not read the Namespaces yet');
    const tenant = this.namespaces.get(namespace)?.metadata?.labels?.[TENANT_LABEL];
    if (!tenant) return none(`namespace ${namespace} belongs to no Capsule Tenant (it has no ${TENANT_LABEL} label): create clusters in a tenant's namespace`);
    if (!this.tenants.hasSynced()) return none(`Capsule Tenants cannot be read (tenants.capsule.clastix.io): is Capsule installed?`, tenant);
    const t = this.tenants.get(tenant);
    if (!t) return none(`namespace ${namespace} is labelled for Capsule Tenant ${tenant}, which does not exist`, tenant);
    // Each quota item becomes a ResourceQuota of its own: where several set a resource, the lowest binds.
    const hard: Record<string, string> = {};
    for (const item of t.spec?.resourceQuotas?.items ?? []) {
      for (const [k, v] of Object.entries(item.hard ?? {})) {
        const prev = hard[k];
        if (prev === undefined || quantityValue(String(v)) < quantityValue(prev)) hard[k] = String(v);
      }
    }
    const scope = t.spec?.resourceQuotas?.scope === 'Namespace' ? 'Namespace' : 'Tenant';
    const inScope = new Set(scope === 'Namespace' ? [namespace] : this.namespaces.list((n) => n.metadata?.labels?.[TENANT_LABEL] === tenant).map((n) => n.metadata?.name ?? ''));
    let used: Ask = emptyAsk();
    for (const c of this.clusters.list((c) => inScope.has(c.metadata.namespace ?? '') && !c.metadata.deletionTimestamp && !!c.spec.topology)) {
      if (c.metadata.namespace === namespace && c.metadata.name === exclude) continue;
      used = addAsk(used, askOf(clusterMachineSets(c, this.classKinds(c), gpuClass).sets));
    }
    return { namespace, tenant, hard, scope, used };
  }

  fleet(cluster: Cluster): Fleet {
    const key = keyOf(cluster);
    const cls = classKey(cluster);
    if (!this.clusters.hasSynced()) return { classRef: cls, upgrading: [], unknown: 'the extension has not read the Clusters yet, so it cannot count upgrades in progress' };
    return { classRef: cls, upgrading: upgradingOthers(this.clusters.list(), this.admittedUpgrades, key, cls, this.now()) };
  }

  admitted(cluster: Cluster): void {
    this.admittedUpgrades.set(keyOf(cluster), { classKey: classKey(cluster), until: this.now() + ADMITTED_TTL_MS });
  }

  async release(cluster: Cluster): Promise<Release> {
    const namespace = cluster.metadata.namespace ?? '';
    const labelSelector = `${CLUSTER_NAME_LABEL}=${cluster.metadata.name}`;
    const errors: string[] = [];
    const list = async <T extends KubeObject>(rt: ResourceType): Promise<T[]> => {
      try {
        return (await this.client.list<T>(rt, { namespace, labelSelector })).items;
      } catch (e) {
        // A kind that is not installed (no KubeVirt provider, say) holds nothing.
        if (isNotFound(e)) return [];
        errors.push(`listing ${rt.plural}: ${(e as Error).message}`);
        return [];
      }
    };
    type Svc = KubeObject & { spec?: { type?: string }; status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } };
    const [svcs, kvms, metals] = await Promise.all([list<Svc>(Services), list<KubeObject>(KvmMachines), list<KubeObject>(MetalMachines)]);
    const services: LoadBalancerService[] = svcs
      .filter((s) => s.spec?.type === 'LoadBalancer')
      .map((s) => ({
        namespace: s.metadata?.namespace ?? namespace,
        name: s.metadata?.name ?? '',
        labels: s.metadata?.labels ?? {},
        addresses: (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname ?? '').filter(Boolean),
      }));
    const machine = (kind: string) => (m: KubeObject): InfraMachine => ({
      kind,
      namespace: m.metadata?.namespace ?? namespace,
      name: m.metadata?.name ?? '',
      ownerKinds: (m.metadata?.ownerReferences ?? []).filter((o) => o.apiVersion.startsWith('cluster.x-k8s.io/')).map((o) => o.kind),
    });
    return { services, machines: [...kvms.map(machine('KvmMachine')), ...metals.map(machine('MetalMachine'))], errors };
  }

  async labelCluster(namespace: string, name: string, labels: Record<string, string | null>): Promise<void> {
    await this.client.mergePatch(Clusters, name, namespace, { metadata: { labels } });
    this.log.info('labelled cluster for add-ons', { cluster: `${namespace}/${name}`, labels });
  }
}

/** A quantity as a number for comparison; an unparsable one never binds. */
const quantityValue = (s: string): number => parseQuantity(s) ?? Number.POSITIVE_INFINITY;
