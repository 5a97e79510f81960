// The extension as the real Cluster API core manager (bin/capi-manager, with
// ClusterTopology and RuntimeSDK) uses it: an ExtensionConfig pointing at
// https://127.0.0.1:<port> with the harness CA, CAPI's own client doing
// discovery, a ClusterClass whose variables come from DiscoverVariables (so
// CAPI's own schema validation accepts them), BeforeClusterCreate's message
// in the Cluster's condition, and a topology built from our patches.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Clusters } from '../../../providers/capi/contract.js';
import { Client } from '../../../providers/kit/client.js';
import { createLogger } from '../../../providers/kit/log.js';
import { Namespaces, type KubeObject, type ResourceType } from '../../../providers/kit/types.js';
import { Extension } from '../../../providers/topology/extension.js';
import { issueCert, startCapiManager, startControlPlane, type ControlPlane, type ManagerProcess } from '../../harness/index.js';
import { REPO, until } from '../processes.js';

const rt = (group: string, version: string, kind: string, plural: string, namespaced = true): ResourceType => ({ group, version, kind, plural, namespaced });
const ExtensionConfigs = rt('runtime.cluster.x-k8s.io', 'v1beta2', 'ExtensionConfig', 'extensionconfigs', false);
const ClusterClasses = rt('cluster.x-k8s.io', 'v1beta2', 'ClusterClass', 'clusterclasses');
const MachineDeployments = rt('cluster.x-k8s.io', 'v1beta2', 'MachineDeployment', 'machinedeployments');
const Tenants = rt('capsule.clastix.io', 'v1beta2', 'Tenant', 'tenants', false);
const KIND_RT: Record<string, ResourceType> = {
  KvmClusterTemplate: rt('infrastructure.ironplane.dev', 'v1alpha1', 'KvmClusterTemplate', 'kvmclustertemplates'),
  KvmMachineTemplate: rt('infrastructure.ironplane.dev', 'v1alpha1', 'KvmMachineTemplate', 'kvmmachinetemplates'),
  MetalClusterTemplate: rt('infrastructure.ironplane.dev', 'v1alpha1', 'MetalClusterTemplate', 'metalclustertemplates'),
  MetalMachineTemplate: rt('infrastructure.ironplane.dev', 'v1alpha1', 'MetalMachineTemplate', 'metalmachinetemplates'),
  KairosConfigTemplate: rt('bootstrap.ironplane.dev', 'v1alpha1', 'KairosConfigTemplate', 'kairosconfigtemplates'),
  KamajiControlPlaneTemplate: rt('controlplane.cluster.x-k8s.io', 'v1alpha1', 'KamajiControlPlaneTemplate', 'kamajicontrolplanetemplates'),
  KvmCluster: rt('infrastructure.ironplane.dev', 'v1alpha1', 'KvmCluster', 'kvmclusters'),
  KamajiControlPlane: rt('controlplane.cluster.x-k8s.io', 'v1alpha1', 'KamajiControlPlane', 'kamajicontrolplanes'),
};

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
type Obj = KubeObject & { spec?: Record<string, unknown>; status?: { conditions?: Condition[]; handlers?: { name: string }[]; variables?: { name: string }[] } };

const IMG = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGc1cHkZ8Wm6kqv3GmK9m8n8v0x2b0aQ3YwTq1s2uVxY ops@example.com';

let cp: ControlPlane;
let capi: ManagerProcess;
let client: Client;
let ext: Extension;

const condition = (o: Obj, type: string) => o.status?.conditions?.find((c) => c.type === type);

