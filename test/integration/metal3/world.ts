// A management plane for Metal3 provider tests: the real apiserver with the
// CAPI, Metal3 and Ironplane CRDs, the real baremetal-operator without Ironic,
// and the
// manager as a real `ironplane manager --role metal3` process with exactly
// config/rbac/metal3. The tests play CAPI core's part (owner references,
// labels, bootstrap data name) themselves.
import path from 'node:path';
import { startControlPlane, type ControlPlane } from '../../harness/index.js';
import { Client } from '../../../providers/kit/client.js';
import { Secrets, type KubeObject } from '../../../providers/kit/types.js';
import { BareMetalHosts, HostDeployPolicies, MetalClusters, MetalMachines } from '../../../providers/metal3/resources.js';
import type { Host } from '../../../providers/metal3/hosts.js';
import type { MetalMachine } from '../../../providers/api/generated/ironplane/v1alpha1/metalmachine.js';
import { REPO, runBinary, until, type Proc } from '../processes.js';
import { Machines } from '../../../providers/capi/contract.js';
import { ensureNamespace, localWebhooks, managerArgs, restrictedKubeconfig, RoleManager } from '../roles.js';
import { createCapiCluster, createCapiMachine, ownedBy } from '../capi-objects.js';

export { ensureNamespace };

export const KAIROS_IMAGE = 'oci://quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';
export const CLOUD_CONFIG = '#cloud-config\n# rendered by the bootstrap provider\ninstall:\n  auto: true\n  device: auto\n';

