// A management plane for KubeVirt provider tests: real apiserver with the
// CAPI, KubeVirt, kube-OVN and Ironplane CRDs, a Kamaji-style tenant
// apiserver, the test/sim hypervisor and kubelet, and the manager as a real
// `ironplane manager --role kubevirt` process. The tests play CAPI core's
// part (owner references, labels, bootstrap data name) themselves.
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { freePorts, issueCert, startControlPlane, startTenantApiServer, publishTenantSecrets, type ControlPlane, type TenantPlane } from '../../harness/index.js';
import { renderKubeconfig } from '../../harness/kubeconfig.js';
import { startHypervisor, type Hypervisor } from '../../sim/hypervisor.js';
import { startKubelet, type Kubelet } from '../../sim/kubelet.js';
import { Client } from '../../../providers/kit/client.js';
import { createLogger } from '../../../providers/kit/log.js';
import { Namespaces, Secrets, type KubeObject, type ResourceType } from '../../../providers/kit/types.js';
import { Clusters, Machines } from '../../../providers/capi/contract.js';
import { KvmClusters, KvmMachines, Nodes } from '../../../providers/kubevirt/resources.js';
import { REPO, run, type Proc } from '../processes.js';

export const log = createLogger({ level: process.env['IRONPLANE_TEST_LOG'] ? 'debug' : 'error' });
const CLI = path.join(REPO, 'dist/providers/cli/main.js');

export const ZONES = { 'infra-a': 'zone-a', 'infra-b': 'zone-b' } as const;

