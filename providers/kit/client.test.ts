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
