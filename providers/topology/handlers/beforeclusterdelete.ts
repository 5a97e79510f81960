// BeforeClusterDelete: hold the deletion while something of the cluster that
// Cluster API's teardown will not release still holds platform resources.
//
// CAPI deletes a topology Cluster's MachineDeployments, Machines (and so our
// KvmMachines and MetalMachines), control plane and infrastructure only after
// this hook lets go (the Cluster controller waits for the ok-to-delete
// annotation), so waiting here for those machines to be gone would wait
// forever. What the teardown does not release, and this hook waits for:
// - load-balancer addresses held by Services of type LoadBalancer that carry
//   the cluster's cluster.x-k8s.io/cluster-name label in its namespace and
//   are not the hosted control plane's own Service (Kamaji deletes that one
//   with the TenantControlPlane): Services created for the tenant's
//   workloads, e.g. by the KubeVirt cloud provider. Nothing deletes them once
//   the cluster is gone, and their addresses would stay taken from the pool;
// - hosts and VMs held by KvmMachines or MetalMachines labelled with the
//   cluster that no Machine, MachineSet or MachinePool owns: the teardown
//   only deletes what CAPI owns, so their host claims and VMs would leak.
import { blocked, success, type ClusterRequest, type RetryResponse } from '../api.js';

/** Tenants delete their Services or the cloud provider releases them: minutes, not seconds. */
export const RELEASE_RETRY_SECONDS = 30;

export interface LoadBalancerService {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  addresses: string[];
}

export interface InfraMachine {
  kind: string;
  namespace: string;
  name: string;
  ownerKinds: string[];
}

export interface Release {
  services: LoadBalancerService[];
  machines: InfraMachine[];
  /** Lists that could not be read: the hook cannot tell, so it waits. */
  errors: string[];
}

export const KAMAJI_NAME_LABEL = 'kamaji.clastix.io/name';
const CAPI_OWNERS = new Set(['Machine', 'MachineSet', 'MachinePool']);

export function beforeClusterDelete(req: ClusterRequest, release: Release): RetryResponse {
  const cluster = req.cluster;
  const controlPlane = cluster.spec.controlPlaneRef?.name;
  const reasons: string[] = [...release.errors.map((e) => `cannot check what the cluster still holds: ${e}`)];
  const services = release.services
    .filter((s) => !(controlPlane && s.labels[KAMAJI_NAME_LABEL] === controlPlane))
    .map((s) => `Service ${s.namespace}/${s.name}${s.addresses.length ? ` (${[...s.addresses].sort().join(', ')})` : ''}`)
    .sort();
  if (services.length) reasons.push(`load-balancer addresses are still held by ${services.join(', ')}: delete these LoadBalancer Services, which Cluster API does not delete`);
  const orphans = release.machines
    .filter((m) => !m.ownerKinds.some((k) => CAPI_OWNERS.has(k)))
    .map((m) => `${m.kind} ${m.namespace}/${m.name}`)
    .sort();
  if (orphans.length) reasons.push(`hosts are still held by ${orphans.join(', ')}, which no Machine owns, so the cluster's teardown would not release them: delete them`);
  if (reasons.length) return blocked('BeforeClusterDelete', RELEASE_RETRY_SECONDS, reasons.sort().join('; '));
  return success<RetryResponse>('BeforeClusterDelete', {});
}
