// The kit against a real kube-apiserver: a sample controller reconciles,
// survives an apiserver restart, relists on 410 Gone, and a silent watch is
// restarted by the watchdog.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../harness/index.js';
import { Client } from '../../providers/kit/client.js';
import { FakeClock } from '../../providers/kit/clock.js';
import { getCondition } from '../../providers/kit/conditions.js';
import { Informer } from '../../providers/kit/informer.js';
import { createLogger } from '../../providers/kit/log.js';
import { Metrics } from '../../providers/kit/metrics.js';
import { EventRecorder } from '../../providers/kit/events.js';
import { ConfigMaps, Events, Namespaces, type KubeObject } from '../../providers/kit/types.js';
import { until } from './processes.js';
import { CONFIGMAP_READY, FINALIZER, PAUSED_ANNOTATION, widgetController, Widgets, type ConfigMap, type Widget } from '../sample/widgets/controller.js';

const CRD = path.resolve(import.meta.dirname, '../fixtures/crds/widgets.test.ironplane.dev.yaml');
const log = createLogger({ level: process.env['IRONPLANE_TEST_LOG'] ? 'debug' : 'error' });

let cp: ControlPlane;
let client: Client;

beforeAll(async () => {
  cp = await startControlPlane({ name: 'kit', crds: [CRD] });
  client = new Client(cp.kubeConfig, { fieldManager: 'kit-test' });
  await client.create(Namespaces, { metadata: { name: 'kit' } });
});

afterAll(async () => {
  client?.close();
  await cp?.stop();
});

