// The end-to-end world: one local management plane with every upstream
// component that runs as a process being the real one (etcd,
// kube-apiserver, kube-controller-manager, the CAPI core manager, Kamaji's
// CAPI control-plane provider, Metal3's baremetal-operator), our four
// managers as real `ironplane` processes with their shipped RBAC, and
// test/sim for what needs a physical node (the hypervisor, the kubelets,
// Kamaji's tenant control-plane pods).
//
// A tenant then needs one object: a Cluster with a topology on the shipped
// ClusterClass ironplane-kvm or ironplane-metal, in a namespace of a Capsule
// tenant. Platform objects (classes in `platform`, a Tenant, a bare-metal
// pool with a HostDeployPolicy) are set up by `startE2E`.
import fs from 'node:fs';
import { CoreV1Api } from '@kubernetes/client-node';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Clusters, Machines } from '../../providers/capi/contract.js';
import { TenantClients } from '../../providers/capi/tenant.js';
import { Nodes } from '../../providers/kubevirt/resources.js';
import { Client } from '../../providers/kit/client.js';
import { createLogger, type Logger } from '../../providers/kit/log.js';
import { Namespaces, Secrets, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import { BareMetalHosts, HostDeployPolicies } from '../../providers/metal3/resources.js';
import { renderKubeconfig } from '../harness/kubeconfig.js';
import { freePorts, issueCert, startCapiManager, startControlPlane, startKamajiProvider, startSveltos, type ControlPlane, type ManagerProcess } from '../harness/index.js';
import { startHypervisor, type Hypervisor } from '../sim/hypervisor.js';
import { startKamaji, type Kamaji } from '../sim/kamaji.js';
import { startKubelet, type Kubelet } from '../sim/kubelet.js';
import { REPO, runBinary, until, type Proc } from '../integration/processes.js';
import { buildLocalRepository, clusterctlInit, pointAtLoopback } from './clusterctl.js';
import { ensureNamespace, localWebhooks, managerArgs, restrictedKubeconfig, RoleManager } from '../integration/roles.js';

export { until };

const rt = (group: string, version: string, kind: string, plural: string, namespaced = true): ResourceType => ({ group, version, kind, plural, namespaced });
export const ExtensionConfigs = rt('runtime.cluster.x-k8s.io', 'v1beta2', 'ExtensionConfig', 'extensionconfigs', false);
export const ClusterClasses = rt('cluster.x-k8s.io', 'v1beta2', 'ClusterClass', 'clusterclasses');
export const MachineDeployments = rt('cluster.x-k8s.io', 'v1beta2', 'MachineDeployment', 'machinedeployments');
export const KamajiControlPlanes = rt('controlplane.cluster.x-k8s.io', 'v1alpha1', 'KamajiControlPlane', 'kamajicontrolplanes');
const Tenants = rt('capsule.clastix.io', 'v1beta2', 'Tenant', 'tenants', false);
/** The kinds the shipped ClusterClass files hold. */
export const CLASS_KINDS: Record<string, ResourceType> = {
  ClusterClass: ClusterClasses,
  KamajiControlPlaneTemplate: rt('controlplane.cluster.x-k8s.io', 'v1alpha1', 'KamajiControlPlaneTemplate', 'kamajicontrolplanetemplates'),
  KvmClusterTemplate: rt('infrastructure.ironplane.dev', 'v1alpha1', 'KvmClusterTemplate', 'kvmclustertemplates'),
  KvmMachineTemplate: rt('infrastructure.ironplane.dev', 'v1alpha1', 'KvmMachineTemplate', 'kvmmachinetemplates'),
  MetalClusterTemplate: rt('infrastructure.ironplane.dev', 'v1alpha1', 'MetalClusterTemplate', 'metalclustertemplates'),
  MetalMachineTemplate: rt('infrastructure.ironplane.dev', 'v1alpha1', 'MetalMachineTemplate', 'metalmachinetemplates'),
  KairosConfigTemplate: rt('bootstrap.ironplane.dev', 'v1alpha1', 'KairosConfigTemplate', 'kairosconfigtemplates'),
};

export const PLATFORM_NS = 'platform';
export const POOL_NS = 'metal-pool';
export const CAPSULE_TENANT = 'acme';
export const TENANT_LABEL = 'capsule.clastix.io/tenant';

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
export type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> & { conditions?: Condition[] } };

