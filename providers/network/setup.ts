// Wires the network role into a manager: the caches the peering controller
// reads, which changes wake which requests, and its metrics.
import { Gauge } from 'prom-client';
import type { KvmCluster } from '../api/generated/ironplane/v1alpha1/kvmcluster.js';
import type { PeeringRequest } from '../api/generated/ironplane/v1alpha1/peeringrequest.js';
import { clusterNameOf, Clusters, ownerClusterName, type Cluster } from '../capi/contract.js';
import { Controller } from '../kit/controller.js';
import { EventRecorder } from '../kit/events.js';
import { Informer } from '../kit/informer.js';
import type { Manager } from '../kit/manager.js';
import { ConfigMaps, metadataOnly, Namespaces, type KubeObject } from '../kit/types.js';
import { KVM_CLUSTER_LABEL, KVM_CLUSTER_NAMESPACE_LABEL } from '../kubevirt/names.js';
import { KvmClusters, Vpcs } from '../kubevirt/resources.js';
import { parseInterconnectRange } from './cidr.js';
import { LINK_KEY_PREFIX, peeringReconciler, recordedLink, requestsNaming, requestsOfPair, type LinkRecord, type NetworkObject } from './controller.js';
import { MANAGED_BY, MANAGED_BY_LABEL, PeeringRequests } from './names.js';
import { pairOfRequest, parseAcceptance } from './peering.js';
import { parseSelector } from './selector.js';

export interface NetworkOptions {
  /** Identifies this replica in Events. */
  instance: string;
  /** mirror, platform or mirror,platform (--peering-acceptance). */
  acceptance: string;
  /** The IPv4 range links are carved from (--peering-interconnect-range). */
  interconnectRange: string;
  /** Where link records live: the manager's namespace (--peering-namespace). */
  namespace: string;
  /** Namespaces open to peering (--peering-namespace-selector); all when empty. */
  namespaceSelector: string;
}

/** Checks the flags before anything connects: a bad setting is a usage error. */
export function networkSettings(opts: NetworkOptions) {
  return {
    acceptance: parseAcceptance(opts.acceptance),
    interconnect: parseInterconnectRange(opts.interconnectRange),
    recordNamespace: opts.namespace,
    namespaceSelector: parseSelector(opts.namespaceSelector),
  };
}

export function setupNetwork(mgr: Manager, opts: NetworkOptions): void {
  const settings = networkSettings(opts);
  const client = mgr.client;
  const log = mgr.log;
  const informer = <T extends KubeObject>(i: Informer<T>) => mgr.addInformer(i);

  const requests = informer(new Informer<PeeringRequest>(client, PeeringRequests, { log }));
  // Only what resolves a side: the Cluster's infrastructureRef, the KvmCluster's network.
  const clusters = informer(new Informer<Cluster>(client, Clusters, { log, transform: (c) => ({ ...metadataOnly(c), spec: { infrastructureRef: c.spec?.infrastructureRef } }) as Cluster }));
  const kvmClusters = informer(new Informer<KvmCluster>(client, KvmClusters, { log }));
  // Only the Vpcs of KvmClusters (labelled), with their spec: writes are skipped when it already says what we want.
  const vpcs = informer(new Informer<NetworkObject>(client, Vpcs, { log, labelSelector: KVM_CLUSTER_LABEL, transform: (o) => ({ ...metadataOnly(o), spec: o.spec }) }));
  const namespaces = informer(new Informer<KubeObject>(client, Namespaces, { log, transform: metadataOnly }));
  const links = informer(new Informer<LinkRecord>(client, ConfigMaps, { log, namespace: settings.recordNamespace, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}` }));

  const recorder = new EventRecorder(client, 'network.ironplane.dev/peering', opts.instance, log);
  // One worker: each reconcile writes whole Vpc lists computed from all link records (controller.ts).
  const ctl = new Controller({ name: 'peeringrequest', reconcile: peeringReconciler({ client, caches: { requests, clusters, kvmClusters, vpcs, namespaces, links }, settings, recorder }), log, metrics: mgr.metrics, workers: 1 });

  const clusterOfKvm = (kc: KvmCluster) => {
    const name = clusterNameOf(kc) ?? ownerClusterName(kc);
    return name ? requestsNaming(requests, { namespace: kc.metadata.namespace!, name }) : [];
  };
  ctl
    // A request's change (its deletion above all) concerns its pair's other requests and the pair's link record.
    .watch(requests, (pr) => {
      const pair = pairOfRequest(pr);
      const records = links.list((r) => recordedLink(r)?.pair.key === pair.key).map((r) => `${LINK_KEY_PREFIX}${r.metadata?.namespace}/${r.metadata?.name}`);
      return [...requestsOfPair(requests, pair), `${pr.metadata.namespace}/${pr.metadata.name}`, ...records];
    })
    .watch(clusters, (c) => requestsNaming(requests, { namespace: c.metadata.namespace!, name: c.metadata.name! }))
    .watch(kvmClusters, clusterOfKvm)
    .watch(vpcs, (v) => {
      const ns = v.metadata?.labels?.[KVM_CLUSTER_NAMESPACE_LABEL];
      const kc = ns ? kvmClusters.get(`${ns}/${v.metadata?.labels?.[KVM_CLUSTER_LABEL]}`) : undefined;
      return kc ? clusterOfKvm(kc) : [];
    })
    .watch(links, (r) => {
      const l = recordedLink(r);
      return l ? [...requestsOfPair(requests, l.pair), `${LINK_KEY_PREFIX}${r.metadata?.namespace}/${r.metadata?.name}`] : [];
    })
    // The policy's selector reads namespace labels: a relabelled namespace re-decides its requests.
    .watch(namespaces, (n) => requests.list((pr) => pr.metadata.namespace === n.metadata?.name || pr.spec?.peer.namespace === n.metadata?.name).map((pr) => `${pr.metadata.namespace}/${pr.metadata.name}`), (a, b) => JSON.stringify(a.metadata?.labels) !== JSON.stringify(b.metadata?.labels));
  mgr.addController(ctl);

  // Requests by phase and recorded links, read from the caches at scrape time.
  new Gauge({
    name: 'ironplane_peering_requests',
    help: 'PeeringRequests by phase (Pending, Accepted, Active, Refused, Deleting; Unknown before the first reconcile)',
    labelNames: ['phase'],
    registers: [mgr.metrics.registry],
    collect() {
      this.reset();
      for (const pr of requests.list()) this.inc({ phase: pr.status?.phase ?? 'Unknown' });
    },
  });
  new Gauge({
    name: 'ironplane_peering_links',
    help: 'Peered Cluster pairs: links recorded in the interconnect range',
    registers: [mgr.metrics.registry],
    collect() {
      this.set(links.list().filter((r) => recordedLink(r) !== undefined).length);
    },
  });
}
