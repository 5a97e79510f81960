// What the lifecycle hooks and ValidateTopology need to know about the
// management cluster, gathered by the server and handed to the pure
// handlers as plain snapshots, and the writes the hooks make.
//
// Read from informer caches (hooks are called on every topology reconcile,
// so no API call per request): Namespaces labelled with a Capsule tenant,
// Capsule Tenants, Clusters and ClusterClasses, each trimmed to the fields
// used. Read live: a Cluster a hook acts on when the cache cannot confirm
// its uid and the hook's premise (the cache may lag), its control plane's
// version, the ExtensionConfig's settings, the Lease holding a class's
// upgrade slots (upgradeslots.ts), and what BeforeClusterDelete waits for
// (the cluster's LoadBalancer Services and infrastructure machines, by
// label, in its namespace).
import { ClusterClassResource, type ClusterClass } from '../api/generated/capi/v1beta2/clusterclass.js';
import { ExtensionConfigResource } from '../api/generated/capi/v1beta2/extensionconfig.js';
import { TenantResource } from '../api/generated/capsule/v1beta2/tenant.js';
import { KamajiControlPlaneResource } from '../api/generated/kamaji/v1alpha1/kamajicontrolplane.js';
import { Clusters, type Cluster } from '../capi/contract.js';
import { isAlreadyExists, isConflict, isNotFound, type Client } from '../kit/client.js';
import { Informer } from '../kit/informer.js';
import type { Logger } from '../kit/log.js';
import { Leases, metadataOnly, Namespaces, type KubeObject, type ResourceType } from '../kit/types.js';
import { failure, type RetryResponse } from './api.js';
import { addAsk, askOf, emptyAsk, type Ask, type Tenancy } from './checks.js';
import type { Fleet } from './handlers/beforeclusterupgrade.js';
import type { InfraMachine, LoadBalancerService, Release } from './handlers/beforeclusterdelete.js';
import { clusterMachineSets, type ClassKinds } from './machinesets.js';
import { notHeld, type ClusterRef, type ControlPlaneVersion } from './premises.js';
import { parseQuantity } from './quantity.js';
import { admit, classKeyOf, countUpgrades, leaseName, leaseWith, notOurs, readAdmissions, sameAdmissions, upgradeMarked, type Admission, type ClusterView, type Lease } from './upgradeslots.js';

export { ADMITTED_TTL_MS, PENDING_HOOKS_ANNOTATION, pendingHooks } from './upgradeslots.js';

export const TENANT_LABEL = 'capsule.clastix.io/tenant';
const CLUSTER_NAME_LABEL = 'cluster.x-k8s.io/cluster-name';

export const Tenants: ResourceType = TenantResource;
export const Services: ResourceType = { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true };
export const KvmMachines: ResourceType = { group: 'infrastructure.ironplane.dev', version: 'v1alpha1', kind: 'KvmMachine', plural: 'kvmmachines', namespaced: true };
export const MetalMachines: ResourceType = { group: 'infrastructure.ironplane.dev', version: 'v1alpha1', kind: 'MetalMachine', plural: 'metalmachines', namespaced: true };
export const ExtensionConfigs: ResourceType = ExtensionConfigResource;

/** The control-plane kinds whose version the extension reads (RBAC: config/extension/rbac.yaml). Our ClusterClasses host control planes on Kamaji. */
export const CONTROL_PLANE_KINDS: Readonly<Record<string, ResourceType>> = {
  'controlplane.cluster.x-k8s.io/KamajiControlPlane': KamajiControlPlaneResource,
};

/** Where the extension keeps state replicas share, when no flag or POD_NAMESPACE says. */
export const DEFAULT_NAMESPACE = 'ironplane-extension-system';
/** The ExtensionConfig that registers the extension (config/extension/extensionconfig.yaml). */
export const DEFAULT_EXTENSION_CONFIG = 'ironplane';
/** Attempts at a Lease write that keeps losing to another replica's. */
const LEASE_ATTEMPTS = 8;

/** A premise on the Cluster a hook acts on: a message when it does not hold. */
export type Premise = (c: Cluster) => string | undefined | Promise<string | undefined>;

export type Held = { cluster: Cluster; problem?: undefined } | { cluster?: undefined; problem: string };

