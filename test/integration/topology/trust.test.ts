// The runtime extension trusts the apiserver, not the caller (adr/0007), on
// the real apiserver: two `ironplane extension` instances in-process, each
// with exactly config/extension/rbac.yaml's permissions, sharing the
// upgrade-slot Lease. Requests are sent as any client on the network could
// send them: forged ones change nothing, real ones act on the Cluster as the
// apiserver holds it, two replicas never admit more upgrades than the limit,
// and a restarted extension still counts what was admitted.
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCert, startControlPlane, type ControlPlane } from '../../harness/index.js';
import { renderKubeconfig } from '../../harness/kubeconfig.js';
import { Clusters, type Cluster } from '../../../providers/capi/contract.js';
import { Client } from '../../../providers/kit/client.js';
import { createLogger } from '../../../providers/kit/log.js';
import { Leases, Namespaces, type KubeObject, type ResourceType } from '../../../providers/kit/types.js';
import { Extension } from '../../../providers/topology/extension.js';
import { ADMISSIONS_ANNOTATION, leaseName, type Admission } from '../../../providers/topology/upgradeslots.js';
import { REPO, until } from '../processes.js';

const API = 'hooks.runtime.cluster.x-k8s.io/v1alpha1';
const NS = 'ironplane-extension-system';
const CLASS = 'platform/ironplane-kvm';
const LIMIT = 2;
const KamajiControlPlanes: ResourceType = { group: 'controlplane.cluster.x-k8s.io', version: 'v1alpha1', kind: 'KamajiControlPlane', plural: 'kamajicontrolplanes', namespaced: true };
const RBAC: Record<string, ResourceType> = {
  ClusterRole: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false },
  Role: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true },
  RoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
};
const testdata = (name: string) => JSON.parse(fs.readFileSync(path.join(REPO, 'providers/topology/testdata', `${name}.json`), 'utf8')) as Record<string, unknown> & { cluster: Cluster };
const log = createLogger({ level: process.env['IRONPLANE_TEST_LOG'] ? 'debug' : 'error' });

let cp: ControlPlane;
let admin: Client;
let kubeconfig: string;
let certDir: string;
const running: Extension[] = [];

async function startExtension(): Promise<Extension> {
  const ext = await Extension.start({ host: '127.0.0.1', port: 0, certDir, kubeconfig, namespace: NS, probeAddress: '127.0.0.1:0', base: { reservedCIDRs: [], upgradeConcurrency: LIMIT }, log });
  running.push(ext);
  return ext;
}

async function stopExtension(ext: Extension): Promise<void> {
  running.splice(running.indexOf(ext), 1);
  await ext.stop();
}

