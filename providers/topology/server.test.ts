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
import type { StateSource } from './state.js';
import { fixture, NO_RESERVED, staticState } from './testdata/fixtures.js';

let server: http.Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function start(state: StateSource = staticState(), maxRequestBytes?: number) {
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
    const { call, metrics } = await start(staticState(), 64 * 1024);
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
    expect((await post(PATCHES, bad)).body).toMatchObject({ status: 'Failure', message: 'invalid GeneratePatchesRequest: items[0].uid must be a non-empty string' });
    const noCluster = { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'BeforeClusterDeleteRequest', cluster: { metadata: {} } };
    expect((await post(DELETE, noCluster)).body).toEqual({
      apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
      kind: 'BeforeClusterDeleteResponse',
      status: 'Failure',
      message: 'invalid BeforeClusterDeleteRequest: cluster must be a Cluster with metadata.name and metadata.namespace',
      retryAfterSeconds: 0,
    });
  });

  it('given a handler that throws, should answer Failure and keep serving', async () => {
    const { post, lines } = await start(staticState({ release: () => Promise.reject(new Error('boom')) }));
    expect((await post(DELETE, fixture('beforeclusterdelete'))).body).toMatchObject({ status: 'Failure', message: 'internal error in the BeforeClusterDelete handler: boom' });
    expect(lines.find((l) => l['msg'] === 'runtime hook failed')).toMatchObject({ level: 'error', hook: 'BeforeClusterDelete' });
    expect((await post('/hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery', fixture('discovery'))).body['status']).toBe('Success');
  });

  it('given a handler slower than CAPI’s timeout, should answer Failure before CAPI gives up', async () => {
    const { post } = await start(staticState({ release: () => new Promise(() => {}) }));
    const t0 = Date.now();
    const res = await post(`${DELETE}?timeout=250ms`, fixture('beforeclusterdelete'));
    expect(res.body).toMatchObject({ status: 'Failure', message: 'the extension did not finish within 200 ms' });
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('given AfterControlPlaneInitialized, should write the labels, and fail when the write fails', async () => {
    const state = staticState();
    const { post } = await start(state);
    const path = hookPath('AfterControlPlaneInitialized', 'after-control-plane-initialized');
    expect((await post(path, fixture('aftercontrolplaneinitialized'))).body['status']).toBe('Success');
    expect(state.labelled).toEqual([
      { 'ironplane.dev/addon-set': 'full', 'addons.ironplane.dev/cni': 'true', 'addons.ironplane.dev/csi': 'true', 'addons.ironplane.dev/monitoring': 'true', 'addons.ironplane.dev/policies': 'true' },
    ]);
    await new Promise<void>((r) => server!.close(() => r()));
    const failing = await start(staticState({ label: () => Promise.reject(new Error('clusters.cluster.x-k8s.io "prod" is forbidden')) }));
    expect((await failing.post(path, fixture('aftercontrolplaneinitialized'))).body).toMatchObject({
      status: 'Failure',
      message: 'labelling Cluster team-a/prod for its add-ons failed: clusters.cluster.x-k8s.io "prod" is forbidden',
    });
  });

  it('given an upgrade let through, should record it against the class’s concurrency', async () => {
    const state = staticState();
    const { post } = await start(state);
    const res = await post(hookPath('BeforeClusterUpgrade', 'before-cluster-upgrade'), fixture('beforeclusterupgrade'));
    expect(res.body).toMatchObject({ status: 'Success', retryAfterSeconds: 0 });
    expect(state.admittedKeys).toEqual(['team-a/prod']);
  });

  it('should count requests, outcomes, errors and durations per hook', async () => {
    const { post, call, metrics } = await start(staticState({ release: { services: [{ namespace: 'team-a', name: 'lb', labels: {}, addresses: [] }], machines: [], errors: [] } }));
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

describe('parseGoDuration', () => {
  it('given Go durations as CAPI writes them, should read milliseconds', () => {
    expect(parseGoDuration('10s')).toBe(10_000);
    expect(parseGoDuration('1m30s')).toBe(90_000);
    expect(parseGoDuration('250ms')).toBe(250);
    expect(parseGoDuration('10')).toBeUndefined();
  });
});
