// A management plane for Kairos bootstrap provider tests: the real apiserver
// with the CAPI and Ironplane CRDs, Kamaji-style tenant apiservers made ready
// for kubeadm workers (bootstrap signer, cluster-info, bootstrap RBAC), and
// the manager as a real `ironplane manager --role kairos` process with
// exactly config/rbac/kairos and its webhooks. The tests play CAPI core's
// part (owner references, configRef, nodeRef) themselves.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { freePorts, publishTenantSecrets, startControlPlane, startTenantApiServer, type ControlPlane, type TenantPlane } from '../../harness/index.js';
import { defaultBinDir } from '../../harness/controlplane.js';
import type { KairosConfig, KairosConfigSpec } from '../../../providers/api/generated/ironplane/v1alpha1/kairosconfig.js';
import { Clusters, Machines } from '../../../providers/capi/contract.js';
import type { Secret } from '../../../providers/capi/tenant.js';
import { Client } from '../../../providers/kit/client.js';
import { Secrets, type KubeObject } from '../../../providers/kit/types.js';
import { KairosConfigs } from '../../../providers/kairos/resources.js';
import { REPO, type Proc } from '../processes.js';
import { ensureNamespace, localWebhooks, managerArgs, restrictedKubeconfig, RoleManager } from '../roles.js';

export { ensureNamespace };

export const K8S_VERSION = 'v1.35.8';

export interface World {
  cp: ControlPlane;
  client: Client;
  tenants: Map<string, TenantPlane>;
  readonly manager: Proc | undefined;
  /** Where the manager serves /metrics. */
  metricsPort: number;
  /** Starts the manager; `extra` flags come last and win. */
  startManager(extra?: string[]): Proc;
  /** Resolves once the running manager serves its webhooks (objects of ours can be created). */
  webhooksUp(): Promise<void>;
  stopManager(signal?: NodeJS.Signals): Promise<void>;
  /** Every line the managers started so far have written. */
  output(): string;
  stop(): Promise<void>;
}

export async function startWorld(name: string, opts: { crds?: string[]; controllerManager?: boolean } = {}): Promise<World> {
  const cp = await startControlPlane({
    name,
    ...(opts.controllerManager ? { controllerManager: true } : {}),
    crds: (opts.crds ?? ['config/external/capi', 'config/crd/bases']).map((p) => path.join(REPO, p)),
  });
  const client = new Client(cp.kubeConfig, { fieldManager: 'kairos-test' });
  const managerKubeconfig = await restrictedKubeconfig(cp, client, 'kairos');
  const webhook = await localWebhooks(cp, client, 'kairos');
  const manager = new RoleManager('kairos', managerArgs('kairos', managerKubeconfig, webhook), webhook.port);
  const [metricsPort] = await freePorts(1);
  const world: World = {
    cp,
    client,
    tenants: new Map(),
    metricsPort: metricsPort!,
    get manager() {
      return manager.proc;
    },
    startManager: (extra = []) => manager.start(['--metrics-bind-address', `127.0.0.1:${metricsPort}`, ...extra]),
    webhooksUp: () => manager.webhooksUp(),
    stopManager: (signal) => manager.stop(signal),
    output: () => manager.output(),
    async stop() {
      await world.stopManager('SIGKILL');
      for (const t of world.tenants.values()) await t.stop();
      client.close();
      await cp.stop();
    },
  };
  return world;
}

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

/**
 * A Cluster and, unless told otherwise, its kubeadm-ready tenant control
 * plane with <cluster>-kubeconfig and <cluster>-ca published and the
 * endpoint on the Cluster, as Kamaji and its CAPI provider leave them.
 */
export async function createCluster(w: World, ns: string, name: string, opts: { endpoint?: boolean; publish?: boolean; infrastructureRef?: Record<string, string> } = {}): Promise<TenantPlane> {
  await ensureNamespace(w.client, ns);
  const tenant = await startTenantApiServer(w.cp, { name: `${ns}-${name}`, kubeadm: true });
  w.tenants.set(`${ns}/${name}`, tenant);
  await w.client.create<Obj>(Clusters, {
    metadata: { name, namespace: ns },
    spec: {
      clusterNetwork: { pods: { cidrBlocks: ['10.244.0.0/16'] } },
      ...(opts.endpoint === false ? {} : { controlPlaneEndpoint: tenant.endpoint }),
      ...(opts.infrastructureRef ? { infrastructureRef: opts.infrastructureRef } : {}),
    },
  });
  if (opts.publish !== false) await publishTenantSecrets(w.client, { namespace: ns, cluster: name, tenant });
  return tenant;
}

