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
//
// Cluster-scoped names are shared by every tenant. Ours are collision-free
// (tenantNetworkName, tenantSubnetName) and every Vpc and Subnet carries labels naming its
// KvmCluster by namespace, name and uid. Nothing is written or deleted under
// a name whose object does not carry this KvmCluster's labels: the name is
// reported as taken (NetworkReady False, NameTaken) and the object is left
// alone, on create, update and delete alike. Writes to an object we own
// carry its resourceVersion and deletes its uid, so an object replaced in
// between is not touched either.
//
// When the platform names an external network (IRONPLANE_EXTERNAL_NETWORK,
// a kube-OVN underlay Subnet), every tenant Vpc's router is connected to it,
// which is what tenant LoadBalancer addresses on that network need; the
// KvmCluster reports it (status.network.externalSubnet) once kube-OVN says
// the connection is made.
import type { KvmCluster } from '../api/generated/ironplane/v1alpha1/kvmcluster.js';
import type { KvmMachine } from '../api/generated/ironplane/v1alpha1/kvmmachine.js';
import { CLUSTER_NAME_LABEL, clusterNameOf, ownerClusterName, pausedReason, Reasons, type Cluster } from '../capi/contract.js';
import { clusterOwner } from '../capi/owners.js';
import { createNew, notMarkedFor, ownerLabels, type Owner } from '../capi/ownership.js';
import type { Client } from '../kit/client.js';
import type { Result } from '../kit/controller.js';
import type { EventRecorder } from '../kit/events.js';
import { jsonEqual } from '../kit/patch.js';
import type { Informer } from '../kit/informer.js';
import { objectReconciler, type Scope } from '../kit/reconciler.js';
import type { KubeObject, ResourceType } from '../kit/types.js';
import { KVM_CLUSTER_FINALIZER, KVM_CLUSTER_OWNER_LABELS, tenantNetworkName, tenantSubnetName } from './names.js';
import {
  deletePrivateEndpoint,
  excludeIpsEqual,
  PRIVATE_ENDPOINT_CONDITION,
  PrivateEndpointReasons,
  reconcilePrivateEndpoint,
  subnetExcludeIps,
  type ProxyOptions,
} from './privateendpoint.js';
import { KvmClusters, Subnets, Vpcs } from './resources.js';

export const ClusterConditions = {
  /** The tenant Vpc and Subnet exist. */
  NetworkReady: 'NetworkReady',
  /** The private control-plane endpoint in the tenant VPC serves (privateendpoint.ts). */
  PrivateEndpointReady: PRIVATE_ENDPOINT_CONDITION,
} as const;

export const ClusterReasons = {
  /** A Vpc or Subnet of the name this KvmCluster needs exists and is not this KvmCluster's. */
  NameTaken: 'NameTaken',
  /** On deletion: a Vpc or Subnet of our name that is not ours was left in place. */
  NotOwned: 'NotOwned',
} as const;

/**
 * A taken name is looked at again after this long: whoever holds it is not
 * watched (the caches hold only labelled objects), and its removal by an
 * operator should not need a restart.
 */
export const NAME_TAKEN_RETRY_MS = 60_000;

/** A Vpc or Subnet as the caches hold it: metadata and spec, and of a Vpc its external connection (vpcExternalStatus). */
export type NetworkObject = KubeObject & { spec?: unknown; status?: unknown };

/** What kube-OVN reports of a Vpc's connection to external networks. */
export interface VpcExternalStatus {
  enableExternal: boolean;
  extraExternalSubnets: string[];
}

/** The part of a Vpc's status that says which external Subnets its router is connected to (kube-OVN's updateVpcExternalStatus writes it). */
export function vpcExternalStatus(vpc: NetworkObject): VpcExternalStatus | undefined {
  const st = vpc.status as { enableExternal?: unknown; extraExternalSubnets?: unknown } | undefined;
  if (!st || typeof st !== 'object') return undefined;
  const extra = Array.isArray(st.extraExternalSubnets) ? st.extraExternalSubnets.filter((n): n is string => typeof n === 'string') : [];
  return { enableExternal: st.enableExternal === true, extraExternalSubnets: extra };
}

/** True when kube-OVN reports the Vpc's router connected to that external Subnet. */
export function connectedTo(vpc: NetworkObject | undefined, subnet: string): boolean {
  const st = vpc ? vpcExternalStatus(vpc) : undefined;
  return !!st?.enableExternal && st.extraExternalSubnets.includes(subnet);
}

