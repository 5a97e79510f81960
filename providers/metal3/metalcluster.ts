// MetalCluster → which host pools the cluster may draw from, its failure
// domains, and a check of its control-plane endpoint.
//
// The endpoint belongs to the control plane, which Kamaji hosts. Two flows:
//   - Nothing pre-set: the unmodified Kamaji CP provider, run with the
//     DynamicInfrastructureClusterPatch feature gate and
//     --dynamic-infrastructure-clusters=MetalCluster, writes
//     spec.controlPlaneEndpoint once the tenant control plane has an address
//     (it waits for status.initialization.provisioned, which therefore does
//     not wait for the endpoint).
//   - A pre-set VIP (spec.controlPlaneEndpoint set by the user, with
//     KamajiControlPlane spec.network.serviceAddress set to the same address):
//     the endpoint cannot change once set (CEL), so Kamaji's patch is a no-op
//     when it agrees and is refused when it does not. This controller only
//     checks: it compares the VIP with the endpoint the control plane
//     published on the Cluster and says so in ControlPlaneEndpointReady.
import { isIP } from 'node:net';
import type { HostDeployPolicy } from '../api/generated/metal3/v1alpha1/hostdeploypolicy.js';
import type { MetalCluster } from '../api/generated/ironplane/v1alpha1/metalcluster.js';
import type { MetalMachine } from '../api/generated/ironplane/v1alpha1/metalmachine.js';
import { CLUSTER_NAME_LABEL, clusterNameOf, ownerClusterName, pausedReason, Reasons, type Cluster } from '../capi/contract.js';
import { clusterOwner } from '../capi/owners.js';
import type { Client } from '../kit/client.js';
import type { Informer } from '../kit/informer.js';
import { objectReconciler } from '../kit/reconciler.js';
import type { KubeObject } from '../kit/types.js';
import { failureDomainsFrom, resolvePools, type Host } from './hosts.js';
import { DEFAULT_ZONE_LABEL, METAL_CLUSTER_FINALIZER } from './names.js';
import { MetalClusters } from './resources.js';

export const ClusterConditions = {
  /** Every host pool the cluster names is granted to its namespace. */
  HostPoolsGranted: 'HostPoolsGranted',
  /** The control-plane endpoint is set and agrees with the control plane's. */
  ControlPlaneEndpointReady: 'ControlPlaneEndpointReady',
} as const;

export interface MetalClusterCaches {
  metalClusters: Informer<MetalCluster>;
  clusters: Informer<Cluster>;
  metalMachines: Informer<MetalMachine>;
  hosts: Informer<Host>;
  policies: Informer<HostDeployPolicy>;
  namespaces: Informer<KubeObject>;
}

interface Ctx {
  cluster: Cluster;
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;

/** The ControlPlaneEndpointReady verdict (pure). */
export function endpointCheck(mc: MetalCluster, cluster: Cluster): { status: boolean; reason: string; message: string } {
  const own = mc.spec?.controlPlaneEndpoint;
  const published = cluster.spec?.controlPlaneEndpoint;
  if (!own?.host) {
    return {
      status: false,
      reason: 'WaitingForControlPlaneEndpoint',
      message: 'waiting for the control-plane provider to set spec.controlPlaneEndpoint (Kamaji CP provider: --dynamic-infrastructure-clusters=MetalCluster), or set it to a pre-allocated VIP',
    };
  }
  if (!isIP(own.host) && !DNS_NAME.test(own.host)) {
    return { status: false, reason: 'InvalidControlPlaneEndpoint', message: `spec.controlPlaneEndpoint.host "${own.host}" is neither an IP address nor a DNS name` };
  }
  const port = own.port ?? 6443;
  if (published?.host && (published.host !== own.host || (published.port ?? 6443) !== port)) {
    return {
      status: false,
      reason: 'ControlPlaneEndpointMismatch',
      message: `spec.controlPlaneEndpoint ${own.host}:${port} differs from ${published.host}:${published.port ?? 6443}, which the control plane published on Cluster ${cluster.metadata.name}: the tenant control plane does not serve this VIP (set KamajiControlPlane spec.network.serviceAddress to it)`,
    };
  }
  return { status: true, reason: 'EndpointSet', message: `${own.host}:${port}${published?.host ? ', served by the control plane' : ', waiting for the control plane to publish it'}` };
}

export function metalClusterReconciler(deps: { client: Client; caches: MetalClusterCaches }) {
  const { client, caches } = deps;
  return objectReconciler<MetalCluster, Ctx>({
    client,
    resource: MetalClusters,
    cache: caches.metalClusters,
    finalizer: METAL_CLUSTER_FINALIZER,
    ownedConditions: [ClusterConditions.HostPoolsGranted, ClusterConditions.ControlPlaneEndpointReady],

    prepare: async (scope) => clusterOwner(scope, caches.clusters, ClusterConditions.HostPoolsGranted, 'MetalCluster'),

    paused: (scope) => pausedReason(scope.ctx.cluster, scope.obj),

    async normal(scope) {
      const mc = scope.obj;
      const ns = mc.metadata.namespace!;
      const cluster = scope.ctx.cluster!;
      mc.metadata.labels = { ...mc.metadata.labels, [CLUSTER_NAME_LABEL]: cluster.metadata.name! };

      const tenantNs = caches.namespaces.get(ns);
      const grants = resolvePools({ name: ns, labels: tenantNs?.metadata?.labels ?? {} }, (mc.spec?.hostPools ?? []).map((p) => p.namespace), caches.policies.list());
      if (grants.denied.length) {
        scope.setCondition({
          type: ClusterConditions.HostPoolsGranted,
          status: false,
          reason: 'PoolNotGranted',
          message: `host pool${grants.denied.length > 1 ? 's' : ''} not granted to namespace ${ns}: ${grants.denied.map((d) => `${d.namespace} (${d.why})`).join('; ')}; hosts come only from ${grants.namespaces.join(', ')}`,
        });
      } else {
        scope.setCondition({ type: ClusterConditions.HostPoolsGranted, status: true, reason: 'Granted', message: `hosts come from ${grants.namespaces.join(', ')}` });
      }
      const zoneLabel = mc.spec?.failureDomains?.zoneLabel ?? DEFAULT_ZONE_LABEL;
      const ep = endpointCheck(mc, cluster);
      scope.setCondition({ type: ClusterConditions.ControlPlaneEndpointReady, ...ep });
      mc.status = {
        ...mc.status,
        hostNamespaces: grants.namespaces,
        failureDomains: failureDomainsFrom(caches.hosts.list(), grants.namespaces, zoneLabel),
        initialization: { provisioned: true },
      };
    },

    async delete(scope) {
      const mc = scope.obj;
      const ns = mc.metadata.namespace!;
      const clusterName = clusterNameOf(mc) ?? ownerClusterName(mc);
      const machines = clusterName ? caches.metalMachines.list((m) => m.metadata.namespace === ns && clusterNameOf(m) === clusterName) : [];
      if (machines.length) {
        const names = machines.map((m) => m.metadata.name).sort();
        scope.setCondition({
          type: ClusterConditions.HostPoolsGranted,
          status: false,
          reason: Reasons.Deleting,
          message: `waiting for ${names.length} MetalMachine(s) to release their hosts: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''}`,
        });
        return;
      }
      scope.removeFinalizer();
    },
  });
}