export const condition = (o: Obj, type: string): Condition | undefined => o.status?.conditions?.find((c) => c.type === type);

/** Our managers, by role; `extension` is `ironplane extension`. */
export type Role = 'kubevirt' | 'metal3' | 'kairos' | 'extension';
export const ROLES: readonly Role[] = ['kubevirt', 'metal3', 'kairos', 'extension'];

export interface E2EOptions {
  name: string;
  /** BareMetalHosts in the shared pool, labelled ironplane.dev/host-class=general. Default 0: no BMO. */
  hosts?: number;
  /** The hypervisor's management-cluster nodes. Default 2. */
  infraNodes?: number;
  /** --upgrade-concurrency of the extension. Default 2. */
  upgradeConcurrency?: number;
  /** --upgrade-retry-seconds of the extension. Default 5. */
  upgradeRetrySeconds?: number;
  /** How long the simulated Kamaji keeps a version change Upgrading. */
  upgradeMs?: number;
  log?: Logger;
  /**
   * Our managers elect a leader through a Lease (default true). A manager
   * killed with SIGKILL keeps its Lease until it expires (15 s), so tests
   * that kill managers many times run them without election.
   */
  leaderElection?: boolean;
  /**
   * Install every provider with `clusterctl init` from a local repository of
   * the release artifacts (out/, `make release-manifests`), as a platform
   * team would, instead of installing CRDs directly. Default false.
   */
  clusterctl?: boolean;
  /** Run Sveltos's addon-controller and apply the add-on ClusterProfiles of templates/addons. Default false. */
  sveltos?: boolean;
  /** Called with a line per step of the start-up, for `make demo`. */
  progress?: (line: string) => void;
}

export interface E2E {
  cp: ControlPlane;
  client: Client;
  capi: ManagerProcess;
  kamajiProvider: ManagerProcess;
  /** Sveltos's addon-controller, when started. */
  sveltos: ManagerProcess | undefined;
  bmo: Proc | undefined;
  kamaji: Kamaji;
  hypervisor: Hypervisor;
  kubelet: Kubelet;
  managers: Record<Role, RoleManager>;
  /** Admin clients of the tenant clusters, from their <cluster>-kubeconfig Secrets (what our providers use too). */
  tenants: TenantClients;
  /** The clusterctl config of the local repository, when the providers were installed with clusterctl init. */
  clusterctlConfig: string | undefined;
  /** Restarts the CAPI core manager (it keeps blocking hook answers in memory until their retry time). */
  restartCapi(): Promise<void>;
  /** Every manager's output so far, for failure messages. */
  output(role: Role): string;
  stop(): Promise<void>;
}

/** The CRDs of what is not a CAPI provider: Kamaji's own, KubeVirt, kube-OVN, Metal3, Capsule. */
const PLATFORM_CRDS = ['config/external/kamaji/kamaji', 'config/external/kubevirt', 'config/external/kube-ovn', 'config/external/metal3', 'config/external/capsule/capsule.clastix.io_tenants.yaml'];
/** What clusterctl init installs: CAPI's, the Kamaji provider's and ours. */
const PROVIDER_CRDS = ['config/external/capi', 'config/external/kamaji/provider', 'config/crd/bases'];
const SVELTOS_CRDS = ['config/external/sveltos/addon-controller', 'config/external/sveltos/libsveltos'];
const ClusterProfiles = rt('config.projectsveltos.io', 'v1beta1', 'ClusterProfile', 'clusterprofiles', false);
const ConfigMaps = rt('', 'v1', 'ConfigMap', 'configmaps');
/** clusterctl's provider label of each of our roles. */
const PROVIDER_LABEL: Record<Exclude<Role, 'extension'>, string> = { kubevirt: 'infrastructure-ironplane-kvm', metal3: 'infrastructure-ironplane-metal', kairos: 'bootstrap-ironplane-kairos' };
/** The namespace each provider's components install into (config/release), where its ServiceAccount and leader-election Role live. */
const PROVIDER_NAMESPACE: Record<Role, string> = { kubevirt: 'ironplane-kvm-system', metal3: 'ironplane-metal-system', kairos: 'ironplane-kairos-system', extension: 'ironplane-extension-system' };
/** The ServiceAccount every provider Deployment runs as. */
const MANAGER_SERVICE_ACCOUNT = 'ironplane-manager';