/** The snapshots the server hands to handlers, and the writes hooks make. Tests give the server their own. */
export interface StateSource {
  /** The Capsule tenancy of a namespace; `exclude` (a cluster name) is left out of what others use. */
  tenancy(namespace: string, exclude: string | undefined, gpuClass: string): Tenancy;
  classKinds(cluster: Cluster): ClassKinds | undefined;
  /**
   * The Cluster a request names, as the apiserver holds it, when its uid is
   * the request's and `premise` holds: from the cache, or read live when the
   * cache cannot confirm it (or `live` asks for a fresh read).
   */
  heldCluster(ref: ClusterRef, premise?: Premise, opts?: { live?: boolean }): Promise<Held>;
  /** The version of the Cluster's control plane (through spec.controlPlaneRef), or why it cannot be read. */
  controlPlaneVersion(cluster: Cluster): Promise<ControlPlaneVersion | string>;
  /** The settings of the extension's ExtensionConfig as the apiserver holds it (what CAPI passes to lifecycle hooks); undefined when it has none. */
  hookSettings(): Promise<Record<string, string> | undefined>;
  /**
   * Runs `decide` with the class's upgrades in flight and, when it lets the
   * cluster through (Success, retryAfterSeconds 0) and `limit` > 0, records
   * the admission in the class's Lease in the same optimistic write, so that
   * no two replicas give out the same slot.
   */
  admitUpgrade(cluster: Cluster, version: string, limit: number, decide: (fleet: Fleet) => RetryResponse): Promise<RetryResponse>;
  release(cluster: Cluster): Promise<Release>;
  /** Merge-patches the Cluster's labels, on the condition that its uid and resourceVersion are still those of `cluster` (409 otherwise). */
  labelCluster(cluster: Cluster, labels: Record<string, string | null>): Promise<void>;
  /** A reason the caches are not usable yet, for /readyz. */
  notReady(): string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterStateOptions {
  /** Where the upgrade-slot Leases live (the extension's own namespace). */
  namespace?: string;
  /** The ExtensionConfig whose settings lifecycle hooks use. */
  extensionConfig?: string;
  now?: () => number;
}

interface TenantObject extends KubeObject {
  spec?: { resourceQuotas?: { scope?: string; items?: { hard?: Record<string, string | number> }[] } };
}

type Versioned = KubeObject & { spec?: { version?: unknown }; status?: { version?: unknown } };

/** The cached Cluster: metadata, spec, and of the status only what the premises read. */
function trimCluster(c: Cluster): Cluster {
  const st = c.status;
  return {
    ...metadataOnly(c),
    spec: c.spec ?? {},
    status: {
      ...(st?.initialization ? { initialization: st.initialization } : {}),
      ...(st?.conditions ? { conditions: st.conditions.filter((x) => x.type === 'ControlPlaneInitialized') } : {}),
    },
  } as Cluster;
}

export class ClusterState implements StateSource {
  private readonly namespaces: Informer<KubeObject>;
  private readonly tenants: Informer<TenantObject>;
  private readonly clusters: Informer<Cluster>;
  private readonly classes: Informer<ClusterClass>;
  private readonly namespace: string;
  private readonly extensionConfig: string;
  private readonly now: () => number;

