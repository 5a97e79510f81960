// The Metal3 provider never writes or deletes what it cannot prove its own,
// against the real apiserver, the real baremetal-operator and the manager's
// own RBAC: a data Secret someone else holds under the name a MetalMachine
// needs, and a host whose consumerRef names the machine but carries another
// uid (an earlier MetalMachine of the same name).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Secret } from '../../../providers/capi/tenant.js';
import { Events, Secrets, type KubeObject } from '../../../providers/kit/types.js';
import type { Host } from '../../../providers/metal3/hosts.js';
import { dataSecretName } from '../../../providers/metal3/names.js';
import { BareMetalHosts, MetalMachines } from '../../../providers/metal3/resources.js';
import { until } from '../processes.js';
import { condition, createCluster, createHost, createMachine, metalMachine, startWorld, waitHostsAvailable, type World } from './world.js';

let w: World;
const NS = 'owned';
const OWNER_LABELS = ['infrastructure.ironplane.dev/metal-machine', 'infrastructure.ironplane.dev/metal-machine-namespace', 'infrastructure.ironplane.dev/metal-machine-uid'];

beforeAll(async () => {
  w = await startWorld('metal3-ownership', { provisioner: 'demo' });
  w.startManager();
  await createHost(w, NS, 'h-secret', { case: 'secret' }, 1);
  await createHost(w, NS, 'h-uid', { case: 'uid' }, 2);
  await createCluster(w, NS, 'c');
  await waitHostsAvailable(w, NS, ['h-secret', 'h-uid']);
}, 180_000);

afterAll(async () => {
  if (w?.manager && process.env['IRONPLANE_TEST_LOG']) console.log(w.manager.output());
  await w?.stop();
});

const hostSpec = async (name: string) => (await w.client.get<Host>(BareMetalHosts, name, NS)).spec;

async function warned(name: string, reason: string): Promise<string[]> {
  return until(`a ${reason} event about MetalMachine ${name}`, async () => {
    const { items } = await w.client.list<KubeObject & { type?: string; reason?: string; note?: string; regarding?: { kind?: string; name?: string } }>(Events, { namespace: NS });
    const notes = items.filter((e) => e.type === 'Warning' && e.reason === reason && e.regarding?.kind === 'MetalMachine' && e.regarding.name === name).map((e) => e.note ?? '');
    return notes.length ? notes : undefined;
  });
}

const gone = (name: string) => until(`MetalMachine ${name} to be gone`, async () => (await w.client.tryGet(MetalMachines, name, NS)) === undefined, 120_000);

describe('names and hosts held by someone else', () => {
  it('given a data Secret of our name that is not ours, should not overwrite or delete it, and give the host no image', async () => {
    const name = dataSecretName(NS, 'm-sq', 'userdata');
    await w.client.create(Secrets, { metadata: { name, namespace: NS, labels: { team: 'platform' } }, type: 'Opaque', data: { userData: Buffer.from('not yours').toString('base64') } } as Secret);
    const before = await w.client.get<Secret>(Secrets, name, NS);
    await createMachine(w, NS, 'c', 'm-sq', { spec: { hostSelector: { matchLabels: { case: 'secret' } } } });

    const m = await until('DataSecretNotOwned', async () => {
      const mm = await metalMachine(w, NS, 'm-sq');
      return condition(mm, 'HostProvisioned')?.reason === 'DataSecretNotOwned' ? mm : undefined;
    }, 60_000);
    const message = `Secret ${NS}/${name} exists and does not belong to this MetalMachine: it carries no Ironplane ownership labels (${OWNER_LABELS.join(', ')}); it is left untouched, and BareMetalHost ${NS}/h-secret is not given an image until the name is free`;
    expect(condition(m, 'HostProvisioned')).toMatchObject({ status: 'False', message });
    expect(condition(m, 'HostClaimed')).toMatchObject({ status: 'True', reason: 'Claimed' });
    expect(await warned('m-sq', 'DataSecretNotOwned')).toEqual([message]);
    // Not a terminal failure: nothing a MachineHealthCheck should act on.
    expect(m.status?.deprecated).toBeUndefined();
    // Nothing half-written: no metadata Secret, no image, and the Secret as it was.
    expect(await w.client.tryGet(Secrets, dataSecretName(NS, 'm-sq', 'metadata'), NS)).toBeUndefined();
    expect((await hostSpec('h-secret'))?.image).toBeUndefined();
    const after = await w.client.get<Secret>(Secrets, name, NS);
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);

    await w.client.delete(MetalMachines, 'm-sq', NS);
    await gone('m-sq');
    expect((await hostSpec('h-secret'))?.consumerRef).toBeUndefined();
    expect((await w.client.get<Secret>(Secrets, name, NS)).metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(await warned('m-sq', 'DataSecretNotOwned')).toContain(
      `Secret ${NS}/${name} does not belong to this MetalMachine: it carries no Ironplane ownership labels (${OWNER_LABELS.join(', ')}); it is left in place`,
    );
  });

  it('given a host whose consumerRef names the machine with another uid, should neither provision nor release it', async () => {
    const stale = { apiVersion: 'infrastructure.ironplane.dev/v1alpha1', kind: 'MetalMachine', name: 'm-uid', namespace: NS, uid: '00000000-0000-0000-0000-00000000dead' };
    await w.client.mergePatch(BareMetalHosts, 'h-uid', NS, { spec: { consumerRef: stale } });
    const before = await hostSpec('h-uid');
    await createMachine(w, NS, 'c', 'm-uid', { spec: { hostSelector: { matchLabels: { case: 'uid' } } } });

    const m = await until('NoHostAvailable', async () => {
      const mm = await metalMachine(w, NS, 'm-uid');
      return condition(mm, 'HostClaimed')?.reason === 'NoHostAvailable' ? mm : undefined;
    }, 60_000);
    expect(condition(m, 'HostClaimed')?.message).toBe(`no available BareMetalHost matches selector "case=uid" in namespace ${NS}: 1 match the selector but none is claimable (1 claimed)`);
    expect(m.status?.host).toBeUndefined();
    expect(await hostSpec('h-uid')).toEqual(before);

    await w.client.delete(MetalMachines, 'm-uid', NS);
    await gone('m-uid');
    expect(await hostSpec('h-uid')).toEqual(before);
    expect((await hostSpec('h-uid'))?.consumerRef).toEqual(stale);
  });
});