/**
 * A kubeconfig with a token of the ServiceAccount `clusterctl init` created
 * for a provider: the manager then runs with exactly the RBAC the release
 * artifacts grant its Deployment.
 */
async function serviceAccountKubeconfig(cp: ControlPlane, namespace: string, name: string): Promise<string> {
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  const res = await core.createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences: [], expirationSeconds: 24 * 3600 } } });
  const token = res.status?.token;
  if (!token) throw new Error(`no token issued for ServiceAccount ${namespace}/${name}`);
  const file = path.join(cp.dir, `${namespace}-${name}.kubeconfig`);
  fs.writeFileSync(file, renderKubeconfig({ server: cp.url, caPem: cp.ca.certPem, token, name: 'management', user: `${namespace}/${name}` }), { mode: 0o600 });
  return file;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

export async function startE2E(opts: E2EOptions): Promise<E2E> {
  if (process.env['IRONPLANE_E2E_KUBECONFIG']) {
    throw new Error('IRONPLANE_E2E_KUBECONFIG is set, but the e2e worlds run only on the local management plane they start; see test/e2e/README.md (On a kind management cluster)');
  }
  const log = opts.log ?? createLogger({ level: process.env['IRONPLANE_TEST_LOG'] ? 'debug' : 'error' });
  const say = opts.progress ?? ((): void => {});
  say('starting the management plane: etcd, kube-apiserver, kube-controller-manager');
  // cert-manager's CRDs stand in for cert-manager: clusterctl only checks that its kinds are served.
  const crds = [...PLATFORM_CRDS, ...(opts.clusterctl ? ['config/external/cert-manager'] : PROVIDER_CRDS), ...(opts.sveltos ? SVELTOS_CRDS : [])];
  const cp = await startControlPlane({ name: opts.name, controllerManager: true, crds: crds.map((p) => path.join(REPO, p)) });
  const client = new Client(cp.kubeConfig, { fieldManager: 'ironplane-e2e', timeoutMs: 30_000 });
  const tenants = new TenantClients(client, 'ironplane-e2e');
  const stops: (() => Promise<void>)[] = [];
  let clusterctlConfig: string | undefined;
  try {
    if (opts.clusterctl) {
      say('building a clusterctl local repository: Cluster API core and the Kamaji provider from their pinned modules, ours from out/');
      const repo = await buildLocalRepository(path.join(cp.dir, 'clusterctl-repository'));
      clusterctlConfig = repo.configPath;
      say(`clusterctl init --core cluster-api --infrastructure ironplane-kvm,ironplane-metal --bootstrap ironplane-kairos --control-plane kamaji --runtime-extension ironplane (${Object.entries(repo.versions).map(([k, v]) => `${k} ${v}`).join(', ')})`);
      await clusterctlInit(cp.kubeconfigPath, repo.configPath);
    }
    // The extension's own namespace holds its upgrade-slot Leases; clusterctl init creates it, a world without clusterctl does.
    for (const ns of [PLATFORM_NS, 'ironplane-system', PROVIDER_NAMESPACE.extension]) await ensureNamespace(client, ns);
    await client.create(Tenants, { apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name: CAPSULE_TENANT }, spec: { owners: [{ kind: 'User', name: 'alice' }] } } as KubeObject);

    // Our managers, each with exactly its shipped RBAC and its webhooks on loopback.
    const managers = {} as Record<Role, RoleManager>;
    for (const role of ['kubevirt', 'metal3', 'kairos'] as const) {
      // After clusterctl init: the provider's ServiceAccount and its own webhook
      // configurations and CRD conversion, pointed at loopback. Otherwise
      // config/rbac and config/webhook applied directly.
      const kubeconfig = opts.clusterctl ? await serviceAccountKubeconfig(cp, PROVIDER_NAMESPACE[role], MANAGER_SERVICE_ACCOUNT) : await restrictedKubeconfig(cp, client, role);
      const webhook = opts.clusterctl ? await pointAtLoopback(cp, client, PROVIDER_LABEL[role]) : await localWebhooks(cp, client, role);
      const args = managerArgs(role, kubeconfig, webhook).filter((a) => opts.leaderElection !== false || a !== '--leader-elect');
      const leaseNamespace = opts.clusterctl ? ['--leader-election-namespace', PROVIDER_NAMESPACE[role]] : [];
      managers[role] = new RoleManager(role, [...args, ...leaseNamespace, '--log-level', 'info'], webhook.port);
    }
    const extensionKubeconfig = opts.clusterctl ? await serviceAccountKubeconfig(cp, PROVIDER_NAMESPACE.extension, MANAGER_SERVICE_ACCOUNT) : cp.kubeconfigPath;
    managers.extension = await extensionManager(cp, extensionKubeconfig, opts.upgradeConcurrency ?? 2, opts.upgradeRetrySeconds ?? 5);
    say('starting ironplane managers: kubevirt, metal3, kairos and the runtime extension');
    for (const role of ROLES) {
      managers[role].start();
      stops.push(() => managers[role].stop('SIGKILL'));
    }

    say('starting the Cluster API core manager and the simulated Kamaji data plane');
    const [capi0, kamaji] = await Promise.all([startCapiManager(cp), startKamaji({ cp, log, kubeadm: true, ...(opts.upgradeMs !== undefined ? { upgradeMs: opts.upgradeMs } : {}) })]);
    let capi = capi0;
    stops.push(() => capi.stop(), () => kamaji.stop());
    say('starting the Kamaji control-plane provider');
    const kamajiProvider = await startKamajiProvider(cp);
    stops.push(() => kamajiProvider.stop());
    const nodes = Array.from({ length: opts.infraNodes ?? 2 }, (_, i) => ({ name: `infra-${i}`, labels: { 'topology.kubernetes.io/zone': `zone-${i % 2}` } }));
    say(`starting the simulated hypervisor (${nodes.length} nodes) and kubelets`);
    const hypervisor = await startHypervisor({ client, log, nodes });
    stops.push(() => hypervisor.stop());
    const kubelet = await startKubelet({ client, log, requireJoin: true, hosts: true });
    stops.push(() => kubelet.stop());

    let bmo: Proc | undefined;
    if (opts.hosts) {
      say(`starting the Metal3 baremetal-operator (demo mode) with ${opts.hosts} bare-metal hosts`);
      // -demo-mode: every host walks the states at once, with no state shared between hosts.
      bmo = runBinary(path.join(REPO, 'bin/baremetal-operator'), ['-kubeconfig', cp.kubeconfigPath, '-demo-mode', '-webhook-port=0', '-metrics-addr=0', '-health-addr=127.0.0.1:0', '-kube-api-qps=200', '-kube-api-burst=400']);
      const p = bmo;
      stops.push(async () => {
        p.child.kill('SIGKILL');
        await p.exited;
      });
      await createPool(client, opts.hosts);
    }

    for (const role of ROLES) await managers[role].webhooksUp();
    let sveltos: ManagerProcess | undefined;
    if (opts.sveltos) {
      say('starting Sveltos addon-controller and applying the add-on ClusterProfiles of templates/addons');
      const sv = await startSveltos(cp);
      sveltos = sv;
      stops.push(() => sv.stop());
      await applyAddons(client);
    }

    say('registering the runtime extension and the ClusterClasses ironplane-kvm and ironplane-metal');
    await registerExtension(client, managers.extension, cp);
    for (const cls of ['ironplane-kvm', 'ironplane-metal']) await applyClass(client, cls);
    for (const cls of ['ironplane-kvm', 'ironplane-metal'])
      await until(`ClusterClass ${cls} variables to be reconciled`, async () => condition(await client.get<Obj>(ClusterClasses, cls, PLATFORM_NS), 'VariablesReady')?.status === 'True', 60_000);

    return {
      cp,
      client,
      get capi() {
        return capi;
      },
      kamajiProvider,
      sveltos,
      bmo,
      kamaji,
      hypervisor,
      kubelet,
      managers,
      tenants,
      clusterctlConfig,
      async restartCapi() {
        await capi.stop();
        capi = await startCapiManager(cp);
      },
      output: (role) => managers[role].output(),
      async stop() {
        for (const s of stops.reverse()) await s().catch(() => {});
        tenants.close();
        client.close();
        await cp.stop();
      },
    };
  } catch (err) {
    for (const s of stops.reverse()) await s().catch(() => {});
    client.close();
    await cp.stop();
    throw err;
  }
}

