// The external kinds the KubeVirt provider reads and writes.
import type { ResourceType } from '../kit/types.js';
import { KvmClusterResource } from '../api/generated/ironplane/v1alpha1/kvmcluster.js';
import { KvmMachineResource } from '../api/generated/ironplane/v1alpha1/kvmmachine.js';

export const KvmClusters: ResourceType = KvmClusterResource;
export const KvmMachines: ResourceType = KvmMachineResource;
export const VirtualMachines: ResourceType = { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine', plural: 'virtualmachines', namespaced: true };
export const VirtualMachineInstances: ResourceType = { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstance', plural: 'virtualmachineinstances', namespaced: true };
export const Vpcs: ResourceType = { group: 'kubeovn.io', version: 'v1', kind: 'Vpc', plural: 'vpcs', namespaced: false };
export const Subnets: ResourceType = { group: 'kubeovn.io', version: 'v1', kind: 'Subnet', plural: 'subnets', namespaced: false };
export const Nodes: ResourceType = { group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false };
