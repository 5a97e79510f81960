import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bearerToken, ConcurrencyGate, DecisionCache, parseMetricsFlags, selfSignedCertificate } from './securemetrics.js';

describe('parseMetricsFlags', () => {
  it('given no address, should default to loopback for plain HTTP and :8443 for secure', () => {
    expect(parseMetricsFlags({ secure: false })).toEqual({ serving: { address: { host: '127.0.0.1', port: 8080 }, secure: false }, warnings: [] });
    expect(parseMetricsFlags({ secure: true, probeAddress: ':8081' })).toEqual({ serving: { address: { host: '0.0.0.0', port: 8443 }, secure: true }, warnings: [] });
  });

  it('given 0, should disable metrics whether secure or not', () => {
    expect(parseMetricsFlags({ bindAddress: '0', secure: false }).serving).toEqual({ secure: false });
    expect(parseMetricsFlags({ bindAddress: '0', secure: true, certDir: '/certs' }).serving).toEqual({ secure: true, certDir: '/certs' });
  });

  it('given plain HTTP on all interfaces, should serve it but warn', () => {
    const r = parseMetricsFlags({ bindAddress: ':8080', secure: false });
    expect(r.serving.address).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(r.warnings).toEqual([
      '/metrics is served over plain HTTP without authentication on :8080: anyone who reaches that address reads it (use --metrics-secure, or a loopback address)',
    ]);
  });

  it('given plain HTTP on a loopback address, should not warn', () => {
    expect(parseMetricsFlags({ bindAddress: '127.0.0.1:0', secure: false }).warnings).toEqual([]);
    expect(parseMetricsFlags({ bindAddress: 'localhost:9000', secure: false }).warnings).toEqual([]);
  });

  it('given a certificate directory without --metrics-secure, should refuse it', () => {
    expect(() => parseMetricsFlags({ secure: false, certDir: '/certs' })).toThrow('--metrics-cert-dir needs --metrics-secure: plain HTTP metrics use no certificate');
  });

  it('given secure metrics on the probes port, should refuse it', () => {
    expect(() => parseMetricsFlags({ bindAddress: ':8081', secure: true, probeAddress: '127.0.0.1:8081' })).toThrow(
      '--metrics-bind-address :8081 and --health-probe-bind-address 127.0.0.1:8081 share port 8081: with --metrics-secure, /metrics is HTTPS and the probes are plain HTTP, so they need different ports',
    );
  });

  it('given plain HTTP metrics on the probes port, should accept the shared port', () => {
    expect(parseMetricsFlags({ bindAddress: '127.0.0.1:8081', secure: false, probeAddress: '127.0.0.1:8081' }).serving.address).toEqual({ host: '127.0.0.1', port: 8081 });
  });

  it('given ephemeral ports for both, should accept them', () => {
    expect(parseMetricsFlags({ bindAddress: '127.0.0.1:0', secure: true, probeAddress: '127.0.0.1:0' }).serving.address).toEqual({ host: '127.0.0.1', port: 0 });
  });

  it('given a malformed address, should name it', () => {
    expect(() => parseMetricsFlags({ bindAddress: 'metrics', secure: true })).toThrow('invalid bind address "metrics": use host:port, :port or 0 to disable');
  });
});

describe('bearerToken', () => {
  it('should take the token of a Bearer header only', () => {
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken('bearer  abc')).toBe('abc');
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken('')).toBeUndefined();
    expect(bearerToken('Basic dXNlcjpwYXNz')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
  });
});

