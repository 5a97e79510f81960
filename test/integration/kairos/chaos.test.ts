// The Kairos manager is killed (SIGKILL) at random points while it renders
// bootstrap data and creates tokens. Token ids derived from the KairosConfig
// and Secrets found again by name must leave exactly one token per config in
// the tenant, the one its bootstrap data carries, and later reconciles must
// rewrite nothing. The random delays come from a seeded generator:
// IRONPLANE_CHAOS_SEED=<n> replays a run (the seed is printed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KairosConfig } from '../../../providers/api/generated/ironplane/v1alpha1/kairosconfig.js';
import type { Secret } from '../../../providers/capi/tenant.js';
import { Secrets } from '../../../providers/kit/types.js';
import { TOKEN_OWNER_LABEL } from '../../../providers/kairos/names.js';
import { KairosConfigs } from '../../../providers/kairos/resources.js';
import { parseCloudConfig, type CloudConfig } from '../../sim/cloudinit.js';
import { findKubeadmJoin } from '../../sim/join.js';
import { chaosRandom, until } from '../processes.js';
import { bootstrapValue, createCluster, createMachine, reconcileCount, startWorld, tenantClient, type World } from './world.js';

const CONFIGS = 20;
const KILLS = 12;
const NS = 'chaos';

const { seed, random } = chaosRandom();
let w: World;

beforeAll(async () => {
  console.log(JSON.stringify({ chaosSeed: seed }));
  w = await startWorld('kairos-chaos');
  await createCluster(w, NS, 'kill');
}, 180_000);

afterAll(async () => {
  await w?.stop();
});

/** Starts the manager and kills it after a random 0.3–3 s: during start-up, token creation or rendering. */
async function killSoon(): Promise<void> {
  w.startManager();
  await new Promise((r) => setTimeout(r, 300 + Math.floor(random() * 2700)));
  await w.stopManager('SIGKILL');
}

const configs = async () => (await w.client.list<KairosConfig>(KairosConfigs, { namespace: NS })).items;

describe('the Kairos manager killed at random points', () => {
  it(`given ${CONFIGS} KairosConfigs and ${KILLS} SIGKILLs, should end with one token per config, the one in its bootstrap data, and no churn after`, async () => {
    // Created while the manager runs (its webhook admits them), which it starts on at once.
    w.startManager();
    await w.webhooksUp();
    for (let i = 0; i < CONFIGS; i++) await createMachine(w, NS, 'kill', `k${i}`);
    await w.stopManager('SIGKILL');
    for (let i = 0; i < KILLS; i++) await killSoon();
    w.startManager();
    await until('every KairosConfig to have its bootstrap data', async () => (await configs()).filter((c) => c.status?.initialization?.dataSecretCreated).length === CONFIGS, 120_000);

    const tenant = tenantClient(w, `${NS}/kill`);
    try {
      const tokens = (await tenant.list<Secret>(Secrets, { namespace: 'kube-system', labelSelector: TOKEN_OWNER_LABEL })).items;
      expect(tokens).toHaveLength(CONFIGS);
      const decoded = (s: Secret, k: string) => Buffer.from(s.data![k]!, 'base64').toString('utf8');
      for (const kc of await configs()) {
        const own = tokens.filter((t) => t.metadata?.labels?.[TOKEN_OWNER_LABEL] === kc.metadata.uid);
        expect(own).toHaveLength(1);
        const cc = parseCloudConfig(await bootstrapValue(w, NS, kc.metadata.name!)) as CloudConfig;
        expect(findKubeadmJoin(cc)?.token).toBe(`${decoded(own[0]!, 'token-id')}.${decoded(own[0]!, 'token-secret')}`);
        expect(kc.status?.bootstrapToken?.id).toBe(decoded(own[0]!, 'token-id'));
      }
    } finally {
      tenant.close();
    }

    // A fresh manager reconciles everything again and changes nothing.
    const versions = async () => Object.fromEntries((await w.client.list<Secret>(Secrets, { namespace: NS })).items.filter((s) => s.metadata?.ownerReferences?.[0]?.kind === 'KairosConfig').map((s) => [s.metadata!.name!, s.metadata!.resourceVersion]));
    const before = await versions();
    expect(Object.keys(before)).toHaveLength(CONFIGS);
    await w.stopManager();
    w.startManager();
    await until('a fresh manager to reconcile every KairosConfig', async () => (await reconcileCount(w).catch(() => 0)) >= CONFIGS, 60_000);
    expect(await versions()).toEqual(before);
  }, 300_000);
});