/**
 * `ironplane extension` on loopback with a serving certificate for
 * 127.0.0.1 from the plane's CA, with the given kubeconfig (its
 * ServiceAccount's after clusterctl init, else the plane's admin).
 */
async function extensionManager(cp: ControlPlane, kubeconfig: string, upgradeConcurrency: number, upgradeRetrySeconds: number): Promise<RoleManager> {
  const certDir = path.join(cp.dir, 'extension-certs');
  fs.mkdirSync(certDir, { recursive: true });
  const serving = await issueCert({ ca: cp.ca, commonName: 'ironplane-extension', ipAddresses: ['127.0.0.1'], usages: 'server' });
  fs.writeFileSync(path.join(certDir, 'tls.crt'), serving.certPem);
  fs.writeFileSync(path.join(certDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port for the extension');
  const args = [
    path.join(REPO, 'dist/providers/cli/main.js'),
    'extension',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--cert-dir',
    certDir,
    '--kubeconfig',
    kubeconfig,
    '--upgrade-concurrency',
    String(upgradeConcurrency),
    '--upgrade-retry-seconds',
    String(upgradeRetrySeconds),
    // As the release Deployment passes it (POD_NAMESPACE): where the class's upgrade slots live.
    '--namespace',
    PROVIDER_NAMESPACE.extension,
    '--metrics-bind-address',
    '0',
    '--health-probe-bind-address',
    '0',
  ];
  return new RoleManager('extension', args, port);
}

async function registerExtension(client: Client, ext: RoleManager, cp: ControlPlane): Promise<void> {
  const doc = parseAllDocuments(fs.readFileSync(path.join(REPO, 'config/extension/extensionconfig.yaml'), 'utf8'))[0]!.toJS() as Obj;
  delete doc.metadata!.annotations;
  doc.spec!['clientConfig'] = { url: `https://127.0.0.1:${ext.webhookPort}`, caBundle: b64(cp.ca.certPem) };
  await client.apply(ExtensionConfigs, doc, { force: true });
}

/** Applies a shipped ClusterClass file (clusterclasses/<name>.yaml) into the platform namespace. */
export async function applyClass(client: Client, name: string, file = path.join(REPO, 'clusterclasses', `${name}.yaml`)): Promise<void> {
  for (const d of parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
    const o = d.toJS() as Obj;
    const kind = CLASS_KINDS[o.kind!];
    if (!kind) throw new Error(`${file}: no resource type for ${o.kind}`);
    await client.apply(kind, { ...o, metadata: { ...o.metadata, namespace: PLATFORM_NS } }, { force: true });
  }
}

/** The add-on profiles of templates/addons: their namespace, ConfigMaps and ClusterProfiles. */
async function applyAddons(client: Client): Promise<void> {
  const dir = path.join(REPO, 'templates/addons');
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const d of parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
      const o = d.toJS() as Obj | null;
      if (!o) continue;
      const kind = { Namespace: Namespaces, ConfigMap: ConfigMaps, ClusterProfile: ClusterProfiles }[o.kind!];
      if (!kind) throw new Error(`templates/addons/${file}: no resource type for ${o.kind}`);
      await client.apply(kind, o, { force: true });
    }
  }
}