describe('a sample controller built from the kit', () => {
  it('given a Widget, should add the finalizer, create its ConfigMap once, report status, and clean up on delete', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const { controller, widgets, configMaps, effects } = widgetController({ client, log, metrics });
    await Promise.all([widgets.start(), configMaps.start()]);
    await controller.start();
    try {
      await client.create<Widget>(Widgets, { metadata: { name: 'w1', namespace: 'kit' }, spec: { size: 3 } });
      const w = await until('w1 to be reconciled', async () => {
        const o = await client.get<Widget>(Widgets, 'w1', 'kit');
        return o.status?.observedSize === 3 && getCondition(o.status.conditions, 'Ready')?.status === 'True' ? o : undefined;
      });
      expect(w.metadata?.finalizers).toEqual([FINALIZER]);
      expect(getCondition(w.status?.conditions, CONFIGMAP_READY)).toMatchObject({ status: 'True', reason: 'Created', observedGeneration: 1 });
      expect(getCondition(w.status?.conditions, 'Paused')).toMatchObject({ status: 'False', reason: 'NotPaused' });
      const cm = await client.get<ConfigMap>(ConfigMaps, 'widget-w1', 'kit');
      expect(cm.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Widget', name: 'w1', uid: w.metadata?.uid, controller: true });

      // A change of spec is observed.
      await client.mergePatch(Widgets, 'w1', 'kit', { spec: { size: 5 } });
      await until('size 5 observed', async () => (await client.get<Widget>(Widgets, 'w1', 'kit')).status?.observedSize === 5);

      // Conditions owned by someone else survive our status patches.
      const live = await client.get<Widget>(Widgets, 'w1', 'kit');
      await client.patchStatus(Widgets, 'w1', 'kit', {
        conditions: [...(live.status?.conditions ?? []), { type: 'ForeignCondition', status: 'True', reason: 'SetElsewhere', lastTransitionTime: '2026-01-01T00:00:00Z' }],
      });
      await client.mergePatch(Widgets, 'w1', 'kit', { spec: { size: 6 } });
      const after = await until('size 6 observed', async () => {
        const o = await client.get<Widget>(Widgets, 'w1', 'kit');
        return o.status?.observedSize === 6 ? o : undefined;
      });
      expect(getCondition(after.status?.conditions, 'ForeignCondition')?.reason).toBe('SetElsewhere');

      // Paused: the Paused condition says why, and spec changes wait.
      await client.mergePatch(Widgets, 'w1', 'kit', { metadata: { annotations: { [PAUSED_ANNOTATION]: '' } } });
      await until('Paused to be True', async () => getCondition((await client.get<Widget>(Widgets, 'w1', 'kit')).status?.conditions, 'Paused')?.status === 'True');
      const paused = await client.get<Widget>(Widgets, 'w1', 'kit');
      expect(getCondition(paused.status?.conditions, 'Paused')).toMatchObject({ reason: 'Paused', message: `annotation ${PAUSED_ANNOTATION} is set` });
      const changed = await client.mergePatch<Widget>(Widgets, 'w1', 'kit', { spec: { size: 7 } });
      // Paused is rewritten for the new generation: the change was seen, and skipped.
      const seen = await until('the paused reconcile of the new generation', async () => {
        const o = await client.get<Widget>(Widgets, 'w1', 'kit');
        return getCondition(o.status?.conditions, 'Paused')?.observedGeneration === changed.metadata?.generation ? o : undefined;
      });
      expect(seen.status?.observedSize).toBe(6);
      await client.mergePatch(Widgets, 'w1', 'kit', { metadata: { annotations: { [PAUSED_ANNOTATION]: null } } });
      await until('size 7 observed after unpausing', async () => (await client.get<Widget>(Widgets, 'w1', 'kit')).status?.observedSize === 7);

      // Deletion: the ConfigMap goes first, then the finalizer, then the Widget.
      await client.delete(Widgets, 'w1', 'kit');
      await until('w1 to be gone', async () => (await client.tryGet(Widgets, 'w1', 'kit')) === undefined);
      expect(await client.tryGet(ConfigMaps, 'widget-w1', 'kit')).toBeUndefined();
      // Exactly one create succeeded. A reconcile that ran on a cache not yet
      // showing the ConfigMap may have tried again and been refused with
      // AlreadyExists: deterministic names make that harmless.
      expect(effects.configMapsCreated).toBe(1);

      const text = await metrics.registry.metrics();
      expect(text).toMatch(/controller_runtime_reconcile_total\{controller="widget",result="success"\} [1-9]/);
      expect(text).toMatch(/workqueue_adds_total\{name="widget",controller="widget"\} [1-9]/);
      expect(text).toContain('controller_runtime_reconcile_time_seconds_bucket');
    } finally {
      await controller.stop();
      await Promise.all([widgets.stop(), configMaps.stop()]);
    }
  });

  it('given the apiserver restarts mid-watch, should reconcile an object created before the watch resumes, without duplicate side effects', async () => {
    // The informers back off on a fake clock: after the outage they stay
    // disconnected until the test moves time on, so the new Widget is surely
    // created while they are away and must come from the resumed watch.
    const clock = new FakeClock(Date.now());
    const { controller, widgets, configMaps, effects } = widgetController({ client, log, informerOpts: { clock, retryMinMs: 1000, retryMaxMs: 1000 } });
    await Promise.all([widgets.start(), configMaps.start()]);
    await controller.start();
    try {
      await client.create<Widget>(Widgets, { metadata: { name: 'before', namespace: 'kit' }, spec: { size: 1 } });
      await until('before to be reconciled', async () => (await client.get<Widget>(Widgets, 'before', 'kit')).status?.observedSize === 1);

      await cp.stopApiServer();
      await until('the informers to notice the outage', () => widgets.stats.errors > 0 && configMaps.stats.errors > 0);
      await cp.startApiServer();
      client.close(); // drop pooled connections to the old process
      const watchesBefore = widgets.stats.watches;
      await client.create<Widget>(Widgets, { metadata: { name: 'during', namespace: 'kit' }, spec: { size: 2 } });
      expect(widgets.stats.watches).toBe(watchesBefore);

      await until('during to be reconciled', async () => {
        clock.advance(1000);
        return (await client.get<Widget>(Widgets, 'during', 'kit')).status?.observedSize === 2;
      }, 60_000);
      expect(widgets.stats.watches).toBeGreaterThan(watchesBefore);
      expect(effects.configMapsCreated).toBe(2);
      const cms = await client.list<ConfigMap>(ConfigMaps, { namespace: 'kit', labelSelector: 'test.ironplane.dev/widget' });
      expect(cms.items.map((c) => c.metadata?.name).sort()).toEqual(['widget-before', 'widget-during']);
    } finally {
      await controller.stop();
      await Promise.all([widgets.stop(), configMaps.stop()]);
    }
  });
});

