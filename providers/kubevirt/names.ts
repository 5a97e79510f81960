// Names and labels of what the KubeVirt provider creates. Deterministic, so
// that a manager that dies mid-create finds its own objects again instead of
// making new ones.
import { hashedName } from '../capi/ownership.js';

export const GROUP = 'infrastructure.ironplane.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const KVM_MACHINE_FINALIZER = 'kvmmachine.infrastructure.ironplane.dev';
export const KVM_CLUSTER_FINALIZER = 'kvmcluster.infrastructure.ironplane.dev';

/** On VMs, VMIs and userdata Secrets: the KvmMachine they belong to. */
export const KVM_MACHINE_LABEL = 'infrastructure.ironplane.dev/kvm-machine';
/** On VMs: worker or control-plane. */
export const ROLE_LABEL = 'infrastructure.ironplane.dev/role';
/**
 * On the cluster-scoped Vpc and Subnet, which cannot have a namespaced
 * owner: the KvmCluster they were made for, by name, namespace and uid. All
 * three must match before the provider changes or deletes one.
 */
export const KVM_CLUSTER_LABEL = 'infrastructure.ironplane.dev/kvm-cluster';
export const KVM_CLUSTER_NAMESPACE_LABEL = 'infrastructure.ironplane.dev/kvm-cluster-namespace';
export const KVM_CLUSTER_UID_LABEL = 'infrastructure.ironplane.dev/kvm-cluster-uid';
export const KVM_CLUSTER_OWNER_LABELS = { name: KVM_CLUSTER_LABEL, namespace: KVM_CLUSTER_NAMESPACE_LABEL, uid: KVM_CLUSTER_UID_LABEL } as const;

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
 * The cluster-scoped name of a KvmCluster's Vpc: a DNS label of
 * "<namespace>-<name>" cut to fit, then a hash of "<namespace>/<name>". The
 * hash is always there: "<namespace>-<name>" alone is ambiguous (team +
 * a-alpha and team-a + alpha), "<namespace>/<name>" is not, since neither
 * part can hold a '/'.
 */
export function tenantNetworkName(namespace: string, cluster: string): string {
  return hashedName(`${namespace}-${cluster}`, `${namespace}/${cluster}`);
}

/**
 * The cluster-scoped name of a KvmCluster's node Subnet: hashed like
 * tenantNetworkName, over "<namespace>/<name>/nodes". It must differ from
 * the Vpc's: kube-OVN's controller refuses a Subnet named like its Vpc and
 * never creates its logical switch (and its webhook refuses any Subnet that
 * shares a name with any Vpc).
 */
export function tenantSubnetName(namespace: string, cluster: string): string {
  return hashedName(`${namespace}-${cluster}-nodes`, `${namespace}/${cluster}/nodes`);
}

/** The guest hostname and tenant Node name (shared by every infrastructure provider). */
export { hostnameFor } from '../capi/contract.js';
