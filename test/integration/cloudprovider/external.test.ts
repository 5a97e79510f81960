// Addresses of a LoadBalancerPool with spec.externalSubnet against the real
// management apiserver and real tenant apiservers, with `ironplane manager
// --role cloud-provider` running as a process with exactly its RBAC: the
// pool's immutable external network, refusal for a Cluster whose network is
// not connected to it, the OvnEip of the address and one OvnDnatRule per
// port to one entry node, the entry moving when that node stops being a
// target, everything released on Service deletion, and an address handed to
// another Cluster while kube-OVN still holds the previous holder's objects.
// kube-ovn-controller does not run here: the test plays it by writing the
// OvnEip's and the OvnDnatRules' status (and, where it matters, its
// finalizer), and plays the KubeVirt provider by writing the KvmCluster's
// status.network.externalSubnet.
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadBalancerPool } from '../../../providers/api/generated/ironplane/v1alpha1/loadbalancerpool.js';
import type { OvnDnatRule } from '../../../providers/api/generated/kubeovn/v1/ovndnatrule.js';
import type { OvnEip } from '../../../providers/api/generated/kubeovn/v1/ovneip.js';
import type { SwitchLBRule } from '../../../providers/api/generated/kubeovn/v1/switchlbrule.js';
import { ADDRESS_ANNOTATION, dnatName, eipName, LoadBalancerPools, OvnDnatRules, OvnEips, ruleName, ruleServiceName, Services, SwitchLBRules, TenantNodes } from '../../../providers/cloudprovider/names.js';
import { ApiError, Client, isInvalid } from '../../../providers/kit/client.js';
import type { KubeObject } from '../../../providers/kit/types.js';
import { KvmClusters, KvmMachines } from '../../../providers/kubevirt/resources.js';
import { tenantNetworkName } from '../../../providers/kubevirt/names.js';
import { conditionOf, createCluster, createService, ensureNamespace, eventNotes, registerNode, settled, startWorld, tenantOf, until, type Svc, type World } from './world.js';

let w: World;
let teamX: Client;
let teamY: Client;
let clusterX: string;

const EXTERNAL = 'external';
/** kube-OVN's finalizer on the objects it programs (the test puts it where kube-OVN's letting go matters). */
const KUBE_OVN_FINALIZER = 'kubeovn.io/kube-ovn-controller';
const LONG = 120_000;

const pool = (name: string, addresses: string[], namespaces: string[], externalSubnet?: string): LoadBalancerPool =>
  ({ metadata: { name }, spec: { addresses, tenants: { namespaces }, ...(externalSubnet ? { externalSubnet } : {}) } }) as LoadBalancerPool;

const dnatsOf = async (address: string): Promise<OvnDnatRule[]> =>
  (await w.client.list<OvnDnatRule>(OvnDnatRules, { labelSelector: `cloudprovider.ironplane.dev/rule=${ruleName(address)}` })).items.sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));

/** kube-OVN allocating the OvnEip in the external Subnet. */
const allocateEip = async (address: string): Promise<void> => {
  const eip = await until(`OvnEip of ${address}`, () => w.client.tryGet<OvnEip>(OvnEips, eipName(address)), LONG);
  await w.client.patchStatus(OvnEips, eip.metadata.name!, undefined, { v4Ip: address, ready: true, type: 'nat' });
};

/** kube-OVN programming every DNAT rule of the address that points at `entry`: waits for `count` of them. */
const programDnats = async (address: string, entry: string, count: number): Promise<OvnDnatRule[]> => {
  const dnats = await until(`${count} OvnDnatRule(s) of ${address} to node ${entry}`, async () => {
    const all = (await dnatsOf(address)).filter((d) => !d.metadata.deletionTimestamp);
    return all.length === count && all.every((d) => d.spec?.v4Ip === entry) ? all : undefined;
  }, LONG);
  for (const d of dnats) {
    const s = d.spec!;
    await w.client.patchStatus(OvnDnatRules, d.metadata.name!, undefined, { ready: true, v4Eip: address, v4Ip: s.v4Ip, vpc: s.vpc, externalPort: s.externalPort, internalPort: s.internalPort, protocol: s.protocol });
  }
  return dnats;
};