/** A Machine with a KairosConfig for it, as a MachineSet creates them (same name, configRef, controller ownerRef). */
export async function createMachine(
  w: World,
  ns: string,
  cluster: string,
  name: string,
  opts: { spec?: KairosConfigSpec; version?: string; infrastructureRef?: Record<string, string> } = {},
): Promise<{ machine: Obj; config: KairosConfig }> {
  const machine = await w.client.create<Obj>(Machines, {
    metadata: { name, namespace: ns, labels: { 'cluster.x-k8s.io/cluster-name': cluster } },
    spec: {
      clusterName: cluster,
      version: opts.version ?? K8S_VERSION,
      bootstrap: { configRef: { apiGroup: 'bootstrap.ironplane.dev', kind: 'KairosConfig', name } },
      infrastructureRef: opts.infrastructureRef ?? { apiGroup: 'infrastructure.ironplane.dev', kind: 'KvmMachine', name },
    },
  });
  const config = await w.client.create<KairosConfig>(KairosConfigs, {
    apiVersion: 'bootstrap.ironplane.dev/v1alpha1',
    kind: 'KairosConfig',
    metadata: {
      name,
      namespace: ns,
      labels: { 'cluster.x-k8s.io/cluster-name': cluster },
      ownerReferences: [{ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Machine', name, uid: machine.metadata!.uid!, controller: true }],
    },
    spec: opts.spec ?? {},
  });
  return { machine, config };
}

/** A client for a tenant as its admin. */
export function tenantClient(w: World, key: string): Client {
  return new Client(w.tenants.get(key)!.kubeConfig, { fieldManager: 'kairos-test' });
}

/** The bootstrap data Secret's `value`, decoded. */
export async function bootstrapValue(w: World, ns: string, name: string): Promise<string> {
  const s = await w.client.get<Secret>(Secrets, name, ns);
  return Buffer.from(s.data!['value']!, 'base64').toString('utf8');
}

const isJoinConfiguration = (f: { content: string }) => f.content.includes('kind: JoinConfiguration');

/** The files of the step of a rendered cloud-config that writes the JoinConfiguration. */
function joinStepFiles(cloudConfig: string): { path: string; content: string }[] {
  const doc = parse(cloudConfig, { version: '1.1' }) as { stages: Record<string, { files?: { path: string; content: string }[] }[]> };
  for (const steps of Object.values(doc.stages)) for (const s of steps) if (s.files?.some(isJoinConfiguration)) return s.files;
  throw new Error('no JoinConfiguration in the cloud-config');
}

/** The JoinConfiguration file a rendered cloud-config writes (the join step's files). */
export function joinConfigurationOf(cloudConfig: string): string {
  return joinStepFiles(cloudConfig).find(isJoinConfiguration)!.content;
}

/** The other files of the join step, by path: the discovery kubeconfig of a join through a private endpoint. */
export function joinFilesOf(cloudConfig: string): Record<string, string> {
  return Object.fromEntries(
    joinStepFiles(cloudConfig)
      .filter((f) => !isJoinConfiguration(f))
      .map((f) => [f.path, f.content]),
  );
}

/**
 * Runs the real `kubeadm config validate` (bin/kubeadm) on a kubeadm
 * configuration. `files` are what the node holds when kubeadm runs (kubeadm
 * checks that a discovery file exists): each is written into the temporary
 * directory, and the configuration points there instead of at its node path.
 */
export function kubeadmValidate(config: string, files: Record<string, string> = {}): { code: number | null; out: string } {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync(process.env['TMPDIR'] ?? '/tmp'), 'ironplane-kubeadm-'));
  try {
    const file = path.join(dir, 'join.yaml');
    for (const [nodePath, content] of Object.entries(files)) {
      const local = path.join(dir, path.basename(nodePath));
      fs.writeFileSync(local, content);
      config = config.replaceAll(nodePath, local);
    }
    fs.writeFileSync(file, config);
    const r = spawnSync(path.join(defaultBinDir(), 'kubeadm'), ['config', 'validate', '--config', file], { encoding: 'utf8' });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** controller_runtime_reconcile_total for the kairosconfig controller, from the manager's /metrics. */
export async function reconcileCount(w: World): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${w.metricsPort}/metrics`);
  const text = await res.text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('controller_runtime_reconcile_total{') && l.includes('controller="kairosconfig"'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}
