// The world the adversarial suite attacks: one management plane with RBAC on,
// our CRDs and the external ones, the tenant model exactly as config/tenant
// ships it, two Capsule Tenants with their namespaces and users (real client
// certificates from the plane's CA), the real Cluster API core manager and
// the runtime extension running as the ServiceAccount identity the release
// gives it, with exactly config/extension's RBAC, and the Kairos manager with
// exactly config/rbac/kairos, which grants each Cluster's kubeconfig.
//
// Capsule itself does not run here: what it would do for the tests is done by
// capsuleRoleBindings below, from the Tenants' spec.owners, as Capsule's
// RoleBinding reconciler does (one RoleBinding per owner, ClusterRole and
// namespace). Every other refusal comes from the real apiserver, CAPI's
// webhooks and controllers, and our extension.
import fs from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { Clusters } from '../../providers/capi/contract.js';
import { Client } from '../../providers/kit/client.js';
import { createLogger } from '../../providers/kit/log.js';
import { Leases, Namespaces, Secrets, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import { serveSecureMetrics } from '../../providers/cli/metricsflags.js';
import { parseMetricsFlags } from '../../providers/kit/securemetrics.js';
import { Extension } from '../../providers/topology/extension.js';
import { issueCert, startCapiManager, startControlPlane, type ClientCredentials, type ControlPlane, type ManagerProcess } from '../harness/index.js';
import { renderKubeconfig } from '../harness/kubeconfig.js';
import { REPO, until } from '../integration/processes.js';
import { managerArgs, RoleManager, restrictedKubeconfig } from '../integration/roles.js';

export const rt = (group: string, version: string, kind: string, plural: string, namespaced = true): ResourceType => ({ group, version, kind, plural, namespaced });

/** Every kind the world writes or the attacks aim at. */
export const K = {
  Cluster: Clusters,
  ClusterV1beta1: rt('cluster.x-k8s.io', 'v1beta1', 'Cluster', 'clusters'),
  ClusterClass: rt('cluster.x-k8s.io', 'v1beta2', 'ClusterClass', 'clusterclasses'),
  MachineDeployment: rt('cluster.x-k8s.io', 'v1beta2', 'MachineDeployment', 'machinedeployments'),
  ExtensionConfig: rt('runtime.cluster.x-k8s.io', 'v1beta2', 'ExtensionConfig', 'extensionconfigs', false),
  KvmCluster: rt('infrastructure.ironplane.dev', 'v1alpha1', 'KvmCluster', 'kvmclusters'),
  KvmMachine: rt('infrastructure.ironplane.dev', 'v1alpha1', 'KvmMachine', 'kvmmachines'),
  KvmClusterTemplate: rt('infrastructure.ironplane.dev', 'v1alpha1', 'KvmClusterTemplate', 'kvmclustertemplates'),
  KvmMachineTemplate: rt('infrastructure.ironplane.dev', 'v1alpha1', 'KvmMachineTemplate', 'kvmmachinetemplates'),
  MetalMachine: rt('infrastructure.ironplane.dev', 'v1alpha1', 'MetalMachine', 'metalmachines'),
  MetalClusterTemplate: rt('infrastructure.ironplane.dev', 'v1alpha1', 'MetalClusterTemplate', 'metalclustertemplates'),
  MetalMachineTemplate: rt('infrastructure.ironplane.dev', 'v1alpha1', 'MetalMachineTemplate', 'metalmachinetemplates'),
  KairosConfig: rt('bootstrap.ironplane.dev', 'v1alpha1', 'KairosConfig', 'kairosconfigs'),
  KairosConfigTemplate: rt('bootstrap.ironplane.dev', 'v1alpha1', 'KairosConfigTemplate', 'kairosconfigtemplates'),
  KamajiControlPlaneTemplate: rt('controlplane.cluster.x-k8s.io', 'v1alpha1', 'KamajiControlPlaneTemplate', 'kamajicontrolplanetemplates'),
  Vpc: rt('kubeovn.io', 'v1', 'Vpc', 'vpcs', false),
  Subnet: rt('kubeovn.io', 'v1', 'Subnet', 'subnets', false),
  SwitchLBRule: rt('kubeovn.io', 'v1', 'SwitchLBRule', 'switch-lb-rules', false),
  OvnEip: rt('kubeovn.io', 'v1', 'OvnEip', 'ovn-eips', false),
  OvnDnatRule: rt('kubeovn.io', 'v1', 'OvnDnatRule', 'ovn-dnat-rules', false),
  NetworkAttachmentDefinition: rt('k8s.cni.cncf.io', 'v1', 'NetworkAttachmentDefinition', 'network-attachment-definitions'),
  BareMetalHost: rt('metal3.io', 'v1alpha1', 'BareMetalHost', 'baremetalhosts'),
  HostDeployPolicy: rt('metal3.io', 'v1alpha1', 'HostDeployPolicy', 'hostdeploypolicies'),
  VirtualMachine: rt('kubevirt.io', 'v1', 'VirtualMachine', 'virtualmachines'),
  Tenant: rt('capsule.clastix.io', 'v1beta2', 'Tenant', 'tenants', false),
  GlobalTenantResource: rt('capsule.clastix.io', 'v1beta2', 'GlobalTenantResource', 'globaltenantresources', false),
  Namespace: Namespaces,
  Secret: Secrets,
  Lease: Leases,
  Pod: rt('', 'v1', 'Pod', 'pods'),
  ServiceAccount: rt('', 'v1', 'ServiceAccount', 'serviceaccounts'),
  ClusterRole: rt('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'clusterroles', false),
  ClusterRoleBinding: rt('rbac.authorization.k8s.io', 'v1', 'ClusterRoleBinding', 'clusterrolebindings', false),
  Role: rt('rbac.authorization.k8s.io', 'v1', 'Role', 'roles'),
  RoleBinding: rt('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings'),
  ValidatingAdmissionPolicy: rt('admissionregistration.k8s.io', 'v1', 'ValidatingAdmissionPolicy', 'validatingadmissionpolicies', false),
  ValidatingAdmissionPolicyBinding: rt('admissionregistration.k8s.io', 'v1', 'ValidatingAdmissionPolicyBinding', 'validatingadmissionpolicybindings', false),
} as const;

const BY_KIND: Record<string, ResourceType> = Object.fromEntries(Object.values(K).filter((r) => r.version !== 'v1beta1').map((r) => [r.kind, r]));

export type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown>; data?: Record<string, string> };

/** The platform's namespaces: ClusterClasses, the extension, a shared host pool, and one that belongs to no tenant. */
export const PLATFORM_NS = 'platform';
export const EXTENSION_NS = 'ironplane-extension-system';
export const POOL_NS = 'pool-rack-a';
export const NO_TENANT_NS = 'unassigned';

/** The release's identities (config/release, clusterctl init) that config/tenant/platform.yaml names. */
export const EXTENSION_USER = `system:serviceaccount:${EXTENSION_NS}:ironplane-manager`;
export const CAPI_USER = 'system:serviceaccount:capi-system:capi-manager';

/** A tenant: its Capsule Tenant, namespace, owning user and the Cluster the user made. */
export interface TenantWorld {
  tenant: string;
  namespace: string;
  user: string;
  group: string;
  cluster: string;
}

/** Tenant A is the example Tenant of templates/governance as shipped; tenant B a second team beside it. */
export const A: TenantWorld = { tenant: 'ml-research', namespace: 'ml-research-dev', user: 'alice@example.com', group: 'ml-research-admins', cluster: 'prod' };
export const B: TenantWorld = { tenant: 'globex', namespace: 'globex-dev', user: 'bob@globex.example', group: 'globex-admins', cluster: 'web' };

/** Every Capsule user is in this group (CapsuleConfiguration spec.userGroups' default). */
export const CAPSULE_GROUP = 'capsule.clastix.io';

export interface User {
  name: string;
  client: Client;
  /** For raw requests (impersonation headers, pods/exec). */
  creds: ClientCredentials;
}

export interface World {
  cp: ControlPlane;
  admin: Client;
  capi: ManagerProcess;
  ext: Extension;
  /** The extension's /metrics with --metrics-secure (TokenReview and SubjectAccessReview), as the CLI serves it. */
  metricsPort: number;
  alice: User;
  bob: User;
  /** The extension's and CAPI's release identities, as client certificates with their usernames. */
  extensionUser: User;
  capiUser: User;
  stop(): Promise<void>;
}

export const IMG = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';
export const GPU_MODEL = 'nvidia.com/GA102GL_A10';

export function docs(file: string): Obj[] {
  return parseAllDocuments(fs.readFileSync(path.join(REPO, file), 'utf8'))
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => !!o?.kind);
}

