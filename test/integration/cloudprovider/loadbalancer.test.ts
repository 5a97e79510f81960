// Tenant LoadBalancer Services against the real management apiserver and
// real tenant apiservers, with `ironplane manager --role cloud-provider`
// running as a process with exactly its RBAC: addresses from pools a
// namespace may use, requested addresses, refusals (another tenant's pool,
// no pool, taken, exhausted, per-tenant limit) with their messages on the
// tenant Service, kube-OVN SwitchLBRules with the exact spec in the
// Cluster's namespace and only its own nodes, overlapping pools, and
// everything released on Service and on Cluster deletion.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadBalancerPool } from '../../../providers/api/generated/ironplane/v1alpha1/loadbalancerpool.js';
import { validateSwitchLBRule, type SwitchLBRule } from '../../../providers/api/generated/kubeovn/v1/switchlbrule.js';
import { Clusters } from '../../../providers/capi/contract.js';
import { ExtensionConfigs } from '../../../providers/topology/state.js';
import { ADDRESS_ANNOTATION, LoadBalancerPools, ruleName, ruleServiceName, Services, SwitchLBRules, TenantNodes } from '../../../providers/cloudprovider/names.js';
import { isInvalid, type Client } from '../../../providers/kit/client.js';
import { Namespaces, type KubeObject } from '../../../providers/kit/types.js';
import { KvmMachines } from '../../../providers/kubevirt/resources.js';
import { tenantNetworkName } from '../../../providers/kubevirt/names.js';
import { conditionOf, createCluster, createService, ensureNamespace, eventNotes, registerNode, settled, startWorld, tenantOf, until, type Svc, type World } from './world.js';

let w: World;
let teamA: Client;
let teamB: Client;
let clusterA: string;

const pool = (name: string, addresses: string[], tenants: { namespaces?: string[]; capsuleTenants?: string[] }, perTenant?: number): LoadBalancerPool =>
  ({ metadata: { name }, spec: { addresses, tenants, ...(perTenant ? { limits: { perTenant } } : {}) } }) as LoadBalancerPool;

const rulesFor = async (selector: string): Promise<SwitchLBRule[]> => (await w.client.list<SwitchLBRule>(SwitchLBRules, { labelSelector: selector })).items;
const readyOf = (p: LoadBalancerPool | undefined) => p?.status?.conditions?.find((c) => c.type === 'Ready');

beforeAll(async () => {
  w = await startWorld('cloudprovider');
  // team-a belongs to Capsule Tenant acme (Capsule's label); team-b is named by its pool directly.
  await w.client.create(Namespaces, { metadata: { name: 'team-a', labels: { 'capsule.clastix.io/tenant': 'acme' } } });
  await ensureNamespace(w.client, 'team-b');
  await w.client.create(LoadBalancerPools, pool('acme', ['192.0.2.0/31'], { capsuleTenants: ['acme'] }));
  await w.client.create(LoadBalancerPools, pool('beta', ['198.51.100.10-198.51.100.19'], { namespaces: ['team-b'] }, 1));

  clusterA = await createCluster(w, 'team-a', 'prod', [
    { name: 'w1', ips: ['10.10.0.11'] },
    { name: 'w2', ips: ['10.10.0.12'] },
  ]);
  await createCluster(w, 'team-b', 'prod', [{ name: 'w1', ips: ['10.10.0.11'] }]);
  teamA = tenantOf(w, 'team-a', 'prod');
  teamB = tenantOf(w, 'team-b', 'prod');
  await registerNode(teamA, 'w1', 'kubevirt://team-a/w1', ['10.10.0.11']);
  await registerNode(teamA, 'w2', 'kubevirt://team-a/w2', ['10.10.0.12']);
  // What a tenant administrator can write into its own cluster: a Node posing as another
  // tenant's machine, and one of its own machines claiming an address its VM does not have.
  await registerNode(teamA, 'intruder', 'kubevirt://team-b/w1', ['10.10.0.11']);
  await registerNode(teamA, 'w3', 'kubevirt://team-a/w3', ['10.10.0.99']);
  await registerNode(teamB, 'w1', 'kubevirt://team-b/w1', ['10.10.0.11']);
}, 300_000);