describe('DecisionCache', () => {
  const clock = () => {
    let t = 0;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it('given a cached decision, should reuse it until its time to live has passed', async () => {
    const c = clock();
    const cache = new DecisionCache<string>({ ttlMs: 10_000, now: c.now });
    let calls = 0;
    const compute = () => Promise.resolve({ value: `v${++calls}`, cache: true });
    expect(await cache.get('k', compute)).toBe('v1');
    c.advance(9_999);
    expect(await cache.get('k', compute)).toBe('v1');
    c.advance(1);
    expect(await cache.get('k', compute)).toBe('v2');
    expect(calls).toBe(2);
  });

  it('given concurrent lookups of one key, should compute it once', async () => {
    const cache = new DecisionCache<string>();
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const compute = async () => {
      calls++;
      await gate;
      return { value: 'allowed', cache: true };
    };
    const all = Promise.all(Array.from({ length: 50 }, () => cache.get('k', compute)));
    release();
    expect(await all).toEqual(Array(50).fill('allowed'));
    expect(calls).toBe(1);
  });

  it('given more keys than it holds, should drop the oldest', async () => {
    const cache = new DecisionCache<string>({ maxEntries: 3 });
    const computed: string[] = [];
    const compute = (k: string) => () => {
      computed.push(k);
      return Promise.resolve({ value: k, cache: true });
    };
    for (const k of ['a', 'b', 'c', 'd']) await cache.get(k, compute(k));
    expect(cache.size).toBe(3);
    await cache.get('b', compute('b'));
    await cache.get('a', compute('a'));
    expect(computed).toEqual(['a', 'b', 'c', 'd', 'a']);
    expect(cache.size).toBe(3);
  });

  it('given a value marked not cacheable, should compute it again next time', async () => {
    const cache = new DecisionCache<string>();
    let calls = 0;
    const compute = () => {
      calls++;
      return Promise.resolve({ value: 'error', cache: false });
    };
    await cache.get('k', compute);
    await cache.get('k', compute);
    expect(calls).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('given a computation that throws, should pass the error on and not keep it', async () => {
    const cache = new DecisionCache<string>();
    await expect(cache.get('k', () => Promise.reject(new Error('apiserver down')))).rejects.toThrow('apiserver down');
    expect(await cache.get('k', () => Promise.resolve({ value: 'ok', cache: true }))).toBe('ok');
  });

  it('given a size below one, should refuse it', () => {
    expect(() => new DecisionCache({ maxEntries: 0 })).toThrow('a decision cache holds at least one entry, got 0');
  });
});

describe('ConcurrencyGate', () => {
  it('given as many tasks in flight as it admits, should turn the next away and admit again once one ends', async () => {
    const gate = new ConcurrencyGate(2);
    const releases: (() => void)[] = [];
    const task = () => new Promise<string>((r) => releases.push(() => r('reviewed')));
    const busy = () => 'busy';
    const first = gate.run(task, busy);
    const second = gate.run(task, busy);
    expect(gate.inFlight).toBe(2);
    expect(await gate.run(task, busy)).toBe('busy');
    releases[0]!();
    expect(await first).toBe('reviewed');
    expect(gate.inFlight).toBe(1);
    const third = gate.run(task, busy);
    releases[1]!();
    releases[2]!();
    expect([await second, await third]).toEqual(['reviewed', 'reviewed']);
    expect(gate.inFlight).toBe(0);
  });

  it('given a task that throws, should free its place', async () => {
    const gate = new ConcurrencyGate(1);
    await expect(gate.run(() => Promise.reject(new Error('apiserver down')), () => 'busy')).rejects.toThrow('apiserver down');
    expect(await gate.run(() => Promise.resolve('reviewed'), () => 'busy')).toBe('reviewed');
  });

  it('given a limit below one, should refuse it', () => {
    expect(() => new ConcurrencyGate(0)).toThrow('a concurrency gate admits at least one task, got 0');
  });
});

describe('selfSignedCertificate', () => {
  it('should make a serving certificate for localhost and 127.0.0.1 whose key matches', async () => {
    const { certPem, keyPem } = await selfSignedCertificate();
    const cert = new X509Certificate(certPem);
    expect(cert.subject).toBe('CN=localhost');
    expect(cert.ca).toBe(false);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(Date.now() + 300 * 24 * 60 * 60 * 1000);
  });
});