export function kindOf(o: KubeObject): ResourceType {
  const r = BY_KIND[o.kind ?? ''];
  if (!r) throw new Error(`no resource type for ${o.kind}`);
  return r;
}

/** The topology Cluster a tenant writes: the kvm class of the platform namespace, a general and a GPU MachineDeployment. */
export function topologyCluster(t: TenantWorld, name = t.cluster, opts: { classNamespace?: string; gpuReplicas?: number } = {}): Obj {
  return {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name, namespace: t.namespace },
    spec: {
      topology: {
        classRef: { name: 'ironplane-kvm', namespace: opts.classNamespace ?? PLATFORM_NS },
        version: 'v1.35.0',
        workers: {
          machineDeployments: [
            { class: 'general', name: 'md-0', replicas: 1 },
            { class: 'gpu', name: 'gpu-0', replicas: opts.gpuReplicas ?? 2 },
          ],
        },
        variables: [
          { name: 'kairosImages', value: [IMG] },
          { name: 'network', value: { nodeCIDR: t === A ? '10.40.0.0/24' : '10.41.0.0/24' } },
          { name: 'workers', value: { cpu: 2, memory: '4Gi' } },
          { name: 'gpu', value: { count: 2, model: GPU_MODEL } },
        ],
      },
    },
  };
}