afterAll(async () => {
  await w?.stop();
});

describe('LoadBalancerPool', () => {
  it.each([
    [['10.9.0.1/28'], 'spec.addresses[0]: Invalid value: "10.9.0.1/28": must be a CIDR with no host bits set (10.0.0.0/28) or a range of two addresses start-end (10.0.0.10-10.0.0.20)'],
    [['10.9.0.20-10.9.0.10'], `spec.addresses[0]: Invalid value: "10.9.0.20-10.9.0.10": a range's start must not come after its end`],
    [['10.9.0.0/28', '10.9.0.1-fd00::1'], `spec.addresses[1]: Invalid value: "10.9.0.1-fd00::1": a range's start and end must be addresses of the same family`],
    [['not-an-address'], 'spec.addresses[0]: Invalid value: "not-an-address": must be a CIDR'],
  ])('given spec.addresses %j, should be refused by the apiserver naming the entry', async (addresses, message) => {
    const err = await w.client.create(LoadBalancerPools, pool('bad', addresses, { namespaces: ['team-c'] })).catch((e: Error) => e);
    expect(isInvalid(err)).toBe(true);
    expect((err as Error).message).toContain(message);
  });

  it('given no tenants, should be refused naming spec.tenants', async () => {
    const err = await w.client.create(LoadBalancerPools, pool('bad', ['10.9.0.0/28'], {})).catch((e: Error) => e);
    expect((err as Error).message).toContain('spec.tenants: Invalid value: name at least one namespace or Capsule Tenant');
  });

  it('given two pools sharing addresses, should mark both not Ready (Overlap) naming the entry and the other pool, and recover when one changes', async () => {
    await w.client.create(LoadBalancerPools, pool('o1', ['203.0.113.0/29'], { namespaces: ['team-c'] }));
    await w.client.create(LoadBalancerPools, pool('o2', ['203.0.113.64/30', '203.0.113.4-203.0.113.9'], { namespaces: ['team-c'] }));
    const o1 = await until('o1 to report the overlap', async () => {
      const p = await w.client.get<LoadBalancerPool>(LoadBalancerPools, 'o1');
      return readyOf(p)?.reason === 'Overlap' ? p : undefined;
    });
    expect(readyOf(o1)).toMatchObject({ status: 'False', message: 'no address is handed out: spec.addresses[0]: "203.0.113.0/29" overlaps "203.0.113.4-203.0.113.9" of LoadBalancerPool o2' });
    const o2 = await until('o2 to report the overlap', async () => {
      const p = await w.client.get<LoadBalancerPool>(LoadBalancerPools, 'o2');
      return readyOf(p)?.reason === 'Overlap' ? p : undefined;
    });
    expect(readyOf(o2)?.message).toBe('no address is handed out: spec.addresses[1]: "203.0.113.4-203.0.113.9" overlaps "203.0.113.0/29" of LoadBalancerPool o1');
    expect(o2.status?.capacity).toBe(4 + 6);

    await w.client.mergePatch(LoadBalancerPools, 'o2', undefined, { spec: { addresses: ['203.0.113.64/30', '203.0.113.8-203.0.113.9'] } });
    for (const name of ['o1', 'o2']) {
      await until(`${name} to be Ready again`, async () => readyOf(await w.client.get<LoadBalancerPool>(LoadBalancerPools, name))?.status === 'True');
    }
  });

  it("given a pool over the addresses tenants may choose for their control planes (the extension's loadBalancerAddressRanges), should hand out nothing from it (OverlapsControlPlaneRanges)", async () => {
    await w.client.create(LoadBalancerPools, pool('cp', ['203.0.113.128/28'], { namespaces: ['team-c'] }));
    await until('cp to be Ready', async () => readyOf(await w.client.get<LoadBalancerPool>(LoadBalancerPools, 'cp'))?.status === 'True');
    await w.client.create(ExtensionConfigs, {
      metadata: { name: 'ironplane' },
      spec: { clientConfig: { url: 'https://127.0.0.1:1' }, settings: { loadBalancerAddressRanges: '203.0.113.136/29' } },
    } as KubeObject);
    const p = await until('cp to report the overlap with the control-plane ranges', async () => {
      const x = await w.client.get<LoadBalancerPool>(LoadBalancerPools, 'cp');
      return readyOf(x)?.reason === 'OverlapsControlPlaneRanges' ? x : undefined;
    });
    expect(readyOf(p)?.message).toBe(
      `no address is handed out: spec.addresses[0]: "203.0.113.128/28" overlaps 203.0.113.136/29 of the loadBalancerAddressRanges setting of ExtensionConfig ironplane, where tenants may choose their control planes' addresses`,
    );
    await w.client.delete(ExtensionConfigs, 'ironplane');
    await until('cp to be Ready again', async () => readyOf(await w.client.get<LoadBalancerPool>(LoadBalancerPools, 'cp'))?.status === 'True');
  });

  it('given an IPv6 range that starts after it ends (which CEL cannot compare), should report InvalidAddresses naming the entry', async () => {
    await w.client.create(LoadBalancerPools, pool('v6', ['fd00::9-fd00::1'], { namespaces: ['team-c'] }));
    const p = await until('v6 to report InvalidAddresses', async () => {
      const x = await w.client.get<LoadBalancerPool>(LoadBalancerPools, 'v6');
      return readyOf(x)?.reason === 'InvalidAddresses' ? x : undefined;
    });
    expect(readyOf(p)?.message).toBe('no address is handed out: spec.addresses[0]: "fd00::9-fd00::1" starts after it ends');
  });
});

