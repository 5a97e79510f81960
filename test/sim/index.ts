// The simulated parts of the test world (DESIGN.md section 6): what would
// need a physical node. Everything else in tests is real.
export { startHypervisor, LOGICAL_SWITCH_ANNOTATION, IP_ADDRESS_ANNOTATION, NODE_NAME_LABEL, VM_FINALIZER, type Hypervisor, type HypervisorOptions, type OvnAttachment, type PluggedVM } from './hypervisor.js';
export { launcherPod, allocationOf, portOf, Pods, type Pod, type Allocation } from './launcher.js';
export { startKubelet, validateJoin, JOIN_RETRY_MS, CLUSTER_NAME_LABEL, type Kubelet, type KubeletOptions, type JoinContext, type JoinValidator } from './kubelet.js';
export { checkJoin, findKubeadmJoin, kubeadmJoinValidator, providerIDWiring, verifyDetachedJWS, spkiHash, NODE_BOOTSTRAP_GROUP, type KubeadmJoin, type JoinResult } from './join.js';
export { hostOS, metaDataHostname, hostAddresses, METAL_MACHINE_GROUP, type HostOS } from './baremetal.js';
export { parseCloudConfig, providerIDOf, findJoinConfig, PROVIDER_ID_PATH, type CloudConfig, type JoinConfig } from './cloudinit.js';
export { startKamaji, TenantControlPlanes, type Kamaji, type KamajiOptions, type TenantControlPlane, type KubernetesVersionStatus } from './kamaji.js';
export { Ipam, parsePool, type Pool, type Lease } from './ipam.js';
export { fits, schedule, type SimNode, type Placement } from './scheduling.js';
export * from './kinds.js';