/**
 * The Vpc's spec: its connection to the platform's external network. With
 * extraExternalSubnets set, kube-OVN connects the router to those Subnets
 * only, not to its own default external one (handleUpdateVpcExternal).
 *
 * Without an external network the spec stays empty, as it was before the
 * setting existed: the Vpcs of a platform that never set it are not written
 * again. Only a Vpc whose spec asks for a connection (the setting was on and
 * is off now, or someone turned it on by hand) gets enableExternal false and
 * no extra Subnets, spelt out: covers() compares only the keys it is given,
 * so leaving them out would never show the difference, and an apply without
 * them would not take them from another field manager. kube-OVN disconnects
 * a Vpc whose spec says false while its status says true. Once the live spec
 * asks for nothing, the empty spec covers it again.
 */
export function vpcSpec(externalNetwork: string | undefined, live: NetworkObject | undefined): Record<string, unknown> {
  if (externalNetwork) return { enableExternal: true, extraExternalSubnets: [externalNetwork] };
  const spec = (live?.spec ?? {}) as { enableExternal?: unknown; extraExternalSubnets?: unknown };
  const connected = spec.enableExternal === true || (Array.isArray(spec.extraExternalSubnets) && spec.extraExternalSubnets.length > 0);
  return connected ? { enableExternal: false, extraExternalSubnets: [] } : {};
}

export interface NetworkOptions {
  /** The private endpoint's VIP, kept out of the Subnet's free addresses. */
  vip?: string;
  /** The platform's external Subnet (IRONPLANE_EXTERNAL_NETWORK) the Vpc is connected to; none when unset. */
  externalNetwork?: string;
  /** The Vpc as it is now, if it exists (see vpcSpec). */
  liveVpc?: NetworkObject;
}

export const DEFAULT_ZONE_LABEL = 'topology.kubernetes.io/zone';

export interface InfraNode extends KubeObject {
  spec?: { unschedulable?: boolean };
}

