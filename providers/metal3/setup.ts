// Wires the Metal3 provider into a manager: the caches it reads, the two
// controllers, and which changes wake which objects. BareMetalHosts are
// watched, not polled: a host that becomes claimable wakes the machines
// still waiting for one.
import type { HostDeployPolicy } from '../api/generated/metal3/v1alpha1/hostdeploypolicy.js';
import type { MetalCluster } from '../api/generated/ironplane/v1alpha1/metalcluster.js';
import type { MetalMachine } from '../api/generated/ironplane/v1alpha1/metalmachine.js';
import type { MetalMachineTemplate } from '../api/generated/ironplane/v1alpha1/metalmachinetemplate.js';
import { clusterNameOf, Clusters, Machines, ownerClusterName, type Cluster, type Machine } from '../capi/contract.js';
import { Counter, Gauge } from 'prom-client';
import { Controller } from '../kit/controller.js';
import { EventRecorder } from '../kit/events.js';
import { Informer } from '../kit/informer.js';
import type { Manager } from '../kit/manager.js';
import { jsonEqual } from '../kit/patch.js';
import { metadataOnly, Namespaces, type KubeObject } from '../kit/types.js';
import { consumerOf, slimHost, unclaimableReason, type Host } from './hosts.js';
import { metalClusterReconciler } from './metalcluster.js';
import { Claims, metalMachineReconciler } from './metalmachine.js';
import { BareMetalHosts, HostDeployPolicies, MetalClusters, MetalMachines, MetalMachineTemplates } from './resources.js';

export interface Metal3Options {
  /** Concurrent reconciles per controller. */
  workers: number;
  /** Identifies this replica in Events. */
  instance: string;
}

/** Host fields whose change can matter to a machine or a cluster; BMO rewrites the rest often. */
const hostView = (h: Host) => [h.metadata?.labels, h.metadata?.annotations, h.metadata?.deletionTimestamp, h.spec, h.status];

export function setupMetal3(mgr: Manager, opts: Metal3Options): void {
  const client = mgr.client;
  const log = mgr.log;
  const informer = <T extends KubeObject>(i: Informer<T>) => mgr.addInformer(i);

  const metalMachines = informer(new Informer<MetalMachine>(client, MetalMachines, { log }));
  const metalClusters = informer(new Informer<MetalCluster>(client, MetalClusters, { log }));
  const templates = informer(new Informer<MetalMachineTemplate>(client, MetalMachineTemplates, { log }));
  const machines = informer(new Informer<Machine>(client, Machines, { log }));
  const clusters = informer(new Informer<Cluster>(client, Clusters, { log }));
  // Hosts in every namespace: a cluster may draw from shared pools. Only
  // the fields we use are kept (BMO's hardware inventory is large).
  const hosts = informer(new Informer<Host>(client, BareMetalHosts, { log, transform: (h) => slimHost({ ...h, metadata: metadataOnly(h).metadata }) }));
  const policies = informer(new Informer<HostDeployPolicy>(client, HostDeployPolicies, { log }));
  const namespaces = informer(new Informer<KubeObject>(client, Namespaces, { log, transform: metadataOnly }));

  const recorder = new EventRecorder(client, 'infrastructure.ironplane.dev/metal3', opts.instance, log);
  const common = { log, metrics: mgr.metrics, workers: opts.workers };
  const claims = new Claims();
  const registers = [mgr.metrics.registry];
  const claimAttempts = new Counter({ name: 'ironplane_metal3_host_claim_attempts_total', help: 'BareMetalHost claim attempts, by result (claimed, or conflict: another change of the host won)', labelNames: ['result'], registers });
  new Gauge({
    name: 'ironplane_metal3_machines_waiting_for_host',
    help: 'MetalMachines that have no BareMetalHost yet',
    registers,
    collect() {
      this.set(metalMachines.list((m) => !m.status?.host && !m.metadata.deletionTimestamp).length);
    },
  });

  // MetalMachine controller.
  const machineCtl = new Controller({
    name: 'metalmachine',
    reconcile: metalMachineReconciler({ client, caches: { metalMachines, machines, clusters, metalClusters, templates, hosts, policies, namespaces }, claims, recorder, metrics: { attempt: (result) => claimAttempts.inc({ result }) } }),
    ...common,
  });
  const keyOf = (o: KubeObject) => `${o.metadata?.namespace}/${o.metadata?.name}`;
  const machinesOfCluster = (ns: string | undefined, cluster: string | undefined) =>
    cluster ? metalMachines.list((m) => m.metadata.namespace === ns && clusterNameOf(m) === cluster).map(keyOf) : [];
  /** Machines still without a host; a host that became claimable may serve one of them. */
  const waiting = () => metalMachines.list((m) => !m.status?.host && !m.metadata.deletionTimestamp).map(keyOf);
  machineCtl
    .watch(metalMachines)
    .watch(machines, (m) => (m.spec.infrastructureRef.kind === 'MetalMachine' ? [`${m.metadata.namespace}/${m.spec.infrastructureRef.name}`] : []))
    .watch(clusters, (c) => machinesOfCluster(c.metadata.namespace, c.metadata.name))
    .watch(metalClusters, (mc) => machinesOfCluster(mc.metadata.namespace, clusterNameOf(mc) ?? ownerClusterName(mc)))
    .watch(
      hosts,
      (h) => {
        const c = consumerOf(h);
        const keys = c ? [`${c.namespace}/${c.name}`] : [];
        return unclaimableReason(h) === undefined ? [...keys, ...waiting()] : keys;
      },
      (a, b) => !jsonEqual(hostView(a), hostView(b)),
    )
    // A new grant may let waiting machines draw from another pool.
    .watch(policies, () => waiting())
    .watch(namespaces, () => waiting(), (a, b) => !jsonEqual(a.metadata?.labels, b.metadata?.labels));

  // MetalCluster controller.
  const clusterCtl = new Controller({ name: 'metalcluster', reconcile: metalClusterReconciler({ client, caches: { metalClusters, clusters, metalMachines, hosts, policies, namespaces } }), ...common });
  const allClusters = () => metalClusters.list().map(keyOf);
  const metalClusterOf = (ns: string | undefined, cluster: string | undefined) =>
    metalClusters.list((mc) => mc.metadata.namespace === ns && (ownerClusterName(mc) === cluster || clusterNameOf(mc) === cluster)).map(keyOf);
  clusterCtl
    .watch(metalClusters)
    .watch(clusters, (c) => (c.spec?.infrastructureRef?.kind === 'MetalCluster' ? [`${c.metadata.namespace}/${c.spec.infrastructureRef.name}`] : []))
    // A MetalCluster only waits for its machines to go: their updates do not concern it.
    .watch(metalMachines, (m) => metalClusterOf(m.metadata.namespace, clusterNameOf(m)), () => false)
    // Failure domains follow the zone labels of hosts.
    .watch(hosts, allClusters, (a, b) => !jsonEqual(a.metadata?.labels, b.metadata?.labels))
    .watch(policies, allClusters)
    .watch(namespaces, (n) => metalClusters.list((mc) => mc.metadata.namespace === n.metadata?.name).map(keyOf), (a, b) => !jsonEqual(a.metadata?.labels, b.metadata?.labels));

  mgr.addController(machineCtl);
  mgr.addController(clusterCtl);
}
