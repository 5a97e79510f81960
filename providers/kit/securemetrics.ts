// /metrics with controller-runtime's secure-serving model
// (pkg/metrics/server with filters.WithAuthenticationAndAuthorization):
// HTTPS, the caller's bearer token checked with a TokenReview and its
// permission to `get` the non-resource URL /metrics with a
// SubjectAccessReview, both answered by the apiserver. Without
// --metrics-secure, /metrics is plain HTTP and, unless told otherwise, bound
// to loopback only, so nothing outside the pod reads it.
//
// Decisions are cached briefly and by a hash of the token, never the token
// itself; concurrent requests with the same token share one review, and only
// a bounded number of reviews run at once: a scrape storm, or a flood of
// made-up tokens, must not become an apiserver storm.
import { createHash, webcrypto } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { Registry } from 'prom-client';
import type { Client } from './client.js';
import type { Logger } from './log.js';
import { closeServer, listen, metricsHandler, parseBindAddress, ReloadingHttpsServer } from './server.js';

export const METRICS_PATH = '/metrics';
/** controller-runtime's DefaultBindAddress is :8080 on all interfaces; plain HTTP here defaults to loopback. */
export const DEFAULT_INSECURE_METRICS_ADDRESS = '127.0.0.1:8080';
/** The port CAPI's managers serve secure diagnostics on. */
export const DEFAULT_SECURE_METRICS_ADDRESS = ':8443';
/** How long an authentication and authorization decision is reused. */
export const DECISION_TTL_MS = 10_000;
/** Bound on cached decisions; the oldest goes first. */
export const DECISION_CACHE_SIZE = 1024;
/** Reviews in flight at once; callers beyond it are turned away (429), not queued. */
export const MAX_CONCURRENT_REVIEWS = 16;
/** How long a TokenReview or SubjectAccessReview may take (controller-runtime's TokenAccessReviewTimeout). */
export const REVIEW_TIMEOUT_MS = 10_000;
/** A scrape carries only headers; a slow client must not hold a socket. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

export interface MetricsServing {
  /** Where /metrics listens; undefined when disabled ("0"). */
  address?: { host: string; port: number };
  secure: boolean;
  /** Holds tls.crt and tls.key; without it a self-signed certificate is made at start. */
  certDir?: string;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Validates the metrics flags of a manager or the extension. The default
 * address follows --metrics-secure: :8443 for HTTPS with authentication,
 * 127.0.0.1:8080 for plain HTTP. Returns the serving plan and warnings to log.
 */
export function parseMetricsFlags(f: { bindAddress?: string; secure: boolean; certDir?: string; probeAddress?: string }): { serving: MetricsServing; warnings: string[] } {
  const bind = f.bindAddress ?? (f.secure ? DEFAULT_SECURE_METRICS_ADDRESS : DEFAULT_INSECURE_METRICS_ADDRESS);
  const address = parseBindAddress(bind);
  const warnings: string[] = [];
  if (f.certDir !== undefined && f.certDir !== '' && !f.secure) {
    throw new Error('--metrics-cert-dir needs --metrics-secure: plain HTTP metrics use no certificate');
  }
  if (f.secure && address) {
    const probe = parseBindAddress(f.probeAddress ?? '0');
    if (probe && probe.port !== 0 && probe.port === address.port) {
      throw new Error(`--metrics-bind-address ${bind} and --health-probe-bind-address ${f.probeAddress} share port ${address.port}: with --metrics-secure, /metrics is HTTPS and the probes are plain HTTP, so they need different ports`);
    }
  }
  if (!f.secure && address && !LOOPBACK.has(address.host)) {
    warnings.push(`/metrics is served over plain HTTP without authentication on ${bind}: anyone who reaches that address reads it (use --metrics-secure, or a loopback address)`);
  }
  return { serving: { ...(address ? { address } : {}), secure: f.secure, ...(f.certDir ? { certDir: f.certDir } : {}) }, warnings };
}

/**
 * A bounded cache of decisions with a time to live, keyed by strings the
 * caller derives (never raw credentials). Concurrent lookups of one key
 * while its value is being computed wait for that one computation. Values
 * the computation marks as not cacheable (errors) are returned once and
 * forgotten.
 */
export class DecisionCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  private readonly inflight = new Map<string, Promise<V>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(opts: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}) {
    this.ttlMs = opts.ttlMs ?? DECISION_TTL_MS;
    this.maxEntries = opts.maxEntries ?? DECISION_CACHE_SIZE;
    this.now = opts.now ?? Date.now;
    if (!(this.maxEntries >= 1)) throw new Error(`a decision cache holds at least one entry, got ${this.maxEntries}`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached value of key, else compute()'s; compute says whether its value may be cached. */
  get(key: string, compute: () => Promise<{ value: V; cache: boolean }>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit) {
      if (hit.expires > this.now()) return Promise.resolve(hit.value);
      this.entries.delete(key);
    }
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const p = compute().then(
      ({ value, cache }) => {
        this.inflight.delete(key);
        if (cache) this.put(key, value);
        return value;
      },
      (e: unknown) => {
        this.inflight.delete(key);
        throw e;
      },
    );
    this.inflight.set(key, p);
    return p;
  }

