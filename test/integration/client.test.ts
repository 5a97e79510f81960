// Every verb of the kit's client against the real apiserver, including the
// failure modes reconcilers rely on (conflict, not found, invalid).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../harness/index.js';
import { ApiError, Client, isAlreadyExists, isConflict, isInvalid, isNotFound } from '../../providers/kit/client.js';
import { ConfigMaps, Namespaces } from '../../providers/kit/types.js';
import { Widgets, type ConfigMap, type Widget } from '../sample/widgets/controller.js';

const CRD = path.resolve(import.meta.dirname, '../fixtures/crds/widgets.test.ironplane.dev.yaml');
let cp: ControlPlane;
let client: Client;

beforeAll(async () => {
  cp = await startControlPlane({ name: 'client', crds: [CRD] });
  client = new Client(cp.kubeConfig, { fieldManager: 'client-test' });
  await client.create(Namespaces, { metadata: { name: 'c' } });
});

afterAll(async () => {
  client?.close();
  await cp?.stop();
});

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected the apiserver to refuse');
}

describe('Client', () => {
  it('should create, get, replace with optimistic locking, and refuse a stale resourceVersion with Conflict', async () => {
    const created = await client.create<ConfigMap>(ConfigMaps, { metadata: { name: 'a', namespace: 'c' }, data: { k: '1' } });
    expect(created.metadata?.uid).toBeTruthy();
    const got = await client.get<ConfigMap>(ConfigMaps, 'a', 'c');
    await client.replace<ConfigMap>(ConfigMaps, { ...got, data: { k: '2' } });
    const stale = await rejection(client.replace<ConfigMap>(ConfigMaps, { ...got, data: { k: '3' } }));
    expect(isConflict(stale)).toBe(true);
    expect(stale.message).toContain('the object has been modified');
    expect(isAlreadyExists(await rejection(client.create(ConfigMaps, { metadata: { name: 'a', namespace: 'c' } })))).toBe(true);
  });

  it('given a missing object, get should be NotFound, tryGet undefined and delete false', async () => {
    expect(isNotFound(await rejection(client.get(ConfigMaps, 'missing', 'c')))).toBe(true);
    expect(await client.tryGet(ConfigMaps, 'missing', 'c')).toBeUndefined();
    expect(await client.delete(ConfigMaps, 'missing', 'c')).toBe(false);
  });

  it('should merge-patch, JSON-patch, and report a failed JSON-patch test op as Invalid', async () => {
    await client.create<ConfigMap>(ConfigMaps, { metadata: { name: 'p', namespace: 'c' }, data: { a: '1', b: '2' } });
    const merged = await client.mergePatch<ConfigMap>(ConfigMaps, 'p', 'c', { data: { a: null, c: '3' } });
    expect(merged.data).toEqual({ b: '2', c: '3' });
    const patched = await client.jsonPatch<ConfigMap>(ConfigMaps, 'p', 'c', [
      { op: 'test', path: '/data/b', value: '2' },
      { op: 'replace', path: '/data/b', value: '20' },
    ]);
    expect(patched.data?.['b']).toBe('20');
    const failed = await rejection(client.jsonPatch(ConfigMaps, 'p', 'c', [{ op: 'test', path: '/data/b', value: 'wrong' }]));
    expect(isInvalid(failed)).toBe(true);
  });

  it('should server-side apply as its field manager, and refuse conflicting ownership unless forced', async () => {
    await client.apply<ConfigMap>(ConfigMaps, { metadata: { name: 'ssa', namespace: 'c' }, data: { owned: 'by-client-test' } });
    const other = new Client(cp.kubeConfig, { fieldManager: 'someone-else' });
    try {
      const conflict = await rejection(other.apply<ConfigMap>(ConfigMaps, { metadata: { name: 'ssa', namespace: 'c' }, data: { owned: 'taken' } }));
      expect(conflict.code).toBe(409);
      expect(conflict.message).toContain('client-test');
      const forced = await other.apply<ConfigMap>(ConfigMaps, { metadata: { name: 'ssa', namespace: 'c' }, data: { owned: 'taken' } }, { force: true });
      expect(forced.data?.['owned']).toBe('taken');
    } finally {
      other.close();
    }
  });

  it('should patch status only through the status subresource, and say why the apiserver rejects bad input', async () => {
    await client.create<Widget>(Widgets, { metadata: { name: 'w', namespace: 'c' }, spec: { size: 1 } });
    await client.patchStatus<Widget>(Widgets, 'w', 'c', { observedSize: 1 });
    // status in the main endpoint is ignored for kinds with a status subresource
    await client.mergePatch<Widget>(Widgets, 'w', 'c', { status: { observedSize: 99 } });
    expect((await client.get<Widget>(Widgets, 'w', 'c')).status?.observedSize).toBe(1);
    const invalid = await rejection(client.mergePatch(Widgets, 'w', 'c', { spec: { size: -1 } }));
    expect(isInvalid(invalid)).toBe(true);
    expect(invalid.message).toContain('spec.size');
  });

  it('given a dry run, should validate without persisting', async () => {
    await client.create<ConfigMap>(ConfigMaps, { metadata: { name: 'dry', namespace: 'c' } }, { dryRun: true });
    expect(await client.tryGet(ConfigMaps, 'dry', 'c')).toBeUndefined();
  });

  it('should follow continue tokens until a list is complete', async () => {
    await client.create(Namespaces, { metadata: { name: 'paged' } });
    for (let i = 0; i < 7; i++) await client.create<ConfigMap>(ConfigMaps, { metadata: { name: `cm-${i}`, namespace: 'paged', labels: { paged: 'yes' } } });
    const all = await client.list<ConfigMap>(ConfigMaps, { namespace: 'paged', labelSelector: 'paged=yes', limit: 2 });
    expect(all.items.map((c) => c.metadata?.name).sort()).toEqual(['cm-0', 'cm-1', 'cm-2', 'cm-3', 'cm-4', 'cm-5', 'cm-6']);
    expect(all.items[0]).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap' });
    expect(all.resourceVersion).toBeTruthy();
  });

  it('given server-side apply without a name, should refuse before sending', () => {
    expect(() => client.apply(ConfigMaps, { metadata: { namespace: 'c' } })).toThrow('server-side apply of ConfigMap needs metadata.name');
  });
});
