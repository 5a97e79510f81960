import http from 'node:http';
import { Gauge } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from './metrics.js';
import { closeServer, listen, parseBindAddress, probeServer } from './server.js';

describe('parseBindAddress', () => {
  it('should accept host:port, :port and 0', () => {
    expect(parseBindAddress('127.0.0.1:8081')).toEqual({ host: '127.0.0.1', port: 8081 });
    expect(parseBindAddress(':8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseBindAddress('0')).toBeUndefined();
  });

  it('given an address without a port, should say what to use', () => {
    expect(() => parseBindAddress('localhost')).toThrow('invalid bind address "localhost": use host:port, :port or 0 to disable');
  });

  it('given a port out of range, should refuse it', () => {
    expect(() => parseBindAddress(':70000')).toThrow('invalid bind address ":70000": port must be at most 65535');
  });
});

describe('probeServer', () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    if (server) await closeServer(server);
  });

  it('should answer ok, name failing checks with 500, serve metrics and 404 elsewhere', async () => {
    let synced = false;
    const metrics = new Metrics({ processMetrics: false });
    metrics.reconcileTotal.inc({ controller: 'x', result: 'success' });
    server = probeServer({ healthz: { ping: () => undefined }, readyz: { informers: () => (synced ? undefined : 'caches not synced') }, metrics });
    const port = await listen(server, '127.0.0.1', 0);
    const get = async (p: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${p}`);
      return { status: r.status, text: await r.text() };
    };
    expect(await get('/healthz')).toEqual({ status: 200, text: 'ok' });
    expect(await get('/readyz')).toEqual({ status: 500, text: '[-]informers failed: reason withheld\n' });
    synced = true;
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/metrics')).text).toContain('controller_runtime_reconcile_total{controller="x",result="success"} 1');
    expect((await get('/nope')).status).toBe(404);
  });

  it('given a collector that fails, should answer 500 without its error', async () => {
    const metrics = new Metrics({ processMetrics: false });
    new Gauge({
      name: 'broken',
      help: 'fails to collect',
      registers: [metrics.registry],
      collect() {
        throw new Error('password=hunter2 in a connection string');
      },
    });
    server = probeServer({ healthz: {}, readyz: {}, metrics });
    const port = await listen(server, '127.0.0.1', 0);
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect({ status: r.status, text: await r.text() }).toEqual({ status: 500, text: 'cannot collect metrics\n' });
  });
});