describe('tenant LoadBalancer Services', () => {
  let api: Svc;

  it("given a Service, should take the pool's first free address, write the ingress, and program a SwitchLBRule in the Cluster's namespace to only its own nodes' node ports", async () => {
    await createService(teamA, 'api', { ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] });
    api = await settled(teamA, 'api', 'True');
    expect(api.status?.loadBalancer?.ingress).toEqual([{ ip: '192.0.2.0', ipMode: 'VIP' }]);
    expect(api.metadata?.finalizers).toContain('cloudprovider.ironplane.dev/load-balancer');
    expect(conditionOf(api)).toMatchObject({ reason: 'Assigned', message: "192.0.2.0 from the platform's load-balancer pool, to 2 node(s) of this cluster" });

    const rule = await w.client.get<SwitchLBRule>(SwitchLBRules, ruleName('192.0.2.0'));
    const http = api.spec!.ports!.find((p) => p.name === 'http')!;
    const dns = api.spec!.ports!.find((p) => p.name === 'dns')!;
    // The stored object is what kube-OVN's schema kept (unknown fields would have been pruned).
    expect(rule.spec).toEqual({
      vip: '192.0.2.0',
      namespace: 'team-a',
      ports: [
        { name: 'http', port: 80, targetPort: http.nodePort, protocol: 'TCP' },
        { name: 'dns', port: 53, targetPort: dns.nodePort, protocol: 'UDP' },
      ],
      // Not the intruder posing as team-b's machine, not w3's address its VM does not have.
      endpoints: ['10.10.0.11', '10.10.0.12'],
    });
    expect(validateSwitchLBRule(rule)).toBe(true);
    expect(rule.metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'ironplane-cloud-provider',
      'cloudprovider.ironplane.dev/pool': 'acme',
      'cloudprovider.ironplane.dev/cluster': 'prod',
      'cloudprovider.ironplane.dev/cluster-namespace': 'team-a',
      'cloudprovider.ironplane.dev/cluster-uid': clusterA,
      'cloudprovider.ironplane.dev/service': 'api',
      'cloudprovider.ironplane.dev/service-namespace': 'default',
      'cloudprovider.ironplane.dev/service-uid': api.metadata!.uid,
    });
    // The Service kube-OVN keeps the VIP on, made first and naming the tenant's own Vpc.
    const ruleSvc = await w.client.get<KubeObject & { spec?: { clusterIP?: string; selector?: unknown } }>(Services, ruleServiceName(ruleName('192.0.2.0')), 'team-a');
    expect(ruleSvc.metadata?.annotations).toEqual({ 'ovn.kubernetes.io/vpc': tenantNetworkName('team-a', 'prod'), 'ovn.kubernetes.io/switch_lb_vip': '192.0.2.0' });
    expect([ruleSvc.spec?.clusterIP, ruleSvc.spec?.selector]).toEqual(['None', undefined]);
    expect(ruleSvc.metadata?.labels).toEqual(rule.metadata.labels);
    expect(await eventNotes(teamA, 'default', 'Service', 'api', 'Assigned')).toEqual(['load-balancer address 192.0.2.0']);
  });

  it("given the rule's Service changed to name another Vpc, should put the tenant's back", async () => {
    const name = ruleServiceName(ruleName('192.0.2.0'));
    await w.client.mergePatch(Services, name, 'team-a', { metadata: { annotations: { 'ovn.kubernetes.io/vpc': 'ovn-cluster' } } });
    await until('the Vpc annotation to be the tenant\'s again', async () => (await w.client.get<KubeObject>(Services, name, 'team-a')).metadata?.annotations?.['ovn.kubernetes.io/vpc'] === tenantNetworkName('team-a', 'prod'));
  });

  it("given a node that leaves, should take it out of the rule's endpoints", async () => {
    await teamA.mergePatch(TenantNodes, 'w2', undefined, { metadata: { labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': 'true' } } });
    await until('the rule to lose w2', async () => (await w.client.get<SwitchLBRule>(SwitchLBRules, ruleName('192.0.2.0'))).spec?.endpoints?.join(',') === '10.10.0.11');
    await teamA.mergePatch(TenantNodes, 'w2', undefined, { metadata: { labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': null } } });
    await until('the rule to have w2 again', async () => (await w.client.get<SwitchLBRule>(SwitchLBRules, ruleName('192.0.2.0'))).spec?.endpoints?.join(',') === '10.10.0.11,10.10.0.12');
  });

  it("given a machine of another Cluster in the namespace with one of the nodes' addresses, should leave that address out and say why (kube-OVN could resolve it to the other Cluster's VPC)", async () => {
    await w.client.create<KubeObject>(KvmMachines, {
      metadata: { name: 'dev-w1', namespace: 'team-a', labels: { 'cluster.x-k8s.io/cluster-name': 'dev' } },
      spec: { image: { containerDisk: { image: 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0' } }, memory: '2Gi' },
    } as KubeObject);
    await w.client.patchStatus(KvmMachines, 'dev-w1', 'team-a', { addresses: [{ type: 'InternalIP', address: '10.10.0.12' }] });
    await until('the rule to lose the shared address', async () => (await w.client.get<SwitchLBRule>(SwitchLBRules, ruleName('192.0.2.0'))).spec?.endpoints?.join(',') === '10.10.0.11');
    const s = await until('the condition to name the shared address', async () => {
      const x = await teamA.get<Svc>(Services, 'api', 'default');
      return conditionOf(x)?.message.includes('left out') ? x : undefined;
    });
    expect(conditionOf(s)?.message).toBe(
      "192.0.2.0 from the platform's load-balancer pool, to 1 node(s) of this cluster; left out: 10.10.0.12, also the address of a machine of another Cluster in namespace team-a, which would make the network it is programmed in ambiguous",
    );
    await w.client.delete(KvmMachines, 'dev-w1', 'team-a');
    await until('the rule to have both nodes again', async () => (await w.client.get<SwitchLBRule>(SwitchLBRules, ruleName('192.0.2.0'))).spec?.endpoints?.join(',') === '10.10.0.11,10.10.0.12');
  });

  it('given a requested address inside a pool its namespace may use, should grant exactly it', async () => {
    await createService(teamA, 'web', { annotations: { [ADDRESS_ANNOTATION]: '192.0.2.1' } });
    const web = await settled(teamA, 'web', 'True');
    expect(web.status?.loadBalancer?.ingress).toEqual([{ ip: '192.0.2.1', ipMode: 'VIP' }]);
    expect((await w.client.get<SwitchLBRule>(SwitchLBRules, ruleName('192.0.2.1'))).metadata.labels?.['cloudprovider.ironplane.dev/service']).toBe('web');
  });

  it.each([
    ['another tenant', 'steal', '198.51.100.12', 'AddressNotAllowed', `metadata.annotations[${ADDRESS_ANNOTATION}]: 198.51.100.12 is not inside a load-balancer pool namespace team-a may use`],
    ['no pool', 'outside', '203.0.113.200', 'AddressNotAllowed', `metadata.annotations[${ADDRESS_ANNOTATION}]: 203.0.113.200 is not inside a load-balancer pool namespace team-a may use`],
    ['a taken address', 'taken', '192.0.2.0', 'AddressTaken', `metadata.annotations[${ADDRESS_ANNOTATION}]: 192.0.2.0 is already taken`],
    ['no address', 'garbage', '192.0.2.300', 'AddressInvalid', `metadata.annotations[${ADDRESS_ANNOTATION}]: "192.0.2.300" is not an IP address`],
  ])('given a requested address of %s, should refuse it with a condition and an Event on the Service, and take nothing', async (_what, name, address, reason, message) => {
    const before = (await rulesFor('app.kubernetes.io/managed-by=ironplane-cloud-provider')).length;
    await createService(teamA, name, { annotations: { [ADDRESS_ANNOTATION]: address } });
    const s = await settled(teamA, name, 'False', 'default', reason);
    expect(conditionOf(s)?.message).toBe(message);
    expect(s.status?.loadBalancer?.ingress ?? []).toEqual([]);
    await until(`the Warning Event on ${name}`, async () => (await eventNotes(teamA, 'default', 'Service', name, reason)).includes(message));
    expect((await rulesFor('app.kubernetes.io/managed-by=ironplane-cloud-provider')).length).toBe(before);
    await teamA.delete(Services, name, 'default');
  });

  it('given a full pool, should refuse with PoolExhausted', async () => {
    await createService(teamA, 'extra');
    const s = await settled(teamA, 'extra', 'False', 'default', 'PoolExhausted');
    expect(conditionOf(s)?.message).toBe('every load-balancer pool namespace team-a may use is exhausted');
    const acme = await until('pool acme to count both addresses', async () => {
      const p = await w.client.get<LoadBalancerPool>(LoadBalancerPools, 'acme');
      return p.status?.allocated === 2 ? p : undefined;
    });
    expect(acme.status).toMatchObject({ capacity: 2, allocated: 2 });
    expect(readyOf(acme)).toMatchObject({ status: 'True', message: '0 of 2 addresses free' });
  });

  it('given a Service that asks for another address it may not have, should keep the one it holds and say so', async () => {
    await teamA.mergePatch(Services, 'web', 'default', { metadata: { annotations: { [ADDRESS_ANNOTATION]: '198.51.100.12' } } });
    const s = await settled(teamA, 'web', 'False', 'default', 'AddressNotAllowed');
    expect(conditionOf(s)?.message).toBe(`metadata.annotations[${ADDRESS_ANNOTATION}]: 198.51.100.12 is not inside a load-balancer pool namespace team-a may use; it keeps 192.0.2.1`);
    expect(s.status?.loadBalancer?.ingress).toEqual([{ ip: '192.0.2.1', ipMode: 'VIP' }]);
    expect((await w.client.get<SwitchLBRule>(SwitchLBRules, ruleName('192.0.2.1'))).metadata.labels?.['cloudprovider.ironplane.dev/service']).toBe('web');
    await teamA.mergePatch(Services, 'web', 'default', { metadata: { annotations: { [ADDRESS_ANNOTATION]: '192.0.2.1' } } });
    await settled(teamA, 'web', 'True');
  });

  it("given a namespace at its pool's per-tenant limit, should refuse with TenantLimitReached, and never take over an address someone else holds", async () => {
    // A SwitchLBRule the provider did not make, on the pool's first address.
    const foreign = await w.client.create<SwitchLBRule>(SwitchLBRules, { metadata: { name: ruleName('198.51.100.10') }, spec: { vip: '198.51.100.10', namespace: 'platform', endpoints: ['10.0.0.1'] } } as SwitchLBRule);
    await createService(teamB, 'one');
    const one = await settled(teamB, 'one', 'True');
    expect(one.status?.loadBalancer?.ingress).toEqual([{ ip: '198.51.100.11', ipMode: 'VIP' }]);
    await createService(teamB, 'two');
    const two = await settled(teamB, 'two', 'False', 'default', 'TenantLimitReached');
    expect(conditionOf(two)?.message).toBe('namespace team-b holds 1 address(es) of its load-balancer pool beta, the limit per tenant namespace is 1');
    // The Service made ahead for the taken address went with the failed attempt.
    expect(await w.client.tryGet(Services, ruleServiceName(ruleName('198.51.100.10')), 'team-b')).toBeUndefined();
    const still = await w.client.get<SwitchLBRule>(SwitchLBRules, foreign.metadata.name!);
    expect([still.metadata.uid, still.spec, still.metadata.labels]).toEqual([foreign.metadata.uid, foreign.spec, foreign.metadata.labels]);
  });

  it("given a Service of another load-balancer class, should leave it alone; given one that stops being a LoadBalancer, should release its address and take back the ingress, condition and finalizer", async () => {
    await teamB.create<Svc>(Services, {
      metadata: { name: 'other-class', namespace: 'default' },
      spec: { type: 'LoadBalancer', loadBalancerClass: 'example.com/other', ports: [{ port: 80 }], selector: { app: 'x' } },
    } as Svc);
    await teamB.delete(Services, 'two', 'default');
    await teamB.delete(Services, 'one', 'default');
    await until('team-b to hold no address', async () => (await rulesFor('cloudprovider.ironplane.dev/cluster-namespace=team-b')).length === 0);
    await createService(teamB, 'switch');
    const held = await settled(teamB, 'switch', 'True');
    expect(held.status?.loadBalancer?.ingress).toEqual([{ ip: '198.51.100.11', ipMode: 'VIP' }]);
    const other = await teamB.get<Svc>(Services, 'other-class', 'default');
    expect([other.metadata?.finalizers, conditionOf(other), other.status?.loadBalancer?.ingress]).toEqual([undefined, undefined, undefined]);

    await teamB.mergePatch(Services, 'switch', 'default', { spec: { type: 'ClusterIP' } });
    const s = await until('Service switch to be left with nothing of ours', async () => {
      const x = await teamB.get<Svc>(Services, 'switch', 'default');
      return !x.metadata?.finalizers?.length && !conditionOf(x) && !x.status?.loadBalancer?.ingress?.length ? x : undefined;
    });
    expect(s.spec?.type).toBe('ClusterIP');
    expect(await rulesFor(`cloudprovider.ironplane.dev/service-uid=${s.metadata!.uid}`)).toEqual([]);
    await createService(teamB, 'one');
    await settled(teamB, 'one', 'True');
  });

  it('given a paused Cluster, should leave its Services alone until it resumes', async () => {
    await w.client.mergePatch(Clusters, 'prod', 'team-b', { spec: { paused: true } });
    const pausedLines = () => w.manager.logs().filter((l) => l['msg'] === 'paused' && l['key'] === 'team-b/prod').length;
    await until('the manager to see team-b/prod paused', () => pausedLines() > 0);
    const before = pausedLines();
    await createService(teamB, 'while-paused');
    await until('the manager to look at team-b/prod again', () => pausedLines() > before);
    const s = await teamB.get<Svc>(Services, 'while-paused', 'default');
    expect([s.metadata?.finalizers, conditionOf(s)]).toEqual([undefined, undefined]);
    await w.client.mergePatch(Clusters, 'prod', 'team-b', { spec: { paused: null } });
    await settled(teamB, 'while-paused', 'False', 'default', 'TenantLimitReached');
    await teamB.delete(Services, 'while-paused', 'default');
    await until('Service while-paused to be gone', async () => !(await teamB.tryGet(Services, 'while-paused', 'default')));
  });

  it('given a Service deleted, should release its address and rule before the Service goes, and a refused Service then gets the address', async () => {
    await teamA.delete(Services, 'api', 'default');
    await until('Service api to be gone', async () => !(await teamA.tryGet(Services, 'api', 'default')));
    expect(await rulesFor(`cloudprovider.ironplane.dev/service-uid=${api.metadata!.uid}`)).toEqual([]);
    await until("the rule's Service to be gone", async () => (await w.client.list(Services, { namespace: 'team-a', labelSelector: `cloudprovider.ironplane.dev/service-uid=${api.metadata!.uid}` })).items.length === 0);
    const extra = await settled(teamA, 'extra', 'True');
    expect(extra.status?.loadBalancer?.ingress).toEqual([{ ip: '192.0.2.0', ipMode: 'VIP' }]);
    expect(await eventNotes(teamA, 'default', 'Service', 'extra', 'PoolExhausted')).toEqual(['every load-balancer pool namespace team-a may use is exhausted']);
  });

  it('given the Cluster deleted, should release every address and rule of it and take its finalizers off the tenant Services', async () => {
    // Cluster API's own finalizer keeps a deleted Cluster around during its teardown; this one plays it.
    await w.client.mergePatch(Clusters, 'prod', 'team-a', { metadata: { finalizers: ['cluster.cluster.x-k8s.io'] } });
    await w.client.delete(Clusters, 'prod', 'team-a');
    await until('every rule of team-a/prod to be released', async () => (await rulesFor(`cloudprovider.ironplane.dev/cluster-uid=${clusterA}`)).length === 0);
    await until("every rule's Service of team-a/prod to be gone", async () => (await w.client.list(Services, { namespace: 'team-a', labelSelector: `cloudprovider.ironplane.dev/cluster-uid=${clusterA}` })).items.length === 0);
    await until('the tenant Services to lose the finalizer', async () => {
      const svcs = (await teamA.list<KubeObject>(Services, { namespace: 'default' })).items;
      return svcs.every((s) => !s.metadata?.finalizers?.includes('cloudprovider.ironplane.dev/load-balancer'));
    });
    const acme = await until('pool acme to be empty', async () => {
      const p = await w.client.get<LoadBalancerPool>(LoadBalancerPools, 'acme');
      return p.status?.allocated === 0 ? p : undefined;
    });
    expect(readyOf(acme)?.message).toBe('2 of 2 addresses free');
    const notes = await until('the release Event on the Cluster', async () => {
      const n = await eventNotes(w.client, 'team-a', 'Cluster', 'prod', 'LoadBalancersReleased');
      return n.length ? n : undefined;
    });
    expect(notes).toEqual(['released 2 load-balancer address(es): 192.0.2.0, 192.0.2.1']);
    await w.client.mergePatch(Clusters, 'prod', 'team-a', { metadata: { finalizers: null } });
    // team-b's address and the foreign rule are untouched.
    expect((await rulesFor('cloudprovider.ironplane.dev/cluster-namespace=team-b')).map((r) => r.spec?.vip)).toEqual(['198.51.100.11']);
    expect(await w.client.tryGet(SwitchLBRules, ruleName('198.51.100.10'))).toBeDefined();
  });

  it('should count allocations per pool and refusals per reason in its metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${w.metricsPort}/metrics`)).text();
    const value = (series: string): number => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 'NaN');
    expect(value('ironplane_cloudprovider_allocations_total{pool="acme"}')).toBeGreaterThanOrEqual(3);
    expect(value('ironplane_cloudprovider_releases_total{pool="acme"}')).toBeGreaterThanOrEqual(3);
    for (const reason of ['AddressNotAllowed', 'AddressTaken', 'AddressInvalid', 'PoolExhausted', 'TenantLimitReached']) expect(value(`ironplane_cloudprovider_refusals_total{reason="${reason}"}`)).toBeGreaterThanOrEqual(1);
    expect(value('ironplane_cloudprovider_pool_capacity{pool="beta"}')).toBe(10);
  });

  it('should never have been refused by the apiserver for want of a permission (it runs with exactly config/rbac/cloud-provider)', () => {
    expect(w.manager.logs().filter((l) => JSON.stringify(l).includes('forbidden'))).toEqual([]);
  });
});
