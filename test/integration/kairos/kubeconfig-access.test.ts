// The tenants' kubeconfig grants the Kairos manager makes (providers/kairos/
// kubeconfigaccess.ts), on the real apiserver with the real RBAC authorizer
// and garbage collector: the manager runs with exactly config/rbac/kairos,
// so the apiserver's escalation check decides whether it may create the
// Role and bind it; a tenant's user is a client certificate in the group
// that a Capsule-style RoleBinding binds to ironplane-tenant.
import fs from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clusters } from '../../../providers/capi/contract.js';
import { ApiError, Client } from '../../../providers/kit/client.js';
import { Events, Secrets, type KubeObject, type ResourceType } from '../../../providers/kit/types.js';
import { AccessReasons, RoleBindings, Roles, type Role, type RoleBinding } from '../../../providers/kairos/kubeconfigaccess.js';
import { issueCert } from '../../harness/index.js';
import { renderKubeconfig } from '../../harness/kubeconfig.js';
import { REPO, until } from '../processes.js';
import { ensureNamespace, startWorld, type World } from './world.js';

const NS = 'team-k';
const RBAC = 'rbac.authorization.k8s.io';
const ClusterRoles: ResourceType = { group: RBAC, version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false };
let w: World;
const users: Client[] = [];

beforeAll(async () => {
  w = await startWorld('kairos-kubeconfig-access', { controllerManager: true });
  await ensureNamespace(w.client, NS);
  // The tenant ClusterRole as shipped, so the user holds exactly a tenant's rights.
  const role = parseAllDocuments(fs.readFileSync(path.join(REPO, 'config/tenant/role.yaml'), 'utf8')).map((d) => d.toJS() as KubeObject).find((d) => d.metadata?.name === 'ironplane-tenant')!;
  await w.client.apply(ClusterRoles, role, { force: true });
  await tenantBinding('capsule-acme-0-ironplane-tenant', 'acme-admins');
  w.startManager();
  await w.webhooksUp();
}, 180_000);

afterAll(async () => {
  if (w && process.env['IRONPLANE_TEST_LOG']) console.log(w.output());
  for (const u of users) u.close();
  await w?.stop();
});

/** A RoleBinding as Capsule makes one per Tenant owner: the ClusterRole ironplane-tenant to a group. */
function tenantBinding(name: string, group: string) {
  return w.client.create<RoleBinding>(RoleBindings, {
    metadata: { name, namespace: NS },
    roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'ironplane-tenant' },
    subjects: [{ kind: 'Group', apiGroup: RBAC, name: group }],
  });
}

async function user(name: string, group: string): Promise<Client> {
  const cert = await issueCert({ ca: w.cp.ca, commonName: name, organizations: [group], usages: 'client' });
  const kc = new KubeConfig();
  kc.loadFromString(renderKubeconfig({ server: w.cp.url, caPem: w.cp.ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem, name: 'management', user: name }));
  const c = new Client(kc, { fieldManager: 'kairos-test' });
  users.push(c);
  return c;
}

async function cluster(name: string): Promise<KubeObject> {
  const c = await w.client.create<KubeObject & { spec: unknown }>(Clusters, { metadata: { name, namespace: NS }, spec: { clusterNetwork: { pods: { cidrBlocks: ['10.244.0.0/16'] } } } });
  // What Kamaji's provider publishes beside the Cluster; the values do not matter here.
  for (const suffix of ['kubeconfig', 'ca']) {
    await w.client.create(Secrets, { metadata: { name: `${name}-${suffix}`, namespace: NS }, type: 'cluster.x-k8s.io/secret', stringData: { value: `${suffix} of ${name}` } });
  }
  return c;
}

const statusOf = async (p: Promise<unknown>): Promise<number> => {
  try {
    await p;
    return 200;
  } catch (e) {
    if (e instanceof ApiError) return e.code;
    throw e;
  }
};

const bindingSubjects = (name: string) =>
  until(`RoleBinding ${name}`, async () => (await w.client.tryGet<RoleBinding>(RoleBindings, name, NS))?.subjects, 60_000);