async function userOf(cp: ControlPlane, name: string, groups: string[]): Promise<User> {
  const cert = await issueCert({ ca: cp.ca, commonName: name, organizations: groups, usages: 'client' });
  const kc = new KubeConfig();
  kc.loadFromString(renderKubeconfig({ server: cp.url, caPem: cp.ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem, name: 'management', user: name }));
  return { name, client: new Client(kc, { fieldManager: 'security-test', timeoutMs: 30_000 }), creds: { ca: cp.ca.certPem, cert: cert.certPem, key: cert.keyPem } };
}

/** What Capsule's RoleBinding reconciler creates: per namespace of a Tenant, per owner and ClusterRole, one RoleBinding. */
async function capsuleRoleBindings(admin: Client, tenantName: string): Promise<void> {
  const tenant = await admin.get<Obj & { spec: { owners: { kind: string; name: string; clusterRoles?: string[] }[] } }>(K.Tenant, tenantName);
  const namespaces = await admin.list(K.Namespace, { labelSelector: `capsule.clastix.io/tenant=${tenantName}` });
  for (const ns of namespaces.items) {
    for (const [i, owner] of tenant.spec.owners.entries()) {
      // The CRD defaults clusterRoles to [admin, capsule-namespace-deleter] when an owner sets none.
      for (const role of owner.clusterRoles ?? []) {
        await admin.apply(K.RoleBinding, {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: `capsule-${tenantName}-${i}-${role}`, namespace: ns.metadata!.name!, labels: { 'capsule.clastix.io/tenant': tenantName } },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
          subjects: [owner.kind === 'ServiceAccount' ? { kind: 'ServiceAccount', name: owner.name.split(':').pop(), namespace: owner.name.split(':')[2] } : { apiGroup: 'rbac.authorization.k8s.io', kind: owner.kind, name: owner.name }],
        } as KubeObject, { force: true });
      }
    }
  }
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** The Secrets CAPI, Kamaji and our Kairos provider leave in a Cluster's namespace. */
function clusterSecrets(t: TenantWorld): Obj[] {
  const labels = { 'cluster.x-k8s.io/cluster-name': t.cluster };
  return [
    { metadata: { name: `${t.cluster}-kubeconfig`, namespace: t.namespace, labels }, type: 'cluster.x-k8s.io/secret', data: { value: b64(`kubeconfig of ${t.tenant}/${t.cluster}`) } } as Obj,
    { metadata: { name: `${t.cluster}-ca`, namespace: t.namespace, labels }, type: 'cluster.x-k8s.io/secret', data: { 'tls.crt': b64('ca'), 'tls.key': b64('ca key') } } as Obj,
    { metadata: { name: `${t.cluster}-md-0-bootstrap`, namespace: t.namespace, labels }, type: 'cluster.x-k8s.io/secret', data: { value: b64('#cloud-config with a join token'), format: b64('cloud-config') } } as Obj,
  ];
}

