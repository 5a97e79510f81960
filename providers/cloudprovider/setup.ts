// Wires the tenant cloud provider into a manager (`ironplane manager --role
// cloud-provider`): the management caches, one controller for tenant
// Services (keyed by Cluster, with a watch per tenant cluster) and one for
// LoadBalancerPool status.
import type { KvmCluster } from '../api/generated/ironplane/v1alpha1/kvmcluster.js';
import type { KvmMachine } from '../api/generated/ironplane/v1alpha1/kvmmachine.js';
import type { LoadBalancerPool } from '../api/generated/ironplane/v1alpha1/loadbalancerpool.js';
import type { SwitchLBRule } from '../api/generated/kubeovn/v1/switchlbrule.js';
import type { OvnDnatRule } from '../api/generated/kubeovn/v1/ovndnatrule.js';
import type { OvnEip } from '../api/generated/kubeovn/v1/ovneip.js';
import { Clusters, type Cluster } from '../capi/contract.js';
import { TenantClients } from '../capi/tenant.js';
import { Controller, type ReconcileFn } from '../kit/controller.js';
import { EventRecorder } from '../kit/events.js';
import { Informer } from '../kit/informer.js';
import type { Manager } from '../kit/manager.js';
import { metadataOnly, Namespaces, type KubeObject } from '../kit/types.js';
import { KvmClusters, KvmMachines } from '../kubevirt/resources.js';
import { ClusterClassResource } from '../api/generated/capi/v1beta2/clusterclass.js';
import { DEFAULT_EXTENSION_CONFIG, ExtensionConfigs } from '../topology/state.js';
import { CloudMetrics } from './metrics.js';
import { LoadBalancerPools, MANAGED_BY, MANAGED_BY_LABEL, OvnDnatRules, OvnEips, POOL_LABEL, RULE_LABEL, Services, SwitchLBRules } from './names.js';
import { reservedRanges } from './pools.js';
import { poolStatusReconciler } from './poolstatus.js';
import { ruleClusterKey, tenantServiceReconciler } from './services.js';
import { TenantWatches } from './tenantwatch.js';

export interface CloudProviderOptions {
  workers: number;
  /** The runtime extension's ExtensionConfig, whose loadBalancerAddressRanges no pool may overlap. */
  extensionConfig?: string;
  /** Identifies this replica in Events. */
  instance: string;
}

export const REPORTING_CONTROLLER = 'infrastructure.ironplane.dev/cloud-provider';

