// A management plane for KubeVirt provider tests: real apiserver with the
// CAPI, KubeVirt, kube-OVN and Ironplane CRDs, a Kamaji-style tenant
// apiserver, the test/sim hypervisor and kubelet, and the manager as a real
// `ironplane manager --role kubevirt` process. The tests play CAPI core's
// part (owner references, labels, bootstrap data name) themselves.
import path from 'node:path';
import { startControlPlane, startTenantApiServer, publishTenantSecrets, type ControlPlane, type TenantPlane } from '../../harness/index.js';
import { startHypervisor, type Hypervisor } from '../../sim/hypervisor.js';
import { startKubelet, type Kubelet } from '../../sim/kubelet.js';
import { Client } from '../../../providers/kit/client.js';
import { createLogger } from '../../../providers/kit/log.js';
import type { KubeObject } from '../../../providers/kit/types.js';
import { KvmClusters, KvmMachines, Nodes } from '../../../providers/kubevirt/resources.js';
import { REPO, type Proc } from '../processes.js';
import { ensureNamespace, localWebhooks, managerArgs, restrictedKubeconfig, RoleManager } from '../roles.js';
import { createCapiCluster, createCapiMachine, ownedBy } from '../capi-objects.js';

export { ensureNamespace };

export const log = createLogger({ level: process.env['IRONPLANE_TEST_LOG'] ? 'debug' : 'error' });

export const ZONES = { 'infra-a': 'zone-a', 'infra-b': 'zone-b' } as const;

export interface World {
  cp: ControlPlane;
  client: Client;
  tenants: Map<string, TenantPlane>;
  hypervisor: Hypervisor;
  kubelet: Kubelet;
  readonly manager: Proc | undefined;
  /** Starts the manager; with `env`, from now on with that environment (on top of this process's) instead of the one it had. */
  startManager(env?: NodeJS.ProcessEnv): Proc;
  stopManager(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

export async function startWorld(name: string, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<World> {
  const cp = await startControlPlane({
    name,
    crds: ['config/external/capi', 'config/external/kubevirt', 'config/external/kube-ovn', 'config/crd/bases'].map((p) => path.join(REPO, p)),
  });
  const client = new Client(cp.kubeConfig, { fieldManager: 'kubevirt-test' });
  // The infrastructure nodes VMs run on, with their zones.
  for (const [node, zone] of Object.entries(ZONES)) {
    await client.create(Nodes, { metadata: { name: node, labels: { 'topology.kubernetes.io/zone': zone, 'ironplane.dev/vm-host': 'true' } } });
  }
  const managerKubeconfig = await restrictedKubeconfig(cp, client, 'kubevirt');
  const webhook = await localWebhooks(cp, client, 'kubevirt');
  const roleManager = (env: NodeJS.ProcessEnv) => new RoleManager('kubevirt', managerArgs('kubevirt', managerKubeconfig, webhook), webhook.port, env);
  let manager = roleManager(opts.env ?? {});
  const hypervisor = await startHypervisor({ client, log, nodes: Object.entries(ZONES).map(([n, zone]) => ({ name: n, labels: { 'topology.kubernetes.io/zone': zone, 'ironplane.dev/vm-host': 'true' } })) });
  const kubelet = await startKubelet({ client, log });
  const world: World = {
    cp,
    client,
    tenants: new Map(),
    hypervisor,
    kubelet,
    get manager() {
      return manager.proc;
    },
    startManager: (env) => {
      if (env) manager = roleManager(env);
      return manager.start();
    },
    stopManager: (signal) => manager.stop(signal),
    async stop() {
      await world.stopManager('SIGKILL');
      await kubelet.stop();
      await hypervisor.stop();
      for (const t of world.tenants.values()) await t.stop();
      client.close();
      await cp.stop();
    },
  };
  return world;
}

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

/** A Cluster and its KvmCluster, and a tenant control plane with its kubeconfig published, as Kamaji would. */
export async function createCluster(w: World, ns: string, name: string, nodeCIDR: string, opts: { tenant?: boolean } = {}): Promise<void> {
  await ensureNamespace(w.client, ns);
  const uid = await createCapiCluster(w.client, ns, name, 'KvmCluster');
  await w.client.create<Obj>(KvmClusters, {
    metadata: ownedBy(ns, name, name, { kind: 'Cluster', name, uid }),
    spec: { network: { nodeCIDR }, failureDomains: { nodeSelector: { 'ironplane.dev/vm-host': 'true' } } },
  });
  if (opts.tenant ?? true) {
    const tenant = await startTenantApiServer(w.cp, { name: `${ns}-${name}` });
    w.tenants.set(`${ns}/${name}`, tenant);
    await publishTenantSecrets(w.client, { namespace: ns, cluster: name, tenant });
  }
}

export const CLOUD_CONFIG = '#cloud-config\n# rendered by the bootstrap provider\ninstall:\n  auto: true\n  device: auto\n';

/** A Machine with bootstrap data and its KvmMachine, as CAPI core and a bootstrap provider would leave them. */
export async function createMachine(
  w: World,
  ns: string,
  cluster: string,
  name: string,
  opts: { bootstrap?: string | null; format?: string; failureDomain?: string; spec?: Record<string, unknown> } = {},
): Promise<void> {
  const uid = await createCapiMachine(w.client, ns, cluster, name, 'KvmMachine', {
    bootstrap: opts.bootstrap === undefined ? CLOUD_CONFIG : opts.bootstrap,
    ...(opts.format ? { format: opts.format } : {}),
    ...(opts.failureDomain ? { failureDomain: opts.failureDomain } : {}),
  });
  await w.client.create<Obj>(KvmMachines, {
    metadata: ownedBy(ns, name, cluster, { kind: 'Machine', name, uid }),
    spec: { image: { containerDisk: { image: 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0' } }, memory: '2Gi', ...opts.spec },
  });
}
