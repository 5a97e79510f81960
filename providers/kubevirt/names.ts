// Names and labels of what the KubeVirt provider creates. Deterministic, so
// that a manager that dies mid-create finds its own objects again instead of
// making new ones.
import { createHash } from 'node:crypto';

export const GROUP = 'infrastructure.ironplane.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const KVM_MACHINE_FINALIZER = 'kvmmachine.infrastructure.ironplane.dev';
export const KVM_CLUSTER_FINALIZER = 'kvmcluster.infrastructure.ironplane.dev';

/** On VMs, VMIs and userdata Secrets: the KvmMachine they belong to. */
export const KVM_MACHINE_LABEL = 'infrastructure.ironplane.dev/kvm-machine';
/** On VMs: worker or control-plane. */
export const ROLE_LABEL = 'infrastructure.ironplane.dev/role';
/** On the cluster-scoped Vpc and Subnet, which cannot have a namespaced owner. */
export const KVM_CLUSTER_LABEL = 'infrastructure.ironplane.dev/kvm-cluster';
export const KVM_CLUSTER_NAMESPACE_LABEL = 'infrastructure.ironplane.dev/kvm-cluster-namespace';

/** kube-OVN attaches a VM's pod network to this Subnet. */
export const LOGICAL_SWITCH_ANNOTATION = 'ovn.kubernetes.io/logical_switch';

/** Where the providerID reaches the guest (shared with the Metal3 provider). */
export { PROVIDER_ID_FILE } from '../capi/userdata.js';

/** kubevirt://<namespace>/<name>: unique in the management cluster, known before the VM exists. */
export function providerIDFor(namespace: string, name: string): string {
  return `kubevirt://${namespace}/${name}`;
}

export function userDataSecretName(kvmMachine: string): string {
  return `${kvmMachine}-userdata`;
}

/**
 * A cluster-scoped name for a namespaced cluster: "<namespace>-<name>",
 * shortened with a hash when it would not fit a DNS label.
 */
export function tenantNetworkName(namespace: string, cluster: string): string {
  const full = `${namespace}-${cluster}`;
  if (full.length <= 63) return full;
  const hash = createHash('sha256').update(`${namespace}/${cluster}`).digest('hex').slice(0, 10);
  return `${full.slice(0, 52).replace(/-+$/, '')}-${hash}`;
}

/** The guest hostname and tenant Node name (shared by every infrastructure provider). */
export { hostnameFor } from '../capi/contract.js';