export function setupCloudProvider(mgr: Manager, opts: CloudProviderOptions): { watches: TenantWatches } {
  const client = mgr.client;
  const log = mgr.log;
  const informer = <T extends KubeObject>(i: Informer<T>) => mgr.addInformer(i);

  const clusters = informer(new Informer<Cluster>(client, Clusters, { log, transform: (c) => ({ ...metadataOnly(c), spec: { infrastructureRef: c.spec?.infrastructureRef, paused: c.spec?.paused } }) as Cluster }));
  const kvmClusters = informer(new Informer<KvmCluster>(client, KvmClusters, { log, transform: (k) => ({ ...metadataOnly(k), status: { network: k.status?.network } }) as KvmCluster }));
  const kvmMachines = informer(new Informer<KvmMachine>(client, KvmMachines, { log, transform: (m) => ({ ...metadataOnly(m), status: { addresses: m.status?.addresses } }) as KvmMachine }));
  const pools = informer(new Informer<LoadBalancerPool>(client, LoadBalancerPools, { log }));
  // Only the rules we made, by label: never every SwitchLBRule of the platform.
  const rules = informer(new Informer<SwitchLBRule>(client, SwitchLBRules, { log, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}` }));
  // kube-OVN's Services of our rules, made by us first (render.ts renderRuleService); metadata only.
  const ruleServices = informer(new Informer<KubeObject>(client, Services, { log, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}`, transform: metadataOnly }));
  // External pools' OvnEips and OvnDnatRules (external.ts): only ours, by label.
  const eips = informer(new Informer<OvnEip>(client, OvnEips, { log, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}` }));
  const dnats = informer(new Informer<OvnDnatRule>(client, OvnDnatRules, { log, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}` }));
  // Which Capsule Tenant a namespace belongs to (its label); metadata only.
  const namespaces = informer(new Informer<KubeObject>(client, Namespaces, { log, transform: metadataOnly }));

  // Where tenants may choose control-plane addresses (adr/0008): no pool may hand those out.
  type Settings = { [k: string]: string } | undefined;
  type WithSettings = KubeObject & { spec?: { settings?: Settings; patches?: { external?: { settings?: Settings } }[] } };
  const extensionConfigs = informer(
    new Informer<WithSettings>(client, ExtensionConfigs, { log, fieldSelector: `metadata.name=${opts.extensionConfig ?? DEFAULT_EXTENSION_CONFIG}`, transform: (e) => ({ ...metadataOnly(e), spec: { settings: e.spec?.settings } }) }),
  );
  const classes = informer(
    new Informer<WithSettings>(client, ClusterClassResource, { log, transform: (c) => ({ ...metadataOnly(c), spec: { patches: (c.spec?.patches ?? []).map((p) => ({ external: { settings: p.external?.settings } })) } }) }),
  );
  const reserved = () => {
    const ec = extensionConfigs.list()[0];
    return reservedRanges(
      ec ? { name: ec.metadata!.name!, settings: ec.spec?.settings } : undefined,
      classes.list().map((c) => ({ name: `${c.metadata?.namespace}/${c.metadata?.name}`, settings: (c.spec?.patches ?? []).map((p) => p.external?.settings) })),
    );
  };

  const metrics = new CloudMetrics(mgr.metrics.registry);
  const recorder = new EventRecorder(client, REPORTING_CONTROLLER, opts.instance, log);
  const tenants = new TenantClients(client, 'ironplane-cloud-provider');
  const common = { log, metrics: mgr.metrics, workers: opts.workers };

  // The watches feed the controller's queue, and the reconcile function needs the watches: bound once both exist.
  let reconcile: ReconcileFn = async () => undefined;
  const serviceCtl = new Controller({ name: 'tenant-loadbalancer', reconcile: (req, l) => reconcile(req, l), ...common });
  const watches = new TenantWatches(log, (key) => serviceCtl.queue.add(key), REPORTING_CONTROLLER, opts.instance);
  reconcile = tenantServiceReconciler({ client, caches: { clusters, kvmClusters, kvmMachines, pools, rules, ruleServices, namespaces, eips, dnats }, tenants, watches, reserved, recorder, metrics });

  const externalKeys = (o: KubeObject): string[] => {
    const rule = o.metadata?.labels?.[RULE_LABEL];
    const holder = rule ? rules.get(rule) : undefined;
    return [...new Set([ruleClusterKey(o), holder && ruleClusterKey(holder)].filter((k): k is string => k !== undefined))];
  };
  const kvmClusterKeys = (kc: KvmCluster) => clusters.list((c) => c.metadata.namespace === kc.metadata.namespace && c.spec?.infrastructureRef?.kind === 'KvmCluster' && c.spec.infrastructureRef.name === kc.metadata.name).map((c) => `${c.metadata.namespace}/${c.metadata.name}`);
  const allClusters = () => clusters.list((c) => c.spec?.infrastructureRef?.kind === 'KvmCluster').map((c) => `${c.metadata.namespace}/${c.metadata.name}`);
  serviceCtl
    .watch(clusters)
    .watch(kvmClusters, kvmClusterKeys)
    // A machine's addresses concern every Cluster of its namespace (services.ts: ambiguous endpoints).
    .watch(
      kvmMachines,
      (m) => clusters.list((c) => c.metadata.namespace === m.metadata.namespace).map((c) => `${c.metadata.namespace}/${c.metadata.name}`),
    )
    // A rule's marks name its Cluster: a rule deleted or changed by someone else brings its Cluster back.
    .watch(rules, (r) => {
      const k = ruleClusterKey(r);
      return k ? [k] : [];
    })
    .watch(ruleServices, (r) => {
      const k = ruleClusterKey(r);
      return k ? [k] : [];
    })
    // kube-OVN's status (an EIP allocated, a DNAT ready) and deletions (a DNAT let go, to be made again):
    // the Cluster they are marked for, and the Cluster now holding their rule's address, which waits
    // for a previous holder's OvnEip and DNAT rules to be gone before it makes its own.
    .watch(eips, externalKeys)
    .watch(dnats, externalKeys)
    // Pools and namespaces decide who may take what: every cluster looks again (refused Services may now get an address).
    .watch(pools, allClusters)
    .watch(extensionConfigs, allClusters)
    .watch(classes, allClusters)
    .watch(namespaces, (n) => clusters.list((c) => c.metadata.namespace === n.metadata?.name).map((c) => `${c.metadata.namespace}/${c.metadata.name}`), (a, b) => JSON.stringify(a.metadata?.labels) !== JSON.stringify(b.metadata?.labels));

  const poolCtl = new Controller({ name: 'loadbalancerpool', reconcile: poolStatusReconciler({ client, pools, rules, reserved, recorder, metrics }), ...common });
  const allPools = () => pools.list().map((p) => p.metadata.name!);
  poolCtl
    // One pool's addresses decide whether others overlap it.
    .watch(pools, allPools)
    .watch(extensionConfigs, allPools)
    .watch(classes, allPools)
    .watch(rules, (r) => {
      const p = r.metadata.labels?.[POOL_LABEL];
      return p ? [p] : [];
    });

  mgr.addController(serviceCtl);
  mgr.addController(poolCtl);
  return { watches };
}
