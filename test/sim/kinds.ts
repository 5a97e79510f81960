// The external kinds the simulation reads and writes, typed only as far as
// the simulation looks into them. Schemas of record: config/external/kubevirt,
// config/external/kube-ovn and config/external/metal3.
import type { KubeObject } from '../../providers/kit/types.js';
import type { SubnetSpec } from './ipam.js';
import type { Placement } from './scheduling.js';

// Where the kinds live on the apiserver: plain facts, shared with the provider.
export { Nodes, Subnets, VirtualMachineInstances, VirtualMachines } from '../../providers/kubevirt/resources.js';
export { BareMetalHosts, MetalMachines } from '../../providers/metal3/resources.js';

/** KubeVirt's condition shape, shared by VMs and VMIs. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastProbeTime?: string | null;
  lastTransitionTime?: string | null;
}

export interface SecretRef {
  name?: string;
}

/**
 * KubeVirt's cloud-init source. The userdata Secret is `secretRef` (there is
 * no `userDataSecretRef`: the apiserver prunes it without a word).
 */
export interface CloudInitSource {
  secretRef?: SecretRef;
  networkDataSecretRef?: SecretRef;
  userData?: string;
  userDataBase64?: string;
}

export interface Volume {
  name: string;
  cloudInitNoCloud?: CloudInitSource;
  cloudInitConfigDrive?: CloudInitSource;
  secret?: { secretName?: string; optional?: boolean };
  containerDisk?: { image?: string };
}

export interface VMISpec extends Placement {
  domain?: Record<string, unknown>;
  hostname?: string;
  subdomain?: string;
  networks?: { name: string; pod?: Record<string, unknown>; multus?: Record<string, unknown> }[];
  volumes?: Volume[];
  [k: string]: unknown;
}

export interface VMIInterfaceStatus {
  name: string;
  ipAddress?: string;
  ipAddresses?: string[];
  mac?: string;
  interfaceName?: string;
  infoSource?: string;
  queueCount?: number;
}

export type VMIPhase = '' | 'Pending' | 'Scheduling' | 'Scheduled' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown' | 'WaitingForSync';

export interface VMIStatus {
  phase?: VMIPhase;
  reason?: string;
  nodeName?: string;
  interfaces?: VMIInterfaceStatus[];
  conditions?: Condition[];
  guestOSInfo?: Record<string, string>;
  phaseTransitionTimestamps?: { phase: string; phaseTransitionTimestamp: string }[];
  activePods?: Record<string, string>;
  qosClass?: string;
  launcherContainerImageVersion?: string;
  migrationMethod?: string;
  migrationTransport?: string;
}

export interface VirtualMachineInstance extends KubeObject {
  spec?: VMISpec;
  status?: VMIStatus;
}

export type RunStrategy = 'Always' | 'RerunOnFailure' | 'Once' | 'Manual' | 'Halted' | 'WaitAsReceiver';

export interface VirtualMachine extends KubeObject {
  spec?: {
    runStrategy?: RunStrategy;
    running?: boolean;
    template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: VMISpec };
  };
  status?: {
    created?: boolean;
    ready?: boolean;
    printableStatus?: string;
    runStrategy?: string;
    conditions?: Condition[];
  };
}

export interface Subnet extends KubeObject {
  spec?: SubnetSpec & { vpc?: string; protocol?: string };
}

export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

/** A Secret reference as Metal3 writes it: the namespace defaults to the host's. */
export interface SecretReference {
  name?: string;
  namespace?: string;
}

/** The part of a Metal3 BareMetalHost the operating system on it sees. */
export interface BareMetalHost extends KubeObject {
  spec?: {
    online?: boolean;
    consumerRef?: { apiVersion?: string; kind?: string; name?: string; namespace?: string; uid?: string } | null;
    image?: { url?: string } | null;
    customDeploy?: { method?: string } | null;
    /** Key `userData` (or `value`). */
    userData?: SecretReference | null;
    /** Key `metaData`: the config drive's meta_data. */
    metaData?: SecretReference | null;
    networkData?: SecretReference | null;
    [k: string]: unknown;
  };
  status?: {
    provisioning?: { state?: string; ID?: string };
    poweredOn?: boolean;
    hardware?: { hostname?: string; nics?: { name?: string; mac?: string; ip?: string }[] };
    [k: string]: unknown;
  };
}
