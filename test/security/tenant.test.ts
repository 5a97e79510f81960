// The adversarial suite: a tenant's user, with a real client certificate,
// against the real apiserver with RBAC on, the tenant model exactly as
// config/tenant ships it, the real Cluster API core manager and our runtime
// extension. Every attack in cases.ts must be refused (status, reason and
// message) and leave the objects it aims at as they were. The positive
// controls show that the same user can do what a tenant is for, so the
// refusals are not an accident of a user who can do nothing.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../providers/kit/client.js';
import { REPO, until } from '../integration/processes.js';
import { CASES, attempt, policy, type Watch } from './cases.js';
import { A, B, CAPI_USER, EXTENSION_USER, K, PLATFORM_NS, startWorld, topologyCluster, type Obj, type World } from './world.js';

let w: World;

beforeAll(async () => {
  w = await startWorld();
}, 600_000);

afterAll(async () => {
  await w?.stop();
});

/** The objects as the platform admin reads them; null for one that does not exist. */
async function snapshot(watch: Watch[]): Promise<unknown[]> {
  return Promise.all(
    watch.map(async (x) => {
      if (x.labelSelector !== undefined) return (await w.admin.list(x.rt, { ...(x.namespace ? { namespace: x.namespace } : {}), labelSelector: x.labelSelector })).items.map((o) => o.metadata?.name);
      const o = await w.admin.tryGet<Obj>(x.rt, x.name, x.namespace);
      if (!o) return null;
      if (x.pick) return x.pick(o);
      const { managedFields: _m, ...metadata } = o.metadata ?? {};
      return { ...o, metadata };
    }),
  );
}

const SubjectAccessReviews = { group: 'authorization.k8s.io', version: 'v1', kind: 'SubjectAccessReview', plural: 'subjectaccessreviews', namespaced: false };

