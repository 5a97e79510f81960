// What neither a race nor a tenant can do to load-balancer addresses:
// - two cloud providers acting at once (leader election lost, a split brain)
//   on a burst of Services never give one address twice nor a namespace more
//   than its limit: creating the address's rule is the allocation, and the
//   limit is settled by the same order in every allocator;
// - a tenant's user, with the ironplane-tenant role of config/tenant bound in
//   its namespace, can neither read nor write pools or rules through the real
//   apiserver's RBAC.
import fs from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { LoadBalancerPool } from '../../../providers/api/generated/ironplane/v1alpha1/loadbalancerpool.js';
import type { SwitchLBRule } from '../../../providers/api/generated/kubeovn/v1/switchlbrule.js';
import { Clusters } from '../../../providers/capi/contract.js';
import { LoadBalancerPools, ruleName, Services, SwitchLBRules } from '../../../providers/cloudprovider/names.js';
import { ApiError, Client } from '../../../providers/kit/client.js';
import type { KubeObject, ResourceType } from '../../../providers/kit/types.js';
import { issueCert } from '../../harness/index.js';
import { renderKubeconfig } from '../../harness/kubeconfig.js';
import { REPO, type Proc } from '../processes.js';
import { conditionOf, createCluster, createService, ensureNamespace, registerNode, runManager, startWorld, tenantOf, until, type Svc, type World } from './world.js';

let w: World;
let second: Proc | undefined;
let tenant: Client;

const BURST = 8;
const LIMIT = 5;

beforeAll(async () => {
  w = await startWorld('cloudprovider-isolation');
  await ensureNamespace(w.client, 'team-c');
  await w.client.create(LoadBalancerPools, { metadata: { name: 'gamma' }, spec: { addresses: ['100.64.5.0/29'], tenants: { namespaces: ['team-c'] }, limits: { perTenant: LIMIT } } } as LoadBalancerPool);
  await createCluster(w, 'team-c', 'prod', [{ name: 'w1', ips: ['10.10.0.11'] }]);
  tenant = tenantOf(w, 'team-c', 'prod');
  await registerNode(tenant, 'w1', 'kubevirt://team-c/w1', ['10.10.0.11']);
}, 300_000);

afterAll(async () => {
  if (second) {
    second.child.kill('SIGKILL');
    await second.exited;
  }
  await w?.stop();
});

describe('two cloud providers at once', () => {
  it(`given ${BURST} Services at once and a limit of ${LIMIT}, should give exactly ${LIMIT} distinct addresses and refuse the rest with TenantLimitReached`, async () => {
    // No leader election: it acts beside the world's manager, as after a lost lease.
    second = runManager(w.kubeconfig, { leaderElect: false });
    await until('the second manager to start its controllers', () => second!.output().includes('controllers started'), 60_000);
    await Promise.all(Array.from({ length: BURST }, (_, i) => createService(tenant, `burst-${i}`)));
    const svcs = await until(
      'every Service of the burst to settle',
      async () => {
        const list = (await tenant.list<Svc>(Services, { namespace: 'default' })).items.filter((s) => s.metadata?.name?.startsWith('burst-'));
        return list.length === BURST && list.every((s) => conditionOf(s) !== undefined) ? list : undefined;
      },
      120_000,
    );
    // Let both managers settle (no rule comes or goes for a while), then count.
    let last = '';
    let rules: SwitchLBRule[] = [];
    await until(
      'the rules to stop changing',
      async () => {
        rules = (await w.client.list<SwitchLBRule>(SwitchLBRules, { labelSelector: 'cloudprovider.ironplane.dev/pool=gamma' })).items;
        const now = JSON.stringify(rules.map((r) => [r.metadata.name, r.metadata.uid]).sort());
        const same = now === last;
        last = now;
        if (!same) await new Promise((r) => setTimeout(r, 2_000));
        return same;
      },
      120_000,
    );
    expect(rules.length).toBe(LIMIT);
    const vips = rules.map((r) => r.spec?.vip);
    expect(new Set(vips).size).toBe(LIMIT);
    for (const r of rules) expect(r.metadata.name).toBe(ruleName(r.spec!.vip!));
    // Each held address belongs to exactly one Service, which shows it.
    const holders = new Set(rules.map((r) => r.metadata.labels?.['cloudprovider.ironplane.dev/service-uid']));
    expect(holders.size).toBe(LIMIT);
    const settledSvcs = (await tenant.list<Svc>(Services, { namespace: 'default' })).items.filter((s) => s.metadata?.name?.startsWith('burst-'));
    const assigned = settledSvcs.filter((s) => conditionOf(s)?.status === 'True');
    expect(assigned.map((s) => s.status?.loadBalancer?.ingress?.[0]?.ip).sort()).toEqual([...vips].sort());
    expect(settledSvcs.filter((s) => conditionOf(s)?.reason === 'TenantLimitReached')).toHaveLength(BURST - LIMIT);
    expect(svcs).toHaveLength(BURST);
  });
});

