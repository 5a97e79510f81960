// An upgrade of a topology Cluster through the real Cluster API core manager,
// the real Kamaji CAPI control-plane provider and our runtime extension, on
// the shipped ClusterClass ironplane-kvm. Kamaji's data plane is test/sim's:
// each TenantControlPlane becomes a real tenant kube-apiserver and gets the
// status Kamaji writes. Our KubeVirt provider runs in-process for the
// KvmCluster (the Kamaji provider waits for the infrastructure). No workers.
//
// BeforeClusterUpgrade holds the version bump while the Cluster's
// maintenance window is closed: the KamajiControlPlane keeps v1.35.0 and the
// TopologyReconciled condition carries our message. Once it is open, CAPI
// rolls the control plane to v1.35.1 and the simulated Kamaji reports it.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Clusters } from '../../../providers/capi/contract.js';
import { Client } from '../../../providers/kit/client.js';
import { createLogger } from '../../../providers/kit/log.js';
import { Manager } from '../../../providers/kit/manager.js';
import { Leases, Namespaces, type KubeObject, type ResourceType } from '../../../providers/kit/types.js';
import { setupKubevirt } from '../../../providers/kubevirt/setup.js';
import { MAINTENANCE_ANNOTATION } from '../../../providers/topology/maintenance.js';
import { Extension } from '../../../providers/topology/extension.js';
import { ADMISSIONS_ANNOTATION, leaseName, type Admission } from '../../../providers/topology/upgradeslots.js';
import { issueCert, startCapiManager, startControlPlane, startKamajiProvider, type ControlPlane, type ManagerProcess } from '../../harness/index.js';
import { startKamaji, TenantControlPlanes, type Kamaji, type TenantControlPlane } from '../../sim/kamaji.js';
import { REPO, until } from '../processes.js';

const rt = (group: string, version: string, kind: string, plural: string, namespaced = true): ResourceType => ({ group, version, kind, plural, namespaced });
const ExtensionConfigs = rt('runtime.cluster.x-k8s.io', 'v1beta2', 'ExtensionConfig', 'extensionconfigs', false);
const ClusterClasses = rt('cluster.x-k8s.io', 'v1beta2', 'ClusterClass', 'clusterclasses');
const Tenants = rt('capsule.clastix.io', 'v1beta2', 'Tenant', 'tenants', false);
const KamajiControlPlanes = rt('controlplane.cluster.x-k8s.io', 'v1alpha1', 'KamajiControlPlane', 'kamajicontrolplanes');
const KIND_RT: Record<string, ResourceType> = {
  KvmClusterTemplate: rt('infrastructure.ironplane.dev', 'v1alpha1', 'KvmClusterTemplate', 'kvmclustertemplates'),
  KvmMachineTemplate: rt('infrastructure.ironplane.dev', 'v1alpha1', 'KvmMachineTemplate', 'kvmmachinetemplates'),
  KairosConfigTemplate: rt('bootstrap.ironplane.dev', 'v1alpha1', 'KairosConfigTemplate', 'kairosconfigtemplates'),
  KamajiControlPlaneTemplate: rt('controlplane.cluster.x-k8s.io', 'v1alpha1', 'KamajiControlPlaneTemplate', 'kamajicontrolplanetemplates'),
};

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
type Obj = KubeObject & { spec?: Record<string, unknown>; status?: { conditions?: Condition[] } };
type Kcp = KubeObject & { spec: { version: string }; status?: { ready?: boolean; initialized?: boolean; version?: string } };
type ClusterObj = Obj & { spec: { controlPlaneRef?: { name: string }; topology: { version: string } } };

const NS = 'team-a';
const IMG = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';
const log = createLogger({ level: process.env['IRONPLANE_TEST_LOG'] ? 'debug' : 'error' });

let cp: ControlPlane;
let capi: ManagerProcess;
let client: Client;
let ext: Extension;
let kamaji: Kamaji;
let kubevirt: Manager;
let kamajiProvider: ManagerProcess;

const condition = (o: Obj, type: string) => o.status?.conditions?.find((c) => c.type === type);

