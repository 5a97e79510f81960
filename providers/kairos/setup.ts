// Wires the Kairos bootstrap provider into a manager: the caches it reads,
// its controllers, and which changes wake which KairosConfigs; and, unless
// turned off, the tenants' kubeconfig grants (kubeconfigaccess.ts).
import type { KairosConfig } from '../api/generated/ironplane/v1alpha1/kairosconfig.js';
import { clusterNameOf, Clusters, Machines, type Cluster, type Machine } from '../capi/contract.js';
import { TenantClients } from '../capi/tenant.js';
import { Controller } from '../kit/controller.js';
import { EventRecorder } from '../kit/events.js';
import { Informer } from '../kit/informer.js';
import type { Manager } from '../kit/manager.js';
import { jsonEqual } from '../kit/patch.js';
import type { KubeObject } from '../kit/types.js';
import { kairosConfigReconciler } from './kairosconfig.js';
import { kubeconfigAccessReconciler, RoleBindings, Roles, type Role, type RoleBinding } from './kubeconfigaccess.js';
import { GROUP } from './names.js';
import { createRenderer } from './render.js';
import { KairosConfigs } from './resources.js';

export interface KairosOptions {
  /** Concurrent reconciles. */
  workers: number;
  /** Identifies this replica in Events. */
  instance: string;
  /** templates/bootstrap; default: the one shipped with this package. */
  templatesDir?: string;
  /** Grant each Cluster's tenant `get` on its <cluster>-kubeconfig (kubeconfigaccess.ts); default true. */
  tenantKubeconfigAccess?: boolean;
}

/** Machine fields a KairosConfig depends on; CAPI rewrites the rest (conditions, phase) often. */
const machineView = (m: Machine) => [m.spec.bootstrap, m.spec.version, m.spec.infrastructureRef, m.spec.clusterName, m.status?.nodeRef, m.metadata.deletionTimestamp];
/** Cluster fields a KairosConfig depends on (the infrastructure decides whether the join goes through a private endpoint). */
const clusterView = (c: Cluster) => [c.spec?.controlPlaneEndpoint, c.spec?.infrastructureRef, c.spec?.paused, c.metadata.annotations];
/** KairosConfig changes that need a reconcile: not our own status writes. */
const configView = (k: KairosConfig) => [k.metadata.generation, k.metadata.labels, k.metadata.annotations, k.metadata.finalizers, k.metadata.ownerReferences, k.metadata.deletionTimestamp];

export function setupKairos(mgr: Manager, opts: KairosOptions): { tenants: TenantClients } {
  const client = mgr.client;
  const log = mgr.log;
  const informer = <T extends KubeObject>(i: Informer<T>) => mgr.addInformer(i);

  const kairosConfigs = informer(new Informer<KairosConfig>(client, KairosConfigs, { log }));
  const machines = informer(new Informer<Machine>(client, Machines, { log }));
  const clusters = informer(new Informer<Cluster>(client, Clusters, { log }));
  // Secrets and ConfigMaps are not cached: they are read by name, which
  // needs only `get`, and a management cluster holds many. So is the
  // Cluster's KvmCluster (its private control-plane endpoint): the manager
  // must start without the KubeVirt provider's CRD installed.

  const tenants = new TenantClients(client, 'ironplane-kairos');
  const recorder = new EventRecorder(client, `${GROUP}/kairos`, opts.instance, log);
  const render = createRenderer(opts.templatesDir);

  const ctl = new Controller({
    name: 'kairosconfig',
    reconcile: kairosConfigReconciler({ client, caches: { kairosConfigs, machines, clusters }, tenants, render, recorder }),
    log,
    metrics: mgr.metrics,
    workers: opts.workers,
  });
  const configOf = (m: Machine): string[] => {
    const ref = m.spec.bootstrap?.configRef;
    return ref?.kind === 'KairosConfig' && ref.apiGroup === GROUP ? [`${m.metadata.namespace}/${ref.name}`] : [];
  };
  const configsOfCluster = (c: Cluster): string[] =>
    machines
      .list((m) => m.metadata.namespace === c.metadata.namespace && m.spec.clusterName === c.metadata.name)
      .flatMap(configOf)
      .concat(kairosConfigs.list((k) => k.metadata.namespace === c.metadata.namespace && clusterNameOf(k) === c.metadata.name).map((k) => `${k.metadata.namespace}/${k.metadata.name}`));
  ctl
    .watch(kairosConfigs, undefined, (a, b) => !jsonEqual(configView(a), configView(b)))
    .watch(machines, configOf, (a, b) => !jsonEqual(machineView(a), machineView(b)))
    .watch(clusters, configsOfCluster, (a, b) => !jsonEqual(clusterView(a), clusterView(b)));

  mgr.addController(ctl);
  if (opts.tenantKubeconfigAccess !== false) setupKubeconfigAccess(mgr, clusters, recorder, opts.workers);
  return { tenants };
}

/** Cluster fields the kubeconfig grant depends on: its identity and whether it is going. */
const clusterIdentity = (c: Cluster) => [c.metadata.uid, c.apiVersion, c.metadata.deletionTimestamp];

function setupKubeconfigAccess(mgr: Manager, clusters: Informer<Cluster>, recorder: EventRecorder, workers: number): void {
  const client = mgr.client;
  const log = mgr.log;
  // Every Role and RoleBinding: the tenant's bindings are Capsule's, with no
  // label of ours to select them by, and a Role of the grant's name someone
  // else made must be seen to be refused.
  const roles = mgr.addInformer(new Informer<Role>(client, Roles, { log }));
  const roleBindings = mgr.addInformer(new Informer<RoleBinding>(client, RoleBindings, { log }));
  const ctl = new Controller({
    name: 'kubeconfigaccess',
    reconcile: kubeconfigAccessReconciler({ client, caches: { clusters, roles, roleBindings }, recorder }),
    log,
    metrics: mgr.metrics,
    workers,
  });
  const clustersIn = (o: KubeObject): string[] =>
    clusters.list((c) => c.metadata.namespace === o.metadata?.namespace).map((c) => `${c.metadata.namespace}/${c.metadata.name}`);
  ctl
    .watch(clusters, undefined, (a, b) => !jsonEqual(clusterIdentity(a), clusterIdentity(b)))
    .watch(roles, clustersIn)
    .watch(roleBindings, clustersIn);
  mgr.addController(ctl);
}