export interface World {
  cp: ControlPlane;
  client: Client;
  readonly manager: Proc | undefined;
  bmo: Proc;
  startManager(extra?: string[]): Proc;
  webhooksUp(): Promise<void>;
  stopManager(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

/**
 * BMO's two Ironic-free provisioners:
 *  - 'fixture' (-test-mode) walks a host through every state with Ironic-like
 *    delays (10 s to provision or deprovision). Its state is one object shared
 *    by all hosts, so a host provisioning while another deprovisions can keep
 *    resetting each other forever: use it for one host in flight at a time.
 *  - 'demo' (-demo-mode) keeps no shared state: every host goes through the
 *    same states, each step completing at once. Use it for many hosts.
 */
export type Provisioner = 'fixture' | 'demo';

export async function startWorld(name: string, opts: { provisioner?: Provisioner; bmoConcurrency?: number } = {}): Promise<World> {
  const cp = await startControlPlane({
    name,
    crds: ['config/external/capi', 'config/external/metal3', 'config/crd/bases'].map((p) => path.join(REPO, p)),
  });
  const client = new Client(cp.kubeConfig, { fieldManager: 'metal3-test' });
  const managerKubeconfig = await restrictedKubeconfig(cp, client, 'metal3');
  const webhook = await localWebhooks(cp, client, 'metal3');
  const manager = new RoleManager('metal3', managerArgs('metal3', managerKubeconfig, webhook), webhook.port);
  // BMO watches every namespace: tenants' own and the shared pools.
  const bmo = runBinary(path.join(REPO, 'bin/baremetal-operator'), [
    '-kubeconfig',
    cp.kubeconfigPath,
    opts.provisioner === 'demo' ? '-demo-mode' : '-test-mode',
    '-webhook-port=0',
    '-metrics-addr=0',
    '-health-addr=127.0.0.1:0',
    '-kube-api-qps=200',
    '-kube-api-burst=400',
    ...(opts.bmoConcurrency ? [`-controller-concurrency=${opts.bmoConcurrency}`] : []),
  ]);
  const world: World = {
    cp,
    client,
    bmo,
    get manager() {
      return manager.proc;
    },
    startManager: (extra = []) => manager.start(extra),
    webhooksUp: () => manager.webhooksUp(),
    stopManager: (signal) => manager.stop(signal),
    async stop() {
      await world.stopManager('SIGKILL');
      bmo.child.kill('SIGKILL');
      client.close();
      await cp.stop();
    },
  };
  return world;
}

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

/** A BareMetalHost with BMC credentials; BMO's fixture registers and inspects it to available. */
export async function createHost(w: World, ns: string, name: string, labels: Record<string, string> = {}, i = 0): Promise<void> {
  await ensureNamespace(w.client, ns);
  await w.client.apply(Secrets, { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-bmc`, namespace: ns }, stringData: { username: 'admin', password: 'fixture-password' } } as KubeObject, { force: true });
  const mac = `02:00:${[(i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 0x10].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
  await w.client.create(BareMetalHosts, {
    metadata: { name, namespace: ns, labels },
    spec: { online: false, bootMACAddress: mac, bmc: { address: `ipmi://127.0.0.1:${6230 + (i % 1000)}`, credentialsName: `${name}-bmc` } },
  } as KubeObject);
}

export async function hostState(w: World, ns: string, name: string): Promise<string | undefined> {
  return (await w.client.get<Host>(BareMetalHosts, name, ns)).status?.provisioning?.state;
}

export async function waitHostsAvailable(w: World, ns: string, names: string[], timeoutMs = 120_000): Promise<void> {
  await until(`${names.length} host(s) in ${ns} to be available`, async () => {
    const { items } = await w.client.list<Host>(BareMetalHosts, { namespace: ns });
    const ok = new Set(items.filter((h) => h.status?.provisioning?.state === 'available').map((h) => h.metadata!.name));
    return names.every((n) => ok.has(n)) || undefined;
  }, timeoutMs);
}

/** A HostDeployPolicy in a pool namespace, granting it to the given tenant namespaces. */
export async function grantPool(w: World, pool: string, tenants: string[]): Promise<void> {
  await ensureNamespace(w.client, pool);
  await w.client.apply(HostDeployPolicies, { apiVersion: 'metal3.io/v1alpha1', kind: 'HostDeployPolicy', metadata: { name: 'tenants', namespace: pool }, spec: { hostClaimNamespaces: { names: tenants } } } as KubeObject, { force: true });
}

/** A Cluster and its MetalCluster. */
export async function createCluster(w: World, ns: string, name: string, spec: Record<string, unknown> = {}): Promise<void> {
  await ensureNamespace(w.client, ns);
  const uid = await createCapiCluster(w.client, ns, name, 'MetalCluster');
  await w.client.create<Obj>(MetalClusters, { metadata: ownedBy(ns, name, name, { kind: 'Cluster', name, uid }), spec });
}

/** A Machine with bootstrap data and its MetalMachine, as CAPI core and a bootstrap provider would leave them. */
export async function createMachine(
  w: World,
  ns: string,
  cluster: string,
  name: string,
  opts: { bootstrap?: string | null; failureDomain?: string; spec?: Record<string, unknown>; annotations?: Record<string, string> } = {},
): Promise<void> {
  const uid = await createCapiMachine(w.client, ns, cluster, name, 'MetalMachine', { bootstrap: opts.bootstrap === undefined ? CLOUD_CONFIG : opts.bootstrap, ...(opts.failureDomain ? { failureDomain: opts.failureDomain } : {}) });
  await w.client.create<Obj>(MetalMachines, {
    metadata: ownedBy(ns, name, cluster, { kind: 'Machine', name, uid }, opts.annotations ? { annotations: opts.annotations } : {}),
    spec: { image: { url: KAIROS_IMAGE }, ...opts.spec },
  });
}

/** Deletes the Machine's MetalMachine (CAPI deletes the InfraMachine first) and then the Machine. */
export async function deleteMachine(w: World, ns: string, name: string): Promise<void> {
  await w.client.delete(MetalMachines, name, ns);
  await until(`MetalMachine ${ns}/${name} to be gone`, async () => !(await w.client.tryGet(MetalMachines, name, ns)) || undefined, 120_000);
  await w.client.delete(Machines, name, ns);
}

export async function metalMachine(w: World, ns: string, name: string): Promise<MetalMachine> {
  return w.client.get<MetalMachine>(MetalMachines, name, ns);
}

export function condition(m: { status?: { conditions?: { type: string; status: string; reason: string; message?: string }[] } }, type: string) {
  return m.status?.conditions?.find((c) => c.type === type);
}