describe('kubeconfig access', () => {
  it('given a Cluster in a tenant namespace, should grant its owners get on <cluster>-kubeconfig and nothing else', async () => {
    const c = await cluster('prod');
    const subjects = await bindingSubjects('ironplane-kubeconfig-prod');
    expect(subjects).toEqual([{ kind: 'Group', apiGroup: RBAC, name: 'acme-admins' }]);
    const role = await w.client.get<Role>(Roles, 'ironplane-kubeconfig-prod', NS);
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['prod-kubeconfig'], verbs: ['get'] }]);
    for (const o of [role, await w.client.get<RoleBinding>(RoleBindings, 'ironplane-kubeconfig-prod', NS)]) {
      expect(o.metadata?.labels).toMatchObject({ 'cluster.x-k8s.io/cluster-name': 'prod', 'app.kubernetes.io/managed-by': 'ironplane-kairos' });
      expect(o.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'Cluster', name: 'prod', uid: c.metadata!.uid, controller: true })]);
    }

    const alice = await user('alice', 'acme-admins');
    const secret = await until('alice to read prod-kubeconfig', async () => (await statusOf(alice.get(Secrets, 'prod-kubeconfig', NS))) === 200 || undefined, 60_000);
    expect(secret).toBe(true);
    expect(await statusOf(alice.get(Secrets, 'prod-ca', NS))).toBe(403);
    expect(await statusOf(alice.list(Secrets, { namespace: NS }))).toBe(403);
    // Not a member of any owner group: nothing.
    const mallory = await user('mallory', 'other-tenant');
    expect(await statusOf(mallory.get(Secrets, 'prod-kubeconfig', NS))).toBe(403);
  });

  it('given another owner bound to ironplane-tenant, should add it to the subjects; when it goes, should drop it', async () => {
    await bindingSubjects('ironplane-kubeconfig-prod');
    await tenantBinding('capsule-acme-1-ironplane-tenant', 'acme-ops');
    await until('acme-ops in the subjects', async () => {
      const s = (await w.client.get<RoleBinding>(RoleBindings, 'ironplane-kubeconfig-prod', NS)).subjects ?? [];
      return s.length === 2 ? s : undefined;
    }, 60_000);
    expect((await w.client.get<RoleBinding>(RoleBindings, 'ironplane-kubeconfig-prod', NS)).subjects).toEqual([
      { kind: 'Group', apiGroup: RBAC, name: 'acme-admins' },
      { kind: 'Group', apiGroup: RBAC, name: 'acme-ops' },
    ]);
    const bob = await user('bob', 'acme-ops');
    expect(await until('bob to read prod-kubeconfig', async () => (await statusOf(bob.get(Secrets, 'prod-kubeconfig', NS))) === 200 || undefined, 60_000)).toBe(true);

    await w.client.delete(RoleBindings, 'capsule-acme-1-ironplane-tenant', NS);
    await until('acme-ops out of the subjects', async () => {
      const s = (await w.client.get<RoleBinding>(RoleBindings, 'ironplane-kubeconfig-prod', NS)).subjects ?? [];
      return s.length === 1 ? s : undefined;
    }, 60_000);
    expect(await until('bob refused again', async () => (await statusOf(bob.get(Secrets, 'prod-kubeconfig', NS))) === 403 || undefined, 60_000)).toBe(true);
  });

  it('given a Role of the grant name it did not make, should leave it unchanged, bind nothing and say so in a Warning event on the Cluster', async () => {
    const foreign = await w.client.create<Role>(Roles, {
      metadata: { name: 'ironplane-kubeconfig-taken', namespace: NS },
      rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['taken-ca'], verbs: ['get'] }],
    });
    const c = await cluster('taken');
    const event = await until('the KubeconfigAccessNotOwned event', async () => {
      const list = await w.client.list<KubeObject & { reason?: string; type?: string; note?: string; regarding?: { uid?: string } }>(Events, { namespace: NS });
      return list.items.find((e) => e.reason === AccessReasons.KubeconfigAccessNotOwned && e.regarding?.uid === c.metadata!.uid);
    }, 60_000);
    expect(event.type).toBe('Warning');
    expect(event.note).toBe(
      'Role team-k/ironplane-kubeconfig-taken does not belong to this Cluster: it has no controller ownerReference; it is left unchanged and the kubeconfig is not granted by this controller',
    );
    const after = await w.client.get<Role>(Roles, 'ironplane-kubeconfig-taken', NS);
    expect(after.metadata?.resourceVersion).toBe(foreign.metadata?.resourceVersion);
    expect(after.rules).toEqual(foreign.rules);
    expect(await w.client.tryGet(RoleBindings, 'ironplane-kubeconfig-taken', NS)).toBeUndefined();
    expect(w.output()).toContain('kubeconfig access not granted: the name is taken');
  });

  it('given the Cluster deleted, should let the garbage collector remove the Role and RoleBinding', async () => {
    await bindingSubjects('ironplane-kubeconfig-prod');
    await w.client.delete(Clusters, 'prod', NS);
    await until('the grant to be collected', async () => {
      const gone = !(await w.client.tryGet(Roles, 'ironplane-kubeconfig-prod', NS)) && !(await w.client.tryGet(RoleBindings, 'ironplane-kubeconfig-prod', NS));
      return gone || undefined;
    }, 120_000);
  });

  it('given --tenant-kubeconfig-access=false, should run no grant controller; the template grants by hand what the controller would', async () => {
    await w.stopManager();
    const before = w.output().length;
    w.startManager(['--tenant-kubeconfig-access=false']);
    await until('the kairosconfig controller to start', () => w.output().slice(before).includes('"controller":"kairosconfig"') || undefined, 60_000);
    expect(w.output().slice(before)).not.toContain('"controller":"kubeconfigaccess"');

    const c = await cluster('manual');
    const text = fs
      .readFileSync(path.join(REPO, 'config/tenant/kubeconfig-access.yaml'), 'utf8')
      .replace(/\$\{([A-Z_]+)\}/g, (_, k: string) => ({ CLUSTER_NAME: 'manual', NAMESPACE: NS, CLUSTER_UID: c.metadata!.uid!, TENANT_GROUP: 'acme-contractors' })[k] ?? `<no ${k}>`);
    const [role, binding] = parseAllDocuments(text).map((d) => d.toJS() as KubeObject);
    await w.client.create(Roles, role!);
    await w.client.create(RoleBindings, binding!);
    const alice = await user('alice-manual', 'acme-contractors');
    expect(await until('alice to read manual-kubeconfig', async () => (await statusOf(alice.get(Secrets, 'manual-kubeconfig', NS))) === 200 || undefined, 60_000)).toBe(true);
    expect(await statusOf(alice.get(Secrets, 'manual-ca', NS))).toBe(403);
    // The template carries the controller's marks, so a running controller would
    // have taken the grant over and bound the namespace's tenant groups instead.
    expect(await bindingSubjects('ironplane-kubeconfig-manual')).toEqual([{ kind: 'Group', apiGroup: RBAC, name: 'acme-contractors' }]);
  });
});
