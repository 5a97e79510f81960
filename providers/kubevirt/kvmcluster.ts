// KvmCluster → the tenant's network: a kube-OVN Vpc of its own and a node
// Subnet in it. Tenants may use the same node CIDR, since their VPCs are
// separate routers. Failure domains are the zones of the infrastructure
// nodes that may host the cluster's VMs.
//
// The control-plane endpoint is not ours to find: the stock Kamaji CP
// provider writes spec.controlPlaneEndpoint when it runs with
// --dynamic-infrastructure-clusters=KvmCluster (feature gate
// DynamicInfrastructureClusterPatch). The Vpc and Subnet are cluster-scoped
// and cannot have a namespaced owner, so the finalizer, not garbage
// collection, removes them, after every KvmMachine of the cluster is gone.
import type { KvmCluster } from '../api/generated/ironplane/v1alpha1/kvmcluster.js';
import type { KvmMachine } from '../api/generated/ironplane/v1alpha1/kvmmachine.js';
import { CLUSTER_NAME_LABEL, clusterNameOf, ownerClusterName, pausedReason, Reasons, type Cluster } from '../capi/contract.js';
import { clusterOwner } from '../capi/owners.js';
import type { Client } from '../kit/client.js';
import { jsonEqual } from '../kit/patch.js';
import type { Informer } from '../kit/informer.js';
import { objectReconciler } from '../kit/reconciler.js';
import type { KubeObject } from '../kit/types.js';
import { KVM_CLUSTER_FINALIZER, KVM_CLUSTER_LABEL, KVM_CLUSTER_NAMESPACE_LABEL, tenantNetworkName } from './names.js';
import { KvmClusters, Subnets, Vpcs } from './resources.js';

export const ClusterConditions = {
  /** The tenant Vpc and Subnet exist. */
  NetworkReady: 'NetworkReady',
} as const;

export const DEFAULT_ZONE_LABEL = 'topology.kubernetes.io/zone';

export interface InfraNode extends KubeObject {
  spec?: { unschedulable?: boolean };
}

export interface KvmClusterCaches {
  kvmClusters: Informer<KvmCluster>;
  clusters: Informer<Cluster>;
  kvmMachines: Informer<KvmMachine>;
  vpcs: Informer<KubeObject & { spec?: unknown }>;
  subnets: Informer<KubeObject & { spec?: unknown }>;
  nodes: Informer<InfraNode>;
}

interface Ctx {
  cluster: Cluster;
}

/** Failure domains from the zone label of schedulable nodes that match the selector, sorted. */
export function failureDomainsFrom(nodes: InfraNode[], zoneLabel: string, selector: Record<string, string> = {}): { name: string; controlPlane: boolean }[] {
  const zones = new Set<string>();
  for (const n of nodes) {
    const labels = n.metadata?.labels ?? {};
    if (n.spec?.unschedulable) continue;
    if (!Object.entries(selector).every(([k, v]) => labels[k] === v)) continue;
    const zone = labels[zoneLabel];
    if (zone) zones.add(zone);
  }
  // Control planes are Kamaji pods, not machines: no domain is for control planes.
  return [...zones].sort().map((name) => ({ name, controlPlane: false }));
}

/** The kube-OVN objects for a KvmCluster (pure). */
export function renderNetwork(kc: KvmCluster): { vpc: KubeObject & { spec: Record<string, unknown> }; subnet: KubeObject & { spec: Record<string, unknown> } } {
  const ns = kc.metadata.namespace!;
  const name = tenantNetworkName(ns, kc.metadata.name!);
  const labels = { [KVM_CLUSTER_LABEL]: kc.metadata.name!, [KVM_CLUSTER_NAMESPACE_LABEL]: ns };
  const net = kc.spec!.network;
  return {
    vpc: { apiVersion: 'kubeovn.io/v1', kind: 'Vpc', metadata: { name, labels }, spec: {} },
    subnet: {
      apiVersion: 'kubeovn.io/v1',
      kind: 'Subnet',
      metadata: { name, labels },
      spec: {
        vpc: name,
        cidrBlock: net.nodeCIDR,
        protocol: net.nodeCIDR.includes(':') ? 'IPv6' : 'IPv4',
        provider: 'ovn',
        natOutgoing: net.natOutgoing ?? true,
        ...(net.gateway ? { gateway: net.gateway } : {}),
        ...(net.excludeIPs?.length ? { excludeIps: net.excludeIPs } : {}),
      },
    },
  };
}