  private put(key: string, value: V): void {
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      // Maps iterate in insertion order: the first key is the oldest.
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    this.entries.set(key, { value, expires: this.now() + this.ttlMs });
  }
}

/**
 * Runs at most `max` tasks at once; a task beyond that is not started and
 * gets busy()'s value instead. Requests with tokens nobody has seen (each a
 * cache miss) thus cost the apiserver a bounded number of reviews at a time.
 */
export class ConcurrencyGate {
  private active = 0;

  constructor(private readonly max: number) {
    if (!(max >= 1)) throw new Error(`a concurrency gate admits at least one task, got ${max}`);
  }

  get inFlight(): number {
    return this.active;
  }

  async run<T>(task: () => Promise<T>, busy: () => T): Promise<T> {
    if (this.active >= this.max) return busy();
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
    }
  }
}

/** What the filter answers: pass (200) or refuse with a status and a short plain-text body. */
export type Decision = { allowed: true; user: string } | { allowed: false; status: 401 | 403 | 429 | 500; message: string; user?: string };

interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

const UNAUTHORIZED: Decision = { allowed: false, status: 401, message: 'Unauthorized' };
const BUSY = { value: { allowed: false, status: 429, message: 'Too many requests' } as Decision, cache: false };

/** The bearer token of an Authorization header, or undefined when there is none or it is malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer[ \t]+([^ \t]+)[ \t]*$/i.exec(header);
  return m?.[1];
}

/**
 * Authenticates a bearer token with a TokenReview and authorizes its user
 * for `get` on /metrics with a SubjectAccessReview, through the apiserver,
 * as controller-runtime's WithAuthenticationAndAuthorization does. The
 * process's own identity needs `create` on both review kinds.
 */
export class MetricsAuthorizer {
  private readonly cache: DecisionCache<Decision>;
  private readonly gate: ConcurrencyGate;

  constructor(
    private readonly client: Client,
    private readonly log: Logger,
    opts: { ttlMs?: number; maxEntries?: number; now?: () => number; maxConcurrentReviews?: number } = {},
  ) {
    this.cache = new DecisionCache<Decision>(opts);
    this.gate = new ConcurrencyGate(opts.maxConcurrentReviews ?? MAX_CONCURRENT_REVIEWS);
  }

  /** Decides for the Authorization header of a request to `path` with `verb` (lowercase HTTP method). */
  decide(authorization: string | undefined, verb: string, urlPath: string): Promise<Decision> {
    const token = bearerToken(authorization);
    if (token === undefined) return Promise.resolve(UNAUTHORIZED);
    const key = createHash('sha256').update(token).update('\0').update(verb).update('\0').update(urlPath).digest('hex');
    return this.cache.get(key, () => this.gate.run(() => this.review(token, verb, urlPath), () => BUSY));
  }

  private async review(token: string, verb: string, urlPath: string): Promise<{ value: Decision; cache: boolean }> {
    let user: UserInfo;
    try {
      const tr = await this.client.request<{ status?: { authenticated?: boolean; user?: UserInfo; error?: string } }>({
        method: 'POST',
        path: '/apis/authentication.k8s.io/v1/tokenreviews',
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
        timeoutMs: REVIEW_TIMEOUT_MS,
      });
      if (!tr.status?.authenticated || !tr.status.user?.username) {
        this.log.debug('metrics request not authenticated', { reason: tr.status?.error ?? 'token not recognised' });
        return { value: UNAUTHORIZED, cache: true };
      }
      user = tr.status.user;
    } catch (e) {
      // Not cached: the next scrape tries again once the apiserver or our RBAC is fixed.
      this.log.error('metrics authentication failed: cannot create a TokenReview', { error: (e as Error).message });
      return { value: { allowed: false, status: 500, message: 'Authentication failed' }, cache: false };
    }
    const username = user.username!;
    try {
      const sar = await this.client.request<{ status?: { allowed?: boolean; denied?: boolean; reason?: string } }>({
        method: 'POST',
        path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: username,
            ...(user.uid ? { uid: user.uid } : {}),
            ...(user.groups ? { groups: user.groups } : {}),
            ...(user.extra ? { extra: user.extra } : {}),
            nonResourceAttributes: { path: urlPath, verb },
          },
        },
        timeoutMs: REVIEW_TIMEOUT_MS,
      });
      if (sar.status?.allowed !== true || sar.status.denied === true) {
        this.log.debug('metrics request denied', { user: username, reason: sar.status?.reason ?? '' });
        return { value: { allowed: false, status: 403, message: `Authorization denied for user ${username}`, user: username }, cache: true };
      }
      return { value: { allowed: true, user: username }, cache: true };
    } catch (e) {
      this.log.error('metrics authorization failed: cannot create a SubjectAccessReview', { user: username, error: (e as Error).message });
      return { value: { allowed: false, status: 500, message: `Authorization for user ${username} failed`, user: username }, cache: false };
    }
  }
}

