// The kit's HTTPS server picks up a rotated certificate from disk without a
// restart, and keeps serving the old one while the new pair is unusable.
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createCA, issueCert } from '../harness/index.js';
import { ReloadingHttpsServer } from '../../providers/kit/server.js';
import { until } from './processes.js';

let server: ReloadingHttpsServer | undefined;
let dir: string | undefined;

afterEach(async () => {
  await server?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function peerSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/', ca, agent: false }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      res.resume();
      res.on('end', () => resolve(serial));
    });
    req.on('error', reject);
  });
}

describe('ReloadingHttpsServer', () => {
  it('given new certificate files, should serve the new certificate without a restart', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ironplane-tls-'));
    const ca = await createCA('test-ca');
    const first = await issueCert({ ca, commonName: 'first', ipAddresses: ['127.0.0.1'], usages: 'server' });
    const certFile = path.join(dir, 'tls.crt');
    const keyFile = path.join(dir, 'tls.key');
    fs.writeFileSync(certFile, first.certPem);
    fs.writeFileSync(keyFile, first.keyPem);
    server = new ReloadingHttpsServer({ certFile, keyFile, pollMs: 100, handler: (_req, res) => res.end('ok') });
    const port = await server.listen('127.0.0.1', 0);
    const s1 = await peerSerial(port, ca.certPem);

    // A half-written rotation (new cert, old key) must not break serving.
    const second = await issueCert({ ca, commonName: 'second', ipAddresses: ['127.0.0.1'], usages: 'server' });
    fs.writeFileSync(certFile, second.certPem);
    expect(server.reload()).toBe(false);
    expect(await peerSerial(port, ca.certPem)).toBe(s1);

    fs.writeFileSync(keyFile, second.keyPem);
    const s2 = await until('the new certificate to be served', async () => {
      const s = await peerSerial(port, ca.certPem);
      return s !== s1 ? s : undefined;
    }, 10_000);
    expect(s2).not.toBe(s1);
  });

  it('given unreadable certificate files at start, should name them in the error', () => {
    expect(() => new ReloadingHttpsServer({ certFile: '/nonexistent/tls.crt', keyFile: '/nonexistent/tls.key', handler: () => {} })).toThrow(
      'cannot read TLS certificate /nonexistent/tls.crt / key /nonexistent/tls.key',
    );
  });
});
