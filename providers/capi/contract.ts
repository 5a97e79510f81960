// Cluster API contract helpers shared by every Ironplane provider: owner
// lookup, cluster-name labels, paused, bootstrap data, and the names CAPI
// core reads on our objects. Nothing here knows about KubeVirt or Metal3.
import { createHash } from 'node:crypto';
import type { Cluster } from '../api/generated/capi/v1beta2/cluster.js';
import { ClusterResource } from '../api/generated/capi/v1beta2/cluster.js';
import type { Machine } from '../api/generated/capi/v1beta2/machine.js';
import { MachineResource } from '../api/generated/capi/v1beta2/machine.js';
import type { KubeObject, ResourceType } from '../kit/types.js';

export type { Cluster, Machine };

export const Clusters: ResourceType = ClusterResource;
export const Machines: ResourceType = MachineResource;

export const CAPI_GROUP = 'cluster.x-k8s.io';
export const CLUSTER_NAME_LABEL = 'cluster.x-k8s.io/cluster-name';
export const PAUSED_ANNOTATION = 'cluster.x-k8s.io/paused';
export const CONTROL_PLANE_LABEL = 'cluster.x-k8s.io/control-plane';
export const DEPLOYMENT_NAME_LABEL = 'cluster.x-k8s.io/deployment-name';
/** Set by the topology controller on objects it creates during a dry-run of server-side apply. */
export const DRY_RUN_ANNOTATION = 'topology.cluster.x-k8s.io/dry-run';
/** Bootstrap secrets carry this type. */
export const CAPI_SECRET_TYPE = 'cluster.x-k8s.io/secret';

/** The cluster an object belongs to, by CAPI's label. */
export function clusterNameOf(obj: KubeObject): string | undefined {
  return obj.metadata?.labels?.[CLUSTER_NAME_LABEL] || undefined;
}

/** The name of the Machine that owns obj (any cluster.x-k8s.io version). */
export function ownerMachineName(obj: KubeObject): string | undefined {
  return obj.metadata?.ownerReferences?.find((o) => o.kind === 'Machine' && o.apiVersion.startsWith(`${CAPI_GROUP}/`))?.name;
}

/** The name of the Cluster that owns obj, e.g. an InfraCluster. */
export function ownerClusterName(obj: KubeObject): string | undefined {
  return obj.metadata?.ownerReferences?.find((o) => o.kind === 'Cluster' && o.apiVersion.startsWith(`${CAPI_GROUP}/`))?.name;
}

/**
 * Why reconciliation is paused, or undefined: the Cluster is paused
 * (e.g. during clusterctl move) or the object carries the paused annotation.
 */
export function pausedReason(cluster: Cluster | undefined, obj: KubeObject): string | undefined {
  if (cluster?.spec?.paused) return `Cluster ${cluster.metadata.name} is paused`;
  if (obj.metadata?.annotations?.[PAUSED_ANNOTATION] !== undefined) return `${PAUSED_ANNOTATION} annotation is set`;
  return undefined;
}

/** True when the object was created by the topology controller's dry-run apply. */
export function isDryRun(obj: KubeObject): boolean {
  return obj.metadata?.annotations?.[DRY_RUN_ANNOTATION] !== undefined;
}

/** The key of the Cluster named by obj's label, in obj's namespace. */
export function clusterKey(obj: KubeObject): string | undefined {
  const name = clusterNameOf(obj);
  return name ? `${obj.metadata?.namespace}/${name}` : undefined;
}

/** Condition types and reasons Cluster API users already know. */
export const Reasons = {
  WaitingForOwner: 'WaitingForOwner',
  WaitingForCluster: 'WaitingForCluster',
  WaitingForClusterInfrastructure: 'WaitingForClusterInfrastructure',
  WaitingForBootstrapData: 'WaitingForBootstrapData',
  Deleting: 'Deleting',
} as const;

/** The guest hostname and tenant Node name: the InfraMachine's name as a DNS label (hashed when longer). */
export function hostnameFor(infraMachine: string): string {
  if (infraMachine.length <= 63) return infraMachine;
  const hash = createHash('sha256').update(infraMachine).digest('hex').slice(0, 10);
  return `${infraMachine.slice(0, 52).replace(/[-.]+$/, '')}-${hash}`;
}
