// Tenant clusters on the real datapath, as the network tests build them: the
// managers as real processes with exactly their RBAC, a Cluster with a
// KvmCluster and KvmMachines (CAPI's part), the VMs' addresses as kube-OVN
// allocated them (the KvmMachine status) and their network namespaces (the
// hypervisor sim), and tenant Nodes as a kubelet registers them.
import path from 'node:path';
import type { KvmMachine } from '../../../providers/api/generated/ironplane/v1alpha1/kvmmachine.js';
import { TenantNodes } from '../../../providers/cloudprovider/names.js';
import type { Client } from '../../../providers/kit/client.js';
import type { KubeObject } from '../../../providers/kit/types.js';
import { providerIDFor } from '../../../providers/kubevirt/names.js';
import { KvmClusters, KvmMachines } from '../../../providers/kubevirt/resources.js';
import type { Hypervisor } from '../../sim/hypervisor.js';
import { createCapiCluster, createCapiMachine, ownedBy } from '../capi-objects.js';
import { REPO, runTs, until, type Proc } from '../processes.js';
import { ensureNamespace } from '../roles.js';

export const NODE_LABELS = { 'topology.kubernetes.io/zone': 'zone-a', 'ironplane.dev/vm-host': 'true' };
const IMAGE = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

export interface Tenant {
  ns: string;
  cluster: string;
  cidr: string;
  excludeIPs?: string[];
  machines: string[];
}

/** A VM: its address (what the KvmMachine reports, which is kube-OVN's) and its network namespace. */
export interface VM {
  ip: string;
  netns: string;
}

/** `ironplane manager --role <role>` from source, with leader election and debug logs. */
export function startManager(role: string, kubeconfig: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Proc {
  return runTs(
    path.join(REPO, 'providers/cli/main.ts'),
    [
      'manager', '--role', role, '--kubeconfig', kubeconfig,
      '--leader-elect', '--leader-election-namespace', 'ironplane-system',
      '--metrics-bind-address', '0', '--health-probe-bind-address', '0', '--webhook-port', '0',
      '--log-level', 'debug', ...extra,
    ],
    { env },
  );
}

/** Kills the managers (SIGKILL, by the PIDs started here), printing their output when IRONPLANE_TEST_LOG is set. */
export async function stopManagers(procs: readonly Proc[]): Promise<void> {
  for (const p of procs) {
    if (process.env['IRONPLANE_TEST_LOG']) console.log(p.output());
    p.child.kill('SIGKILL');
    await p.exited;
  }
}

/** A Cluster backed by a KvmCluster on `t.cidr` and its KvmMachines, as CAPI makes them. */
export async function createTenant(client: Client, t: Tenant): Promise<void> {
  await ensureNamespace(client, t.ns);
  const uid = await createCapiCluster(client, t.ns, t.cluster, 'KvmCluster');
  await client.create<Obj>(KvmClusters, {
    metadata: ownedBy(t.ns, t.cluster, t.cluster, { kind: 'Cluster', name: t.cluster, uid }),
    spec: { network: { nodeCIDR: t.cidr, ...(t.excludeIPs ? { excludeIPs: t.excludeIPs } : {}) }, failureDomains: { nodeSelector: { 'ironplane.dev/vm-host': 'true' } } },
  });
  for (const m of t.machines) {
    const muid = await createCapiMachine(client, t.ns, t.cluster, m, 'KvmMachine', { bootstrap: '#cloud-config\n' });
    await client.create<Obj>(KvmMachines, { metadata: ownedBy(t.ns, m, t.cluster, { kind: 'Machine', name: m, uid: muid }), spec: { image: { containerDisk: { image: IMAGE } }, memory: '1Gi' } });
  }
}

/** Waits for a VM's address (from its KvmMachine) and its network namespace (from the hypervisor). */
export async function vmUp(client: Client, hypervisor: Hypervisor, t: Tenant, name: string, timeoutMs = 120_000): Promise<VM> {
  const ip = await until(`${t.ns}/${name} to report an address`, async () => {
    const m = await client.get<KvmMachine>(KvmMachines, name, t.ns);
    return m.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  }, timeoutMs);
  const netns = await until(`${t.ns}/${name} to be plugged`, () => hypervisor.vmNetns(t.ns, name)?.netns, timeoutMs);
  return { ip, netns };
}

/** A Node in the tenant cluster as its kubelet registers it: the KvmMachine's providerID, its address, Ready. */
export async function registerNode(tenant: Client, ns: string, name: string, ip: string, labels: Record<string, string> = {}): Promise<void> {
  await tenant.create(TenantNodes, { metadata: { name, labels }, spec: { providerID: providerIDFor(ns, name) } } as KubeObject);
  await setNodeReady(tenant, name, ip, true);
}

/** The kubelet's status of a tenant Node: its address and whether it is Ready. */
export async function setNodeReady(tenant: Client, name: string, ip: string, ready: boolean): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  await tenant.patchStatus(TenantNodes, name, undefined, {
    addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }],
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? 'KubeletReady' : 'KubeletNotReady', message: ready ? 'kubelet is posting ready status' : 'kubelet stopped posting node status', lastHeartbeatTime: now, lastTransitionTime: now }],
  });
}