describe("a tenant's user", () => {
  let alice: Client;

  beforeAll(async () => {
    const role = parseAllDocuments(fs.readFileSync(path.join(REPO, 'config/tenant/role.yaml'), 'utf8'))
      .map((d) => d.toJS() as KubeObject)
      .find((o) => o.kind === 'ClusterRole' && o.metadata?.name === 'ironplane-tenant')!;
    const rbac = (kind: string, plural: string, namespaced: boolean): ResourceType => ({ group: 'rbac.authorization.k8s.io', version: 'v1', kind, plural, namespaced });
    await w.client.apply(rbac('ClusterRole', 'clusterroles', false), role, { force: true });
    await w.client.create(rbac('RoleBinding', 'rolebindings', true), {
      metadata: { name: 'alice', namespace: 'team-c' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ironplane-tenant' },
      subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice' }],
    } as KubeObject);
    const cert = await issueCert({ ca: w.cp.ca, commonName: 'alice', usages: 'client' });
    const kc = new KubeConfig();
    kc.loadFromString(renderKubeconfig({ server: w.cp.url, caPem: w.cp.ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem, name: 'management', user: 'alice' }));
    alice = new Client(kc, { fieldManager: 'alice' });
  });

  afterAll(() => alice?.close());

  const forbidden = async (what: Promise<unknown>): Promise<void> => {
    const err = await what.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(403);
  };

  it('given the ironplane-tenant role, should be refused reading, creating, changing and deleting pools', async () => {
    await forbidden(alice.list(LoadBalancerPools));
    await forbidden(alice.get(LoadBalancerPools, 'gamma'));
    await forbidden(alice.create(LoadBalancerPools, { metadata: { name: 'mine' }, spec: { addresses: ['100.64.5.0/24'], tenants: { namespaces: ['team-c'] } } } as LoadBalancerPool));
    await forbidden(alice.mergePatch(LoadBalancerPools, 'gamma', undefined, { spec: { limits: { perTenant: 100 } } }));
    await forbidden(alice.mergePatch(LoadBalancerPools, 'gamma', undefined, { status: { allocated: 0 } }, { subresource: 'status' }));
    await forbidden(alice.delete(LoadBalancerPools, 'gamma'));
  });

  it("given the ironplane-tenant role, should be refused reading, taking over or deleting another's address (SwitchLBRules)", async () => {
    const held = (await w.client.list<SwitchLBRule>(SwitchLBRules, { labelSelector: 'cloudprovider.ironplane.dev/pool=gamma' })).items[0]!;
    await forbidden(alice.list(SwitchLBRules));
    await forbidden(alice.create(SwitchLBRules, { metadata: { name: ruleName('100.64.5.7') }, spec: { vip: '100.64.5.7', namespace: 'team-c', endpoints: ['10.10.0.11'] } } as SwitchLBRule));
    await forbidden(alice.mergePatch(SwitchLBRules, held.metadata.name!, undefined, { spec: { endpoints: ['10.99.0.1'] } }));
    await forbidden(alice.delete(SwitchLBRules, held.metadata.name!));
    const still = await w.client.get<SwitchLBRule>(SwitchLBRules, held.metadata.name!);
    expect([still.metadata.uid, still.spec]).toEqual([held.metadata.uid, held.spec]);
  });
});

describe('a Cluster deleted while no cloud provider runs', () => {
  it('given a manager started afterwards, should find its rules by their marks and release every one', async () => {
    second?.child.kill('SIGKILL');
    await second?.exited;
    second = undefined;
    w.manager.child.kill('SIGKILL');
    await w.manager.exited;
    expect((await w.client.list<SwitchLBRule>(SwitchLBRules, { labelSelector: 'cloudprovider.ironplane.dev/cluster-namespace=team-c' })).items).toHaveLength(LIMIT);
    // Nothing holds the Cluster: it is gone at once, as after CAPI's teardown.
    await w.client.delete(Clusters, 'prod', 'team-c');
    await until('the Cluster to be gone', async () => !(await w.client.tryGet(Clusters, 'prod', 'team-c')));
    second = runManager(w.kubeconfig, { leaderElect: true });
    await until(
      'every rule of team-c/prod to be released',
      async () => (await w.client.list<SwitchLBRule>(SwitchLBRules, { labelSelector: 'cloudprovider.ironplane.dev/cluster-namespace=team-c' })).items.length === 0,
      120_000,
    );
    const gamma = await until('pool gamma to be empty', async () => {
      const p = await w.client.get<LoadBalancerPool>(LoadBalancerPools, 'gamma');
      return p.status?.allocated === 0 ? p : undefined;
    });
    expect(gamma.status?.capacity).toBe(8);
  });
});
