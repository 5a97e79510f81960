// Pure rendering of what a KvmMachine becomes: the kubevirt.io/v1
// VirtualMachine, and the userdata the guest boots with. No I/O here; the
// reconciler feeds in what it read and writes what comes out. Golden tests
// pin the output.
import type { KvmMachine } from '../api/generated/ironplane/v1alpha1/kvmmachine.js';
import { CLUSTER_NAME_LABEL } from '../capi/contract.js';
import type { KubeObject, OwnerReference } from '../kit/types.js';
import {
  API_VERSION,
  hostnameFor,
  KVM_MACHINE_LABEL,
  LOGICAL_SWITCH_ANNOTATION,
  ROLE_LABEL,
  userDataSecretName,
} from './names.js';

export interface VirtualMachine extends KubeObject {
  spec?: {
    runStrategy?: string;
    running?: boolean;
    dataVolumeTemplates?: Record<string, unknown>[];
    template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: Record<string, unknown> };
  };
  status?: { printableStatus?: string; ready?: boolean; created?: boolean; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

export interface VmiInterface {
  name?: string;
  ipAddress?: string;
  ipAddresses?: string[];
  mac?: string;
}

export interface VirtualMachineInstance extends KubeObject {
  spec?: { hostname?: string };
  status?: {
    phase?: string;
    nodeName?: string;
    interfaces?: VmiInterface[];
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

export interface RenderInput {
  kvmMachine: KvmMachine;
  clusterName: string;
  /** The kube-OVN Subnet the VM's pod network attaches to. */
  subnet: string;
  /** Machine.spec.failureDomain, if any. */
  failureDomain?: string;
  /** The node label failure domains are read from (KvmCluster.spec.failureDomains.zoneLabel). */
  zoneLabel: string;
  /** Only nodes with these labels host the cluster's VMs. */
  nodeSelector?: Record<string, string>;
  controlPlane: boolean;
}

function ownerRef(m: KvmMachine): OwnerReference {
  return { apiVersion: API_VERSION, kind: 'KvmMachine', name: m.metadata.name ?? '', uid: m.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

/**
 * Problems with a KvmMachine's spec that the CRD schema cannot express
 * (CEL cannot see metadata.namespace); the reconciler reports them in a
 * condition instead of creating anything.
 */
export function specProblems(m: KvmMachine): string[] {
  const problems: string[] = [];
  const pvc = m.spec?.image.dataVolume?.source.pvc;
  if (pvc?.namespace && pvc.namespace !== m.metadata.namespace) {
    problems.push(`spec.image.dataVolume.source.pvc.namespace "${pvc.namespace}" is not this KvmMachine's namespace "${m.metadata.namespace}": cross-namespace references are not allowed`);
  }
  return problems;
}

/** The VirtualMachine for a KvmMachine. */
export function renderVirtualMachine(input: RenderInput): VirtualMachine {
  const m = input.kvmMachine;
  const name = m.metadata.name ?? '';
  const spec = m.spec!;
  const labels = {
    [CLUSTER_NAME_LABEL]: input.clusterName,
    [KVM_MACHINE_LABEL]: name,
    [ROLE_LABEL]: input.controlPlane ? 'control-plane' : 'worker',
  };
  const rootVolume: Record<string, unknown> = spec.image.containerDisk
    ? { name: 'rootdisk', containerDisk: { image: spec.image.containerDisk.image, ...(spec.image.containerDisk.imagePullPolicy ? { imagePullPolicy: spec.image.containerDisk.imagePullPolicy } : {}) } }
    : { name: 'rootdisk', dataVolume: { name: `${name}-root` } };
  const dataVolumeTemplates = spec.image.dataVolume
    ? [
        {
          metadata: { name: `${name}-root`, labels },
          spec: {
            // Same namespace only (see specProblems): the namespace is implied.
            source: spec.image.dataVolume.source.pvc ? { pvc: { name: spec.image.dataVolume.source.pvc.name } } : spec.image.dataVolume.source,
            storage: {
              resources: { requests: { storage: spec.image.dataVolume.storage } },
              ...(spec.image.dataVolume.storageClassName ? { storageClassName: spec.image.dataVolume.storageClassName } : {}),
            },
          },
        },
      ]
    : undefined;
  // KubeVirt reads the userdata from the Secret's "userdata" (or "userData") key.
  const cloudInit = { secretRef: { name: userDataSecretName(name) } };
  const matchExpressions = [
    ...(input.failureDomain ? [{ key: input.zoneLabel, operator: 'In', values: [input.failureDomain] }] : []),
    ...Object.entries(input.nodeSelector ?? {})
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, value]) => ({ key, operator: 'In', values: [value] })),
  ];
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: m.metadata.namespace, labels, ownerReferences: [ownerRef(m)] },
    spec: {
      runStrategy: spec.runStrategy ?? 'Always',
      ...(dataVolumeTemplates ? { dataVolumeTemplates } : {}),
      template: {
        metadata: { labels: { ...labels, 'kubevirt.io/vm': name }, annotations: { [LOGICAL_SWITCH_ANNOTATION]: input.subnet } },
        spec: {
          hostname: hostnameFor(name),
          domain: {
            cpu: { cores: spec.cpu?.cores ?? 2, sockets: spec.cpu?.sockets ?? 1, threads: spec.cpu?.threads ?? 1 },
            memory: { guest: spec.memory ?? '4Gi' },
            resources: { requests: { memory: spec.memory ?? '4Gi' } },
            devices: {
              disks: [
                { name: 'rootdisk', disk: { bus: 'virtio' } },
                { name: 'cloudinit', disk: { bus: 'virtio' } },
              ],
              // kube-OVN gives the VM the Subnet's address itself: bridge binding.
              interfaces: [{ name: 'default', bridge: {} }],
              ...(spec.gpus?.length ? { gpus: spec.gpus.map((g) => ({ name: g.name, deviceName: g.deviceName })) } : {}),
              ...(spec.hostDevices?.length ? { hostDevices: spec.hostDevices.map((d) => ({ name: d.name, deviceName: d.deviceName })) } : {}),
            },
          },
          networks: [{ name: 'default', pod: {} }],
          volumes: [rootVolume, spec.bootstrap?.mode === 'ConfigDrive' ? { name: 'cloudinit', cloudInitConfigDrive: cloudInit } : { name: 'cloudinit', cloudInitNoCloud: cloudInit }],
          ...(matchExpressions.length
            ? { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions }] } } } }
            : {}),
        },
      },
    },
  };
}

/** Addresses for status.addresses from a VMI's interfaces, InternalIP first, then the hostname. */
export function addressesFrom(vmi: VirtualMachineInstance): { type: 'InternalIP' | 'Hostname'; address: string }[] {
  const ips = new Set<string>();
  for (const i of vmi.status?.interfaces ?? []) {
    for (const ip of [i.ipAddress, ...(i.ipAddresses ?? [])]) if (ip) ips.add(ip.split('/')[0]!);
  }
  const out: { type: 'InternalIP' | 'Hostname'; address: string }[] = [...ips].map((address) => ({ type: 'InternalIP', address }));
  const hostname = vmi.spec?.hostname ?? vmi.metadata?.name;
  if (hostname) out.push({ type: 'Hostname', address: hostname });
  return out;
}
