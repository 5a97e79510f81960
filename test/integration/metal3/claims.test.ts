// Claiming from a shared host supply, against the real apiserver and BMO:
// machines racing for fewer hosts than they need, and tenants drawing from
// pools granted by HostDeployPolicies.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetalCluster } from '../../../providers/api/generated/ironplane/v1alpha1/metalcluster.js';
import type { MetalMachine } from '../../../providers/api/generated/ironplane/v1alpha1/metalmachine.js';
import { Namespaces, Secrets } from '../../../providers/kit/types.js';
import { consumerOf, type Host } from '../../../providers/metal3/hosts.js';
import { dataSecretName } from '../../../providers/metal3/names.js';
import { BareMetalHosts, HostDeployPolicies, MetalClusters, MetalMachines } from '../../../providers/metal3/resources.js';
import { freePorts } from '../../harness/index.js';
import { until } from '../processes.js';
import { condition, createCluster, createHost, createMachine, deleteMachine, ensureNamespace, grantPool, metalMachine, startWorld, waitHostsAvailable, type World } from './world.js';

let w: World;
let metricsPort: number;

beforeAll(async () => {
  w = await startWorld('metal3-claims', { provisioner: 'demo' });
  [metricsPort] = (await freePorts(1)) as [number];
  w.startManager(['--workers', '8', '--metrics-bind-address', `127.0.0.1:${metricsPort}`]);
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return Number(line?.split(' ').pop() ?? NaN);
}

afterAll(async () => {
  await w?.stop();
});

/** Every host's consumer, and every machine's host: a claim is only real when both agree. */
async function claimTable(ns: string): Promise<{ byHost: Map<string, string>; byMachine: Map<string, string>; machines: MetalMachine[] }> {
  const hosts = (await w.client.list<Host>(BareMetalHosts)).items;
  const machines = (await w.client.list<MetalMachine>(MetalMachines, { namespace: ns })).items;
  const byHost = new Map<string, string>();
  for (const h of hosts) {
    const c = consumerOf(h);
    if (c?.namespace === ns) byHost.set(`${h.metadata!.namespace}/${h.metadata!.name}`, c.name);
  }
  const byMachine = new Map<string, string>();
  for (const m of machines) if (m.status?.host) byMachine.set(m.metadata.name!, `${m.status.host.namespace}/${m.status.host.name}`);
  return { byHost, byMachine, machines };
}

describe('twenty machines racing for ten hosts', () => {
  const NS = 'race';
  const hosts = Array.from({ length: 10 }, (_, i) => `h${String(i).padStart(2, '0')}`);
  const machines = Array.from({ length: 20 }, (_, i) => `m${String(i).padStart(2, '0')}`);

  it('should make exactly ten claims, one host per machine, and leave ten machines waiting with a condition naming the selector', async () => {
    for (const [i, h] of hosts.entries()) await createHost(w, NS, h, { pool: 'race' }, 100 + i);
    await createCluster(w, NS, 'rc');
    await waitHostsAvailable(w, NS, hosts);
    await Promise.all(machines.map((m) => createMachine(w, NS, 'rc', m, { spec: { hostSelector: { matchLabels: { pool: 'race' } } } })));

    const table = await until('10 claims and 10 machines waiting', async () => {
      const t = await claimTable(NS);
      const waiting = t.machines.filter((m) => condition(m, 'HostClaimed')?.reason === 'NoHostAvailable');
      return t.byHost.size === 10 && t.byMachine.size === 10 && waiting.length === 10 ? t : undefined;
    }, 120_000);
    // A bijection: every claimed host names a machine that names that host back.
    for (const [host, machine] of table.byHost) expect(table.byMachine.get(machine)).toBe(host);
    expect(new Set(table.byMachine.values()).size).toBe(10);
    const waiting = table.machines.filter((m) => !m.status?.host);
    for (const m of waiting) {
      expect(condition(m, 'HostClaimed')).toMatchObject({
        status: 'False',
        reason: 'NoHostAvailable',
        message: expect.stringMatching(/^no available BareMetalHost matches selector "pool=race" in namespace race: 10 match the selector but none is claimable \(/),
      });
    }
  });

  it('given five hosts freed by deleting their machines, should let five waiting machines claim them and nobody else', async () => {
    const before = await claimTable(NS);
    const holders = [...before.byMachine.keys()].sort().slice(0, 5);
    const waitingBefore = new Set(before.machines.filter((m) => !m.status?.host).map((m) => m.metadata.name!));
    await Promise.all(holders.map((m) => deleteMachine(w, NS, m)));

    const after = await until('the 5 freed hosts claimed again', async () => {
      const t = await claimTable(NS);
      return t.byHost.size === 10 && t.byMachine.size === 10 ? t : undefined;
    }, 180_000);
    const newlyClaimed = [...after.byMachine.keys()].filter((m) => waitingBefore.has(m));
    expect(newlyClaimed).toHaveLength(5);
    expect(new Set(after.byMachine.values()).size).toBe(10);
    for (const [host, machine] of after.byHost) expect(after.byMachine.get(machine)).toBe(host);
    expect(after.machines.filter((m) => !m.status?.host)).toHaveLength(5);
    // The same picture in the manager's metrics.
    expect(await metric('ironplane_metal3_machines_waiting_for_host')).toBe(5);
    expect(await metric('ironplane_metal3_host_claim_attempts_total{result="claimed"}')).toBe(15);
  });
});

describe('shared host pools granted by HostDeployPolicy', () => {
  const POOL = 'pool-shared';

  it('given a pool granted only to tenant-b, should let tenant-b claim from it and keep tenant-a out, saying why', async () => {
    for (const [i, h] of ['p0', 'p1'].entries()) await createHost(w, POOL, h, { pool: 'shared' }, 200 + i);
    await grantPool(w, POOL, ['tenant-b']);
    await waitHostsAvailable(w, POOL, ['p0', 'p1']);
    await createCluster(w, 'tenant-a', 'ca', { hostPools: [{ namespace: POOL }] });
    await createCluster(w, 'tenant-b', 'cb', { hostPools: [{ namespace: POOL }] });

    const a = await until('tenant-a MetalCluster to report the missing grant', async () => {
      const mc = await w.client.get<MetalCluster>(MetalClusters, 'ca', 'tenant-a');
      return condition(mc, 'HostPoolsGranted')?.reason === 'PoolNotGranted' ? mc : undefined;
    }, 60_000);
    expect(condition(a, 'HostPoolsGranted')?.message).toBe(
      'host pool not granted to namespace tenant-a: pool-shared (no HostDeployPolicy there admits namespace tenant-a); hosts come only from tenant-a',
    );
    expect(a.status?.hostNamespaces).toEqual(['tenant-a']);

    await createMachine(w, 'tenant-a', 'ca', 'ma1', { spec: { hostSelector: { matchLabels: { pool: 'shared' } } } });
    await createMachine(w, 'tenant-b', 'cb', 'mb1', { spec: { hostSelector: { matchLabels: { pool: 'shared' } } } });
    const mb = await until('tenant-b machine to claim a pool host', async () => {
      const m = await metalMachine(w, 'tenant-b', 'mb1');
      return m.status?.host ? m : undefined;
    }, 60_000);
    expect(mb.status?.host?.namespace).toBe(POOL);
    expect(mb.spec?.providerID).toBe(`metal3://${POOL}/${mb.status!.host!.name}/mb1`);
    // The data Secrets sit next to the host, named so tenants cannot collide.
    await until('userdata next to the pool host', async () => w.client.tryGet(Secrets, dataSecretName('tenant-b', 'mb1', 'userdata'), POOL), 30_000);

    const ma = await until('tenant-a machine to say no host fits', async () => {
      const m = await metalMachine(w, 'tenant-a', 'ma1');
      return condition(m, 'HostClaimed')?.reason === 'NoHostAvailable' ? m : undefined;
    }, 60_000);
    expect(condition(ma, 'HostClaimed')?.message).toBe('no available BareMetalHost matches selector "pool=shared" in namespace tenant-a: none of the 0 host(s) there match the selector');
    const free = (await w.client.list<Host>(BareMetalHosts, { namespace: POOL })).items.filter((h) => !h.spec?.consumerRef);
    expect(free).toHaveLength(1);
  });

  it('given a grant by namespace label, should let tenant-a claim the remaining pool host once its namespace carries the label', async () => {
    await w.client.apply(HostDeployPolicies, {
      apiVersion: 'metal3.io/v1alpha1',
      kind: 'HostDeployPolicy',
      metadata: { name: 'gold-tenants', namespace: POOL },
      spec: { hostClaimNamespaces: { hasLabels: [{ name: 'ironplane.dev/tier', value: 'gold' }] } },
    }, { force: true });
    await w.client.mergePatch(Namespaces, 'tenant-a', undefined, { metadata: { labels: { 'ironplane.dev/tier': 'gold' } } });
    const ma = await until('tenant-a machine to claim the pool host', async () => {
      const m = await metalMachine(w, 'tenant-a', 'ma1');
      return m.status?.host ? m : undefined;
    }, 60_000);
    expect(ma.status?.host?.namespace).toBe(POOL);
    const mc = await w.client.get<MetalCluster>(MetalClusters, 'ca', 'tenant-a');
    expect(mc.status?.hostNamespaces).toEqual(['tenant-a', POOL]);
    expect(condition(mc, 'HostPoolsGranted')).toMatchObject({ status: 'True', reason: 'Granted' });
  });

  it('given a tenant writing its own MetalCluster status, should still not claim from an ungranted pool', async () => {
    await ensureNamespace(w.client, 'tenant-c');
    await createHost(w, 'pool-private', 'x0', { pool: 'private' }, 300);
    await waitHostsAvailable(w, 'pool-private', ['x0']);
    await createCluster(w, 'tenant-c', 'cc', { hostPools: [{ namespace: 'pool-private' }] });
    await until('cc provisioned', async () => (await w.client.get<MetalCluster>(MetalClusters, 'cc', 'tenant-c')).status?.initialization?.provisioned || undefined, 30_000);
    // A forged status: grants are evaluated from the policies, never read back from status.
    await w.client.patchStatus(MetalClusters, 'cc', 'tenant-c', { hostNamespaces: ['tenant-c', 'pool-private'] });
    await createMachine(w, 'tenant-c', 'cc', 'mc1', { spec: { hostSelector: { matchLabels: { pool: 'private' } } } });
    const m = await until('mc1 to wait for a host', async () => {
      const mm = await metalMachine(w, 'tenant-c', 'mc1');
      return condition(mm, 'HostClaimed')?.reason === 'NoHostAvailable' ? mm : undefined;
    }, 60_000);
    expect(m.status?.host).toBeUndefined();
    expect((await w.client.get<Host>(BareMetalHosts, 'x0', 'pool-private')).spec?.consumerRef).toBeUndefined();
  });
});
