// The real Sveltos addon-controller out of cluster, delivering our add-on
// ClusterProfile (templates/addons/cni.yaml) into Kamaji-style tenant
// clusters: each tenant is a real kube-apiserver reached through the CAPI
// Cluster's `<cluster>-kubeconfig` Secret, as Kamaji's provider publishes it.
// Sveltos only reads Clusters, so no CAPI manager runs: the test writes what
// CAPI and the runtime extension would, the control plane's initialization
// (status subresource) and the add-on labels. Before each deployment Sveltos
// also reads the objects a Cluster's infrastructureRef and controlPlaneRef
// name (its template context), through the CRDs' contract labels, so each
// Cluster has its KvmCluster and KamajiControlPlane.
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clusters } from '../../providers/capi/contract.js';
import { Client } from '../../providers/kit/client.js';
import { ConfigMaps, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import {
  publishTenantSecrets,
  startControlPlane,
  startSveltos,
  startTenantApiServer,
  type ControlPlane,
  type SveltosProcess,
  type TenantPlane,
} from '../harness/index.js';
import { REPO, until } from './processes.js';
import { ensureNamespace } from './roles.js';

const NS = 'tenants';
const PROFILE = 'ironplane-cni';
const CNI_LABEL = 'addons.ironplane.dev/cni';

const ClusterProfiles: ResourceType = { group: 'config.projectsveltos.io', version: 'v1beta1', kind: 'ClusterProfile', plural: 'clusterprofiles', namespaced: false };
const ClusterSummaries: ResourceType = { group: 'config.projectsveltos.io', version: 'v1beta1', kind: 'ClusterSummary', plural: 'clustersummaries', namespaced: true };
const DaemonSets: ResourceType = { group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', namespaced: true };
const ServiceAccounts: ResourceType = { group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true };
const ClusterRoles: ResourceType = { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false };
const ClusterRoleBindings: ResourceType = { ...ClusterRoles, kind: 'ClusterRoleBinding', plural: 'clusterrolebindings' };
const KvmClusters: ResourceType = { group: 'infrastructure.ironplane.dev', version: 'v1alpha1', kind: 'KvmCluster', plural: 'kvmclusters', namespaced: true };
const KamajiControlPlanes: ResourceType = { group: 'controlplane.cluster.x-k8s.io', version: 'v1alpha1', kind: 'KamajiControlPlane', plural: 'kamajicontrolplanes', namespaced: true };

/** The objects the CNI profile's ConfigMap holds, as (type, namespace, name). */
const CNI_OBJECTS: [ResourceType, string | undefined, string][] = [
  [ServiceAccounts, 'kube-system', 'kube-router'],
  [ClusterRoles, undefined, 'kube-router'],
  [ClusterRoleBindings, undefined, 'kube-router'],
  [ConfigMaps, 'kube-system', 'kube-router-cfg'],
  [DaemonSets, 'kube-system', 'kube-router'],
];

interface ObjectRef {
  kind?: string;
  namespace?: string;
  name?: string;
}

interface ClusterProfile extends KubeObject {
  status?: { matchingClusters?: ObjectRef[] };
}

interface ClusterSummary extends KubeObject {
  spec?: { clusterName?: string; clusterNamespace?: string; clusterType?: string };
  status?: {
    featureSummaries?: { featureID: string; status?: string; failureMessage?: string }[];
    deployedGVKs?: { featureID: string; deployedGroupVersionKind?: string[] }[];
    failureMessage?: string;
  };
}

let cp: ControlPlane;
let client: Client;
let sveltos: SveltosProcess;
let labelled: TenantPlane;
let unlabelled: TenantPlane;
const tenantClients: Client[] = [];

/** The documents of a file under templates/addons. */
function addonDocs(file: string): KubeObject[] {
  return parseAllDocuments(fs.readFileSync(path.join(REPO, 'templates/addons', file), 'utf8'))
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

function tenantClient(t: TenantPlane): Client {
  const c = new Client(t.kubeConfig, { fieldManager: 'sveltos-test', timeoutMs: 10_000 });
  tenantClients.push(c);
  return c;
}

/**
 * A CAPI Cluster for tenant `t` as Sveltos sees one whose Kamaji control
 * plane is up: the endpoint, the control plane initialized (both the v1beta2
 * initialization field and condition CAPI sets), and the kubeconfig Secret.
 */
async function createTenantCluster(name: string, t: TenantPlane, labels: Record<string, string>): Promise<void> {
  await client.create(KvmClusters, { metadata: { name, namespace: NS }, spec: { network: { nodeCIDR: '10.10.0.0/24' } } } as KubeObject);
  await client.create(KamajiControlPlanes, { metadata: { name, namespace: NS }, spec: { version: 'v1.35.0', dataStoreName: 'default' } } as KubeObject);
  await client.create(Clusters, {
    metadata: { name, namespace: NS, labels },
    spec: {
      controlPlaneEndpoint: t.endpoint,
      controlPlaneRef: { apiGroup: 'controlplane.cluster.x-k8s.io', kind: 'KamajiControlPlane', name },
      infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: 'KvmCluster', name },
    },
  } as KubeObject);
  await client.patchStatus(Clusters, name, NS, {
    initialization: { infrastructureProvisioned: true, controlPlaneInitialized: true },
    conditions: [{ type: 'ControlPlaneInitialized', status: 'True', reason: 'Initialized', message: '', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }],
  });
  await publishTenantSecrets(client, { namespace: NS, cluster: name, tenant: t });
}

/** Every CNI object in the tenant, or undefined while one is missing. */
async function cniObjects(c: Client): Promise<KubeObject[] | undefined> {
  const got = await Promise.all(CNI_OBJECTS.map(([rt, ns, name]) => c.tryGet(rt, name, ns)));
  return got.every((o) => o !== undefined) ? got : undefined;
}

beforeAll(async () => {
  cp = await startControlPlane({
    name: 'sveltos',
    crds: [
      path.join(REPO, 'config/external/capi'),
      path.join(REPO, 'config/external/sveltos/addon-controller'),
      path.join(REPO, 'config/external/sveltos/libsveltos'),
      // Only the kinds the Clusters refer to: fewer CRDs, a faster start.
      path.join(REPO, 'config/external/kamaji/provider/controlplane.cluster.x-k8s.io_kamajicontrolplanes.yaml'),
      path.join(REPO, 'config/crd/bases/infrastructure.ironplane.dev_kvmclusters.yaml'),
    ],
  });
  client = new Client(cp.kubeConfig, { fieldManager: 'sveltos-test', timeoutMs: 30_000 });
  await ensureNamespace(client, NS);
  [labelled, unlabelled] = await Promise.all([startTenantApiServer(cp, { name: 'addons-labelled' }), startTenantApiServer(cp, { name: 'addons-unlabelled' })]);
  sveltos = await startSveltos(cp);
  // The namespace holding the manifests, then the CNI's ConfigMap and ClusterProfile.
  for (const doc of [...addonDocs('00-namespace.yaml'), ...addonDocs('cni.yaml')]) {
    const rt = doc.kind === 'Namespace' ? undefined : doc.kind === 'ConfigMap' ? ConfigMaps : ClusterProfiles;
    if (rt) await client.create(rt, doc);
    else await ensureNamespace(client, doc.metadata!.name!);
  }
  await createTenantCluster('labelled', labelled, { [CNI_LABEL]: 'true', 'ironplane.dev/addon-set': 'minimal' });
  await createTenantCluster('unlabelled', unlabelled, { 'ironplane.dev/addon-set': 'none' });
}, 180_000);

afterAll(async () => {
  for (const c of tenantClients) c.close();
  client?.close();
  // Stops Sveltos and the tenants first, then the plane.
  await cp?.stop();
});

describe('the Sveltos addon-controller out of cluster', () => {
  it('given the plane, should run its controllers and report healthy', async () => {
    expect((await fetch(`${sveltos.healthUrl}/healthz`)).status).toBe(200);
    expect(sveltos.exitReason).toBeUndefined();
    expect(sveltos.version).toMatch(/^v\d+\.\d+\.\d+$/);
  });

  it('given a ready Cluster labelled for the CNI, should deliver the CNI manifests into its tenant apiserver', async () => {
    const tc = tenantClient(labelled);
    const objects = await until('the CNI objects in the labelled tenant', () => cniObjects(tc), 90_000).catch((err: Error) => {
      throw new Error(`${err.message}\n--- ${sveltos.logPath} ---\n${sveltos.logTail(30)}`);
    });
    const ds = objects[4] as KubeObject & { spec: { template: { spec: { hostNetwork?: boolean; containers: { image: string }[] } } } };
    expect(ds.spec.template.spec.hostNetwork).toBe(true);
    expect(ds.spec.template.spec.containers[0]?.image).toMatch(/kube-router:v2\.11\.1$/);
    // Sveltos marks what it deployed with the ConfigMap it came from.
    for (const o of objects) {
      expect(o.metadata?.annotations).toMatchObject({ 'projectsveltos.io/reference-kind': 'ConfigMap', 'projectsveltos.io/reference-name': 'ironplane-cni', 'projectsveltos.io/reference-namespace': 'ironplane-addons' });
    }
  });

  it('given the delivery, should report it in the ClusterSummary and the ClusterProfile status', async () => {
    const summary = await until(
      'the ClusterSummary to report the resources provisioned',
      async () => {
        const s = await client.tryGet<ClusterSummary>(ClusterSummaries, `${PROFILE}-capi-labelled`, NS);
        return s?.status?.featureSummaries?.some((f) => f.featureID === 'Resources' && f.status === 'Provisioned') ? s : undefined;
      },
      60_000,
    );
    expect(summary.spec).toMatchObject({ clusterName: 'labelled', clusterNamespace: NS, clusterType: 'Capi' });
    expect(summary.status?.failureMessage).toBeUndefined();
    const gvks = summary.status?.deployedGVKs?.find((d) => d.featureID === 'Resources')?.deployedGroupVersionKind ?? [];
    expect(gvks).toEqual(expect.arrayContaining(['DaemonSet.v1.apps', 'ServiceAccount.v1.', 'ClusterRole.v1.rbac.authorization.k8s.io']));

    const profile = await client.get<ClusterProfile>(ClusterProfiles, PROFILE);
    expect(profile.status?.matchingClusters).toEqual([expect.objectContaining({ kind: 'Cluster', namespace: NS, name: 'labelled' })]);
  });

  it('given a ready Cluster without the label, should deliver nothing to it', async () => {
    // Both Clusters existed before the profile was reconciled for the labelled one.
    const s = await client.tryGet<ClusterSummary>(ClusterSummaries, `${PROFILE}-capi-unlabelled`, NS);
    expect(s).toBeUndefined();
    const tc = tenantClient(unlabelled);
    for (const [rt, ns, name] of CNI_OBJECTS) expect(await tc.tryGet(rt, name, ns), `${rt.kind} ${name}`).toBeUndefined();
  });

  it('given the label added to that Cluster, should deliver the CNI to it too', async () => {
    // The negative above is down to the label alone: the same Cluster gets the add-on once labelled.
    await client.mergePatch(Clusters, 'unlabelled', NS, { metadata: { labels: { [CNI_LABEL]: 'true' } } });
    const tc = tenantClient(unlabelled);
    await until('the CNI objects in the newly labelled tenant', () => cniObjects(tc), 90_000);
    const profile = await until('the ClusterProfile to match both Clusters', async () => {
      const p = await client.get<ClusterProfile>(ClusterProfiles, PROFILE);
      return (p.status?.matchingClusters?.length ?? 0) === 2 ? p : undefined;
    });
    expect(profile.status?.matchingClusters?.map((r) => r.name).sort()).toEqual(['labelled', 'unlabelled']);
  });

  it('given stop(), should leave no process behind', async () => {
    const pid = sveltos.pid;
    await sveltos.stop();
    expect(sveltos.exitReason).toBeDefined();
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