/** Waits until CAPI's topology controller has built a Cluster: refs set and its MachineDeployments there. */
export async function builtTopology(admin: Client, t: TenantWorld): Promise<Obj> {
  return until(`the topology of ${t.namespace}/${t.cluster}`, async () => {
    const c = await admin.get<Obj & { spec: { infrastructureRef?: unknown; controlPlaneRef?: unknown } }>(K.Cluster, t.cluster, t.namespace);
    if (!c.spec.infrastructureRef || !c.spec.controlPlaneRef) return undefined;
    const mds = await admin.list<Obj>(K.MachineDeployment, { namespace: t.namespace, labelSelector: `cluster.x-k8s.io/cluster-name=${t.cluster}` });
    return mds.items.length === 2 ? c : undefined;
  }, 120_000);
}

export async function startWorld(): Promise<World> {
  // kube-controller-manager: the policy's type checking is its status controller's, and the garbage collector removes the kubeconfig grants with their Cluster.
  const cp = await startControlPlane({ name: 'security', controllerManager: true, crds: [path.join(REPO, 'config/external/capi')] });
  const admin = new Client(cp.kubeConfig, { fieldManager: 'security-test', timeoutMs: 30_000 });
  const stops: (() => Promise<void>)[] = [async () => admin.close(), () => cp.stop()];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    // In small groups: each group must be usable within the harness's bound, and KubeVirt's are large.
    for (const group of [
      ['config/external/kamaji/provider', 'config/crd/bases'],
      ['config/external/capsule/capsule.clastix.io_tenants.yaml', 'config/external/capsule/capsule.clastix.io_globaltenantresources.yaml', 'config/external/kube-ovn/kubeovn.io_vpcs.yaml', 'config/external/kube-ovn/kubeovn.io_subnets.yaml'],
      ['config/external/metal3/metal3.io_baremetalhosts.yaml', 'config/external/metal3/metal3.io_hostdeploypolicies.yaml'],
      ['config/external/kubevirt/kubevirt.io_virtualmachines.yaml'],
    ]) {
      await cp.installCRDs(group.map((p) => path.join(REPO, p)));
    }
    for (const ns of [PLATFORM_NS, EXTENSION_NS, 'capi-system', POOL_NS, NO_TENANT_NS]) await admin.create(K.Namespace, { metadata: { name: ns } });

    // The tenant model as shipped.
    for (const file of ['role.yaml', 'platform.yaml', 'clusterclass-user.yaml', 'policy.yaml']) {
      for (const o of docs(`config/tenant/${file}`)) await admin.create(kindOf(o), o);
    }
    // Tenant A: the example of templates/governance as shipped. Tenant B: its twin for another team.
    for (const o of docs('templates/governance/tenant.yaml')) await admin.create(kindOf(o), o);
    const twin = docs('templates/governance/tenant.yaml').find((o) => o.kind === 'Tenant')!;
    twin.metadata = { name: B.tenant };
    (twin.spec as { owners: unknown }).owners = [{ kind: 'Group', name: B.group, clusterRoles: ['ironplane-tenant'] }];
    await admin.create(K.Tenant, twin);
    await admin.create(K.Namespace, { metadata: { name: B.namespace, labels: { 'capsule.clastix.io/tenant': B.tenant } } });
    for (const t of [A, B]) await capsuleRoleBindings(admin, t.tenant);

    // The Kairos manager (dist/, `npm run build`) with exactly config/rbac/kairos:
    // it makes each Cluster's kubeconfig grant from the Capsule RoleBindings above.
    const kairosKubeconfig = await restrictedKubeconfig(cp, admin, 'kairos');
    const kairos = new RoleManager('kairos', managerArgs('kairos', kairosKubeconfig, { port: 0, certDir: cp.dir }), 0);
    kairos.start(['--webhook-port', '0', '--log-level', 'info']);
    stops.push(() => kairos.stop());

    // The extension, as the release's ServiceAccount with config/extension's RBAC.
    for (const o of docs('config/extension/rbac.yaml')) {
      if (o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding') (o as { subjects: unknown }).subjects = [{ kind: 'ServiceAccount', name: 'ironplane-manager', namespace: EXTENSION_NS }];
      if (o.metadata?.namespace) o.metadata.namespace = EXTENSION_NS;
      await admin.create(kindOf(o), o);
    }
    const [alice, bob, extensionUser, capiUser] = await Promise.all([
      userOf(cp, A.user, [CAPSULE_GROUP, A.group]),
      userOf(cp, B.user, [CAPSULE_GROUP, B.group]),
      userOf(cp, EXTENSION_USER, ['system:serviceaccounts', `system:serviceaccounts:${EXTENSION_NS}`]),
      userOf(cp, CAPI_USER, ['system:serviceaccounts', 'system:serviceaccounts:capi-system']),
    ]);
    for (const u of [alice, bob, extensionUser, capiUser]) stops.push(async () => u.client.close());
    const extKubeconfig = path.join(cp.dir, 'extension.kubeconfig');
    {
      const cert = await issueCert({ ca: cp.ca, commonName: EXTENSION_USER, organizations: ['system:serviceaccounts', `system:serviceaccounts:${EXTENSION_NS}`], usages: 'client' });
      fs.writeFileSync(extKubeconfig, renderKubeconfig({ server: cp.url, caPem: cp.ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem, name: 'management', user: EXTENSION_USER }), { mode: 0o600 });
    }
    const certDir = path.join(cp.dir, 'extension-certs');
    fs.mkdirSync(certDir);
    const serving = await issueCert({ ca: cp.ca, commonName: 'ironplane-extension', ipAddresses: ['127.0.0.1'], usages: 'server' });
    fs.writeFileSync(path.join(certDir, 'tls.crt'), serving.certPem);
    fs.writeFileSync(path.join(certDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
    const ext = await Extension.start({
      host: '127.0.0.1',
      port: 0,
      certDir,
      kubeconfig: extKubeconfig,
      base: { reservedCIDRs: [], upgradeConcurrency: 3 },
      log: createLogger({ level: 'error' }),
    });
    stops.push(() => ext.stop());
    const metrics = await serveSecureMetrics({
      serving: parseMetricsFlags({ bindAddress: '127.0.0.1:0', secure: true, probeAddress: '0' }).serving,
      registry: ext.metrics.registry,
      kubeconfig: extKubeconfig,
      log: createLogger({ level: 'error' }),
      fieldManager: 'ironplane-extension',
    });
    stops.push(() => metrics.close());
    if (!metrics.port) throw new Error('the secure metrics server did not start');

    // Cluster API core, with its webhooks; it runs as the plane's admin (system:masters).
    const capi = await startCapiManager(cp);
    stops.push(() => capi.stop());
    const ec = docs('config/extension/extensionconfig.yaml')[0]!;
    delete ec.metadata!.annotations;
    ec.spec!['clientConfig'] = { url: `https://127.0.0.1:${ext.port}`, caBundle: b64(cp.ca.certPem) };
    await admin.create(K.ExtensionConfig, ec);
    // The shipped classes in the platform namespace; a copy of the kvm class in tenant B's namespace, B's own.
    for (const [file, ns] of [['clusterclasses/ironplane-kvm.yaml', PLATFORM_NS], ['clusterclasses/ironplane-metal.yaml', PLATFORM_NS], ['clusterclasses/ironplane-kvm.yaml', B.namespace]] as const) {
      for (const o of docs(file)) await admin.create(kindOf(o), { ...o, metadata: { ...o.metadata, namespace: ns } });
    }
    for (const [ns, name] of [[PLATFORM_NS, 'ironplane-kvm'], [PLATFORM_NS, 'ironplane-metal'], [B.namespace, 'ironplane-kvm']] as const) {
      await until(`ClusterClass ${ns}/${name} variables`, async () => {
        const o = await admin.get<Obj & { status?: { conditions?: { type: string; status: string }[]; variables?: unknown[] } }>(K.ClusterClass, name, ns);
        return o.status?.conditions?.some((c) => c.type === 'VariablesReady' && c.status === 'True') && o.status.variables?.length;
      }, 90_000);
    }

    // The policy is loaded by the apiserver a moment after it is created: wait until it refuses.
    await until('the tenant policy to be in force', async () => {
      const probe = topologyCluster(A, 'policy-probe');
      probe.metadata!.labels = { 'ironplane.dev/addon-set': 'none' };
      return alice.client.create(K.Cluster, probe, { dryRun: true }).then(
        () => false,
        (e: Error) => e.message.includes("ValidatingAdmissionPolicy 'ironplane-tenant-clusters'"),
      );
    }, 60_000);

    // Each tenant makes its Cluster as its user would; CAPI builds it with our extension.
    await alice.client.create(K.Cluster, topologyCluster(A));
    await bob.client.create(K.Cluster, topologyCluster(B));
    const built = await Promise.all([builtTopology(admin, A), builtTopology(admin, B)]);
    // What would be there once the control planes are up: the kubeconfig, CA
    // and bootstrap data Secrets and the add-on labels the extension sets;
    // and the per-Cluster kubeconfig grants the Kairos manager makes.
    for (const [i, t] of [A, B].entries()) {
      for (const s of clusterSecrets(t)) await admin.create(K.Secret, s);
      await extensionUser.client.mergePatch(K.Cluster, t.cluster, t.namespace, {
        metadata: { labels: { 'ironplane.dev/addon-set': 'standard', 'addons.ironplane.dev/cni': 'true', 'addons.ironplane.dev/csi': 'true', 'addons.ironplane.dev/policies': 'true' } },
      });
      await until(`the kubeconfig grant of ${t.namespace}/${t.cluster} to bind ${t.group}`, async () => {
        const rb = await admin.tryGet<Obj & { subjects?: { name: string }[]; metadata: { ownerReferences?: { uid: string }[] } }>(K.RoleBinding, `ironplane-kubeconfig-${t.cluster}`, t.namespace);
        return (rb?.subjects?.some((s) => s.name === t.group) && rb.metadata.ownerReferences?.[0]?.uid === built[i]!.metadata!.uid) || undefined;
      }, 90_000);
    }
    // A virt-launcher pod in A's namespace, a Lease of the extension, a host in the shared pool.
    await admin.create(K.Pod, { metadata: { name: 'virt-launcher-prod-md-0-abcde', namespace: A.namespace }, spec: { containers: [{ name: 'compute', image: 'quay.io/kubevirt/virt-launcher:v1.8.0' }] } } as KubeObject);
    await admin.create(K.Lease, { metadata: { name: 'ironplane-upgrades', namespace: EXTENSION_NS }, spec: { holderIdentity: 'ironplane-extension' } } as KubeObject);
    await admin.create(K.BareMetalHost, { metadata: { name: 'rack-a-0', namespace: POOL_NS }, spec: { online: false } } as KubeObject);

    return { cp, admin, capi, ext, metricsPort: metrics.port, alice, bob, extensionUser, capiUser, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