export interface KvmClusterCaches {
  kvmClusters: Informer<KvmCluster>;
  clusters: Informer<Cluster>;
  kvmMachines: Informer<KvmMachine>;
  vpcs: Informer<NetworkObject>;
  subnets: Informer<NetworkObject>;
  nodes: Informer<InfraNode>;
  /** The private endpoint's proxy Deployments (label-selected). */
  deployments: Informer<KubeObject>;
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

/** The KvmCluster as the owner its Vpc and Subnet are marked for. */
export function ownerOf(kc: KvmCluster): Owner {
  return { kind: 'KvmCluster', namespace: kc.metadata.namespace!, name: kc.metadata.name!, uid: kc.metadata.uid! };
}

/** The kube-OVN objects for a KvmCluster (pure). */
export function renderNetwork(kc: KvmCluster, opts: NetworkOptions = {}): { vpc: KubeObject & { spec: Record<string, unknown> }; subnet: KubeObject & { spec: Record<string, unknown> } } {
  const ns = kc.metadata.namespace!;
  const name = tenantNetworkName(ns, kc.metadata.name!);
  const labels = ownerLabels(KVM_CLUSTER_OWNER_LABELS, ownerOf(kc));
  const net = kc.spec!.network;
  // The user's excluded addresses, and the one the private endpoint reserves.
  const excludeIps = subnetExcludeIps(net, opts.vip);
  return {
    vpc: { apiVersion: 'kubeovn.io/v1', kind: 'Vpc', metadata: { name, labels }, spec: vpcSpec(opts.externalNetwork, opts.liveVpc) },
    subnet: {
      apiVersion: 'kubeovn.io/v1',
      kind: 'Subnet',
      // Never the Vpc's name: kube-OVN refuses that Subnet.
      metadata: { name: tenantSubnetName(ns, kc.metadata.name!), labels },
      spec: {
        vpc: name,
        cidrBlock: net.nodeCIDR,
        protocol: net.nodeCIDR.includes(':') ? 'IPv6' : 'IPv4',
        provider: 'ovn',
        natOutgoing: net.natOutgoing ?? true,
        ...(net.gateway ? { gateway: net.gateway } : {}),
        ...(excludeIps.length ? { excludeIps } : {}),
      },
    },
  };
}

/** True when `live` has every label and spec field of `want` with the same value. */
export function covers(live: NetworkObject | undefined, want: KubeObject & { spec: Record<string, unknown> }): boolean {
  if (!live) return false;
  const labels = live.metadata?.labels ?? {};
  if (!Object.entries(want.metadata?.labels ?? {}).every(([k, v]) => labels[k] === v)) return false;
  const spec = (live.spec ?? {}) as Record<string, unknown>;
  // kube-OVN rewrites excludeIps (merged, sorted, gateway added): compared as address sets.
  return Object.entries(want.spec).every(([k, v]) => (k === 'excludeIps' ? excludeIpsEqual(spec[k], v, spec['gateway']) : jsonEqual(spec[k], v)));
}

export function kvmClusterReconciler(deps: {
  client: Client;
  caches: KvmClusterCaches;
  recorder?: EventRecorder;
  proxy: ProxyOptions;
  /** The external Subnet every tenant Vpc is connected to (IRONPLANE_EXTERNAL_NETWORK); none when unset. */
  externalNetwork?: string;
}) {
  const { client, caches } = deps;

  /** The object of that name: from the cache, which holds only labelled ones, else from the apiserver. */
  const read = async (rt: ResourceType, cache: Informer<NetworkObject>, name: string): Promise<NetworkObject | undefined> =>
    cache.get(name) ?? (await client.tryGet<NetworkObject>(rt, name));

  /**
   * Creates `want`, or converges `live` (the object of its name, as read)
   * when it is ours. Returns why the name is taken when it is not ours.
   */
  async function ensure(rt: ResourceType, live: NetworkObject | undefined, want: KubeObject & { spec: Record<string, unknown> }, owner: Owner): Promise<string | undefined> {
    const name = want.metadata!.name!;
    if (!live) {
      await createNew(client, rt, want);
      return undefined;
    }
    const why = notMarkedFor(live, KVM_CLUSTER_OWNER_LABELS, owner);
    if (why) return `${rt.kind} ${name} exists and does not belong to this KvmCluster: ${why}`;
    // Ours: converge the fields we own, and only this very object (the
    // resourceVersion we checked), never one that replaced it meanwhile.
    // Skipped when everything we own is already as wanted (kube-OVN adds
    // fields of its own, which we leave alone). Forced: kube-OVN's
    // controller rewrites spec fields we also set (gateway, excludeIps).
    if (!covers(live, want)) await client.apply(rt, { ...want, metadata: { ...want.metadata, resourceVersion: live.metadata!.resourceVersion! } }, { force: true });
    return undefined;
  }

  /** A Warning event, once per change of what the condition says. */
  const warnOnce = (scope: Scope<KvmCluster, Ctx>, reason: string, message: string) => {
    const before = scope.original.status?.conditions?.find((c) => c.type === ClusterConditions.NetworkReady);
    if (before?.reason !== reason || before.message !== message) void deps.recorder?.event(scope.obj, 'Warning', reason, message);
  };

  return objectReconciler<KvmCluster, Ctx>({
    client,
    resource: KvmClusters,
    cache: caches.kvmClusters,
    finalizer: KVM_CLUSTER_FINALIZER,
    ownedConditions: [ClusterConditions.NetworkReady, ClusterConditions.PrivateEndpointReady],
    // The private endpoint is an addition: the infrastructure is provisioned without it.
    readyOf: [ClusterConditions.NetworkReady],

    prepare: async (scope) => clusterOwner(scope, caches.clusters, ClusterConditions.NetworkReady, 'KvmCluster'),

    paused: (scope) => pausedReason(scope.ctx.cluster, scope.obj),

    async normal(scope): Promise<Result | void> {
      const kc = scope.obj;
      const owner = ownerOf(kc);
      const external = deps.externalNetwork;
      // Read first: what the Vpc's spec must say depends on what it says now (vpcSpec).
      const liveVpc = await read(Vpcs, caches.vpcs, tenantNetworkName(kc.metadata.namespace!, kc.metadata.name!));
      const { vpc, subnet } = renderNetwork(kc, { vip: deps.proxy.vip, externalNetwork: external, liveVpc });
      kc.metadata.labels = { ...kc.metadata.labels, [CLUSTER_NAME_LABEL]: scope.ctx.cluster!.metadata.name! };
      // The Vpc first: the Subnet is never created inside a Vpc that is not ours.
      const taken = (await ensure(Vpcs, liveVpc, vpc, owner)) ?? (await ensure(Subnets, await read(Subnets, caches.subnets, subnet.metadata!.name!), subnet, owner));
      if (taken) {
        const message = `${taken}; it is left untouched, and the tenant network waits until the name is free`;
        warnOnce(scope, ClusterReasons.NameTaken, message);
        scope.setCondition({ type: ClusterConditions.NetworkReady, status: false, reason: ClusterReasons.NameTaken, message });
        // Machines read the Subnet from here: a name that is not ours must not be attached to.
        if (kc.status?.network || kc.status?.privateControlPlaneEndpoint) {
          const { network: _gone, privateControlPlaneEndpoint: _alsoGone, ...rest } = kc.status;
          kc.status = rest;
        }
        return { requeueAfterMs: NAME_TAKEN_RETRY_MS };
      }
      const zoneLabel = kc.spec?.failureDomains?.zoneLabel ?? DEFAULT_ZONE_LABEL;
      // Reported only once kube-OVN says so; a Vpc status change requeues us (setup.ts).
      const connected = external !== undefined && connectedTo(liveVpc, external);
      kc.status = {
        ...kc.status,
        network: { vpc: vpc.metadata!.name!, subnet: subnet.metadata!.name!, ...(connected ? { externalSubnet: external } : {}) },
        failureDomains: failureDomainsFrom(caches.nodes.list(), zoneLabel, kc.spec?.failureDomains?.nodeSelector),
        initialization: { provisioned: true },
      };
      // The tenant network serves without the external connection: it is said, not waited for.
      const externally = external === undefined ? '' : connected ? `; connected to external network ${external}` : `; waiting for kube-OVN to connect it to external network ${external}`;
      scope.setCondition({
        type: ClusterConditions.NetworkReady,
        status: true,
        reason: 'Provisioned',
        message: `Vpc ${vpc.metadata!.name} and Subnet ${subnet.metadata!.name} (${kc.spec!.network.nodeCIDR})${externally}`,
      });

      const pe = await reconcilePrivateEndpoint({ client, deployments: caches.deployments, kvmClusters: caches.kvmClusters, proxy: deps.proxy }, kc, scope.ctx.cluster!, subnet.metadata!.name!, owner);
      const peBefore = scope.original.status?.conditions?.find((c) => c.type === ClusterConditions.PrivateEndpointReady);
      // Turned off by the platform is no warning about this cluster.
      if (!pe.condition.status && pe.condition.reason !== peBefore?.reason && pe.condition.reason !== PrivateEndpointReasons.Disabled) void deps.recorder?.event(kc, 'Warning', pe.condition.reason, pe.condition.message);
      if (pe.condition.status && peBefore?.status !== 'True') void deps.recorder?.event(kc, 'Normal', pe.condition.reason, pe.condition.message);
      scope.setCondition({ type: ClusterConditions.PrivateEndpointReady, ...pe.condition });
      if (pe.endpoint) {
        kc.status = { ...kc.status, privateControlPlaneEndpoint: pe.endpoint };
      } else if (kc.status?.privateControlPlaneEndpoint) {
        const { privateControlPlaneEndpoint: _gone, ...rest } = kc.status;
        kc.status = rest;
      }
      return pe.requeueAfterMs ? { requeueAfterMs: pe.requeueAfterMs } : undefined;
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
      const owner = ownerOf(kc);
      // The private endpoint first: its proxy holds an address of the Subnet.
      const waiting = await deletePrivateEndpoint(client, kc, owner);
      if (waiting) {
        scope.setCondition({ type: ClusterConditions.PrivateEndpointReady, status: false, reason: Reasons.Deleting, message: waiting });
        return { requeueAfterMs: 2000 };
      }
      // The Subnet first: kube-OVN refuses to delete a Vpc that still has one.
      for (const [rt, cache, name] of [
        [Subnets, caches.subnets, tenantSubnetName(ns, kc.metadata.name!)],
        [Vpcs, caches.vpcs, tenantNetworkName(ns, kc.metadata.name!)],
      ] as const) {
        const live = await read(rt, cache, name);
        if (!live) continue;
        const why = notMarkedFor(live, KVM_CLUSTER_OWNER_LABELS, owner);
        if (why) {
          // Someone else's: never deleted, and no reason to keep this KvmCluster.
          const message = `${rt.kind} ${name} does not belong to this KvmCluster: ${why}; it is left in place`;
          void deps.recorder?.event(kc, 'Warning', ClusterReasons.NotOwned, message);
          scope.setCondition({ type: ClusterConditions.NetworkReady, status: false, reason: ClusterReasons.NotOwned, message });
          continue;
        }
        // The uid precondition: an object that replaced ours since it was read is not deleted.
        if (!live.metadata?.deletionTimestamp) await client.delete(rt, name, undefined, { uid: live.metadata!.uid! });
        scope.setCondition({ type: ClusterConditions.NetworkReady, status: false, reason: Reasons.Deleting, message: `waiting for ${rt.kind} ${name} to be deleted` });
        return;
      }
      scope.removeFinalizer();
    },
  });
}
