// A management plane for cloud-provider tests: a real apiserver with the
// CAPI, kube-OVN and Ironplane CRDs, Kamaji-style tenant apiservers with
// their kubeconfigs published, and `ironplane manager --role cloud-provider`
// as a real process running with exactly config/rbac/cloud-provider. The
// tests play CAPI's and the KubeVirt provider's parts (a Cluster, a
// KvmCluster whose network is ready, KvmMachines with addresses) and the
// tenant kubelets' (Nodes with providerIDs, addresses and Ready).
import path from 'node:path';
import { freePorts, publishTenantSecrets, startControlPlane, startTenantApiServer, type ControlPlane, type TenantPlane } from '../../harness/index.js';
import { Client } from '../../../providers/kit/client.js';
import { Events, type KubeObject } from '../../../providers/kit/types.js';
import { KvmClusters, KvmMachines } from '../../../providers/kubevirt/resources.js';
import { tenantNetworkName } from '../../../providers/kubevirt/names.js';
import { Services, TenantNodes } from '../../../providers/cloudprovider/names.js';
import { REPO, runTs, until, type Proc } from '../processes.js';
import { ensureNamespace, restrictedKubeconfig } from '../roles.js';
import { createCapiCluster, ownedBy } from '../capi-objects.js';

export { ensureNamespace, until };

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

/** `ironplane manager --role cloud-provider` with exactly its RBAC; without leader election it acts at once, beside any other. */
export function runManager(kubeconfig: string, opts: { leaderElect: boolean; metricsPort?: number }): Proc {
  return runTs(path.join(REPO, 'providers/cli/main.ts'), [
    'manager',
    '--role',
    'cloud-provider',
    '--kubeconfig',
    kubeconfig,
    ...(opts.leaderElect ? ['--leader-elect', '--leader-election-namespace', 'ironplane-system'] : []),
    '--metrics-bind-address',
    opts.metricsPort ? `127.0.0.1:${opts.metricsPort}` : '0',
    '--health-probe-bind-address',
    '127.0.0.1:0',
    '--webhook-port',
    '0',
    '--log-level',
    'debug',
  ]);
}

export interface World {
  cp: ControlPlane;
  client: Client;
  tenants: Map<string, { plane: TenantPlane; client: Client }>;
  manager: Proc;
  /** The manager's restricted kubeconfig, for more managers. */
  kubeconfig: string;
  /** Plain-HTTP /metrics of the manager on loopback. */
  metricsPort: number;
  stop(): Promise<void>;
}

export async function startWorld(name: string): Promise<World> {
  const cp = await startControlPlane({ name, crds: ['config/external/capi', 'config/external/kube-ovn', 'config/crd/bases'].map((p) => path.join(REPO, p)) });
  const client = new Client(cp.kubeConfig, { fieldManager: 'cloudprovider-test' });
  const kubeconfig = await restrictedKubeconfig(cp, client, 'cloud-provider');
  const [metricsPort] = await freePorts(1);
  if (metricsPort === undefined) throw new Error('no free port for metrics');
  const manager = runManager(kubeconfig, { leaderElect: true, metricsPort });
  const world: World = {
    cp,
    client,
    tenants: new Map(),
    manager,
    kubeconfig,
    metricsPort,
    async stop() {
      manager.child.kill('SIGKILL');
      await manager.exited;
      for (const t of world.tenants.values()) {
        t.client.close();
        await t.plane.stop();
      }
      client.close();
      await cp.stop();
    },
  };
  return world;
}

export interface Machine {
  name: string;
  /** What the KvmMachine's status lists (the management cluster's record of the VM's interfaces). */
  ips: string[];
}

/**
 * A Cluster backed by a KvmCluster whose tenant network is ready, its
 * KvmMachines with addresses, and a tenant apiserver whose kubeconfig is
 * published as Kamaji would. Returns the Cluster's uid.
 */
