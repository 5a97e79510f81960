// `ironplane extension` as a process, against the real apiserver, with its
// own RBAC (config/extension/rbac.yaml) and a serving certificate from the
// harness CA for 127.0.0.1, the way an ExtensionConfig with
// `url: https://127.0.0.1:<port>` reaches it: discovery and hooks over HTTPS,
// the hooks that read and write the cluster, oversized and malformed
// requests, certificate reload, metrics, and flags.
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { parseAllDocuments, parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts, issueCert, request, startControlPlane, type ControlPlane } from '../../harness/index.js';
import { renderKubeconfig } from '../../harness/kubeconfig.js';
import { Client } from '../../../providers/kit/client.js';
import { Namespaces, type KubeObject, type ResourceType } from '../../../providers/kit/types.js';
import { Clusters } from '../../../providers/capi/contract.js';
import { REPO, runTs, until, type Proc } from '../processes.js';

const API = 'hooks.runtime.cluster.x-k8s.io/v1alpha1';
const testdata = (name: string) => JSON.parse(fs.readFileSync(path.join(REPO, 'providers/topology/testdata', `${name}.json`), 'utf8')) as Record<string, unknown>;
const Tenants: ResourceType = { group: 'capsule.clastix.io', version: 'v1beta2', kind: 'Tenant', plural: 'tenants', namespaced: false };
const Services: ResourceType = { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true };
const ExtensionConfigs: ResourceType = { group: 'runtime.cluster.x-k8s.io', version: 'v1beta2', kind: 'ExtensionConfig', plural: 'extensionconfigs', namespaced: false };
const KamajiControlPlanes: ResourceType = { group: 'controlplane.cluster.x-k8s.io', version: 'v1alpha1', kind: 'KamajiControlPlane', plural: 'kamajicontrolplanes', namespaced: true };
const RBAC = {
  ClusterRole: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false },
  Role: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true },
  RoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
} as const;
/** The extension's own namespace, where config/extension/rbac.yaml grants it Leases. */
const EXTENSION_NS = 'ironplane-system';

let cp: ControlPlane;
let admin: Client;
let ext: Proc;
let port: number;
let metricsPort: number;
let certDir: string;

async function restrictedKubeconfig(): Promise<string> {
  const user = 'ironplane-extension';
  const docs = parseAllDocuments(fs.readFileSync(path.join(REPO, 'config/extension/rbac.yaml'), 'utf8')).map((d) => d.toJS() as KubeObject & { subjects?: unknown[] });
  for (const doc of docs) {
    // The manifest binds the in-cluster ServiceAccount; out of cluster the extension is a user with a client certificate.
    if (doc.kind === 'ClusterRoleBinding' || doc.kind === 'RoleBinding') doc.subjects = [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: user }];
    await admin.apply(RBAC[doc.kind as keyof typeof RBAC], doc, { force: true });
  }
  const cert = await issueCert({ ca: cp.ca, commonName: user, usages: 'client' });
  const file = path.join(cp.dir, 'extension.kubeconfig');
  fs.writeFileSync(file, renderKubeconfig({ server: cp.url, caPem: cp.ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem, name: 'management', user }), { mode: 0o600 });
  return file;
}

