// The extension as the real Cluster API core manager (bin/capi-manager, with
// ClusterTopology and RuntimeSDK) uses it: an ExtensionConfig pointing at
// https://127.0.0.1:<port> with the harness CA, CAPI's own client doing
// discovery, a ClusterClass whose variables come from DiscoverVariables (so
// CAPI's own schema validation accepts them), BeforeClusterCreate's message
// in the Cluster's condition, a topology built from our patches, and the
// platform's allowlists (the shipped classes' settings) enforced by CAPI's own
// Cluster webhook through the schemas DiscoverVariables publishes: a Cluster
// outside them is refused with a message naming the field and the allowed
// values, and nothing is made for it.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Clusters } from '../../../providers/capi/contract.js';
import { ApiError, Client } from '../../../providers/kit/client.js';
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
      // The condition and the handlers can land in separate status writes.
      return condition(o, 'Discovered')?.status === 'True' && o.status?.handlers?.length ? o : undefined;
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
    // The class's privateEndpointVIP, which workers join through (adr/0014), among the apiserver's SANs.
    expect((kcp.spec!['network'] as { certSANs?: string[] }).certSANs).toEqual(['198.18.0.1']);

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

  describe('the platform’s allowlists', () => {
    type Vars = { name: string; value: unknown }[];
    const withVars = (name: string, namespace: string, change: (vars: Vars) => Vars, cls = 'ironplane-kvm') => {
      const c = topologyCluster(name, namespace) as unknown as KubeObject & { spec: { topology: { classRef: { name: string }; variables: Vars } } };
      c.spec.topology.variables = change(c.spec.topology.variables);
      c.spec.topology.classRef.name = cls;
      return c;
    };
    const set = (name: string, value: unknown) => (vars: Vars) => [...vars.filter((v) => v.name !== name), { name, value }];
    /** The create is refused, and nothing exists for the Cluster afterwards. */
    async function refused(c: KubeObject, ...messages: string[]): Promise<string> {
      let err: unknown;
      try {
        await client.create(Clusters, c);
      } catch (e) {
        err = e;
      }
      expect(err, 'the Cluster was admitted').toBeInstanceOf(ApiError);
      const apiErr = err as ApiError;
      expect(apiErr.code).toBe(422);
      expect(apiErr.reason).toBe('Invalid');
      for (const m of messages) expect(apiErr.message).toContain(m);
      const ns = c.metadata!.namespace!;
      const name = c.metadata!.name!;
      await expect(client.get(Clusters, name, ns)).rejects.toMatchObject({ code: 404 });
      const selector = `cluster.x-k8s.io/cluster-name=${name}`;
      expect((await client.list(KIND_RT['KvmCluster']!, { namespace: ns, labelSelector: selector })).items).toEqual([]);
      expect((await client.list(KIND_RT['KamajiControlPlane']!, { namespace: ns, labelSelector: selector })).items).toEqual([]);
      expect((await client.list(MachineDeployments, { namespace: ns, labelSelector: selector })).items).toEqual([]);
      return apiErr.message;
    }

    it('should publish the shipped classes’ allowlists in the ClusterClass’s variable schemas', async () => {
      const cc = await client.get<KubeObject & { status: { variables: { name: string; definitions: { schema: { openAPIV3Schema: { properties?: Record<string, { enum?: string[] }>; items?: Record<string, unknown> } } }[] }[] } }>(ClusterClasses, 'ironplane-kvm', 'platform');
      const schema = (name: string) => cc.status.variables.find((v) => v.name === name)!.definitions[0]!.schema.openAPIV3Schema;
      expect(schema('gpu').properties!['model']!.enum).toEqual(['nvidia.com/GA102GL_A10']);
      expect(schema('controlPlane').properties!['dataStore']!.enum).toEqual(['default', 'etcd-gold']);
      expect(schema('loadBalancer').properties!['pool']!.enum).toEqual(['tenants']);
      expect(schema('kairosImages').items!['x-kubernetes-validations']).toEqual([expect.objectContaining({ message: 'must be an image of a repository the platform allows (quay.io/kairos)' })]);
    });

    it('given a GPU model outside the allowlist, should be refused by CAPI naming the field and the allowed models, and nothing made', async () => {
      const m = await refused(withVars('gpu-evil', 'team-a', set('gpu', { count: 1, model: 'amd.com/MI300X' })), 'spec.topology.variables[gpu].value.model: Unsupported value:', 'supported values: "nvidia.com/GA102GL_A10"');
      // CAPI's defaulting webhook defaults and validates the variables in one step, and answers first.
      expect(m).toBe(
        'admission webhook "default.cluster.cluster.x-k8s.io" denied the request: Cluster.cluster.x-k8s.io "gpu-evil" is invalid: ' +
          'spec.topology.variables[gpu].value.model: Unsupported value: "{\\"count\\":1,\\"model\\":\\"amd.com/MI300X\\"}": supported values: "nvidia.com/GA102GL_A10"',
      );
    });

    it('given an image outside the allowed repositories, should be refused by CAPI with the allowlist’s message, and nothing made', async () => {
      for (const [name, ref] of [
        ['img-evil', 'quay.io/kairos-evil/ubuntu:v1-k8sv1.35.0'],
        ['img-host', 'quay.io.evil.com/kairos/ubuntu:v1-k8sv1.35.0'],
        ['img-hub', 'docker.io/kairos/ubuntu:v1-k8sv1.35.0'],
      ] as const) {
        const m = await refused(withVars(name, 'team-a', set('kairosImages', [IMG, ref])));
        expect(m).toBe(
          `admission webhook "default.cluster.cluster.x-k8s.io" denied the request: Cluster.cluster.x-k8s.io "${name}" is invalid: ` +
            `spec.topology.variables[kairosImages].value[1]: Invalid value: ${JSON.stringify(JSON.stringify([IMG, ref]))}: must be an image of a repository the platform allows (quay.io/kairos)`,
        );
      }
    });

    it('given a DataStore, pool or fixed address outside the allowlists, should be refused by CAPI, and nothing made', async () => {
      await refused(withVars('ds-evil', 'team-a', set('controlPlane', { dataStore: 'tenant-b-etcd' })), 'spec.topology.variables[controlPlane].value.dataStore: Unsupported value:', 'supported values: "default", "etcd-gold"');
      await refused(withVars('pool-evil', 'team-a', set('loadBalancer', { pool: 'infra' })), 'spec.topology.variables[loadBalancer].value.pool: Unsupported value:', 'supported values: "tenants"');
      // The shipped classes allow no fixed address.
      await refused(
        withVars('addr-evil', 'team-a', set('loadBalancer', { address: '192.0.2.10' })),
        'spec.topology.variables[loadBalancer].value.address: Invalid value:',
        "must be an address in a range the platform allows (none: the platform's loadBalancerAddressRanges setting allows none)",
      );
    });

    it('given a class with address ranges, should admit an address inside them and refuse one outside', async () => {
      const doc = parseAllDocuments(fs.readFileSync(path.join(REPO, 'clusterclasses', 'ironplane-kvm.yaml'), 'utf8'))[0]!.toJS() as Obj & { spec: { patches: { external: { settings: Record<string, string> } }[] } };
      doc.metadata = { name: 'ironplane-kvm-ranges', namespace: 'platform' };
      doc.spec.patches[0]!.external.settings['loadBalancerAddressRanges'] = '192.0.2.0/24,2001:db8::/64';
      await client.create(ClusterClasses, doc);
      await until('ClusterClass ironplane-kvm-ranges variables to be reconciled', async () => {
        const o = await client.get<Obj>(ClusterClasses, 'ironplane-kvm-ranges', 'platform');
        return condition(o, 'VariablesReady')?.status === 'True' && o.status?.variables?.length ? o : undefined;
      }, 60_000);
      for (const address of ['192.0.2.10', '2001:db8::10']) {
        await client.create(Clusters, withVars('addr-ok', 'team-b', set('loadBalancer', { address }), 'ironplane-kvm-ranges'), { dryRun: true });
      }
      await refused(
        withVars('addr-out', 'team-b', set('loadBalancer', { address: '198.51.100.10' }), 'ironplane-kvm-ranges'),
        'spec.topology.variables[loadBalancer].value.address: Invalid value:',
        'must be an address in a range the platform allows (192.0.2.0/24, 2001:db8::/64)',
      );
    });

    it('given an admitted Cluster changed to a GPU model outside the allowlist, should refuse the update and keep the Cluster as it was', async () => {
      const before = await client.get<KubeObject & { spec: { topology: { variables: Vars } } }>(Clusters, 'prod', 'team-a');
      const variables = set('gpu', { count: 1, model: 'amd.com/MI300X' })(before.spec.topology.variables);
      await expect(client.mergePatch(Clusters, 'prod', 'team-a', { spec: { topology: { variables } } })).rejects.toThrow('supported values: "nvidia.com/GA102GL_A10"');
      const after = await client.get<KubeObject & { spec: { topology: { variables: Vars } } }>(Clusters, 'prod', 'team-a');
      expect(after.metadata!.resourceVersion).toBe(before.metadata!.resourceVersion);
      expect(after.spec.topology.variables.find((v) => v.name === 'gpu')).toBeUndefined();
    });
  });
});