beforeAll(async () => {
  cp = await startControlPlane({
    name: 'topology-upgrade',
    // The garbage collector drops the owner reference CAPI's topology gives
    // new objects to the Cluster's shim Secret once it deletes the shim; the
    // Kamaji provider takes the first owner reference for the Cluster.
    controllerManager: true,
    crds: [
      'config/external/capi',
      'config/external/kamaji/provider',
      'config/external/kamaji/kamaji',
      'config/external/kubevirt',
      'config/external/kube-ovn',
      'config/crd/bases',
      'config/external/capsule/capsule.clastix.io_tenants.yaml',
    ].map((p) => path.join(REPO, p)),
  });
  client = new Client(cp.kubeConfig, { fieldManager: 'topology-upgrade-test', timeoutMs: 30_000 });
  const certDir = path.join(cp.dir, 'extension-certs');
  fs.mkdirSync(certDir);
  const serving = await issueCert({ ca: cp.ca, commonName: 'ironplane-extension', ipAddresses: ['127.0.0.1'], usages: 'server' });
  fs.writeFileSync(path.join(certDir, 'tls.crt'), serving.certPem);
  fs.writeFileSync(path.join(certDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
  ext = await Extension.start({ host: '127.0.0.1', port: 0, certDir, kubeconfig: cp.kubeconfigPath, base: { reservedCIDRs: [], upgradeConcurrency: 3 }, log });

  // The extension's own namespace holds the class's upgrade slots (a Lease).
  for (const ns of ['platform', NS, 'ironplane-extension-system']) await client.create(Namespaces, { metadata: { name: ns, ...(ns === NS ? { labels: { 'capsule.clastix.io/tenant': 'acme' } } : {}) } });
  await client.create(Tenants, { apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name: 'acme' }, spec: { owners: [{ kind: 'User', name: 'alice' }] } } as KubeObject);

  kubevirt = new Manager({ name: 'ironplane-kubevirt', kubeconfig: cp.kubeconfigPath, log });
  await kubevirt.connect();
  setupKubevirt(kubevirt, { workers: 2, instance: 'upgrade-test' });
  void kubevirt.start();

  [capi, kamaji] = await Promise.all([startCapiManager(cp), startKamaji({ cp, log })]);
  kamajiProvider = await startKamajiProvider(cp);

  const doc = (await import('yaml')).parse(fs.readFileSync(path.join(REPO, 'config/extension/extensionconfig.yaml'), 'utf8')) as Obj;
  delete doc.metadata!.annotations;
  doc.spec!['clientConfig'] = { url: `https://127.0.0.1:${ext.port}`, caBundle: Buffer.from(cp.ca.certPem).toString('base64') };
  await client.create(ExtensionConfigs, doc);
  for (const d of parseAllDocuments(fs.readFileSync(path.join(REPO, 'clusterclasses/ironplane-kvm.yaml'), 'utf8'))) {
    const o = d.toJS() as Obj;
    const kind = o.kind === 'ClusterClass' ? ClusterClasses : KIND_RT[o.kind!];
    if (!kind) throw new Error(`clusterclasses/ironplane-kvm.yaml: no resource type for ${o.kind}`);
    await client.create(kind, { ...o, metadata: { ...o.metadata, namespace: 'platform' } });
  }
  await until('ClusterClass ironplane-kvm variables to be reconciled', async () => condition(await client.get<Obj>(ClusterClasses, 'ironplane-kvm', 'platform'), 'VariablesReady')?.status === 'True', 60_000);
}, 180_000);

afterAll(async () => {
  await kamaji?.stop();
  await kubevirt?.stop();
  await ext?.stop();
  client?.close();
  await cp?.stop();
});

const kcpOf = async (cluster: string): Promise<Kcp> => {
  const c = await client.get<ClusterObj>(Clusters, cluster, NS);
  return client.get<Kcp>(KamajiControlPlanes, c.spec.controlPlaneRef!.name, NS);
};

describe('a topology Cluster upgrade held by the maintenance window', () => {
  it('given a Cluster of ironplane-kvm without workers, should provision its Kamaji control plane', async () => {
    await client.create(Clusters, {
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name: 'prod', namespace: NS },
      spec: {
        topology: {
          classRef: { name: 'ironplane-kvm', namespace: 'platform' },
          version: 'v1.35.0',
          variables: [
            { name: 'kairosImages', value: [IMG] },
            { name: 'network', value: { nodeCIDR: '10.30.0.0/24' } },
          ],
        },
      },
    } as KubeObject);
    const cluster = await until('the Cluster\'s control plane to be initialized', async () => {
      const o = await client.get<ClusterObj>(Clusters, 'prod', NS);
      return condition(o, 'ControlPlaneInitialized')?.status === 'True' ? o : undefined;
    }, 90_000).catch(async (e: Error) => {
      // What each party left, to tell which one stopped the provisioning.
      const o = await client.get<ClusterObj>(Clusters, 'prod', NS);
      const dump = [JSON.stringify(o.status), JSON.stringify(o.spec)];
      for (const plural of ['kamajicontrolplanes']) dump.push(JSON.stringify((await client.list(rt('controlplane.cluster.x-k8s.io', 'v1alpha1', 'KamajiControlPlane', plural), { namespace: NS })).items.map((i) => ({ m: (i as Obj).metadata, st: (i as Obj).status }))));
      dump.push(JSON.stringify((await client.list(TenantControlPlanes, { namespace: NS })).items.map((i) => (i as Obj).status)));
      dump.push(JSON.stringify((await client.list(rt('infrastructure.ironplane.dev', 'v1alpha1', 'KvmCluster', 'kvmclusters'), { namespace: NS })).items.map((i) => ({ s: (i as Obj).spec, st: (i as Obj).status }))));
      throw new Error(`${e.message}\n${dump.join('\n')}\n${kamajiProvider.logTail(30)}`);
    });
    const kcp = await kcpOf('prod');
    expect(kcp.spec.version).toBe('v1.35.0');
    expect(kcp.status).toMatchObject({ ready: true, initialized: true, version: 'v1.35.0' });
    const tcp = await client.get<TenantControlPlane>(TenantControlPlanes, kcp.metadata!.name!, NS);
    expect(tcp.status?.kubernetesResources?.version).toEqual({ version: 'v1.35.0', status: 'Ready' });
    // The provider copied the tenant's admin kubeconfig for CAPI.
    const tenant = kamaji.tenant(NS, kcp.metadata!.name!)!;
    const kubeconfig = await client.get<KubeObject & { data: Record<string, string> }>({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true }, 'prod-kubeconfig', NS);
    expect(Buffer.from(kubeconfig.data['value']!, 'base64').toString()).toContain(tenant.url);
    expect(cluster.spec.topology.version).toBe('v1.35.0');
    // CAPI's real AfterControlPlaneInitialized passes the extension's premise (the apiserver shows the control plane initialised): the add-on labels land.
    await until('the add-on labels from AfterControlPlaneInitialized', async () => (await client.get<ClusterObj>(Clusters, 'prod', NS)).metadata?.labels?.['ironplane.dev/addon-set'], 30_000);
  }, 120_000);

  it('given a closed maintenance window and a new version, should hold the control plane with our message', async () => {
    await client.mergePatch(Clusters, 'prod', NS, { metadata: { annotations: { [MAINTENANCE_ANNOTATION]: 'closed' } } });
    await client.mergePatch(Clusters, 'prod', NS, { spec: { topology: { version: 'v1.35.1' } } });
    const held = await until('the BeforeClusterUpgrade message in TopologyReconciled', async () => {
      const o = await client.get<ClusterObj>(Clusters, 'prod', NS);
      const c = condition(o, 'TopologyReconciled');
      return c?.status === 'False' && c.message?.includes('maintenance window') ? c : undefined;
    }, 60_000);
    expect(held.message).toContain(
      `the maintenance window is closed (${MAINTENANCE_ANNOTATION}: closed): set it to open, or to a schedule, to let the upgrade to v1.35.1 start`,
    );
    expect((await kcpOf('prod')).spec.version).toBe('v1.35.0');
  }, 90_000);

  it('given the window opened, should roll the control plane to the new version', async () => {
    await client.mergePatch(Clusters, 'prod', NS, { metadata: { annotations: { [MAINTENANCE_ANNOTATION]: 'open' } } });
    // CAPI keeps a blocking answer for its retryAfterSeconds (five minutes
    // while closed) in memory; a restarted manager asks again at once.
    await capi.stop();
    capi = await startCapiManager(cp);
    const kcp = await until('the KamajiControlPlane to take v1.35.1', async () => {
      const k = await kcpOf('prod');
      return k.spec.version === 'v1.35.1' ? k : undefined;
    }, 60_000);
    const reported = await until('Kamaji to report v1.35.1', async () => {
      const t = await client.get<TenantControlPlane>(TenantControlPlanes, kcp.metadata!.name!, NS);
      return t.status?.kubernetesResources?.version?.version === 'v1.35.1' ? t : undefined;
    }, 30_000);
    expect(reported.status?.kubernetesResources?.version?.status).toBe('Ready');
    await until('the KamajiControlPlane status version', async () => (await kcpOf('prod')).status?.version === 'v1.35.1', 30_000);
    // The slot CAPI's real BeforeClusterUpgrade took is recorded in the class's Lease, in the extension's namespace.
    const lease = await client.get(Leases, leaseName('platform/ironplane-kvm'), 'ironplane-extension-system');
    const admitted = JSON.parse(lease.metadata?.annotations?.[ADMISSIONS_ANNOTATION] ?? '[]') as Admission[];
    expect(admitted.map((a) => [`${a.namespace}/${a.name}`, a.version])).toEqual([[`${NS}/prod`, 'v1.35.1']]);
  }, 120_000);
});