/** A POST as any client on the network would send it. */
function post(ext: Extension, hook: string, handler: string, body: unknown): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: ext.port, path: `/${API}/${hook}/${handler}?timeout=10s`, method: 'POST', ca: cp.ca.certPem, agent: false, headers: { 'Content-Type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const upgrade = (ext: Extension, body: unknown) => post(ext, 'beforeclusterupgrade', 'before-cluster-upgrade', body);
const initialized = (ext: Extension, body: unknown) => post(ext, 'aftercontrolplaneinitialized', 'after-control-plane-initialized', body);
const deleting = (ext: Extension, body: unknown) => post(ext, 'beforeclusterdelete', 'before-cluster-delete', body);

/** A Cluster of ironplane-kvm on Kubernetes `version`, with its KamajiControlPlane on `cpVersion`. */
async function createCluster(namespace: string, name: string, version: string, cpVersion: string, extra: Record<string, unknown> = {}): Promise<Cluster> {
  await admin.create(KamajiControlPlanes, { apiVersion: 'controlplane.cluster.x-k8s.io/v1alpha1', kind: 'KamajiControlPlane', metadata: { name: `${name}-cp`, namespace }, spec: { version: cpVersion } } as KubeObject);
  const spec = structuredClone(testdata('beforeclusterupgrade').cluster.spec);
  spec.topology!.version = version;
  spec.controlPlaneRef = { apiGroup: 'controlplane.cluster.x-k8s.io', kind: 'KamajiControlPlane', name: `${name}-cp` };
  return admin.create<Cluster>(Clusters, { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', metadata: { name, namespace, annotations: { 'ironplane.dev/maintenance-window': 'open' }, ...extra }, spec } as Cluster);
}

/** The request CAPI sends for a Cluster: its object without status, and the hook's fields. */
function requestFor(kind: string, c: Cluster, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { status: _status, ...cluster } = structuredClone(c);
  delete cluster.metadata.managedFields;
  return { apiVersion: API, kind, cluster, ...extra };
}

async function lease(): Promise<KubeObject | undefined> {
  return admin.tryGet(Leases, leaseName(CLASS), NS);
}

const admitted = async (): Promise<string[]> =>
  (JSON.parse((await lease())?.metadata?.annotations?.[ADMISSIONS_ANNOTATION] ?? '[]') as Admission[]).map((a) => `${a.namespace}/${a.name}`).sort();

beforeAll(async () => {
  cp = await startControlPlane({
    name: 'topology-trust',
    crds: ['config/external/capi', 'config/external/kamaji/provider', 'config/crd/bases', 'config/external/capsule/capsule.clastix.io_tenants.yaml'].map((p) => path.join(REPO, p)),
  });
  admin = new Client(cp.kubeConfig, { fieldManager: 'trust-test' });
  for (const ns of [NS, 'team-a', 'team-b', 'platform']) await admin.create(Namespaces, { metadata: { name: ns } });
  // The shipped RBAC, bound to a user with a client certificate (out of cluster), in the extension's namespace.
  const user = 'ironplane-extension';
  for (const d of parseAllDocuments(fs.readFileSync(path.join(REPO, 'config/extension/rbac.yaml'), 'utf8'))) {
    const doc = d.toJS() as KubeObject & { subjects?: unknown[] };
    if (doc.kind!.endsWith('Binding')) doc.subjects = [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: user }];
    if (doc.metadata?.namespace) doc.metadata.namespace = NS;
    await admin.apply(RBAC[doc.kind!]!, doc, { force: true });
  }
  const cert = await issueCert({ ca: cp.ca, commonName: user, usages: 'client' });
  kubeconfig = path.join(cp.dir, 'extension.kubeconfig');
  fs.writeFileSync(kubeconfig, renderKubeconfig({ server: cp.url, caPem: cp.ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem, name: 'management', user }), { mode: 0o600 });
  certDir = path.join(cp.dir, 'extension-certs');
  fs.mkdirSync(certDir);
  const serving = await issueCert({ ca: cp.ca, commonName: 'ironplane-extension', ipAddresses: ['127.0.0.1'], usages: 'server' });
  fs.writeFileSync(path.join(certDir, 'tls.crt'), serving.certPem);
  fs.writeFileSync(path.join(certDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
}, 120_000);

afterAll(async () => {
  for (const ext of [...running]) await stopExtension(ext);
  admin?.close();
  await cp?.stop();
});

const caches = (ext: Extension) => until('the extension to read the Clusters', async () => (await fetch(`http://127.0.0.1:${ext.portOf('probes') ?? 0}/readyz`).catch(() => undefined))?.ok || undefined, 60_000);

describe('AfterControlPlaneInitialized', () => {
  let ext: Extension;
  beforeAll(async () => {
    ext = await startExtension();
  });

  it('given a forged request for a Cluster whose control plane is not initialised, should change no label', async () => {
    const c = await createCluster('team-a', 'acpi', 'v1.35.0', 'v1.35.0', { labels: { environment: 'prod' } });
    const res = await initialized(ext, requestFor('AfterControlPlaneInitializedRequest', c));
    expect(res).toEqual({
      apiVersion: API,
      kind: 'AfterControlPlaneInitializedResponse',
      status: 'Failure',
      message: 'the control plane of Cluster team-a/acpi is not initialized (status.initialization.controlPlaneInitialized is not true): no add-on labels were written',
    });
    const now = await admin.get<Cluster>(Clusters, 'acpi', 'team-a');
    expect(now.metadata.labels).toEqual({ environment: 'prod' });
    expect(now.metadata.resourceVersion).toBe(c.metadata.resourceVersion);
  });

  it('given a forged request with another uid, should change nothing even when the control plane is initialised', async () => {
    const c = await admin.mergePatch<Cluster>(Clusters, 'acpi', 'team-a', { status: { initialization: { controlPlaneInitialized: true } } }, { subresource: 'status' });
    const forged = requestFor('AfterControlPlaneInitializedRequest', c);
    (forged['cluster'] as Cluster).metadata.uid = '00000000-0000-0000-0000-000000000000';
    expect((await initialized(ext, forged))['message']).toBe(
      'Cluster team-a/acpi with uid 00000000-0000-0000-0000-000000000000 is not a Cluster the apiserver holds: the request does not describe a real Cluster, so nothing was done',
    );
    expect((await admin.get<Cluster>(Clusters, 'acpi', 'team-a')).metadata.resourceVersion).toBe(c.metadata.resourceVersion);
  });

  it('given the real request once the control plane is initialised, should label from the Cluster, whatever the request says', async () => {
    const c = await admin.get<Cluster>(Clusters, 'acpi', 'team-a');
    const req = requestFor('AfterControlPlaneInitializedRequest', c);
    (req['cluster'] as Cluster).spec.topology!.variables = [{ name: 'addons', value: 'none' }];
    const res = await until('the extension to see the initialised control plane', async () => {
      const r = await initialized(ext, req);
      return r['status'] === 'Success' ? r : undefined;
    });
    expect(res).toEqual({ apiVersion: API, kind: 'AfterControlPlaneInitializedResponse', status: 'Success' });
    const labels = (await admin.get<Cluster>(Clusters, 'acpi', 'team-a')).metadata.labels ?? {};
    // The Cluster's own variables (the recorded request's) ask for the full set.
    expect(labels).toMatchObject({ environment: 'prod', 'ironplane.dev/addon-set': 'full', 'addons.ironplane.dev/cni': 'true', 'addons.ironplane.dev/policies': 'true' });
  });
});

describe('BeforeClusterDelete', () => {
  it('given a Cluster not being deleted, should list nothing; being deleted, should report what it holds', async () => {
    const ext = running[0] ?? (await startExtension());
    const c = await createCluster('team-b', 'del', 'v1.35.0', 'v1.35.0', { finalizers: ['trust-test.ironplane.dev/hold'] });
    await admin.create({ group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true }, {
      metadata: { name: 'del-ingress', namespace: 'team-b', labels: { 'cluster.x-k8s.io/cluster-name': 'del' } },
      spec: { type: 'LoadBalancer', ports: [{ port: 443 }] },
    } as KubeObject);
    const notDeleting = await deleting(ext, requestFor('BeforeClusterDeleteRequest', c));
    expect(notDeleting).toEqual({ apiVersion: API, kind: 'BeforeClusterDeleteResponse', status: 'Failure', message: 'Cluster team-b/del is not being deleted (it has no deletionTimestamp): nothing is reported', retryAfterSeconds: 0 });
    // A forged deletionTimestamp in the request changes nothing.
    const forged = requestFor('BeforeClusterDeleteRequest', c);
    (forged['cluster'] as Cluster).metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    expect((await deleting(ext, forged))['message']).toBe('Cluster team-b/del is not being deleted (it has no deletionTimestamp): nothing is reported');

    await admin.delete(Clusters, 'del', 'team-b');
    const res = await until('the extension to see the deletion', async () => {
      const r = await deleting(ext, requestFor('BeforeClusterDeleteRequest', c));
      return r['status'] === 'Success' ? r : undefined;
    });
    expect(res).toMatchObject({ retryAfterSeconds: 30, message: expect.stringContaining('Service team-b/del-ingress') as unknown });
    await admin.mergePatch(Clusters, 'del', 'team-b', { metadata: { finalizers: null } });
  });
});

describe('BeforeClusterUpgrade and the upgrade slots in the apiserver', () => {
  const clusters: Cluster[] = [];
  let a: Extension;
  let b: Extension;

  beforeAll(async () => {
    for (const ext of [...running]) await stopExtension(ext);
    // Five Clusters of the class waiting to go from v1.35.0 to v1.35.1, and one already there.
    for (const [i, ns] of ['team-a', 'team-a', 'team-b', 'team-b', 'team-b'].entries()) clusters.push(await createCluster(ns, `up-${i}`, 'v1.35.1', 'v1.35.0'));
    clusters.push(await createCluster('team-a', 'current', 'v1.35.1', 'v1.35.1'));
    [a, b] = [await startExtension(), await startExtension()];
    await Promise.all([caches(a), caches(b)]);
  });

  it('given forged requests for a Cluster with no upgrade pending, should take no slot and leave the Lease as it was', async () => {
    const current = clusters[5]!;
    const req = requestFor('BeforeClusterUpgradeRequest', current, { fromKubernetesVersion: 'v1.35.0', toKubernetesVersion: 'v1.35.1' });
    for (let i = 0; i < 5; i++) {
      expect(await upgrade(i % 2 ? a : b, req)).toEqual({
        apiVersion: API,
        kind: 'BeforeClusterUpgradeResponse',
        status: 'Failure',
        message: 'no upgrade of Cluster team-a/current to v1.35.1 is pending: its control plane KamajiControlPlane team-a/current-cp already has version v1.35.1: no upgrade slot was taken',
        retryAfterSeconds: 0,
      });
    }
    const other = requestFor('BeforeClusterUpgradeRequest', clusters[0]!, { fromKubernetesVersion: 'v1.35.1', toKubernetesVersion: 'v1.36.0' });
    expect((await upgrade(a, other))['message']).toBe('no upgrade of Cluster team-a/up-0 to v1.36.0 is pending: its spec.topology.version is v1.35.1: no upgrade slot was taken');
    const forgedUid = requestFor('BeforeClusterUpgradeRequest', clusters[0]!, { fromKubernetesVersion: 'v1.35.0', toKubernetesVersion: 'v1.35.1' });
    (forgedUid['cluster'] as Cluster).metadata.uid = 'forged';
    expect((await upgrade(b, forgedUid))['message']).toBe(
      'Cluster team-a/up-0 with uid forged is not a Cluster the apiserver holds: the request does not describe a real Cluster, so nothing was done: no upgrade slot was taken',
    );
    expect(await lease()).toBeUndefined();
  });

  it('given two replicas asked at once for every waiting Cluster, should admit no more than the limit, recorded in the Lease', async () => {
    const waiting = clusters.slice(0, 5);
    const answers = await Promise.all(waiting.map((c, i) => upgrade(i % 2 ? a : b, requestFor('BeforeClusterUpgradeRequest', c, { fromKubernetesVersion: 'v1.35.0', toKubernetesVersion: 'v1.35.1' }))));
    const through = waiting.filter((_, i) => answers[i]!['status'] === 'Success' && answers[i]!['retryAfterSeconds'] === 0).map((c) => `${c.metadata.namespace}/${c.metadata.name}`).sort();
    expect(through).toHaveLength(LIMIT);
    for (const [i, r] of answers.entries()) {
      if (through.includes(`${waiting[i]!.metadata.namespace}/${waiting[i]!.metadata.name}`)) continue;
      expect(r).toMatchObject({ status: 'Success', retryAfterSeconds: 60, message: `2 other Clusters of ClusterClass ${CLASS} are upgrading (${through.join(', ')}) and at most 2 may upgrade at once: waiting for one to finish` });
    }
    expect(await admitted()).toEqual(through);
    const l = await lease();
    expect(l?.metadata?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'ironplane-extension' });
    expect(l?.metadata?.annotations?.['ironplane.dev/cluster-class']).toBe(CLASS);
  });

  it('given both replicas restarted, should still count the admitted Clusters', async () => {
    const before = await admitted();
    await stopExtension(a);
    await stopExtension(b);
    const fresh = await startExtension();
    await caches(fresh);
    const waiting = clusters.slice(0, 5).find((c) => !before.includes(`${c.metadata.namespace}/${c.metadata.name}`))!;
    expect(await upgrade(fresh, requestFor('BeforeClusterUpgradeRequest', waiting, { fromKubernetesVersion: 'v1.35.0', toKubernetesVersion: 'v1.35.1' }))).toMatchObject({
      status: 'Success',
      retryAfterSeconds: 60,
      message: `2 other Clusters of ClusterClass ${CLASS} are upgrading (${before.join(', ')}) and at most 2 may upgrade at once: waiting for one to finish`,
    });
    expect(await admitted()).toEqual(before);
  });

  it('given CAPI’s mark set and then removed on an admitted Cluster, should free its slot', async () => {
    const ext = running[0]!;
    const [first] = await admitted();
    const [ns, name] = first!.split('/') as [string, string];
    const taken = await admitted();
    const waiting = clusters.slice(0, 5).find((c) => !taken.includes(`${c.metadata.namespace}/${c.metadata.name}`))!;
    const ask = () => upgrade(ext, requestFor('BeforeClusterUpgradeRequest', waiting, { fromKubernetesVersion: 'v1.35.0', toKubernetesVersion: 'v1.35.1' }));
    await admin.mergePatch(Clusters, name, ns, { metadata: { annotations: { 'runtime.cluster.x-k8s.io/pending-hooks': 'AfterClusterUpgrade' } } });
    // The mark is seen (and recorded) while the Cluster still upgrades: still held.
    await until('the mark to be recorded in the Lease', async () => {
      const r = await ask();
      expect(r['retryAfterSeconds']).toBe(60);
      const l = JSON.parse((await lease())?.metadata?.annotations?.[ADMISSIONS_ANNOTATION] ?? '[]') as Admission[];
      return l.find((x) => x.name === name)?.markSeen === true || undefined;
    });
    // CAPI removes the mark when the upgrade has finished: the slot is free at once, not after the TTL.
    await admin.mergePatch(Clusters, name, ns, { metadata: { annotations: { 'runtime.cluster.x-k8s.io/pending-hooks': null } } });
    const res = await ask();
    expect(res).toMatchObject({ status: 'Success', retryAfterSeconds: 0 });
    expect(await admitted()).not.toContain(first);
    expect(await admitted()).toContain(`${waiting.metadata.namespace}/${waiting.metadata.name}`);
  });
});