export interface World {
  cp: ControlPlane;
  client: Client;
  tenants: Map<string, TenantPlane>;
  hypervisor: Hypervisor;
  kubelet: Kubelet;
  manager?: Proc;
  startManager(): Proc;
  stopManager(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

export async function startWorld(name: string): Promise<World> {
  const cp = await startControlPlane({
    name,
    crds: ['config/external/capi', 'config/external/kubevirt', 'config/external/kube-ovn', 'config/crd/bases'].map((p) => path.join(REPO, p)),
  });
  const client = new Client(cp.kubeConfig, { fieldManager: 'kubevirt-test' });
  // The infrastructure nodes VMs run on, with their zones.
  for (const [node, zone] of Object.entries(ZONES)) {
    await client.create(Nodes, { metadata: { name: node, labels: { 'topology.kubernetes.io/zone': zone, 'ironplane.dev/vm-host': 'true' } } });
  }
  const managerKubeconfig = await restrictedKubeconfig(cp, client);
  const webhook = await localWebhooks(cp, client);
  const hypervisor = await startHypervisor({ client, log, nodes: Object.entries(ZONES).map(([n, zone]) => ({ name: n, labels: { 'topology.kubernetes.io/zone': zone, 'ironplane.dev/vm-host': 'true' } })) });
  const kubelet = await startKubelet({ client, log });
  const world: World = {
    cp,
    client,
    tenants: new Map(),
    hypervisor,
    kubelet,
    startManager() {
      // The manager runs with exactly config/rbac/kubevirt: a missing verb fails the tests.
      const p = run([CLI, 'manager', '--role', 'kubevirt', '--kubeconfig', managerKubeconfig, '--leader-elect', '--metrics-bind-address', '0', '--health-probe-bind-address', '127.0.0.1:0', '--log-level', 'debug', '--webhook-host', '127.0.0.1', '--webhook-port', String(webhook.port), '--webhook-cert-dir', webhook.certDir]);
      world.manager = p;
      return p;
    },
    async stopManager(signal = 'SIGTERM') {
      const p = world.manager;
      if (!p) return;
      world.manager = undefined;
      p.child.kill(signal);
      await p.exited;
    },
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

const MANAGER_USER = 'ironplane-kubevirt';

/**
 * The manager's webhooks out of cluster, as envtest does it: a serving
 * certificate for 127.0.0.1 from the plane's CA, and config/webhook's
 * configuration pointed at https://127.0.0.1:<port><path>.
 */
async function localWebhooks(cp: ControlPlane, client: Client): Promise<{ port: number; certDir: string }> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port for the webhook server');
  const certDir = path.join(cp.dir, 'kubevirt-webhook-certs');
  fs.mkdirSync(certDir, { recursive: true });
  const serving = await issueCert({ ca: cp.ca, commonName: 'ironplane-kubevirt-webhook', ipAddresses: ['127.0.0.1'], usages: 'server' });
  fs.writeFileSync(path.join(certDir, 'tls.crt'), serving.certPem);
  fs.writeFileSync(path.join(certDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
  const config = parseAllDocuments(fs.readFileSync(path.join(REPO, 'config/webhook/kubevirt.yaml'), 'utf8'))[0]!.toJS() as KubeObject & {
    webhooks: { clientConfig: { service?: { path: string }; url?: string; caBundle?: string } }[];
  };
  for (const hook of config.webhooks) {
    hook.clientConfig = { url: `https://127.0.0.1:${port}${hook.clientConfig.service!.path}`, caBundle: Buffer.from(cp.ca.certPem).toString('base64') };
  }
  await client.apply({ group: 'admissionregistration.k8s.io', version: 'v1', kind: 'ValidatingWebhookConfiguration', plural: 'validatingwebhookconfigurations', namespaced: false }, config, { force: true });
  return { port, certDir };
}

/** Applies config/rbac/kubevirt, binds it to a user, and writes a kubeconfig with that user's client certificate. */
async function restrictedKubeconfig(cp: ControlPlane, client: Client): Promise<string> {
  await ensureNamespace(client, 'ironplane-system');
  const kinds: Record<string, ResourceType> = {
    ClusterRole: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
    Role: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true },
    ClusterRoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false },
    RoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
  };
  const docs = parseAllDocuments(fs.readFileSync(path.join(REPO, 'config/rbac/kubevirt/role.yaml'), 'utf8')).map((d) => d.toJS() as KubeObject);
  for (const doc of docs) await client.apply(kinds[doc.kind!]!, doc, { force: true });
  const subject = [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: MANAGER_USER }];
  await client.apply(kinds['ClusterRoleBinding']!, { metadata: { name: 'ironplane-kubevirt-manager' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ironplane-kubevirt-manager' }, subjects: subject } as KubeObject);
  await client.apply(kinds['RoleBinding']!, {
    metadata: { name: 'ironplane-kubevirt-leader-election', namespace: 'ironplane-system' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'ironplane-kubevirt-leader-election' },
    subjects: subject,
  } as KubeObject);
  const cert = await issueCert({ ca: cp.ca, commonName: MANAGER_USER, usages: 'client' });
  const file = path.join(cp.dir, 'kubevirt-manager.kubeconfig');
  fs.writeFileSync(file, renderKubeconfig({ server: cp.url, caPem: cp.ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem, name: 'management', user: MANAGER_USER }), { mode: 0o600 });
  return file;
}

export async function ensureNamespace(client: Client, ns: string): Promise<void> {
  if (!(await client.tryGet(Namespaces, ns))) await client.create(Namespaces, { metadata: { name: ns } });
}

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

/** A Cluster and its KvmCluster, and a tenant control plane with its kubeconfig published, as Kamaji would. */
export async function createCluster(w: World, ns: string, name: string, nodeCIDR: string, opts: { tenant?: boolean } = {}): Promise<void> {
  await ensureNamespace(w.client, ns);
  const cluster = await w.client.create<Obj>(Clusters, {
    metadata: { name, namespace: ns },
    spec: { infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: 'KvmCluster', name } },
  });
  await w.client.create<Obj>(KvmClusters, {
    metadata: {
      name,
      namespace: ns,
      labels: { 'cluster.x-k8s.io/cluster-name': name },
      ownerReferences: [{ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', name, uid: cluster.metadata!.uid! }],
    },
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
  const dataSecretName = `${name}-bootstrap`;
  if (opts.bootstrap !== null) {
    await w.client.create(Secrets, {
      metadata: { name: dataSecretName, namespace: ns, labels: { 'cluster.x-k8s.io/cluster-name': cluster } },
      type: 'cluster.x-k8s.io/secret',
      data: { value: Buffer.from(opts.bootstrap ?? CLOUD_CONFIG).toString('base64'), format: Buffer.from(opts.format ?? 'cloud-config').toString('base64') },
    } as KubeObject);
  }
  const machine = await w.client.create<Obj>(Machines, {
    metadata: { name, namespace: ns, labels: { 'cluster.x-k8s.io/cluster-name': cluster } },
    spec: {
      clusterName: cluster,
      bootstrap: { dataSecretName },
      infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: 'KvmMachine', name },
      ...(opts.failureDomain ? { failureDomain: opts.failureDomain } : {}),
    },
  });
  await w.client.create<Obj>(KvmMachines, {
    metadata: {
      name,
      namespace: ns,
      labels: { 'cluster.x-k8s.io/cluster-name': cluster },
      ownerReferences: [{ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Machine', name, uid: machine.metadata!.uid!, controller: true }],
    },
    spec: { image: { containerDisk: { image: 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0' } }, memory: '2Gi', ...opts.spec },
  });
}