async function writeServingCert(commonName: string): Promise<void> {
  const serving = await issueCert({ ca: cp.ca, commonName, ipAddresses: ['127.0.0.1'], usages: 'server' });
  fs.writeFileSync(path.join(certDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
  fs.writeFileSync(path.join(certDir, 'tls.crt'), serving.certPem);
}

/** A POST over HTTPS that trusts only the harness CA, as CAPI's client does with the ExtensionConfig's caBundle. */
function post(urlPath: string, body: string | Buffer): Promise<{ status: number; json: Record<string, unknown>; peerCN: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: urlPath, method: 'POST', ca: cp.ca.certPem, agent: false, headers: { 'Content-Type': 'application/json' } }, (res) => {
      const peer = (res.socket as TLSSocket).getPeerCertificate();
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, peerCN: String(peer.subject?.CN), serial: peer.serialNumber }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const hook = (name: string, handler: string) => `/hooks.runtime.cluster.x-k8s.io/v1alpha1/${name}/${handler}?timeout=10s`;
const call = async (name: string, handler: string, body: unknown) => (await post(hook(name, handler), JSON.stringify(body))).json;

beforeAll(async () => {
  cp = await startControlPlane({
    name: 'topology',
    crds: [path.join(REPO, 'config/external/capi'), path.join(REPO, 'config/external/kamaji/provider'), path.join(REPO, 'config/crd/bases'), path.join(REPO, 'config/external/capsule/capsule.clastix.io_tenants.yaml')],
  });
  admin = new Client(cp.kubeConfig, { fieldManager: 'topology-test' });
  await admin.create(Namespaces, { metadata: { name: EXTENSION_NS } });
  const kubeconfig = await restrictedKubeconfig();
  certDir = path.join(cp.dir, 'extension-certs');
  fs.mkdirSync(certDir);
  await writeServingCert('ironplane-extension-1');
  const [p, m, h] = await freePorts(3);
  port = p!;
  metricsPort = m!;
  ext = runTs('providers/cli/main.ts', [
    'extension',
    '--kubeconfig', kubeconfig,
    '--cert-dir', certDir,
    '--host', '127.0.0.1',
    '--port', String(port),
    '--metrics-bind-address', `127.0.0.1:${metricsPort}`,
    '--health-probe-bind-address', `127.0.0.1:${h}`,
    '--reserved-cidrs', '172.16.0.0/12',
    '--upgrade-concurrency', '1',
    '--namespace', EXTENSION_NS,
    '--log-level', 'debug',
  ]);
  void ext.exited.then((code) => {
    if (code !== null && code !== 0) console.error(`extension exited ${code}:\n${ext.output()}`);
  });
  await until('the extension to be ready', async () => (await request(`http://127.0.0.1:${h}/readyz`, undefined)).status === 200, 60_000);
  for (const ns of ['team-a', 'team-b']) await admin.create(Namespaces, { metadata: { name: ns } });
}, 120_000);

afterAll(async () => {
  ext?.child.kill('SIGTERM');
  await ext?.exited;
  admin?.close();
  await cp?.stop();
});

describe('ironplane extension over HTTPS', () => {
  it('given a discovery request, should list the handlers, served with a certificate the harness CA signed for 127.0.0.1', async () => {
    const res = await post('/hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery', JSON.stringify({ apiVersion: API, kind: 'DiscoveryRequest' }));
    expect(res.status).toBe(200);
    expect(res.peerCN).toBe('ironplane-extension-1');
    expect(res.json['status']).toBe('Success');
    expect((res.json['handlers'] as { name: string }[]).map((h) => h.name)).toContain('generate-patches');
  });

  it('given GeneratePatches on its handler path, should answer with base64 JSON patches', async () => {
    const res = await call('generatepatches', 'generate-patches', testdata('generatepatches-kvm'));
    expect(res['status']).toBe('Success');
    const items = res['items'] as { uid: string; patchType: string; patch: string }[];
    expect(items).toHaveLength(6);
    expect(items[0]!.patchType).toBe('JSONPatch');
    expect(JSON.parse(Buffer.from(items[0]!.patch, 'base64').toString('utf8'))).toEqual([{ op: 'add', path: '/spec/template/spec/network/nodeCIDR', value: '10.20.0.0/24' }]);
  });

  it('given a body above 3 MiB, should answer 413 with a clear message', async () => {
    const res = await post(hook('generatepatches', 'generate-patches'), Buffer.alloc(3 * 1024 * 1024 + 1, ' '));
    expect(res.status).toBe(413);
    expect(res.json).toEqual({ apiVersion: API, kind: 'GeneratePatchesResponse', status: 'Failure', message: "request body is larger than the extension's limit of 3145728 bytes" });
  });

  it('given malformed JSON, should answer 200 with status Failure and say why', async () => {
    const res = await post(hook('validatetopology', 'validate-topology'), '{"kind": "ValidateTopologyRequest",');
    expect(res.status).toBe(200);
    expect(res.json['status']).toBe('Failure');
    expect(res.json['message']).toMatch(/^request body is not valid JSON: /);
  });

  it('given the shipped ExtensionConfig pointed at the loopback URL with the harness CA, should be accepted by the apiserver', async () => {
    const doc = parseDocument(fs.readFileSync(path.join(REPO, 'config/extension/extensionconfig.yaml'), 'utf8')).toJS() as KubeObject & { spec: { clientConfig: Record<string, unknown> } };
    doc.spec.clientConfig = { url: `https://127.0.0.1:${port}`, caBundle: Buffer.from(cp.ca.certPem).toString('base64') };
    const created = (await admin.create(ExtensionConfigs, doc)) as KubeObject & { spec: { clientConfig: { url?: string } } };
    expect(created.spec.clientConfig.url).toBe(`https://127.0.0.1:${port}`);
  });
});

/** The request CAPI sends for a Cluster: the object as the apiserver holds it, without status or managedFields. */
async function requestFor(kind: string, name: string, namespace: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const { status: _status, ...c } = await admin.get<KubeObject & { status?: unknown }>(Clusters, name, namespace);
  delete c.metadata!.managedFields;
  return { apiVersion: API, kind, cluster: c, ...extra };
}

describe('lifecycle hooks against the cluster', () => {
  const cluster = (name: string, namespace: string, extra: Record<string, unknown> = {}): KubeObject & { spec: Record<string, unknown> } => ({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name, namespace, ...extra },
    spec: structuredClone((testdata('beforeclustercreate')['cluster'] as { spec: Record<string, unknown> }).spec),
  });

  it('given a namespace outside any Capsule Tenant, then a Tenant without room, then with room, should block, block, then pass', async () => {
    const req = testdata('beforeclustercreate');
    const blocked = await call('beforeclustercreate', 'before-cluster-create', req);
    expect(blocked).toMatchObject({
      status: 'Success',
      retryAfterSeconds: 60,
      message: "namespace team-a belongs to no Capsule Tenant (it has no capsule.clastix.io/tenant label): create clusters in a tenant's namespace",
    });

    await admin.create(Tenants, {
      apiVersion: 'capsule.clastix.io/v1beta2',
      kind: 'Tenant',
      metadata: { name: 'acme' },
      spec: { owners: [{ kind: 'User', name: 'alice' }], resourceQuotas: { scope: 'Tenant', items: [{ hard: { 'requests.cpu': '40', 'requests.nvidia.com/GA102GL_A10': '4' } }] } },
    } as KubeObject);
    await admin.mergePatch(Namespaces, 'team-a', undefined, { metadata: { labels: { 'capsule.clastix.io/tenant': 'acme' } } });
    const short = await until('the extension to see the tenant', async () => {
      const r = await call('beforeclustercreate', 'before-cluster-create', req);
      return typeof r['message'] === 'string' && r['message'].includes('lacks quota') ? r : undefined;
    });
    expect(short).toMatchObject({ retryAfterSeconds: 60, message: 'Capsule Tenant acme lacks quota for this cluster: requests.cpu needs 44, 40 of 40 left' });

    await admin.mergePatch(Tenants, 'acme', undefined, { spec: { resourceQuotas: { items: [{ hard: { 'requests.cpu': '64', 'requests.nvidia.com/GA102GL_A10': '4' } }] } } });
    const ok = await until('the extension to see the larger quota', async () => {
      const r = await call('beforeclustercreate', 'before-cluster-create', req);
      return r['retryAfterSeconds'] === 0 ? r : undefined;
    });
    expect(ok).toEqual({ apiVersion: API, kind: 'BeforeClusterCreateResponse', status: 'Success', retryAfterSeconds: 0 });
  });

  it('given a tenant’s existing cluster, should count what it asks against the quota', async () => {
    // team-a is in acme (previous test); an existing cluster there takes 3 × 4 + 2 × 16 = 44 cores.
    await admin.create(Clusters, cluster('existing', 'team-a'));
    const r = await until('the extension to count the existing cluster', async () => {
      const res = await call('beforeclustercreate', 'before-cluster-create', testdata('beforeclustercreate'));
      return res['retryAfterSeconds'] !== 0 ? res : undefined;
    });
    expect(r['message']).toBe('Capsule Tenant acme lacks quota for this cluster: requests.cpu needs 44, 20 of 64 left, requests.nvidia.com/GA102GL_A10 needs 4, 0 of 4 left');
  });

  it('given AfterControlPlaneInitialized, should label the Cluster for its add-ons in the apiserver', async () => {
    await admin.create(Clusters, cluster('prod', 'team-a'));
    await admin.mergePatch(Clusters, 'prod', 'team-a', { status: { initialization: { controlPlaneInitialized: true } } }, { subresource: 'status' });
    const req = await requestFor('AfterControlPlaneInitializedRequest', 'prod', 'team-a');
    const res = await until('the extension to see the initialised control plane', async () => {
      const r = await call('aftercontrolplaneinitialized', 'after-control-plane-initialized', req);
      return r['status'] === 'Success' ? r : undefined;
    });
    expect(res).toEqual({ apiVersion: API, kind: 'AfterControlPlaneInitializedResponse', status: 'Success' });
    const labels = (await admin.get(Clusters, 'prod', 'team-a')).metadata?.labels ?? {};
    expect(labels).toMatchObject({ 'ironplane.dev/addon-set': 'full', 'addons.ironplane.dev/cni': 'true', 'addons.ironplane.dev/monitoring': 'true' });
  });

  it('given another Cluster of the class upgrading and a concurrency of 1, should hold the upgrade', async () => {
    await admin.create(Clusters, cluster('edge', 'team-b', { annotations: { 'runtime.cluster.x-k8s.io/pending-hooks': 'AfterClusterUpgrade' } }));
    // prod and other wait to go to v1.36.0: their control planes are still on v1.35.0.
    for (const name of ['prod', 'other']) {
      await admin.create(KamajiControlPlanes, { apiVersion: 'controlplane.cluster.x-k8s.io/v1alpha1', kind: 'KamajiControlPlane', metadata: { name: `${name}-cp`, namespace: 'team-a' }, spec: { version: 'v1.35.0' } } as KubeObject);
      const spec = { topology: { version: 'v1.36.0' }, controlPlaneRef: { apiGroup: 'controlplane.cluster.x-k8s.io', kind: 'KamajiControlPlane', name: `${name}-cp` } };
      if (name === 'other') await admin.create(Clusters, cluster('other', 'team-a'));
      await admin.mergePatch(Clusters, name, 'team-a', { spec });
    }
    const req = await requestFor('BeforeClusterUpgradeRequest', 'prod', 'team-a', { fromKubernetesVersion: 'v1.35.0', toKubernetesVersion: 'v1.36.0' });
    const res = await until('the extension to see the upgrading cluster', async () => {
      const r = await call('beforeclusterupgrade', 'before-cluster-upgrade', req);
      return r['retryAfterSeconds'] !== 0 ? r : undefined;
    });
    expect(res['message']).toBe('1 other Cluster of ClusterClass platform/ironplane-kvm is upgrading (team-b/edge) and at most 1 may upgrade at once: waiting for one to finish');
    await admin.delete(Clusters, 'edge', 'team-b');
    const go = await until('the upgrade to be let through', async () => {
      const r = await call('beforeclusterupgrade', 'before-cluster-upgrade', req);
      return r['retryAfterSeconds'] === 0 ? r : undefined;
    });
    expect(go['status']).toBe('Success');
    // prod was just let through: until CAPI's annotation shows on it, it holds the class's only slot.
    const other = await requestFor('BeforeClusterUpgradeRequest', 'other', 'team-a', { fromKubernetesVersion: 'v1.35.0', toKubernetesVersion: 'v1.36.0' });
    expect(await call('beforeclusterupgrade', 'before-cluster-upgrade', other)).toMatchObject({
      retryAfterSeconds: 60,
      message: '1 other Cluster of ClusterClass platform/ironplane-kvm is upgrading (team-a/prod) and at most 1 may upgrade at once: waiting for one to finish',
    });
  });

  it('given a tenant LoadBalancer Service and an orphaned KvmMachine, should hold the deletion until both are gone', async () => {
    const labels = { 'cluster.x-k8s.io/cluster-name': 'prod' };
    await admin.create(Services, { metadata: { name: 'prod-ingress', namespace: 'team-a', labels }, spec: { type: 'LoadBalancer', ports: [{ port: 443 }] } } as KubeObject);
    // The hosted control plane's own Service, named after the Cluster's KamajiControlPlane (prod-cp): Kamaji deletes it.
    await admin.create(Services, { metadata: { name: 'prod-cp', namespace: 'team-a', labels: { ...labels, 'kamaji.clastix.io/name': 'prod-cp' } }, spec: { type: 'LoadBalancer', ports: [{ port: 6443 }] } } as KubeObject);
    const KvmMachines: ResourceType = { group: 'infrastructure.ironplane.dev', version: 'v1alpha1', kind: 'KvmMachine', plural: 'kvmmachines', namespaced: true };
    await admin.create(KvmMachines, { apiVersion: 'infrastructure.ironplane.dev/v1alpha1', kind: 'KvmMachine', metadata: { name: 'prod-left', namespace: 'team-a', labels }, spec: { image: { containerDisk: { image: 'quay.io/kairos/ubuntu:24.04' } } } } as KubeObject);
    await admin.mergePatch(Clusters, 'prod', 'team-a', { metadata: { finalizers: ['topology-test.ironplane.dev/hold'] } });
    await admin.delete(Clusters, 'prod', 'team-a');
    const req = await requestFor('BeforeClusterDeleteRequest', 'prod', 'team-a');
    expect(await until('the extension to see the deletion', async () => {
      const r = await call('beforeclusterdelete', 'before-cluster-delete', req);
      return r['status'] === 'Success' ? r : undefined;
    })).toMatchObject({
      status: 'Success',
      retryAfterSeconds: 30,
      message:
        "hosts are still held by KvmMachine team-a/prod-left, which no Machine owns, so the cluster's teardown would not release them: delete them; " +
        'load-balancer addresses are still held by Service team-a/prod-ingress: delete these LoadBalancer Services, which Cluster API does not delete',
    });
    await admin.delete(Services, 'prod-ingress', 'team-a');
    await admin.delete(KvmMachines, 'prod-left', 'team-a');
    expect(await call('beforeclusterdelete', 'before-cluster-delete', req)).toMatchObject({ status: 'Success', retryAfterSeconds: 0 });
  });
});

describe('operations', () => {
  it('given a renewed certificate on disk, should serve it without a restart', async () => {
    const before = await post('/hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery', JSON.stringify({ apiVersion: API, kind: 'DiscoveryRequest' }));
    await writeServingCert('ironplane-extension-2');
    const after = await until('the renewed certificate to be served', async () => {
      const r = await post('/hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery', JSON.stringify({ apiVersion: API, kind: 'DiscoveryRequest' }));
      return r.peerCN === 'ironplane-extension-2' ? r : undefined;
    }, 15_000);
    expect(after.serial).not.toBe(before.serial);
    expect(after.json['status']).toBe('Success');
  });

  it('should serve per-hook metrics and the REST client’s', async () => {
    const text = (await request(`http://127.0.0.1:${metricsPort}/metrics`, undefined)).body;
    expect(text).toMatch(/ironplane_runtime_extension_requests_total\{hook="GeneratePatches",outcome="Success"\} \d+/);
    expect(text).toMatch(/ironplane_runtime_extension_requests_total\{hook="BeforeClusterCreate",outcome="Blocking"\} \d+/);
    expect(text).toContain('ironplane_runtime_extension_errors_total{hook="GeneratePatches",reason="too_large"} 1');
    expect(text).toContain('ironplane_runtime_extension_errors_total{hook="ValidateTopology",reason="malformed_json"} 1');
    expect(text).toContain('ironplane_runtime_extension_request_duration_seconds_bucket');
    expect(text).toMatch(/rest_client_requests_total\{[^}]*method="PATCH"[^}]*\} \d+/);
  });

  it('should log JSON lines naming each blocked hook and its message', () => {
    const blocked = ext.logs().filter((l) => l['msg'] === 'runtime hook blocking');
    expect(blocked.some((l) => l['hook'] === 'BeforeClusterDelete' && String(l['message']).startsWith('hosts are still held'))).toBe(true);
  });

  it('given a bad flag, should exit 2 naming it', async () => {
    const p = runTs('providers/cli/main.ts', ['extension', '--reserved-cidrs', '10.0.0.1/8']);
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain('error: --reserved-cidrs: "10.0.0.1/8" has host bits set: use 10.0.0.0/8');
    const q = runTs('providers/cli/main.ts', ['extension', '--upgrade-retry-seconds', '0']);
    expect(await q.exited).toBe(2);
    expect(q.output()).toContain('error: --upgrade-retry-seconds must be an integer from 1 to 3600, got "0"');
  });
});
