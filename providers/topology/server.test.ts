// The request plumbing, over plain HTTP on loopback: routing, the body cap,
// malformed and mistyped requests, timeouts, handler errors, side effects and
// metrics. test/integration/topology covers the same server over HTTPS.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../kit/log.js';
import { hookPath } from './api.js';
import { ExtensionMetrics } from './metrics.js';
import { extensionHandler, parseGoDuration } from './server.js';
import type { Cluster } from '../capi/contract.js';
import type { StateSource } from './state.js';
import { MAX_ARRAY_ITEMS, MAX_DEPTH, MAX_VARIABLES } from './requests.js';
import { fixture, NO_RESERVED } from './testdata/fixtures.js';
import { heldCopy, memoryState } from './testdata/state.js';

let server: http.Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function start(state: StateSource = memoryState(), maxRequestBytes?: number) {
  await new Promise<void>((r) => (server?.listening ? server.close(() => r()) : r()));
  const metrics = new ExtensionMetrics({ processMetrics: false });
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  server = http.createServer(extensionHandler({ base: NO_RESERVED, state, log, metrics, maxRequestBytes, now: () => new Date('2026-11-28T01:00:00Z') }));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const call = (path: string, body: string | Buffer, method = 'POST') =>
    new Promise<{ code: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, method, headers: { 'Content-Type': 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const post = (path: string, body: unknown) => call(path, JSON.stringify(body));
  return { call, post, metrics, lines };
}

const PATCHES = hookPath('GeneratePatches', 'generate-patches');
const DELETE = hookPath('BeforeClusterDelete', 'before-cluster-delete');
const UPGRADE = hookPath('BeforeClusterUpgrade', 'before-cluster-upgrade');
const INITIALIZED = hookPath('AfterControlPlaneInitialized', 'after-control-plane-initialized');
const API = 'hooks.runtime.cluster.x-k8s.io/v1alpha1';
type Req = Record<string, unknown> & { cluster: Cluster };
const req = (name: string): Req => fixture<Req>(name);
/** The Cluster with its maintenance window open. */
const open = (c: Cluster): Cluster => ({ ...c, metadata: { ...c.metadata, annotations: { 'ironplane.dev/maintenance-window': 'open' } } });

describe('extension server', () => {
  it('given a discovery request, should answer with the handlers', async () => {
    const { post } = await start();
    const res = await post('/hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery', fixture('discovery'));
    expect(res.code).toBe(200);
    expect(res.body['status']).toBe('Success');
    expect((res.body['handlers'] as unknown[]).length).toBe(7);
  });

  it('given a hook request on its handler path, should answer it', async () => {
    const { post } = await start();
    const res = await post(`${PATCHES}?timeout=10s`, fixture('generatepatches-kvm'));
    expect(res.code).toBe(200);
    expect(res.body).toMatchObject({ kind: 'GeneratePatchesResponse', status: 'Success' });
    expect((res.body['items'] as unknown[]).length).toBe(6);
  });

  it('given an unknown path or a GET, should answer 404 or 405 with a JSON message', async () => {
    const { post, call } = await start();
    expect(await post('/hooks.runtime.cluster.x-k8s.io/v1alpha1/generatepatches/other', {})).toEqual({
      code: 404,
      body: { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'Status', status: 'Failure', message: 'no runtime hook handler at /hooks.runtime.cluster.x-k8s.io/v1alpha1/generatepatches/other: POST /hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery lists them' },
    });
    expect(await call(PATCHES, '', 'GET')).toMatchObject({ code: 405, body: { status: 'Failure', message: 'GET is not allowed: runtime hooks are called with POST' } });
  });

  it('given a body above the limit, should answer 413 without reading it all', async () => {
    const { call, metrics } = await start(memoryState(), 64 * 1024);
    const res = await call(PATCHES, Buffer.alloc(200 * 1024, 'x'));
    expect(res).toEqual({ code: 413, body: { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'GeneratePatchesResponse', status: 'Failure', message: "request body is larger than the extension's limit of 65536 bytes" } });
    expect((await metrics.errors.get()).values).toContainEqual({ labels: { hook: 'GeneratePatches', reason: 'too_large' }, value: 1 });
  });

  it('given malformed JSON, a wrong kind or apiVersion, or a bad shape, should answer Failure with a clear message', async () => {
    const { call, post } = await start();
    expect((await call(PATCHES, '{"apiVersion": ')).body).toEqual({
      apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
      kind: 'GeneratePatchesResponse',
      status: 'Failure',
      message: expect.stringMatching(/^request body is not valid JSON: /) as unknown,
    });
    expect((await post(PATCHES, { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'ValidateTopologyRequest', items: [] })).body['message']).toBe(
      'expected a GeneratePatchesRequest of hooks.runtime.cluster.x-k8s.io/v1alpha1 at /hooks.runtime.cluster.x-k8s.io/v1alpha1/generatepatches/generate-patches, got "ValidateTopologyRequest" of "hooks.runtime.cluster.x-k8s.io/v1alpha1"',
    );
    expect((await post(PATCHES, { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha2', kind: 'GeneratePatchesRequest', items: [] })).body['message']).toBe(
      'expected a GeneratePatchesRequest of hooks.runtime.cluster.x-k8s.io/v1alpha1 at /hooks.runtime.cluster.x-k8s.io/v1alpha1/generatepatches/generate-patches, got "GeneratePatchesRequest" of "hooks.runtime.cluster.x-k8s.io/v1alpha2"',
    );
    expect((await post(PATCHES, [1, 2])).body['message']).toBe('expected a GeneratePatchesRequest of hooks.runtime.cluster.x-k8s.io/v1alpha1 at /hooks.runtime.cluster.x-k8s.io/v1alpha1/generatepatches/generate-patches, got a JSON array');
    const bad = { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'GeneratePatchesRequest', items: [{ uid: '', holderReference: {}, object: {} }] };
    expect((await post(PATCHES, bad)).body).toMatchObject({ status: 'Failure', message: "invalid GeneratePatchesRequest: /items/0/holderReference must have required property 'apiVersion'" });
    const noCluster = { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'BeforeClusterDeleteRequest', cluster: { metadata: {} } };
    expect((await post(DELETE, noCluster)).body).toEqual({
      apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
      kind: 'BeforeClusterDeleteResponse',
      status: 'Failure',
      message: "invalid BeforeClusterDeleteRequest: /cluster must have required property 'spec'",
      retryAfterSeconds: 0,
    });
  });

  it('given a handler that throws, should answer Failure and keep serving', async () => {
    const { post, lines } = await start(memoryState({ clusters: [heldCopy('beforeclusterdelete')], release: () => Promise.reject(new Error('boom')) }));
    expect((await post(DELETE, fixture('beforeclusterdelete'))).body).toMatchObject({ status: 'Failure', message: 'internal error in the BeforeClusterDelete handler: boom' });
    expect(lines.find((l) => l['msg'] === 'runtime hook failed')).toMatchObject({ level: 'error', hook: 'BeforeClusterDelete' });
    expect((await post('/hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery', fixture('discovery'))).body['status']).toBe('Success');
  });

  it('given a handler slower than CAPI’s timeout, should answer Failure before CAPI gives up', async () => {
    const { post } = await start(memoryState({ clusters: [heldCopy('beforeclusterdelete')], release: () => new Promise(() => {}) }));
    const t0 = Date.now();
    const res = await post(`${DELETE}?timeout=250ms`, fixture('beforeclusterdelete'));
    expect(res.body).toMatchObject({ status: 'Failure', message: 'the extension did not finish within 200 ms' });
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('given AfterControlPlaneInitialized, should write the labels, and fail when the write fails', async () => {
    const state = memoryState();
    const { post } = await start(state);
    const path = hookPath('AfterControlPlaneInitialized', 'after-control-plane-initialized');
    expect((await post(path, fixture('aftercontrolplaneinitialized'))).body['status']).toBe('Success');
    expect(state.labelled.map((l) => l.labels)).toEqual([
      { 'ironplane.dev/addon-set': 'full', 'addons.ironplane.dev/cni': 'true', 'addons.ironplane.dev/csi': 'true', 'addons.ironplane.dev/monitoring': 'true', 'addons.ironplane.dev/policies': 'true' },
    ]);
    const failing = await start(memoryState({ label: () => Promise.reject(new Error('clusters.cluster.x-k8s.io "prod" is forbidden')) }));
    expect((await failing.post(path, fixture('aftercontrolplaneinitialized'))).body).toMatchObject({
      status: 'Failure',
      message: 'labelling Cluster team-a/prod for its add-ons failed: clusters.cluster.x-k8s.io "prod" is forbidden',
    });
  });

  it('given an upgrade let through, should record it against the class’s concurrency', async () => {
    const state = memoryState({ clusters: [open(heldCopy('beforeclusterupgrade'))] });
    const { post } = await start(state);
    const res = await post(UPGRADE, fixture('beforeclusterupgrade'));
    expect(res.body).toMatchObject({ status: 'Success', retryAfterSeconds: 0 });
    expect(state.admittedKeys).toEqual(['team-a/prod']);
  });

  it('should count requests, outcomes, errors and durations per hook', async () => {
    const { post, call, metrics } = await start(memoryState({ clusters: [heldCopy('beforeclusterdelete')], release: { services: [{ namespace: 'team-a', name: 'lb', labels: {}, addresses: [] }], machines: [], errors: [] } }));
    await post(PATCHES, fixture('generatepatches-kvm'));
    await call(PATCHES, 'nope');
    await post(DELETE, fixture('beforeclusterdelete'));
    const text = await metrics.registry.metrics();
    expect(text).toContain('ironplane_runtime_extension_requests_total{hook="GeneratePatches",outcome="Success"} 1');
    expect(text).toContain('ironplane_runtime_extension_requests_total{hook="GeneratePatches",outcome="Failure"} 1');
    expect(text).toContain('ironplane_runtime_extension_requests_total{hook="BeforeClusterDelete",outcome="Blocking"} 1');
    expect(text).toContain('ironplane_runtime_extension_errors_total{hook="GeneratePatches",reason="malformed_json"} 1');
    expect(text).toContain('ironplane_runtime_extension_request_duration_seconds_count{hook="GeneratePatches"} 2');
  });
});

const PATCHES_KIND = 'GeneratePatchesRequest';
/** A value nested `depth` objects deep, as JSON text: JSON.stringify would recurse that deep. */
const NESTED = '__nested__';
const nestedText = (depth: number): string => `${'{"a":'.repeat(depth)}"leaf"${'}'.repeat(depth)}`;
// The table edits recorded requests field by field, into shapes no type allows.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = Record<string, any>;
const withPatches = (f: (r: Body) => void) => (): [string, unknown] => {
  const r = fixture<Body>('generatepatches-kvm');
  f(r);
  return [PATCHES, r];
};
const withCluster = (path: string, name: string, f: (r: Body) => void) => (): [string, unknown] => {
  const r = fixture<Body>(name);
  f(r);
  return [path, r];
};

describe('malformed hook requests', () => {
  // Each is answered 200, Failure, naming the field; counted as invalid_request and logged at info, never as an internal error.
  const table: [string, () => [string, unknown], string][] = [
    ['a null variables list', withPatches((r) => (r['variables'] = null)), `invalid ${PATCHES_KIND}: /variables must be array`],
    ['a null variable in the list', withPatches((r) => r['variables'].push(null)), `invalid ${PATCHES_KIND}: /variables/9 must be object`],
    ['a variable without a value', withPatches((r) => r['variables'].push({ name: 'x' })), `invalid ${PATCHES_KIND}: /variables/9 must have required property 'value'`],
    ['a number for a holder reference apiVersion', withPatches((r) => (r['items'][0].holderReference.apiVersion = 5)), `invalid ${PATCHES_KIND}: /items/0/holderReference/apiVersion must be string`],
    ['a number for a template apiVersion', withPatches((r) => (r['items'][2].object.apiVersion = 1)), `invalid ${PATCHES_KIND}: /items/2/object/apiVersion must be string`],
    ['null items', withPatches((r) => (r['items'] = null)), `invalid ${PATCHES_KIND}: /items must be array`],
    ['an item without its uid', withPatches((r) => delete r['items'][1].uid), `invalid ${PATCHES_KIND}: /items/1 must have required property 'uid'`],
    ['null item variables', withPatches((r) => (r['items'][3].variables = null)), `invalid ${PATCHES_KIND}: /items/3/variables must be array`],
    ['a setting that is not a string', withPatches((r) => (r['settings'] = { upgradeConcurrency: 3 })), `invalid ${PATCHES_KIND}: /settings/upgradeConcurrency must be string`],
    [`a variable nested ${5000} levels deep`, withPatches((r) => r['variables'].push({ name: 'deep', value: NESTED })), `invalid ${PATCHES_KIND}: /variables/9/value${'/a'.repeat(MAX_DEPTH - 3)} is nested deeper than ${MAX_DEPTH} levels`],
    ['a 40,000-entry variable', withPatches((r) => r['variables'].push({ name: 'kairosImages', value: Array.from({ length: 40_000 }, (_, i) => `img-${i}`) })), `invalid ${PATCHES_KIND}: /variables/9/value must NOT have more than ${MAX_ARRAY_ITEMS} items`],
    [`${MAX_VARIABLES + 1} variables`, withPatches((r) => (r['variables'] = Array.from({ length: MAX_VARIABLES + 1 }, (_, i) => ({ name: `v${i}`, value: i })))), `invalid ${PATCHES_KIND}: /variables must NOT have more than ${MAX_VARIABLES} items`],
    ['a 300 KiB string in a template', withPatches((r) => (r['items'][0].object.spec.big = 'x'.repeat(300 * 1024))), `invalid ${PATCHES_KIND}: /items/0/object/spec/big must NOT have more than 262144 characters`],
    ['a lifecycle request without the Cluster’s uid', withCluster(UPGRADE, 'beforeclusterupgrade', (r) => delete r['cluster'].metadata.uid), "invalid BeforeClusterUpgradeRequest: /cluster/metadata must have required property 'uid'"],
    ['a number for the target version', withCluster(UPGRADE, 'beforeclusterupgrade', (r) => (r['toKubernetesVersion'] = 136)), 'invalid BeforeClusterUpgradeRequest: /toKubernetesVersion must be string'],
    ['null topology variables in the Cluster', withCluster(INITIALIZED, 'aftercontrolplaneinitialized', (r) => (r['cluster'].spec.topology.variables = null)), 'invalid AfterControlPlaneInitializedRequest: /cluster/spec/topology/variables must be array'],
    ['a Cluster the CRD schema refuses', withCluster(DELETE, 'beforeclusterdelete', (r) => (r['cluster'].spec.topology.classRef.name = 'Bad_Class')), 'invalid BeforeClusterDeleteRequest: /cluster/spec/topology/classRef/name must match pattern "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"'],
    ['a Cluster of another kind', withCluster(DELETE, 'beforeclusterdelete', (r) => (r['cluster'].kind = 'Machine')), 'invalid BeforeClusterDeleteRequest: /cluster/kind must be equal to constant: "Cluster"'],
    ['a string for the Cluster', withCluster(DELETE, 'beforeclusterdelete', (r) => (r['cluster'] = 'team-a/prod')), 'invalid BeforeClusterDeleteRequest: /cluster must be object'],
  ];

  it.each(table)('given %s, should answer Failure naming the field', async (_what, make, message) => {
    const { call, metrics, lines } = await start();
    const [path, body] = make();
    const res = await call(path, JSON.stringify(body).replace(`"${NESTED}"`, nestedText(5000)));
    expect(res.code).toBe(200);
    expect(res.body).toMatchObject({ apiVersion: API, status: 'Failure', message });
    const hook = String(res.body['kind']).replace(/Response$/, '');
    expect((await metrics.errors.get()).values).toContainEqual({ labels: { hook, reason: 'invalid_request' }, value: 1 });
    expect(lines.filter((l) => l['level'] === 'error')).toEqual([]);
    expect(lines.find((l) => l['msg'] === 'runtime hook not answered with Success')).toMatchObject({ level: 'info', message });
  });

});

describe('request depth', () => {
  it('given a body of a million brackets, should refuse it from its bytes, naming where it got too deep', async () => {
    const { call, metrics } = await start();
    const res = await call(PATCHES, `${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`);
    expect(res).toEqual({ code: 200, body: { apiVersion: API, kind: 'GeneratePatchesResponse', status: 'Failure', message: `invalid GeneratePatchesRequest: ${'/0'.repeat(MAX_DEPTH)} is nested deeper than ${MAX_DEPTH} levels` } });
    expect((await metrics.errors.get()).values).toContainEqual({ labels: { hook: 'GeneratePatches', reason: 'invalid_request' }, value: 1 });
  });

  it('given brackets and escaped quotes inside strings, should not count them', async () => {
    const { post } = await start();
    const r = fixture<Record<string, unknown> & { variables: unknown[] }>('generatepatches-kvm');
    r.variables.push({ name: 'note', value: `"\\${'[{'.repeat(500)}` });
    expect((await post(PATCHES, r)).body['status']).toBe('Success');
  });
});

describe('lifecycle hooks act on the Cluster the apiserver holds', () => {
  it('given AfterControlPlaneInitialized for a Cluster whose control plane is not initialised, should write nothing and say why', async () => {
    const state = memoryState({ clusters: [heldCopy('aftercontrolplaneinitialized')] });
    const { post } = await start(state);
    expect((await post(INITIALIZED, req('aftercontrolplaneinitialized'))).body).toEqual({
      apiVersion: API,
      kind: 'AfterControlPlaneInitializedResponse',
      status: 'Failure',
      message: 'the control plane of Cluster team-a/prod is not initialized (status.initialization.controlPlaneInitialized is not true): no add-on labels were written',
    });
    expect(state.labelled).toEqual([]);
  });

  it('given a forged uid or a Cluster that does not exist, should write nothing and give one message', async () => {
    const state = memoryState();
    const { post } = await start(state);
    const forged = req('aftercontrolplaneinitialized');
    forged.cluster.metadata.uid = 'forged-uid';
    expect((await post(INITIALIZED, forged)).body['message']).toBe(
      'Cluster team-a/prod with uid forged-uid is not a Cluster the apiserver holds: the request does not describe a real Cluster, so nothing was done',
    );
    const missing = req('aftercontrolplaneinitialized');
    missing.cluster.metadata.name = 'nope';
    expect((await post(INITIALIZED, missing)).body['message']).toBe(
      'Cluster team-a/nope with uid 9d7a0c8e-4b1f-4d55-8d7e-2f1f6a0c3b21 is not a Cluster the apiserver holds: the request does not describe a real Cluster, so nothing was done',
    );
    expect(state.labelled).toEqual([]);
  });

  it('given a request whose add-ons differ from the Cluster’s, should label from the Cluster, not the request', async () => {
    const state = memoryState();
    const { post } = await start(state);
    const forged = req('aftercontrolplaneinitialized');
    const vars = forged.cluster.spec.topology!.variables!;
    vars.splice(0, vars.length, { name: 'addons', value: 'none' });
    expect((await post(INITIALIZED, forged)).body['status']).toBe('Success');
    expect(state.labelled[0]?.labels).toMatchObject({ 'ironplane.dev/addon-set': 'full', 'addons.ironplane.dev/policies': 'true' });
  });

  it('given BeforeClusterUpgrade for a Cluster with no such upgrade pending, should take no slot and say why', async () => {
    const at = (version: string) => memoryState({ clusters: [open(heldCopy('beforeclusterupgrade'))], controlPlane: { what: 'KamajiControlPlane team-a/prod-x7k2p', spec: version } });
    const already = at('v1.36.0');
    const { post } = await start(already);
    expect((await post(UPGRADE, req('beforeclusterupgrade'))).body).toEqual({
      apiVersion: API,
      kind: 'BeforeClusterUpgradeResponse',
      status: 'Failure',
      message: 'no upgrade of Cluster team-a/prod to v1.36.0 is pending: its control plane KamajiControlPlane team-a/prod-x7k2p already has version v1.36.0: no upgrade slot was taken',
      retryAfterSeconds: 0,
    });
    const other = req('beforeclusterupgrade');
    other['toKubernetesVersion'] = 'v1.37.0';
    expect((await post(UPGRADE, other)).body['message']).toBe('no upgrade of Cluster team-a/prod to v1.37.0 is pending: its spec.topology.version is v1.36.0: no upgrade slot was taken');
    expect(already.admittedKeys).toEqual([]);
  });

  it('given a request claiming an open maintenance window, should follow the Cluster’s own annotation', async () => {
    const closed = heldCopy('beforeclusterupgrade');
    closed.metadata.annotations = { 'ironplane.dev/maintenance-window': 'closed' };
    const state = memoryState({ clusters: [closed] });
    const { post } = await start(state);
    const forged = req('beforeclusterupgrade');
    forged.cluster.metadata.annotations = { 'ironplane.dev/maintenance-window': 'open' };
    expect((await post(UPGRADE, forged)).body).toMatchObject({ status: 'Success', retryAfterSeconds: 300 });
    expect(state.admittedKeys).toEqual([]);
  });

  it('given settings in the request, should use the ExtensionConfig’s from the apiserver instead', async () => {
    const state = memoryState({ clusters: [open(heldCopy('beforeclusterupgrade'))], fleet: { classRef: 'platform/ironplane-kvm', upgrading: ['team-b/edge'] }, settings: { upgradeConcurrency: '1' } });
    const { post } = await start(state);
    const forged = { ...req('beforeclusterupgrade'), settings: { upgradeConcurrency: '100' } };
    expect((await post(UPGRADE, forged)).body).toMatchObject({
      status: 'Success',
      retryAfterSeconds: 60,
      message: '1 other Cluster of ClusterClass platform/ironplane-kvm is upgrading (team-b/edge) and at most 1 may upgrade at once: waiting for one to finish',
    });
    expect(state.admittedKeys).toEqual([]);
  });

  it('given BeforeClusterDelete for a Cluster not being deleted, should list nothing', async () => {
    let listed = 0;
    const release = async () => {
      listed++;
      return { services: [{ namespace: 'team-a', name: 'secret-service', labels: {}, addresses: ['192.0.2.1'] }], machines: [], errors: [] };
    };
    const { post } = await start(memoryState({ clusters: [heldCopy('beforeclusterupgrade')], release }));
    expect((await post(DELETE, req('beforeclusterdelete'))).body).toEqual({
      apiVersion: API,
      kind: 'BeforeClusterDeleteResponse',
      status: 'Failure',
      message: 'Cluster team-a/prod is not being deleted (it has no deletionTimestamp): nothing is reported',
      retryAfterSeconds: 0,
    });
    const elsewhere = req('beforeclusterdelete');
    elsewhere.cluster.metadata.namespace = 'team-b';
    expect((await post(DELETE, elsewhere)).body['message']).toBe(
      'Cluster team-b/prod with uid 9d7a0c8e-4b1f-4d55-8d7e-2f1f6a0c3b21 is not a Cluster the apiserver holds: the request does not describe a real Cluster, so nothing was done',
    );
    expect(listed).toBe(0);
  });
});

describe('parseGoDuration', () => {
  it('given Go durations as CAPI writes them, should read milliseconds', () => {
    expect(parseGoDuration('10s')).toBe(10_000);
    expect(parseGoDuration('1m30s')).toBe(90_000);
    expect(parseGoDuration('250ms')).toBe(250);
    expect(parseGoDuration('10')).toBeUndefined();
  });
});
