// The pure parts of the hypervisor's OVN mode (launcher.ts).
import { describe, expect, it } from 'vitest';
import { allocationOf, launcherPod, portOf, runningStatus, type Pod } from './launcher.js';

const vmi = {
  metadata: { name: 'm1', namespace: 'team-a', uid: 'uid-1', annotations: { 'ovn.kubernetes.io/logical_switch': 'net-x', other: 'y' } },
};

const allocated = (extra: Record<string, string> = {}): Pod => ({
  metadata: {
    name: 'virt-launcher-m1-abcde',
    namespace: 'team-a',
    annotations: {
      'ovn.kubernetes.io/allocated': 'true',
      'ovn.kubernetes.io/ip_address': '10.0.0.2',
      'ovn.kubernetes.io/mac_address': '00:00:00:aa:bb:cc',
      'ovn.kubernetes.io/gateway': '10.0.0.1',
      'ovn.kubernetes.io/cidr': '10.0.0.0/24',
      'ovn.kubernetes.io/logical_switch': 'net-x',
      ...extra,
    },
  },
});

describe('launcher pod', () => {
  it('should be the Pod virt-controller makes: named after the VMI, owned by it, with its annotations, bound to the node', () => {
    const pod = launcherPod(vmi, 'node-0');
    expect(pod.metadata).toMatchObject({
      generateName: 'virt-launcher-m1-',
      namespace: 'team-a',
      labels: { 'kubevirt.io': 'virt-launcher', 'kubevirt.io/created-by': 'uid-1', 'vm.kubevirt.io/name': 'm1' },
      annotations: { 'ovn.kubernetes.io/logical_switch': 'net-x', other: 'y' },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'm1', uid: 'uid-1', controller: true }],
    });
    expect(pod.spec?.nodeName).toBe('node-0');
  });

  it("should name the logical switch port after the VM for a VMI's Pod, after the Pod otherwise", () => {
    expect(portOf(launcherPod(vmi, 'n'))).toEqual({ pod: 'm1', namespace: 'team-a' });
    expect(portOf({ metadata: { name: 'plain', namespace: 'ns' } })).toEqual({ pod: 'plain', namespace: 'ns' });
  });

  it("should read kube-OVN's allocation only once it is complete, and the IPv4 part of a dual-stack one", () => {
    expect(allocationOf(allocated())).toEqual({ ip: '10.0.0.2', mac: '00:00:00:aa:bb:cc', gateway: '10.0.0.1', cidr: '10.0.0.0/24', logicalSwitch: 'net-x' });
    expect(allocationOf(allocated({ 'ovn.kubernetes.io/allocated': 'false' }))).toBeUndefined();
    expect(allocationOf(allocated({ 'ovn.kubernetes.io/mac_address': '' }))).toBeUndefined();
    const dual = allocationOf(
      allocated({ 'ovn.kubernetes.io/ip_address': '10.0.0.2,fd00::2', 'ovn.kubernetes.io/gateway': '10.0.0.1,fd00::1', 'ovn.kubernetes.io/cidr': '10.0.0.0/24,fd00::/64' }),
    );
    expect(dual).toMatchObject({ ip: '10.0.0.2', gateway: '10.0.0.1', cidr: '10.0.0.0/24' });
  });

  it('should report the Pod Running with the allocated address, as the kubelet does', () => {
    const a = allocationOf(allocated())!;
    expect(runningStatus(allocated(), a, '127.0.0.1')).toMatchObject({ phase: 'Running', hostIP: '127.0.0.1', podIP: '10.0.0.2', podIPs: [{ ip: '10.0.0.2' }] });
  });
});