const setReady = async (tenant: Client, node: string, ready: boolean): Promise<void> => {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  await tenant.patchStatus(TenantNodes, node, undefined, {
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? 'KubeletReady' : 'KubeletNotReady', message: 'kubelet', lastHeartbeatTime: now, lastTransitionTime: now }],
  });
};

/** Waits for the Service's condition to have `reason` with `message` containing `part`. */
const conditionWith = (tenant: Client, name: string, reason: string, part: string): Promise<Svc> =>
  until(`Service ${name} to be ${reason} with "${part}"`, async () => {
    const s = await tenant.get<Svc>(Services, name, 'default');
    const c = conditionOf(s);
    return c?.reason === reason && c.message.includes(part) ? s : undefined;
  }, LONG);

const unconnected = `load-balancer pool public hands out addresses of external network ${EXTERNAL}, which this cluster's network is not connected to (the platform's IRONPLANE_EXTERNAL_NETWORK of the KubeVirt provider)`;

beforeAll(async () => {
  w = await startWorld('cloudprovider-external');
  await ensureNamespace(w.client, 'team-x');
  await ensureNamespace(w.client, 'team-y');
  await w.client.create(LoadBalancerPools, pool('public', ['203.0.113.16/30'], ['team-x', 'team-y'], EXTERNAL));

  clusterX = await createCluster(w, 'team-x', 'prod', [
    { name: 'w1', ips: ['10.10.0.11'] },
    { name: 'w2', ips: ['10.10.0.12'] },
  ]);
  teamX = tenantOf(w, 'team-x', 'prod');
  // w1 also claims an address its VM does not have, lower than its own.
  await registerNode(teamX, 'w1', 'kubevirt://team-x/w1', ['10.10.0.4', '10.10.0.11']);
  await registerNode(teamX, 'w2', 'kubevirt://team-x/w2', ['10.10.0.12']);
  // A Node posing as a machine of another Cluster in the namespace, with that machine's (lower) address.
  await w.client.create<KubeObject>(KvmMachines, {
    metadata: { name: 'dev-w1', namespace: 'team-x', labels: { 'cluster.x-k8s.io/cluster-name': 'dev' } },
    spec: { image: { containerDisk: { image: 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0' } }, memory: '2Gi' },
  } as KubeObject);
  await w.client.patchStatus(KvmMachines, 'dev-w1', 'team-x', { addresses: [{ type: 'InternalIP', address: '10.10.0.5' }] });
  await registerNode(teamX, 'intruder', 'kubevirt://team-x/dev-w1', ['10.10.0.5']);

  // team-y's network is connected to the external network from the start.
  await createCluster(w, 'team-y', 'prod', [{ name: 'w1', ips: ['10.20.0.11'] }]);
  await w.client.patchStatus(KvmClusters, 'prod', 'team-y', { network: { externalSubnet: EXTERNAL } });
  teamY = tenantOf(w, 'team-y', 'prod');
  await registerNode(teamY, 'w1', 'kubevirt://team-y/w1', ['10.20.0.11']);
}, 300_000);

afterAll(async () => {
  await w?.stop();
});

describe('LoadBalancerPool spec.externalSubnet', () => {
  const refusal = 'externalSubnet cannot be added, changed or removed once the pool exists';

  it.each([
    ['changed', 'fixed-a', EXTERNAL, 'other'],
    ['removed', 'fixed-b', EXTERNAL, null],
    ['added', 'fixed-c', undefined, EXTERNAL],
  ])('given a pool whose external network is %s after creation, should be refused naming the field, and other fields still change', async (_what, name, initial, next) => {
    const i = ['fixed-a', 'fixed-b', 'fixed-c'].indexOf(name);
    await w.client.create(LoadBalancerPools, pool(name, [`198.51.100.${i * 8}/29`], ['nobody'], initial));
    const err = await w.client.mergePatch(LoadBalancerPools, name, undefined, { spec: { externalSubnet: next } }).catch((e: Error) => e);
    expect(isInvalid(err)).toBe(true);
    expect((err as Error).message).toContain(`spec.externalSubnet: Invalid value`);
    expect((err as Error).message).toContain(refusal);
    const kept = await w.client.get<LoadBalancerPool>(LoadBalancerPools, name);
    expect(kept.spec?.externalSubnet).toBe(initial);
    // The rule guards the field, not the pool.
    await w.client.mergePatch(LoadBalancerPools, name, undefined, { spec: { tenants: { namespaces: ['nobody', 'still-nobody'] } } });
    expect((await w.client.get<LoadBalancerPool>(LoadBalancerPools, name)).spec?.tenants.namespaces).toEqual(['nobody', 'still-nobody']);
    await w.client.delete(LoadBalancerPools, name);
  });
});

describe('tenant LoadBalancer Services of an external pool', () => {
  let web: Svc;
  let firstDnats: OvnDnatRule[];

  it('given a Cluster whose network is not connected to the external network, should refuse its Services an address of that pool (ExternalNetworkUnavailable), take nothing, and give one once it is connected', async () => {
    await createService(teamX, 'early');
    await createService(teamX, 'asked', { annotations: { [ADDRESS_ANNOTATION]: '203.0.113.17' } });
    const early = await settled(teamX, 'early', 'False', 'default', 'ExternalNetworkUnavailable');
    expect(conditionOf(early)?.message).toBe(unconnected);
    expect(early.status?.loadBalancer?.ingress ?? []).toEqual([]);
    const asked = await settled(teamX, 'asked', 'False', 'default', 'ExternalNetworkUnavailable');
    expect(conditionOf(asked)?.message).toBe(`metadata.annotations[${ADDRESS_ANNOTATION}]: 203.0.113.17: ${unconnected}`);
    await until('the Warning Event on early', async () => (await eventNotes(teamX, 'default', 'Service', 'early', 'ExternalNetworkUnavailable')).includes(unconnected));
    expect((await w.client.list(SwitchLBRules, { labelSelector: `cloudprovider.ironplane.dev/cluster-uid=${clusterX}` })).items).toEqual([]);
    expect((await w.client.list(OvnEips)).items).toEqual([]);
    expect((await w.client.list(OvnDnatRules)).items).toEqual([]);
    await teamX.delete(Services, 'asked', 'default');
    await until('Service asked to be gone', async () => !(await teamX.tryGet(Services, 'asked', 'default')));

    // The KubeVirt provider reports the tenant's router connected to the external network.
    await w.client.patchStatus(KvmClusters, 'prod', 'team-x', { network: { externalSubnet: EXTERNAL } });
    const got = await conditionWith(teamX, 'early', 'WaitingForExternalNetwork', 'waiting for kube-OVN to allocate OvnEip');
    expect(got.status?.loadBalancer?.ingress).toEqual([{ ip: '203.0.113.16', ipMode: 'VIP' }]);
    expect(conditionOf(got)?.status).toBe('False');
    const rule = await w.client.get<SwitchLBRule>(SwitchLBRules, ruleName('203.0.113.16'));
    expect(rule.metadata.annotations?.['cloudprovider.ironplane.dev/external-subnet']).toBe(EXTERNAL);

    await teamX.delete(Services, 'early', 'default');
    await until('Service early to be gone', async () => !(await teamX.tryGet(Services, 'early', 'default')), LONG);
    expect(await w.client.tryGet(OvnEips, eipName('203.0.113.16'))).toBeUndefined();
    expect(await w.client.tryGet(SwitchLBRules, ruleName('203.0.113.16'))).toBeUndefined();
  });

  it("given a connected Cluster, should hold the address in the tenant's VPC, make its OvnEip, and only once kube-OVN allocated it one DNAT rule per port to the first node's node port, Assigned once kube-OVN programmed them", async () => {
    await createService(teamX, 'web', { ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] });
    // Once the OvnEip is seen made, the message also says what kube-OVN never allocates.
    web = await conditionWith(teamX, 'web', 'WaitingForExternalNetwork', 'an address the external Subnet already uses elsewhere is never given');
    expect(web.status?.loadBalancer?.ingress).toEqual([{ ip: '203.0.113.16', ipMode: 'VIP' }]);
    expect(conditionOf(web)?.message).toBe(
      `203.0.113.16 from the platform's load-balancer pool, to 2 node(s) of this cluster, answering inside the cluster's network; not yet on external network ${EXTERNAL}: waiting for kube-OVN to allocate OvnEip ${eipName('203.0.113.16')} in Subnet ${EXTERNAL} (an address the external Subnet already uses elsewhere is never given)`,
    );

    const rule = await w.client.get<SwitchLBRule>(SwitchLBRules, ruleName('203.0.113.16'));
    expect(rule.metadata.annotations).toEqual({ 'cloudprovider.ironplane.dev/external-subnet': EXTERNAL });
    // Neither the intruder's nor w1's extra address: only what the KvmMachines hold.
    expect(rule.spec?.endpoints).toEqual(['10.10.0.11', '10.10.0.12']);
    const marks = {
      'app.kubernetes.io/managed-by': 'ironplane-cloud-provider',
      'cloudprovider.ironplane.dev/pool': 'public',
      'cloudprovider.ironplane.dev/cluster': 'prod',
      'cloudprovider.ironplane.dev/cluster-namespace': 'team-x',
      'cloudprovider.ironplane.dev/cluster-uid': clusterX,
      'cloudprovider.ironplane.dev/service': 'web',
      'cloudprovider.ironplane.dev/service-namespace': 'default',
      'cloudprovider.ironplane.dev/service-uid': web.metadata!.uid,
      'cloudprovider.ironplane.dev/rule': ruleName('203.0.113.16'),
    };
    const eip = await w.client.get<OvnEip>(OvnEips, eipName('203.0.113.16'));
    expect(eip.spec).toEqual({ externalSubnet: EXTERNAL, type: 'nat', v4Ip: '203.0.113.16' });
    expect(eip.metadata.labels).toEqual(marks);
    // Nothing is pointed at a node before kube-OVN has the address.
    expect(await dnatsOf('203.0.113.16')).toEqual([]);

    await allocateEip('203.0.113.16');
    await conditionWith(teamX, 'web', 'WaitingForExternalNetwork', 'waiting for kube-OVN to program OvnDnatRule(s)');
    const http = web.spec!.ports!.find((p) => p.name === 'http')!;
    const dns = web.spec!.ports!.find((p) => p.name === 'dns')!;
    const vpc = tenantNetworkName('team-x', 'prod');
    const dnats = await dnatsOf('203.0.113.16');
    expect(dnats.map((d) => [d.metadata.name, d.spec, d.metadata.labels])).toEqual(
      [
        [dnatName('203.0.113.16', 'tcp', 80), { ovnEip: eipName('203.0.113.16'), vpc, v4Ip: '10.10.0.11', externalPort: '80', internalPort: String(http.nodePort), protocol: 'tcp' }, marks],
        [dnatName('203.0.113.16', 'udp', 53), { ovnEip: eipName('203.0.113.16'), vpc, v4Ip: '10.10.0.11', externalPort: '53', internalPort: String(dns.nodePort), protocol: 'udp' }, marks],
      ].sort((a, b) => (a[0] as string).localeCompare(b[0] as string)),
    );

    firstDnats = await programDnats('203.0.113.16', '10.10.0.11', 2);
    web = await settled(teamX, 'web', 'True', 'default', 'Assigned');
    expect(conditionOf(web)?.message).toBe(`203.0.113.16 from the platform's load-balancer pool, to 2 node(s) of this cluster; on external network ${EXTERNAL} through node 10.10.0.11`);
    expect(web.status?.loadBalancer?.ingress).toEqual([{ ip: '203.0.113.16', ipMode: 'VIP' }]);
  });

  it('given the entry node NotReady, should move every DNAT rule to the other node (deleted and made again), say so with an Event, and keep the new entry when the old one comes back', async () => {
    await setReady(teamX, 'w1', false);
    const moved = await until('every DNAT rule to point at w2', async () => {
      const all = await dnatsOf('203.0.113.16');
      return all.length === 2 && all.every((d) => d.spec?.v4Ip === '10.10.0.12' && !d.metadata.deletionTimestamp) ? all : undefined;
    }, LONG);
    expect(moved.map((d) => d.metadata.name)).toEqual(firstDnats.map((d) => d.metadata.name));
    // Made again, not changed in place: kube-OVN programs a target only on creation.
    for (const d of moved) expect(firstDnats.map((f) => f.metadata.uid)).not.toContain(d.metadata.uid);
    expect(moved.map((d) => d.status?.ready)).toEqual([undefined, undefined]);
    const notes = await until('the ExternalEntryMoved Event', async () => {
      const n = await eventNotes(teamX, 'default', 'Service', 'web', 'ExternalEntryMoved');
      return n.length ? n : undefined;
    }, LONG);
    expect(notes).toEqual([`203.0.113.16 on external network ${EXTERNAL} moved from node 10.10.0.11 to node 10.10.0.12`]);
    expect((await w.client.get<SwitchLBRule>(SwitchLBRules, ruleName('203.0.113.16'))).spec?.endpoints).toEqual(['10.10.0.12']);
    await conditionWith(teamX, 'web', 'WaitingForExternalNetwork', 'waiting for kube-OVN to program OvnDnatRule(s)');

    await programDnats('203.0.113.16', '10.10.0.12', 2);
    const s = await conditionWith(teamX, 'web', 'Assigned', 'through node 10.10.0.12');
    expect(conditionOf(s)?.message).toBe(`203.0.113.16 from the platform's load-balancer pool, to 1 node(s) of this cluster; on external network ${EXTERNAL} through node 10.10.0.12`);

    // w1 back: a target again, but the entry stays where it is.
    await setReady(teamX, 'w1', true);
    await conditionWith(teamX, 'web', 'Assigned', "to 2 node(s) of this cluster; on external network external through node 10.10.0.12");
    const kept = await dnatsOf('203.0.113.16');
    expect(kept.map((d) => [d.metadata.uid, d.spec?.v4Ip])).toEqual(moved.map((d) => [d.metadata.uid, '10.10.0.12']));
    expect(await eventNotes(teamX, 'default', 'Service', 'web', 'ExternalEntryMoved')).toEqual(notes);
  });

  it('should never point a DNAT rule at a node the management cluster does not hold for this cluster (a Node posing as another machine, an address its VM does not have)', async () => {
    // The lowest addresses of the tenant's Nodes are the intruder's and w1's extra one.
    await setReady(teamX, 'w2', false);
    const dnats = await until('every DNAT rule to point at w1 again', async () => {
      const all = await dnatsOf('203.0.113.16');
      return all.length === 2 && all.every((d) => d.spec?.v4Ip === '10.10.0.11' && !d.metadata.deletionTimestamp) ? all : undefined;
    }, LONG);
    expect(dnats.map((d) => d.spec?.v4Ip)).toEqual(['10.10.0.11', '10.10.0.11']);
    expect((await w.client.get<SwitchLBRule>(SwitchLBRules, ruleName('203.0.113.16'))).spec?.endpoints).toEqual(['10.10.0.11']);
    await programDnats('203.0.113.16', '10.10.0.11', 2);
    await conditionWith(teamX, 'web', 'Assigned', 'through node 10.10.0.11');
    await setReady(teamX, 'w2', true);
    await conditionWith(teamX, 'web', 'Assigned', 'to 2 node(s)');
    expect((await dnatsOf('203.0.113.16')).map((d) => d.spec?.v4Ip)).toEqual(['10.10.0.11', '10.10.0.11']);
  });

  it('given the Service deleted, should delete its DNAT rules, OvnEip and rule before the Service goes', async () => {
    await teamX.delete(Services, 'web', 'default');
    await until('Service web to be gone', async () => !(await teamX.tryGet(Services, 'web', 'default')), LONG);
    expect(await dnatsOf('203.0.113.16')).toEqual([]);
    expect(await w.client.tryGet(OvnEips, eipName('203.0.113.16'))).toBeUndefined();
    expect(await w.client.tryGet(SwitchLBRules, ruleName('203.0.113.16'))).toBeUndefined();
    await until("the rule's Service to be gone", async () => !(await w.client.tryGet(Services, ruleServiceName(ruleName('203.0.113.16')), 'team-x')));
  });

  it("given an address released while kube-OVN still holds its OvnEip and DNAT rules, should keep the address taken until they are gone, then let another Cluster's Service take it and expose it there", async () => {
    await createService(teamX, 'first');
    await allocateEip('203.0.113.16');
    const [old] = await programDnats('203.0.113.16', '10.10.0.11', 1);
    await settled(teamX, 'first', 'True', 'default', 'Assigned');
    // kube-OVN's finalizer: its objects go only once it has taken them out of OVN.
    await w.client.mergePatch(OvnEips, eipName('203.0.113.16'), undefined, { metadata: { finalizers: [KUBE_OVN_FINALIZER] } });
    await w.client.mergePatch(OvnDnatRules, old!.metadata.name!, undefined, { metadata: { finalizers: [KUBE_OVN_FINALIZER] } });
    // team-y asks for exactly that address.
    await createService(teamY, 'second', { annotations: { [ADDRESS_ANNOTATION]: '203.0.113.16' } });
    await settled(teamY, 'second', 'False', 'default', 'AddressTaken');

    await teamX.delete(Services, 'first', 'default');
    await until('Service first to be gone', async () => !(await teamX.tryGet(Services, 'first', 'default')), LONG);
    const lingering = await w.client.get<OvnEip>(OvnEips, eipName('203.0.113.16'));
    expect(lingering.metadata.deletionTimestamp).toBeDefined();
    expect((await w.client.get<OvnDnatRule>(OvnDnatRules, old!.metadata.name!)).metadata.deletionTimestamp).toBeDefined();
    // Never handed out while it still answers outside: the rule (the allocation) stays until kube-OVN lets go.
    const rule = await w.client.get<SwitchLBRule>(SwitchLBRules, ruleName('203.0.113.16'));
    expect(rule.metadata.labels?.['cloudprovider.ironplane.dev/cluster-namespace']).toBe('team-x');
    const refused = await settled(teamY, 'second', 'False', 'default', 'AddressTaken');
    expect(refused.status?.loadBalancer?.ingress ?? []).toEqual([]);

    // kube-OVN lets go.
    await w.client.mergePatch(OvnDnatRules, old!.metadata.name!, undefined, { metadata: { finalizers: null } });
    await w.client.mergePatch(OvnEips, eipName('203.0.113.16'), undefined, { metadata: { finalizers: null } });
    await until("team-x's rule of 203.0.113.16 to be released", async () => {
      const r = await w.client.tryGet<SwitchLBRule>(SwitchLBRules, ruleName('203.0.113.16'));
      return !r || r.metadata.uid !== rule.metadata.uid ? true : undefined;
    }, LONG);
    const second = await teamY.get<Svc>(Services, 'second', 'default');
    const eip = await until("team-y's own OvnEip", async () => {
      const e = await w.client.tryGet<OvnEip>(OvnEips, eipName('203.0.113.16'));
      return e && e.metadata.uid !== lingering.metadata.uid ? e : undefined;
    }, LONG);
    expect(eip.metadata.labels).toMatchObject({ 'cloudprovider.ironplane.dev/cluster-namespace': 'team-y', 'cloudprovider.ironplane.dev/service-uid': second.metadata!.uid });
    await allocateEip('203.0.113.16');
    const [dnat] = await programDnats('203.0.113.16', '10.20.0.11', 1);
    expect(dnat!.spec?.vpc).toBe(tenantNetworkName('team-y', 'prod'));
    const s = await settled(teamY, 'second', 'True', 'default', 'Assigned');
    expect(conditionOf(s)?.message).toBe(`203.0.113.16 from the platform's load-balancer pool, to 1 node(s) of this cluster; on external network ${EXTERNAL} through node 10.20.0.11`);
  });

  it('should hold no permission to change an OvnEip or DNAT rule in place, and never have been refused one it needs', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(w.kubeconfig);
    const manager = new Client(kc, { fieldManager: 'as-the-manager' });
    try {
      const dnat = (await dnatsOf('203.0.113.16'))[0]!;
      for (const [rt, name, plural] of [
        [OvnDnatRules, dnat.metadata.name!, 'ovn-dnat-rules'],
        [OvnEips, eipName('203.0.113.16'), 'ovn-eips'],
      ] as const) {
        const err = await manager.mergePatch(rt, name, undefined, { metadata: { labels: { x: 'y' } } }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ApiError);
        expect((err as ApiError).code).toBe(403);
        expect((err as ApiError).message).toContain(`cannot patch resource "${plural}" in API group "kubeovn.io"`);
        const put = await manager.get<KubeObject>(rt, name);
        const err2 = await manager.replace(rt, { ...put, metadata: { ...put.metadata, labels: { ...put.metadata?.labels, x: 'y' } } }).catch((e: unknown) => e);
        expect((err2 as ApiError).code).toBe(403);
        expect((err2 as ApiError).message).toContain(`cannot update resource "${plural}" in API group "kubeovn.io"`);
      }
    } finally {
      manager.close();
    }
    expect(w.manager.logs().filter((l) => JSON.stringify(l).includes('forbidden'))).toEqual([]);
  });
});
