import http from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Client } from './client.js';
import { closeServer, listen } from './server.js';
import { ConfigMaps } from './types.js';

describe('Client write options', () => {
  let server: http.Server;
  let client: Client;
  const seen: { method: string; query: URLSearchParams }[] = [];

  beforeEach(async () => {
    seen.length = 0;
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      seen.push({ method: req.method ?? '', query: url.searchParams });
      req.resume();
      req.on('end', () => {
        res.setHeader('Content-Type', 'application/json');
        res.end('{}');
      });
    });
    const port = await listen(server, '127.0.0.1', 0);
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    client = new Client(kc, { fieldManager: 'client-test' });
  });

  afterEach(async () => {
    client.close();
    await closeServer(server);
  });

  const cm = { metadata: { name: 'a', namespace: 'ns' } };

  it('given fieldValidation, should send it as the query parameter on every write verb', async () => {
    await client.create(ConfigMaps, cm, { fieldValidation: 'Strict', dryRun: true });
    await client.replace(ConfigMaps, cm, { fieldValidation: 'Warn' });
    await client.mergePatch(ConfigMaps, 'a', 'ns', {}, { fieldValidation: 'Ignore' });
    await client.apply(ConfigMaps, cm, { fieldValidation: 'Strict', force: true });
    expect(seen.map((s) => [s.method, s.query.get('fieldValidation'), s.query.get('fieldManager')])).toEqual([
      ['POST', 'Strict', 'client-test'],
      ['PUT', 'Warn', 'client-test'],
      ['PATCH', 'Ignore', 'client-test'],
      ['PATCH', 'Strict', 'client-test'],
    ]);
    expect(seen[0]!.query.get('dryRun')).toBe('All');
    expect(seen[3]!.query.get('force')).toBe('true');
  });

  it('given no fieldValidation, should leave the server default', async () => {
    await client.create(ConfigMaps, cm);
    expect(seen[0]!.query.has('fieldValidation')).toBe(false);
    expect(seen[0]!.query.has('dryRun')).toBe(false);
  });
});

describe('Client deadlines', () => {
  let server: http.Server;
  let port: number;
  const open: http.ServerResponse[] = [];

  beforeEach(async () => {
    // /trickle: headers, then a byte every 50 ms, never the end (the socket is never idle).
    // /cut: half a body, then the connection is destroyed.
    server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'Content-Type': 'application/json' });
      if (req.url?.startsWith('/api/v1/namespaces/ns/configmaps/trickle')) {
        open.push(res);
        const t = setInterval(() => res.write(' '), 50);
        res.on('close', () => clearInterval(t));
      } else {
        res.write('{"metadata":');
        setTimeout(() => res.destroy(), 20);
      }
    });
    port = await listen(server, '127.0.0.1', 0);
  });

  afterEach(async () => {
    for (const r of open.splice(0)) r.destroy();
    server.closeAllConnections();
    await closeServer(server);
  });

  const clientWith = (timeoutMs: number): Client => {
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    return new Client(kc, { fieldManager: 'client-test', timeoutMs });
  };

  it('given a response that trickles and never ends, should give up at the deadline and say so', async () => {
    const c = clientWith(300);
    await expect(c.get(ConfigMaps, 'trickle', 'ns')).rejects.toThrow(`cannot reach the Kubernetes API at http://127.0.0.1:${port}: no response within 300 ms`);
    c.close();
  });

  it('given a connection closed mid-body, should fail instead of waiting for the end', async () => {
    const c = clientWith(10_000);
    await expect(c.get(ConfigMaps, 'cut', 'ns')).rejects.toThrow(/cannot reach the Kubernetes API at http:\/\/127\.0\.0\.1:\d+: (the connection closed before the response was complete|aborted)/);
    c.close();
  });
});