/** True when `live` has every label and spec field of `want` with the same value. */
export function covers(live: (KubeObject & { spec?: unknown }) | undefined, want: KubeObject & { spec: Record<string, unknown> }): boolean {
  if (!live) return false;
  const labels = live.metadata?.labels ?? {};
  if (!Object.entries(want.metadata?.labels ?? {}).every(([k, v]) => labels[k] === v)) return false;
  const spec = (live.spec ?? {}) as Record<string, unknown>;
  return Object.entries(want.spec).every(([k, v]) => jsonEqual(spec[k], v));
}

export function kvmClusterReconciler(deps: { client: Client; caches: KvmClusterCaches }) {
  const { client, caches } = deps;
  return objectReconciler<KvmCluster, Ctx>({
    client,
    resource: KvmClusters,
    cache: caches.kvmClusters,
    finalizer: KVM_CLUSTER_FINALIZER,
    ownedConditions: [ClusterConditions.NetworkReady],

    prepare: async (scope) => clusterOwner(scope, caches.clusters, ClusterConditions.NetworkReady, 'KvmCluster'),

    paused: (scope) => pausedReason(scope.ctx.cluster, scope.obj),

    async normal(scope) {
      const kc = scope.obj;
      const { vpc, subnet } = renderNetwork(kc);
      // Server-side apply converges both whatever state a previous run left;
      // skipped when the cache already shows every field we own as wanted
      // (kube-OVN adds fields of its own, which we leave alone).
      if (!covers(caches.vpcs.get(vpc.metadata!.name!), vpc)) await client.apply(Vpcs, vpc, { force: true });
      if (!covers(caches.subnets.get(subnet.metadata!.name!), subnet)) await client.apply(Subnets, subnet, { force: true });
      const zoneLabel = kc.spec?.failureDomains?.zoneLabel ?? DEFAULT_ZONE_LABEL;
      kc.metadata.labels = { ...kc.metadata.labels, [CLUSTER_NAME_LABEL]: scope.ctx.cluster!.metadata.name! };
      kc.status = {
        ...kc.status,
        network: { vpc: vpc.metadata!.name!, subnet: subnet.metadata!.name! },
        failureDomains: failureDomainsFrom(caches.nodes.list(), zoneLabel, kc.spec?.failureDomains?.nodeSelector),
        initialization: { provisioned: true },
      };
      scope.setCondition({ type: ClusterConditions.NetworkReady, status: true, reason: 'Provisioned', message: `Vpc and Subnet ${vpc.metadata!.name} (${kc.spec!.network.nodeCIDR})` });
    },

    async delete(scope) {
      const kc = scope.obj;
      const ns = kc.metadata.namespace!;
      const clusterName = clusterNameOf(kc) ?? ownerClusterName(kc);
      const machines = caches.kvmMachines.list((m) => m.metadata.namespace === ns && clusterNameOf(m) === clusterName);
      if (clusterName && machines.length) {
        const names = machines.map((m) => m.metadata.name).sort();
        scope.setCondition({
          type: ClusterConditions.NetworkReady,
          status: false,
          reason: Reasons.Deleting,
          message: `waiting for ${names.length} KvmMachine(s) to be deleted: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''}`,
        });
        return;
      }
      const name = tenantNetworkName(ns, kc.metadata.name!);
      // The Subnet first: kube-OVN refuses to delete a Vpc that still has one.
      if (caches.subnets.get(name)) {
        await client.delete(Subnets, name);
        scope.setCondition({ type: ClusterConditions.NetworkReady, status: false, reason: Reasons.Deleting, message: `waiting for Subnet ${name} to be deleted` });
        return;
      }
      if (caches.vpcs.get(name)) {
        await client.delete(Vpcs, name);
        scope.setCondition({ type: ClusterConditions.NetworkReady, status: false, reason: Reasons.Deleting, message: `waiting for Vpc ${name} to be deleted` });
        return;
      }
      scope.removeFinalizer();
    },
  });
}