beforeAll(async () => {
  cp = await startControlPlane({
    name: 'topology-capi',
    crds: [
      path.join(REPO, 'config/external/capi'),
      path.join(REPO, 'config/external/kamaji'),
      path.join(REPO, 'config/crd/bases'),
      path.join(REPO, 'config/external/capsule/capsule.clastix.io_tenants.yaml'),
    ],
  });
  client = new Client(cp.kubeConfig, { fieldManager: 'topology-capi-test', timeoutMs: 30_000 });
  const certDir = path.join(cp.dir, 'extension-certs');
  fs.mkdirSync(certDir);
  const serving = await issueCert({ ca: cp.ca, commonName: 'ironplane-extension', ipAddresses: ['127.0.0.1'], usages: 'server' });
  fs.writeFileSync(path.join(certDir, 'tls.crt'), serving.certPem);
  fs.writeFileSync(path.join(certDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
  ext = await Extension.start({
    host: '127.0.0.1',
    port: 0,
    certDir,
    kubeconfig: cp.kubeconfigPath,
    base: { reservedCIDRs: [], upgradeConcurrency: 3 },
    log: createLogger({ level: 'warn' }),
  });
  for (const ns of ['platform', 'team-a', 'team-b']) await client.create(Namespaces, { metadata: { name: ns, ...(ns === 'team-a' ? { labels: { 'capsule.clastix.io/tenant': 'acme' } } : {}) } });
  await client.create(Tenants, {
    apiVersion: 'capsule.clastix.io/v1beta2',
    kind: 'Tenant',
    metadata: { name: 'acme' },
    spec: { owners: [{ kind: 'User', name: 'alice' }], resourceQuotas: { items: [{ hard: { 'requests.cpu': '32' } }] } },
  } as KubeObject);
  capi = await startCapiManager(cp);
}, 180_000);

afterAll(async () => {
  await ext?.stop();
  client?.close();
  await cp?.stop();
});

describe('Cluster API core with the extension', () => {
  it('given the ExtensionConfig with the loopback URL and the harness CA, should discover every handler', async () => {
    const doc = JSON.parse(JSON.stringify((await import('yaml')).parse(fs.readFileSync(path.join(REPO, 'config/extension/extensionconfig.yaml'), 'utf8')))) as Obj;
    delete doc.metadata!.annotations;
    doc.spec!['clientConfig'] = { url: `https://127.0.0.1:${ext.port}`, caBundle: Buffer.from(cp.ca.certPem).toString('base64') };
    await client.create(ExtensionConfigs, doc);
    const discovered = await until('CAPI to discover the extension', async () => {
      const o = await client.get<Obj>(ExtensionConfigs, 'ironplane');
      return condition(o, 'Discovered')?.status === 'True' ? o : undefined;
    }, 60_000);
    expect(capi.exitReason).toBeUndefined();
    expect(discovered.status!.handlers!.map((h) => h.name).sort()).toEqual(
      [
        'after-control-plane-initialized.ironplane',
        'before-cluster-create.ironplane',
        'before-cluster-delete.ironplane',
        'before-cluster-upgrade.ironplane',
        'discover-variables.ironplane',
        'generate-patches.ironplane',
        'validate-topology.ironplane',
      ],
    );
  });

  it('given the shipped ClusterClasses and their templates, should accept both through its own validation and take our variables', async () => {
    // Every object in clusterclasses/ goes through the real apiserver (CRD
    // schemas, CEL) and CAPI's ClusterClass webhook.
    for (const file of ['ironplane-kvm.yaml', 'ironplane-metal.yaml']) {
      for (const doc of parseAllDocuments(fs.readFileSync(path.join(REPO, 'clusterclasses', file), 'utf8'))) {
        const o = doc.toJS() as Obj;
        const kind = o.kind === 'ClusterClass' ? ClusterClasses : KIND_RT[o.kind!];
        if (!kind) throw new Error(`clusterclasses/${file}: no resource type for ${o.kind}`);
        await client.create(kind, { ...o, metadata: { ...o.metadata, namespace: 'platform' } });
      }
    }
    for (const name of ['ironplane-kvm', 'ironplane-metal']) {
      const cc = await until(`ClusterClass ${name} variables to be reconciled`, async () => {
        const o = await client.get<Obj>(ClusterClasses, name, 'platform');
        // The condition and the variables can land in separate status writes.
        return condition(o, 'VariablesReady')?.status === 'True' && o.status?.variables?.length ? o : undefined;
      }, 60_000);
      expect(cc.status!.variables!.map((v) => v.name).sort()).toEqual(['addons', 'controlPlane', 'gpu', 'kairosImages', 'loadBalancer', 'metal', 'network', 'ssh', 'workers']);
    }
  });

  const topologyCluster = (name: string, namespace: string): KubeObject & { spec: Record<string, unknown> } => ({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name, namespace },
    spec: {
      topology: {
        classRef: { name: 'ironplane-kvm', namespace: 'platform' },
        version: 'v1.35.0',
        workers: { machineDeployments: [{ class: 'general', name: 'md-0', replicas: 2 }] },
        variables: [
          { name: 'kairosImages', value: [IMG] },
          { name: 'network', value: { nodeCIDR: '10.30.0.0/24' } },
          { name: 'controlPlane', value: { dataStore: 'etcd-gold' } },
          { name: 'workers', value: { cpu: 4, memory: '8Gi' } },
          { name: 'loadBalancer', value: { pool: 'tenants' } },
          { name: 'ssh', value: { authorizedKeys: [KEY] } },
        ],
      },
    },
  });

  it('given a Cluster in a namespace of no tenant, should show our BeforeClusterCreate message in its condition', async () => {
    await client.create(Clusters, topologyCluster('stray', 'team-b'));
    const c = await until('the ClusterCreating condition', async () => {
      const o = await client.get<Obj>(Clusters, 'stray', 'team-b');
      return condition(o, 'TopologyReconciled')?.reason === 'ClusterCreating' ? o : undefined;
    }, 60_000);
    expect(condition(c, 'TopologyReconciled')!.message).toContain("namespace team-b belongs to no Capsule Tenant (it has no capsule.clastix.io/tenant label): create clusters in a tenant's namespace");
  });

  it('given a Cluster in a tenant’s namespace, should build the topology with our patched fields', async () => {
    await client.create(Clusters, topologyCluster('prod', 'team-a'));
    const cluster = await until('the topology to be created', async () => {
      const o = await client.get<Obj & { spec: { infrastructureRef?: { name: string }; controlPlaneRef?: { name: string } } }>(Clusters, 'prod', 'team-a');
      return o.spec.infrastructureRef?.name && o.spec.controlPlaneRef?.name ? o : undefined;
    }, 60_000);
    const kvmCluster = await client.get<Obj>(KIND_RT['KvmCluster']!, cluster.spec.infrastructureRef!.name, 'team-a');
    expect(kvmCluster.spec!['network']).toMatchObject({ nodeCIDR: '10.30.0.0/24' });
    const kcp = await client.get<Obj>(KIND_RT['KamajiControlPlane']!, cluster.spec.controlPlaneRef!.name, 'team-a');
    expect(kcp.spec).toMatchObject({ dataStoreName: 'etcd-gold', version: 'v1.35.0', network: { serviceType: 'LoadBalancer', serviceAnnotations: { 'metallb.io/address-pool': 'tenants' } } });

    const md = await until('the MachineDeployment', async () => (await client.list<Obj>(MachineDeployments, { namespace: 'team-a', labelSelector: 'cluster.x-k8s.io/cluster-name=prod' })).items[0]);
    const tpl = md.spec!['template'] as { spec: { infrastructureRef: { name: string }; bootstrap: { configRef: { name: string } } } };
    const machine = await client.get<Obj>(KIND_RT['KvmMachineTemplate']!, tpl.spec.infrastructureRef.name, 'team-a');
    expect((machine.spec!['template'] as { spec: unknown }).spec).toMatchObject({ image: { containerDisk: { image: IMG } }, cpu: { cores: 4 }, memory: '8Gi' });
    const bootstrap = await client.get<Obj>(KIND_RT['KairosConfigTemplate']!, tpl.spec.bootstrap.configRef.name, 'team-a');
    expect((bootstrap.spec!['template'] as { spec: { users: unknown[] } }).spec.users).toEqual([expect.objectContaining({ name: 'kairos', sshAuthorizedKeys: [KEY] })]);
  });

  it('given a bad variable value, should be refused by CAPI with the schema we published', async () => {
    const bad = topologyCluster('bad', 'team-a') as unknown as KubeObject & { spec: { topology: { variables: { name: string; value: unknown }[] } } };
    bad.spec.topology.variables = bad.spec.topology.variables.map((v) => (v.name === 'workers' ? { name: 'workers', value: { cpu: 0 } } : v));
    await expect(client.create(Clusters, bad)).rejects.toThrow('spec.topology.variables[workers].value.cpu');
  });
});