export async function createCluster(w: World, ns: string, name: string, machines: Machine[]): Promise<string> {
  await ensureNamespace(w.client, ns);
  const uid = await createCapiCluster(w.client, ns, name, 'KvmCluster');
  await w.client.create<Obj>(KvmClusters, { metadata: ownedBy(ns, name, name, { kind: 'Cluster', name, uid }), spec: { network: { nodeCIDR: '10.10.0.0/24' } } });
  const net = tenantNetworkName(ns, name);
  await w.client.patchStatus(KvmClusters, name, ns, { network: { vpc: net, subnet: net }, initialization: { provisioned: true } });
  for (const m of machines) {
    await w.client.create<Obj>(KvmMachines, {
      metadata: { name: m.name, namespace: ns, labels: { 'cluster.x-k8s.io/cluster-name': name } },
      spec: { image: { containerDisk: { image: 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0' } }, memory: '2Gi' },
    });
    await w.client.patchStatus(KvmMachines, m.name, ns, { addresses: m.ips.map((address) => ({ type: 'InternalIP', address })) });
  }
  const plane = await startTenantApiServer(w.cp, { name: `${ns}-${name}` });
  w.tenants.set(`${ns}/${name}`, { plane, client: new Client(plane.kubeConfig, { fieldManager: 'tenant-user' }) });
  await publishTenantSecrets(w.client, { namespace: ns, cluster: name, tenant: plane });
  return uid;
}

export function tenantOf(w: World, ns: string, name: string): Client {
  const t = w.tenants.get(`${ns}/${name}`);
  if (!t) throw new Error(`no tenant ${ns}/${name}`);
  return t.client;
}

/** A Node in the tenant cluster, as a kubelet registers it: providerID, addresses, Ready. */
export async function registerNode(tenant: Client, name: string, providerID: string, ips: string[], ready = true): Promise<void> {
  await tenant.create(TenantNodes, { metadata: { name }, spec: { providerID } } as KubeObject);
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  await tenant.patchStatus(TenantNodes, name, undefined, {
    addresses: [...ips.map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: name }],
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now }],
  });
}

export interface Svc extends KubeObject {
  spec?: { type?: string; ports?: { name?: string; port: number; nodePort?: number; protocol?: string }[]; loadBalancerIP?: string; loadBalancerClass?: string };
  status?: { loadBalancer?: { ingress?: { ip?: string; ipMode?: string }[] }; conditions?: { type: string; status: string; reason: string; message: string }[] };
}

export async function createService(tenant: Client, name: string, opts: { annotations?: Record<string, string>; ports?: { name?: string; port: number; protocol?: string }[]; namespace?: string } = {}): Promise<Svc> {
  return tenant.create<Svc>(Services, {
    metadata: { name, namespace: opts.namespace ?? 'default', ...(opts.annotations ? { annotations: opts.annotations } : {}) },
    spec: { type: 'LoadBalancer', ports: opts.ports ?? [{ name: 'http', port: 80, protocol: 'TCP' }], selector: { app: name } },
  } as Svc);
}

export const CONDITION = 'cloudprovider.ironplane.dev/AddressAssigned';

/** The Service's condition once it has one matching `status`. */
export function conditionOf(s: Svc | undefined): { type: string; status: string; reason: string; message: string } | undefined {
  return s?.status?.conditions?.find((c) => c.type === CONDITION);
}

/** Waits until the Service's condition has settled on `status` and returns the Service. */
export function settled(tenant: Client, name: string, status: 'True' | 'False', ns = 'default', reason?: string): Promise<Svc> {
  return until(`Service ${ns}/${name} to have ${CONDITION}=${status}${reason ? ` (${reason})` : ''}`, async () => {
    const s = await tenant.get<Svc>(Services, name, ns);
    const c = conditionOf(s);
    return c?.status === status && (!reason || c.reason === reason) ? s : undefined;
  }, 90_000);
}

/** Notes of Events about an object, of a type and reason. */
export async function eventNotes(client: Client, ns: string, kind: string, name: string, reason: string): Promise<string[]> {
  const events = (await client.list<KubeObject & { type?: string; reason?: string; note?: string; regarding?: { kind?: string; name?: string } }>(Events, { namespace: ns })).items;
  return events.filter((e) => e.reason === reason && e.regarding?.kind === kind && e.regarding.name === name).map((e) => e.note ?? '');
}
