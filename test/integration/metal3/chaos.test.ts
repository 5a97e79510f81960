// The Metal3 manager is killed (SIGKILL) at random points while machines
// claim, provision and release hosts. Compare-and-swap claims, the claims a
// new process rebuilds from the host cache, and finalizers must leave no
// host claimed twice and no host claimed by a machine that is gone.
// IRONPLANE_CHAOS_SEED=<n> replays a run (the seed is printed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetalMachine } from '../../../providers/api/generated/ironplane/v1alpha1/metalmachine.js';
import { Secrets, type KubeObject } from '../../../providers/kit/types.js';
import { consumerOf, type Host } from '../../../providers/metal3/hosts.js';
import { METAL_MACHINE_LABEL } from '../../../providers/metal3/names.js';
import { BareMetalHosts, MetalMachines } from '../../../providers/metal3/resources.js';
import { chaosRandom, until } from '../processes.js';
import { createCluster, createHost, createMachine, startWorld, waitHostsAvailable, type World } from './world.js';

const HOSTS = 14;
const MACHINES = 12;
const DELETE_KILLS = 10;
const NS = 'chaos';

const { seed, random } = chaosRandom();
let w: World;
/** Double claims seen by a poller that runs through the whole test. */
const doubleClaims: string[] = [];
let poller: NodeJS.Timeout | undefined;

beforeAll(async () => {
  console.log(JSON.stringify({ chaosSeed: seed }));
  w = await startWorld('metal3-chaos', { provisioner: 'demo' });
  for (let i = 0; i < HOSTS; i++) await createHost(w, NS, `h${i}`, { pool: 'chaos' }, 500 + i);
  await createCluster(w, NS, 'kill');
  await waitHostsAvailable(w, NS, Array.from({ length: HOSTS }, (_, i) => `h${i}`));
  poller = setInterval(() => {
    void w.client
      .list<Host>(BareMetalHosts, { namespace: NS })
      .then(({ items }) => {
        const byMachine = new Map<string, string[]>();
        for (const h of items) {
          const c = consumerOf(h);
          if (c) byMachine.set(c.name, [...(byMachine.get(c.name) ?? []), h.metadata!.name!]);
        }
        for (const [m, hs] of byMachine) if (hs.length > 1) doubleClaims.push(`${m}: ${hs.join(', ')}`);
      })
      .catch(() => undefined);
  }, 250);
}, 180_000);

afterAll(async () => {
  if (poller) clearInterval(poller);
  await w?.stop();
});

/** Starts the manager and kills it after a random 0–2.5 s: during start-up, listing, or mid-reconcile. */
async function killSoon(): Promise<void> {
  w.startManager();
  await new Promise((r) => setTimeout(r, Math.floor(random() * 2500)));
  await w.stopManager('SIGKILL');
}

async function table(): Promise<{ hosts: Host[]; machines: MetalMachine[] }> {
  return {
    hosts: (await w.client.list<Host>(BareMetalHosts, { namespace: NS })).items,
    machines: (await w.client.list<MetalMachine>(MetalMachines, { namespace: NS })).items,
  };
}

describe('the Metal3 manager killed at random points', () => {
  it(`given ${MACHINES} claims, each interrupted by a SIGKILL, should end with one host per machine and each host claimed once`, async () => {
    for (let i = 0; i < MACHINES; i++) {
      await createMachine(w, NS, 'kill', `k${i}`, { spec: { hostSelector: { matchLabels: { pool: 'chaos' } } } });
      await killSoon();
    }
    w.startManager();
    const t = await until('every MetalMachine to be provisioned', async () => {
      const x = await table();
      return x.machines.filter((m) => m.status?.initialization?.provisioned).length === MACHINES ? x : undefined;
    }, 240_000);
    const claimed = t.hosts.filter((h) => consumerOf(h));
    expect(claimed).toHaveLength(MACHINES);
    for (const m of t.machines) {
      const mine = claimed.filter((h) => consumerOf(h)?.name === m.metadata.name);
      expect(mine.map((h) => h.metadata!.name)).toEqual([m.status!.host!.name]);
      expect(mine[0]!.spec?.consumerRef?.uid).toBe(m.metadata.uid);
    }
    expect(doubleClaims).toEqual([]);
    await w.stopManager();
  });

  it(`given deletion interrupted by ${DELETE_KILLS} SIGKILLs, should release every host and leave no data Secret behind`, async () => {
    for (const m of (await table()).machines) await w.client.delete(MetalMachines, m.metadata.name!, NS);
    for (let i = 0; i < DELETE_KILLS; i++) await killSoon();
    w.startManager();
    await until('the machines to be gone', async () => (await table()).machines.length === 0, 240_000);
    const { hosts } = await table();
    expect(hosts.filter((h) => h.spec?.consumerRef).map((h) => h.metadata!.name)).toEqual([]);
    await until('every host to be available again', async () => (await table()).hosts.every((h) => h.status?.provisioning?.state === 'available'), 60_000);
    expect((await w.client.list<KubeObject>(Secrets, { namespace: NS, labelSelector: METAL_MACHINE_LABEL })).items).toEqual([]);
    expect(doubleClaims).toEqual([]);
  });
});