  constructor(
    private readonly client: Client,
    private readonly log: Logger,
    opts: ClusterStateOptions = {},
  ) {
    this.namespace = opts.namespace ?? DEFAULT_NAMESPACE;
    this.extensionConfig = opts.extensionConfig ?? DEFAULT_EXTENSION_CONFIG;
    this.now = opts.now ?? Date.now;
    this.namespaces = new Informer(client, Namespaces, { log, labelSelector: TENANT_LABEL, transform: metadataOnly });
    this.tenants = new Informer<TenantObject>(client, Tenants, { log, transform: (t) => ({ ...metadataOnly(t), spec: { resourceQuotas: t.spec?.resourceQuotas } }) });
    this.clusters = new Informer<Cluster>(client, Clusters, {
      log,
      transform: trimCluster,
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

  async heldCluster(ref: ClusterRef, premise?: Premise, opts: { live?: boolean } = {}): Promise<Held> {
    if (!opts.live) {
      const cached = this.clusters.get(`${ref.namespace}/${ref.name}`);
      if (cached && cached.metadata.uid === ref.uid && (await premise?.(cached)) === undefined) return { cluster: cached };
    }
    const live = await this.client.tryGet<Cluster>(Clusters, ref.name, ref.namespace);
    if (!live || live.metadata.uid !== ref.uid) return { problem: notHeld(ref) };
    const problem = await premise?.(live);
    return problem === undefined ? { cluster: live } : { problem };
  }

  async controlPlaneVersion(cluster: Cluster): Promise<ControlPlaneVersion | string> {
    const ref = cluster.spec.controlPlaneRef;
    if (!ref?.name) return `Cluster ${cluster.metadata.namespace}/${cluster.metadata.name} has no spec.controlPlaneRef yet`;
    const what = `${ref.kind} ${cluster.metadata.namespace}/${ref.name}`;
    const rt = CONTROL_PLANE_KINDS[`${ref.apiGroup}/${ref.kind}`];
    if (!rt) return `its control plane is a ${ref.kind} of ${ref.apiGroup}, whose version the extension does not read (it reads ${Object.keys(CONTROL_PLANE_KINDS).join(', ')})`;
    const cp = await this.client.tryGet<Versioned>(rt, ref.name, cluster.metadata.namespace);
    if (!cp) return `its control plane ${what} does not exist`;
    const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
    return { what, spec: str(cp.spec?.version), status: str(cp.status?.version) };
  }

  async hookSettings(): Promise<Record<string, string> | undefined> {
    const ec = await this.client.tryGet<KubeObject & { spec?: { settings?: Record<string, string> } }>(ExtensionConfigs, this.extensionConfig);
    return ec?.spec?.settings;
  }

  /** What the Cluster of an admission looks like now, read live: the cache could not settle it. */
  private async view(a: Admission): Promise<ClusterView> {
    const c = await this.client.tryGet<Cluster>(Clusters, a.name, a.namespace);
    if (!c) return { found: false };
    return { found: true, uid: c.metadata.uid ?? '', marked: upgradeMarked(c), deleting: !!c.metadata.deletionTimestamp };
  }

  async admitUpgrade(cluster: Cluster, version: string, limit: number, decide: (fleet: Fleet) => RetryResponse): Promise<RetryResponse> {
    const cls = classKeyOf(cluster);
    if (!this.clusters.hasSynced()) return decide({ classRef: cls, upgrading: [], unknown: 'the extension has not read the Clusters yet, so it cannot count upgrades in progress' });
    // No limit: nothing to count, nothing to record.
    if (limit <= 0) return decide({ classRef: cls, upgrading: [] });
    const name = leaseName(cls);
    const self = `${cluster.metadata.namespace}/${cluster.metadata.name}`;
    for (let attempt = 1; attempt <= LEASE_ATTEMPTS; attempt++) {
      const lease = await this.client.tryGet<Lease>(Leases, name, this.namespace);
      if (lease) {
        const foreign = notOurs(lease, cls);
        if (foreign) return failure('BeforeClusterUpgrade', foreign) as RetryResponse;
      }
      const { admissions, problem } = readAdmissions(lease);
      if (problem) this.log.warn('upgrade slots unreadable, starting from none', { lease: `${this.namespace}/${name}`, problem });
      const now = this.now();
      const { upgrading, kept } = await countUpgrades(this.clusters.list(), admissions, self, cls, now, (a) => this.view(a));
      const res = decide({ classRef: cls, upgrading });
      const admitted = res.status === 'Success' && res.retryAfterSeconds === 0;
      const next = admitted ? admit(kept, cluster, version, now) : kept;
      if (sameAdmissions(admissions, next) && !problem) return res;
      try {
        if (lease) await this.client.replace(Leases, leaseWith(lease, name, this.namespace, cls, next));
        else if (next.length > 0) await this.client.create(Leases, leaseWith(undefined, name, this.namespace, cls, next));
        if (admitted) this.log.info('upgrade let through', { cluster: self, version, classRef: cls, lease: `${this.namespace}/${name}`, upgrading: upgrading.length, limit });
        return res;
      } catch (e) {
        // Another replica wrote first: read its admissions and decide again.
        if (isConflict(e) || isAlreadyExists(e)) continue;
        if (isNotFound(e)) {
          return failure('BeforeClusterUpgrade', `the upgrade slots of ClusterClass ${cls} cannot be recorded: namespace ${this.namespace} does not exist (the extension's --namespace)`) as RetryResponse;
        }
        throw e;
      }
    }
    return failure('BeforeClusterUpgrade', `the upgrade slots of ClusterClass ${cls} (Lease ${this.namespace}/${name}) changed under ${LEASE_ATTEMPTS} attempts to update them: CAPI calls again`) as RetryResponse;
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

  async labelCluster(cluster: Cluster, labels: Record<string, string | null>): Promise<void> {
    const { namespace, name, uid, resourceVersion } = cluster.metadata;
    // uid and resourceVersion make the patch conditional: the labels were computed from this very Cluster.
    await this.client.mergePatch(Clusters, name ?? '', namespace, { metadata: { uid, resourceVersion, labels } });
    this.log.info('labelled cluster for add-ons', { cluster: `${namespace}/${name}`, labels });
  }
}

/** A quantity as a number for comparison; an unparsable one never binds. */
const quantityValue = (s: string): number => parseQuantity(s) ?? Number.POSITIVE_INFINITY;