/**
 * The request handler of the secure metrics server: /metrics for GET and
 * HEAD after authentication and authorization; 404 for any other path and
 * 405 for other methods, both without a review.
 */
export function secureMetricsHandler(registry: Registry, authorizer: MetricsAuthorizer, log: Logger): http.RequestListener {
  const serve = metricsHandler(registry, log);
  return (req, res) => {
    const urlPath = (req.url ?? '/').split('?')[0];
    if (urlPath !== METRICS_PATH) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8', Allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    authorizer.decide(req.headers.authorization, 'get', METRICS_PATH).then(
      (d) => {
        if (d.allowed) {
          serve(req, res);
          return;
        }
        const headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' };
        if (d.status === 401) headers['WWW-Authenticate'] = 'Bearer realm="metrics"';
        if (d.status === 429) headers['Retry-After'] = '1';
        res.writeHead(d.status, headers).end(`${d.message}\n`);
      },
      (e: Error) => {
        log.error('metrics request failed', { error: e.message });
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Authentication failed\n');
      },
    );
  };
}

/**
 * A self-signed serving certificate made in memory, as controller-runtime
 * does when no certificate is given (for localhost and 127.0.0.1; scrapers
 * skip verification or pin it). ECDSA P-256: fast to make, accepted by
 * every TLS client Prometheus uses. Loaded on demand: processes that never
 * need one never load the X.509 library.
 */
export async function selfSignedCertificate(opts: { commonName?: string; days?: number } = {}): Promise<{ certPem: string; keyPem: string }> {
  // @peculiar/x509 resolves its algorithms through tsyringe, which needs the
  // Reflect metadata polyfill loaded first (adr/0009).
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto);
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '0'),
    name: [{ CN: [opts.commonName ?? 'localhost'] }],
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    // Backdated an hour: a scraper's clock a little behind ours must not see "not yet valid".
    notBefore: new Date(now - 60 * 60 * 1000),
    notAfter: new Date(now + (opts.days ?? 365) * 24 * 60 * 60 * 1000),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
    ],
  });
  const key = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { certPem: cert.toString('pem'), keyPem: key };
}

/** A running metrics server. */
export interface MetricsServer {
  port: number;
  secure: boolean;
  close(): Promise<void>;
}

export interface StartMetricsOptions {
  serving: MetricsServing;
  registry: Registry;
  log: Logger;
  /** Reviews tokens; required when secure. */
  client?: Client;
  /** How often a certificate in certDir is checked for changes. */
  certPollMs?: number;
  /** Overrides of the decision cache and review concurrency (tests). */
  cache?: { ttlMs?: number; maxEntries?: number; maxConcurrentReviews?: number };
}

/** Starts the metrics server the flags asked for; undefined when disabled. */
export async function startMetricsServer(opts: StartMetricsOptions): Promise<MetricsServer | undefined> {
  const { serving, log } = opts;
  const addr = serving.address;
  if (!addr) return undefined;
  if (!serving.secure) {
    const server = http.createServer(metricsOnly(opts.registry, log));
    limitTimes(server);
    const port = await listen(server, addr.host, addr.port);
    log.info('serving metrics', { address: `${addr.host}:${port}`, secure: false });
    return { port, secure: false, close: () => closeServer(server) };
  }
  if (!opts.client) throw new Error('secure metrics need a client of the Kubernetes API to review tokens');
  const handler = secureMetricsHandler(opts.registry, new MetricsAuthorizer(opts.client, log, opts.cache), log);
  if (serving.certDir) {
    const reloading = new ReloadingHttpsServer({
      certFile: path.join(serving.certDir, 'tls.crt'),
      keyFile: path.join(serving.certDir, 'tls.key'),
      handler,
      log,
      ...(opts.certPollMs ? { pollMs: opts.certPollMs } : {}),
    });
    limitTimes(reloading.server);
    const port = await reloading.listen(addr.host, addr.port);
    log.info('serving metrics', { address: `${addr.host}:${port}`, secure: true, certDir: serving.certDir });
    return { port, secure: true, close: () => reloading.close() };
  }
  const { certPem, keyPem } = await selfSignedCertificate();
  const server = https.createServer({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2' }, handler);
  limitTimes(server);
  const port = await listen(server, addr.host, addr.port);
  log.info('serving metrics', { address: `${addr.host}:${port}`, secure: true, certificate: 'self-signed' });
  return { port, secure: true, close: () => closeServer(server) };
}

/** Plain HTTP: /metrics only, everything else 404. */
function metricsOnly(registry: Registry, log: Logger): http.RequestListener {
  const serve = metricsHandler(registry, log);
  return (req, res) => {
    if ((req.url ?? '/').split('?')[0] === METRICS_PATH) serve(req, res);
    else res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
  };
}

function limitTimes(server: http.Server | https.Server): void {
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
}
