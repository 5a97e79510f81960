// The virt-launcher Pod of a VMI, for the hypervisor's OVN mode
// (startHypervisor({ ..., ovn })), where the REAL kube-ovn-controller
// allocates a VM's address instead of the simulated IPAM (ipam.ts).
//
// KubeVirt's virt-controller creates one launcher Pod per VMI:
// generateName `virt-launcher-<vmi>-`, labels `kubevirt.io=virt-launcher`,
// `kubevirt.io/created-by=<vmi uid>` and `vm.kubevirt.io/name=<vmi>`, the
// VMI's annotations (which is how a template's
// `ovn.kubernetes.io/logical_switch` reaches kube-OVN), and a controller
// ownerReference to the VMI. That ownerReference is what makes kube-OVN treat
// the Pod as a VM's (keep-vm-ip, on by default): its logical switch port and
// IP object are named `<vm>.<namespace>` rather than after the Pod, and the
// address outlives the Pod while the VM exists.
//
// kube-OVN writes the allocation into the Pod's annotations
// (`ovn.kubernetes.io/allocated`, `ip_address`, `mac_address`, `gateway`,
// `cidr`, `logical_switch`); kube-ovn-cni then plugs the pod's interface,
// and the kubelet reports the address as status.podIP(s). Both of those are
// the hypervisor's part here.
import type { KubeObject, ResourceType } from '../../providers/kit/types.js';
import type { VirtualMachineInstance } from './kinds.js';

export const Pods: ResourceType = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };

export const LAUNCHER_LABEL = 'kubevirt.io';
export const LAUNCHER_SELECTOR = 'kubevirt.io=virt-launcher';
export const CREATED_BY_LABEL = 'kubevirt.io/created-by';
const VM_NAME_LABEL = 'vm.kubevirt.io/name';
const OVN = 'ovn.kubernetes.io';

export interface Pod extends KubeObject {
  spec?: { nodeName?: string; containers?: { name: string; image: string }[]; [k: string]: unknown };
  status?: { phase?: string; podIP?: string; podIPs?: { ip: string }[]; hostIP?: string; conditions?: unknown[]; [k: string]: unknown };
}

/** What kube-OVN allocated to a Pod (its primary network, provider `ovn`). */
export interface Allocation {
  ip: string;
  mac: string;
  gateway: string;
  cidr: string;
  logicalSwitch: string;
}

/** The launcher Pod virt-controller would create for `vmi`, bound to `node` (kube-scheduler's part). */
export function launcherPod(vmi: VirtualMachineInstance, node: string): Pod {
  const name = vmi.metadata?.name ?? '';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `virt-launcher-${name}-`,
      namespace: vmi.metadata?.namespace,
      labels: { [LAUNCHER_LABEL]: 'virt-launcher', [CREATED_BY_LABEL]: vmi.metadata?.uid ?? '', [VM_NAME_LABEL]: name },
      annotations: { ...(vmi.metadata?.annotations ?? {}) },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name, uid: vmi.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      nodeName: node,
      // Nothing runs it: the VM is a network namespace (test/harness/ovn.ts plug()).
      containers: [{ name: 'compute', image: 'quay.io/kubevirt/virt-launcher:simulated' }],
    },
  };
}

/** kube-OVN's allocation from the Pod's annotations, once it is complete. */
export function allocationOf(pod: Pod): Allocation | undefined {
  const a = pod.metadata?.annotations ?? {};
  if (a[`${OVN}/allocated`] !== 'true') return undefined;
  const ip = a[`${OVN}/ip_address`];
  const mac = a[`${OVN}/mac_address`];
  const gateway = a[`${OVN}/gateway`];
  const cidr = a[`${OVN}/cidr`];
  const logicalSwitch = a[`${OVN}/logical_switch`];
  if (!ip || !mac || !gateway || !cidr || !logicalSwitch) return undefined;
  // A dual-stack allocation is "v4,v6": the VM's primary address is the IPv4 one.
  const v4 = (s: string): string => s.split(',').find((x) => x.includes('.')) ?? s.split(',')[0] ?? s;
  return { ip: v4(ip), mac, gateway: v4(gateway), cidr: v4(cidr), logicalSwitch };
}

/**
 * The logical switch port kube-OVN made for a launcher Pod: `<vm>.<namespace>`
 * for a Pod a VMI controls (keep-vm-ip), else `<pod>.<namespace>`.
 */
export function portOf(pod: Pod): { pod: string; namespace: string } {
  const vmi = pod.metadata?.ownerReferences?.find((r) => r.kind === 'VirtualMachineInstance' && r.apiVersion.startsWith('kubevirt.io'));
  return { pod: vmi?.name ?? pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '' };
}

/** The Pod status the kubelet reports once the sandbox has the address. */
export function runningStatus(pod: Pod, alloc: Allocation, hostIP: string): NonNullable<Pod['status']> {
  const now = new Date().toISOString();
  return {
    ...(pod.status ?? {}),
    phase: 'Running',
    hostIP,
    podIP: alloc.ip,
    podIPs: [{ ip: alloc.ip }],
    startTime: pod.status?.['startTime'] ?? now,
    conditions: [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
      { type: 'Initialized', status: 'True', lastTransitionTime: now },
      { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
      { type: 'Ready', status: 'True', lastTransitionTime: now },
    ],
  };
}