describe('the informer', () => {
  it('given its resourceVersion is compacted away, should get 410 Gone, relist, and synthesise the events it missed', async () => {
    await client.create<ConfigMap>(ConfigMaps, { metadata: { name: 'keep', namespace: 'kit', labels: { gone: 'test' } } });
    await client.create<ConfigMap>(ConfigMaps, { metadata: { name: 'drop', namespace: 'kit', labels: { gone: 'test' } } });
    const events: string[] = [];
    // Back-off on a fake clock: the informer stays away until the test moves time on.
    const clock = new FakeClock(Date.now());
    const inf = new Informer<ConfigMap>(client, ConfigMaps, { namespace: 'kit', labelSelector: 'gone=test', log, clock, retryMinMs: 1000, retryMaxMs: 1000 });
    inf.addHandlers({ add: (o) => events.push(`add ${o.metadata?.name}`), delete: (o) => events.push(`delete ${o.metadata?.name}`) });
    await inf.start();
    expect(events.sort()).toEqual(['add drop', 'add keep']);
    events.length = 0;

    // Restart the apiserver with etcd compacted to its current revision: the
    // new watch cache cannot serve the informer's old resourceVersion.
    await cp.stopApiServer();
    await compactEtcd(cp.etcdUrl);
    await until('the informer to notice the outage', () => inf.stats.errors > 0);
    await cp.startApiServer();
    client.close();
    await client.delete(ConfigMaps, 'drop', 'kit');
    await client.create<ConfigMap>(ConfigMaps, { metadata: { name: 'new', namespace: 'kit', labels: { gone: 'test' } } });
    expect(events).toEqual([]);

    await until('the relist to deliver the missed events', () => {
      clock.advance(1000);
      return events.length >= 2;
    }, 60_000);
    expect(inf.stats.gone).toBeGreaterThanOrEqual(1);
    expect(inf.stats.lists).toBeGreaterThanOrEqual(2);
    expect(events.sort()).toEqual(['add new', 'delete drop']);
    expect(inf.list().map((o) => o.metadata?.name).sort()).toEqual(['keep', 'new']);
    await inf.stop();
  });

  it('given a watch that stays silent, should restart it from the last resourceVersion without relisting', async () => {
    const inf = new Informer<ConfigMap>(client, ConfigMaps, { namespace: 'kit', labelSelector: 'silent=test', log, watchdogMs: 1000, watchTimeoutSeconds: 600 });
    await inf.start();
    await until('the watchdog to fire twice', () => inf.stats.watchdogRestarts >= 2, 20_000);
    expect(inf.stats.lists).toBe(1);
    // The restarted watch still delivers events.
    await client.create<ConfigMap>(ConfigMaps, { metadata: { name: 'after-silence', namespace: 'kit', labels: { silent: 'test' } } });
    await until('the new object in the cache', () => inf.get('kit/after-silence'));
    await inf.stop();
  });
});

/** Compacts etcd at its current revision through etcd's JSON gateway. */
async function compactEtcd(etcdUrl: string): Promise<void> {
  const post = async (p: string, body: unknown) => {
    const r = await fetch(`${etcdUrl}${p}`, { method: 'POST', body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`etcd ${p}: HTTP ${r.status} ${await r.text()}`);
    return (await r.json()) as { header?: { revision?: string } };
  };
  const range = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64') });
  const revision = range.header?.revision;
  if (!revision) throw new Error('etcd did not report its revision');
  await post('/v3/kv/compaction', { revision, physical: true });
}

describe('the event recorder', () => {
  it('given the same event twice, should create one Event with a series count of 2, and a new one for another reason', async () => {
    const cm = await client.create<ConfigMap>(ConfigMaps, { metadata: { name: 'evented', namespace: 'kit' } });
    const rec = new EventRecorder(client, 'ironplane.dev/test-controller', 'replica-0', log);
    await rec.event({ ...cm, apiVersion: 'v1', kind: 'ConfigMap' }, 'Warning', 'NoHostAvailable', 'no BareMetalHost matches selector role=worker');
    await rec.event({ ...cm, apiVersion: 'v1', kind: 'ConfigMap' }, 'Warning', 'NoHostAvailable', 'no BareMetalHost matches selector role=worker');
    await rec.event({ ...cm, apiVersion: 'v1', kind: 'ConfigMap' }, 'Normal', 'Provisioned', 'x'.repeat(2000));
    const events = await client.list<KubeObject & { reason?: string; note?: string; series?: { count: number }; regarding?: { uid?: string }; reportingController?: string }>(Events, {
      namespace: 'kit',
      fieldSelector: `regarding.uid=${cm.metadata?.uid}`,
    });
    const byReason = Object.fromEntries(events.items.map((e) => [e.reason, e]));
    expect(events.items).toHaveLength(2);
    expect(byReason['NoHostAvailable']?.series?.count).toBe(2);
    expect(byReason['NoHostAvailable']?.reportingController).toBe('ironplane.dev/test-controller');
    expect(byReason['Provisioned']?.note).toHaveLength(1024);
  });

  it('given an event the apiserver rejects, should log and not throw', async () => {
    const lines: string[] = [];
    const rec = new EventRecorder(client, 'bad controller name!', 'r', createLogger({ write: (l) => lines.push(l) }));
    await rec.event({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'kit', uid: 'u' } }, 'Normal', 'R', 'n');
    expect(lines.join('\n')).toContain('cannot record event');
    expect(lines.join('\n')).toContain('reportingController');
  });
});