/** A namespace of the Capsule tenant, where a tenant's Clusters live. */
export async function tenantNamespace(client: Client, ns: string): Promise<void> {
  await client.apply(Namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [TENANT_LABEL]: CAPSULE_TENANT } } } as KubeObject, { force: true });
}

/** Shared bare-metal pool: hosts with BMC credentials, granted to every namespace of the tenant. */
async function createPool(client: Client, hosts: number): Promise<void> {
  await ensureNamespace(client, POOL_NS);
  await client.apply(
    HostDeployPolicies,
    { apiVersion: 'metal3.io/v1alpha1', kind: 'HostDeployPolicy', metadata: { name: 'tenants', namespace: POOL_NS }, spec: { hostClaimNamespaces: { hasLabels: [{ name: TENANT_LABEL, value: CAPSULE_TENANT }] } } } as KubeObject,
    { force: true },
  );
  for (let i = 0; i < hosts; i++) {
    const name = `host-${String(i).padStart(3, '0')}`;
    await client.apply(Secrets, { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-bmc`, namespace: POOL_NS }, stringData: { username: 'admin', password: 'fixture-password' } } as KubeObject, { force: true });
    const mac = `02:00:00:${[(i >> 8) & 0xff, i & 0xff, 0x10].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
    await client.apply(
      BareMetalHosts,
      {
        apiVersion: 'metal3.io/v1alpha1',
        kind: 'BareMetalHost',
        metadata: { name, namespace: POOL_NS, labels: { 'ironplane.dev/host-class': 'general', 'topology.kubernetes.io/zone': `zone-${i % 2}` } },
        spec: { online: false, bootMACAddress: mac, bmc: { address: `ipmi://127.0.0.1:${6230 + i}`, credentialsName: `${name}-bmc` } },
      } as KubeObject,
      { force: true },
    );
  }
}

export interface TopologyClusterOptions {
  namespace: string;
  name: string;
  cls: 'ironplane-kvm' | 'ironplane-metal';
  version: string;
  /** Workers of class general. Default 2. */
  replicas?: number;
  /** The Cluster's nodeCIDR (KVM). */
  nodeCIDR?: string;
  /** The Cluster's kairosImages variable; unset, the class's kairosImages setting applies. */
  kairosImages?: string[];
  annotations?: Record<string, string>;
}

/** The one object a tenant writes. */
export function topologyCluster(o: TopologyClusterOptions): Obj {
  const variables: { name: string; value: unknown }[] = o.kairosImages ? [{ name: 'kairosImages', value: o.kairosImages }] : [];
  if (o.nodeCIDR) variables.push({ name: 'network', value: { nodeCIDR: o.nodeCIDR } });
  if (o.cls === 'ironplane-metal') variables.push({ name: 'metal', value: { hostPools: [POOL_NS] } });
  return {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name: o.name, namespace: o.namespace, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: {
      topology: {
        classRef: { name: o.cls, namespace: PLATFORM_NS },
        version: o.version,
        workers: { machineDeployments: [{ class: 'general', name: 'md-0', replicas: o.replicas ?? 2 }] },
        variables,
      },
    },
  };
}

/** Waits for the Cluster's Available condition, and says what each party left when it does not come. */
export async function waitAvailable(w: E2E, ns: string, name: string, timeoutMs = 120_000): Promise<Obj> {
  try {
    return await until(`Cluster ${ns}/${name} to be Available`, async () => {
      const c = await w.client.get<Obj>(Clusters, name, ns);
      return condition(c, 'Available')?.status === 'True' ? c : undefined;
    }, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await explain(w, ns, name)}`);
  }
}

/** What the Cluster, its Machines and the simulated kubelet say, for a failure message. */
export async function explain(w: E2E, ns: string, name: string): Promise<string> {
  const lines: string[] = [];
  const c = await w.client.tryGet<Obj>(Clusters, name, ns);
  for (const cond of c?.status?.conditions ?? []) if (cond.status !== 'True') lines.push(`Cluster ${cond.type}=${cond.status} ${cond.reason ?? ''}: ${cond.message ?? ''}`);
  const { items } = await w.client.list<Obj>(Machines, { namespace: ns, labelSelector: `cluster.x-k8s.io/cluster-name=${name}` });
  for (const m of items) {
    const bad = (m.status?.conditions ?? []).filter((x) => x.status !== 'True').map((x) => `${x.type}=${x.status} ${x.reason ?? ''}: ${x.message ?? ''}`);
    const infra = (m.spec?.['infrastructureRef'] as { name?: string } | undefined)?.name ?? '';
    lines.push(`Machine ${m.metadata!.name} phase=${String(m.status?.['phase'])} kubelet: ${w.kubelet.why(ns, infra) ?? '-'}; ${bad.join('; ')}`);
  }
  return lines.join('\n');
}

/** The Nodes of a tenant cluster, read from its own apiserver through <cluster>-kubeconfig. */
export async function tenantNodes(w: E2E, ns: string, name: string): Promise<(KubeObject & { spec?: { providerID?: string } })[]> {
  return (await (await w.tenants.get(ns, name)).list<KubeObject & { spec?: { providerID?: string } }>(Nodes)).items;
}

/** Sets the kairosImages setting of a ClusterClass's external patch (CAPI merges it into every hook request). */
export async function setClassImages(client: Client, cls: string, images: string[]): Promise<void> {
  const c = await client.get<Obj>(ClusterClasses, cls, PLATFORM_NS);
  // Merged into the patch's settings: the class's allowlists stay as shipped.
  const patches = (c.spec!['patches'] as { name: string; external: { settings?: Record<string, string> } }[]).map((p) => ({
    ...p,
    external: { ...p.external, settings: { ...p.external.settings, kairosImages: images.join(',') } },
  }));
  await client.mergePatch(ClusterClasses, cls, PLATFORM_NS, { spec: { patches } });
}

export const PENDING_HOOKS = 'runtime.cluster.x-k8s.io/pending-hooks';

/** Whether CAPI counts the Cluster as upgrading (AfterClusterUpgrade pending, from the moment an upgrade is let through until it ends). */
export const upgrading = (c: Obj): boolean => (c.metadata!.annotations?.[PENDING_HOOKS] ?? '').includes('AfterClusterUpgrade');

/** Whether a Cluster finished an upgrade to `version`: control plane reports it, every worker runs it and is Available, the Cluster is Available. */
export async function upgraded(client: Client, c: Obj, version: string, replicas: number): Promise<boolean> {
  const ns = c.metadata!.namespace!;
  const machines = (await client.list<Obj>(Machines, { namespace: ns, labelSelector: `cluster.x-k8s.io/cluster-name=${c.metadata!.name}` })).items;
  const kcp = await client.get<Obj>(KamajiControlPlanes, (c.spec!['controlPlaneRef'] as { name: string }).name, ns);
  const rolled = machines.length === replicas && machines.every((m) => m.spec?.['version'] === version && condition(m, 'Available')?.status === 'True');
  return kcp.status?.['version'] === version && rolled && condition(c, 'Available')?.status === 'True' && !upgrading(c);
}

/** Applies a multi-document YAML of Cluster, ClusterClass and template kinds (what `clusterctl generate cluster` prints). */
export async function applyManifests(client: Client, text: string): Promise<Obj[]> {
  const applied: Obj[] = [];
  for (const d of parseAllDocuments(text)) {
    const o = d.toJS() as Obj | null;
    if (!o) continue;
    const kind = o.kind === 'Cluster' ? Clusters : CLASS_KINDS[o.kind!];
    if (!kind) throw new Error(`no resource type for ${o.kind} ${o.metadata?.name}`);
    applied.push(await client.apply<Obj>(kind, o, { force: true }));
  }
  return applied;
}