describe('the tenant model as shipped (config/tenant)', () => {
  it('given the policy, should type-check every expression against the Cluster schema without warnings', async () => {
    // kube-controller-manager's status controller type-checks a policy against the schemas of the kinds it matches.
    const vap = await until('the policy to be type-checked', async () => {
      const o = await w.admin.get<Obj & { status?: { observedGeneration?: number; typeChecking?: { expressionWarnings?: unknown[] } } }>(K.ValidatingAdmissionPolicy, 'ironplane-tenant-clusters');
      return o.status?.observedGeneration === o.metadata?.generation && o.status?.typeChecking ? o : undefined;
    }, 60_000);
    expect(vap.status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
  });

  it('given a tenant user, should let it write a topology Cluster in its namespace and read what CAPI built for it', async () => {
    // The Clusters prod and web were created by alice and bob themselves (world.ts); CAPI built them.
    const own = await w.alice.client.get<Obj>(K.Cluster, A.cluster, A.namespace);
    expect(own.spec?.['topology']).toBeDefined();
    expect((await w.alice.client.list(K.MachineDeployment, { namespace: A.namespace })).items).toHaveLength(2);
    expect((await w.alice.client.list(K.KvmCluster, { namespace: A.namespace })).items).toHaveLength(1);
    expect((await w.alice.client.list(K.KairosConfigTemplate, { namespace: A.namespace })).items.length).toBeGreaterThan(0);
    expect((await w.alice.client.get(K.ClusterClass, 'ironplane-kvm', PLATFORM_NS)).metadata?.name).toBe('ironplane-kvm');
    // An ordinary change of its own Cluster passes the policy: the refs CAPI set and the platform's labels ride along unchanged.
    await w.alice.client.mergePatch(K.Cluster, A.cluster, A.namespace, { metadata: { annotations: { 'ironplane.dev/maintenance-window': 'Sat,Sun 00:00-06:00' } } });
    expect((await w.admin.get<Obj>(K.Cluster, A.cluster, A.namespace)).metadata?.annotations?.['ironplane.dev/maintenance-window']).toBe('Sat,Sun 00:00-06:00');
    // A Cluster that names the class of its own namespace (put there by the platform) is fine too.
    await w.bob.client.create(K.Cluster, topologyCluster(B, 'own-class', { classNamespace: B.namespace }), { dryRun: true });
  });

  it('given the per-Cluster grant the Kairos manager makes, should let the tenant read its own kubeconfig and nothing beside it', async () => {
    const s = await w.alice.client.get<Obj>(K.Secret, `${A.cluster}-kubeconfig`, A.namespace);
    expect(Buffer.from(s.data!['value']!, 'base64').toString()).toBe(`kubeconfig of ${A.tenant}/${A.cluster}`);
    const b = await w.bob.client.get<Obj>(K.Secret, `${B.cluster}-kubeconfig`, B.namespace);
    expect(Buffer.from(b.data!['value']!, 'base64').toString()).toBe(`kubeconfig of ${B.tenant}/${B.cluster}`);
    // The grant is by name: the same user cannot watch it, nor read bob's Secret of the same kind.
    const err = await w.bob.client.get(K.Secret, `${A.cluster}-kubeconfig`, A.namespace).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(403);
  });

  it('given the platform identities, should let the extension set add-on labels and name the extension and CAPI as platform', async () => {
    // world.ts labelled both Clusters as the extension's ServiceAccount; the labels are there.
    expect((await w.admin.get<Obj>(K.Cluster, A.cluster, A.namespace)).metadata?.labels).toMatchObject({ 'ironplane.dev/addon-set': 'standard', 'addons.ironplane.dev/policies': 'true' });
    for (const user of [EXTENSION_USER, CAPI_USER, 'ironplane-admin']) {
      const groups = user === 'ironplane-admin' ? ['system:masters'] : ['system:serviceaccounts'];
      const review = await w.admin.create<Obj>(SubjectAccessReviews, {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user, groups, resourceAttributes: { group: 'ironplane.dev', resource: 'clusters', subresource: 'platform', verb: 'update' } },
      } as Obj);
      expect({ user, allowed: (review.status as { allowed?: boolean } | undefined)?.allowed }).toEqual({ user, allowed: true });
    }
    // A tenant user is not.
    const tenant = await w.admin.create<Obj>(SubjectAccessReviews, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user: A.user, groups: ['capsule.clastix.io', A.group], resourceAttributes: { group: 'ironplane.dev', resource: 'clusters', subresource: 'platform', verb: 'update' } },
    } as Obj);
    expect((tenant.status as { allowed?: boolean } | undefined)?.allowed).toBe(false);
    // A platform administrator may still label a Cluster by hand (templates/addons/README.md).
    await w.admin.mergePatch(K.Cluster, B.cluster, B.namespace, { metadata: { labels: { 'addons.ironplane.dev/monitoring': 'true' } } });
    await w.admin.mergePatch(K.Cluster, B.cluster, B.namespace, { metadata: { labels: { 'addons.ironplane.dev/monitoring': null } } });
  });

  it('given the same change by the extension and by the tenant, should refuse only the tenant', async () => {
    const res = await attempt(w.alice.client.mergePatch(K.Cluster, A.cluster, A.namespace, { metadata: { labels: { 'addons.ironplane.dev/cni': null } } }));
    expect(res).toMatchObject({ status: 403, reason: 'Forbidden' });
    expect(res.message).toContain(policy('metadata.labels: addons.ironplane.dev/cni').message);
    await w.extensionUser.client.mergePatch(K.Cluster, A.cluster, A.namespace, { metadata: { labels: { 'addons.ironplane.dev/cni': null } } });
    await w.extensionUser.client.mergePatch(K.Cluster, A.cluster, A.namespace, { metadata: { labels: { 'addons.ironplane.dev/cni': 'true' } } });
    expect((await w.admin.get<Obj>(K.Cluster, A.cluster, A.namespace)).metadata?.labels?.['addons.ironplane.dev/cni']).toBe('true');
  });
});

describe('attacks by a tenant', () => {
  for (const c of CASES) {
    it(`${c.id}: ${c.attack}`, async () => {
      const watch = typeof c.watch === 'function' ? await c.watch(w) : c.watch;
      const before = await snapshot(watch);
      const res = await c.run(w);
      try {
        expect({ status: res.status, reason: res.reason }).toEqual({ status: c.refused.status, reason: c.refused.reason });
        expect(res.message).toContain(c.refused.message);
        expect(await snapshot(watch)).toEqual(before);
      } finally {
        await c.cleanup?.(w);
      }
    }, c.timeoutMs);
  }
});

describe('test/security/README.md', () => {
  it('given the case table, should list every attack with how it is made and its outcome, and nothing else', () => {
    const rows = fs
      .readFileSync(path.join(REPO, 'test/security/README.md'), 'utf8')
      .split('\n')
      .filter((l) => /^\| `[a-z0-9-]+` \|/.test(l))
      .map((l) => l.split(' | ').map((cell) => cell.replace(/^\| |\s*\|$/g, '').trim()));
    expect(rows).toEqual(CASES.map((c) => [`\`${c.id}\``, c.attack, c.how, c.outcome]));
    expect(new Set(CASES.map((c) => c.id)).size).toBe(CASES.length);
  });
});
