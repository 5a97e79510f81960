// Authenticated metrics on the real apiserver with RBAC on, as
// controller-runtime's secure metrics work: `ironplane manager` and
// `ironplane extension` with --metrics-secure serve /metrics over HTTPS, check
// the caller's bearer token with a TokenReview and its right to get /metrics
// with a SubjectAccessReview, as their own restricted identities
// (config/rbac/<role>/role.yaml, config/extension/rbac.yaml). Scrapers are
// real ServiceAccounts with real tokens; one is bound to the shipped
// ironplane-metrics-reader ClusterRole (config/rbac/metrics/reader.yaml).
// Without --metrics-secure, /metrics is plain HTTP on loopback only.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { parseAllDocuments } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePorts, issueCert, request, startControlPlane, type ControlPlane } from '../harness/index.js';
import { renderKubeconfig } from '../harness/kubeconfig.js';
import { Client } from '../../providers/kit/client.js';
import { Namespaces, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import { REPO, runTs, until, type Proc } from './processes.js';
import { ensureNamespace, restrictedKubeconfig } from './roles.js';

const RBAC = {
  ClusterRole: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false },
  Role: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true },
  RoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
} as const satisfies Record<string, ResourceType>;
const ServiceAccounts: ResourceType = { group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true };
const NS = 'monitoring';

let cp: ControlPlane;
let admin: Client;
/** A token of monitoring/prometheus, bound to ironplane-metrics-reader. */
let readerToken: string;
/** A token of monitoring/nosy, a ServiceAccount with no role. */
let nosyToken: string;
const procs: Proc[] = [];

function yamlDocs(file: string): (KubeObject & Record<string, unknown>)[] {
  return parseAllDocuments(fs.readFileSync(path.join(REPO, file), 'utf8')).map((d) => d.toJS() as KubeObject & Record<string, unknown>);
}

async function serviceAccountToken(name: string): Promise<string> {
  await admin.create(ServiceAccounts, { metadata: { name, namespace: NS } });
  const tr = await admin.request<{ status?: { token?: string } }>({
    method: 'POST',
    path: `/api/v1/namespaces/${NS}/serviceaccounts/${name}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  });
  if (!tr.status?.token) throw new Error(`no token issued for ServiceAccount ${NS}/${name}`);
  return tr.status.token;
}

interface Scrape {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  peerCN: string;
  peerIssuerCN: string;
}

/** GET over HTTPS; without a CA the certificate is not verified (Prometheus's insecure_skip_verify). */
function scrape(port: number, opts: { token?: string; authorization?: string; ca?: string; method?: string; path?: string } = {}): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const authorization = opts.authorization ?? (opts.token ? `Bearer ${opts.token}` : undefined);
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/metrics',
        method: opts.method ?? 'GET',
        agent: false,
        ...(opts.ca ? { ca: opts.ca } : { rejectUnauthorized: false }),
        headers: authorization ? { Authorization: authorization } : {},
      },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerCertificate();
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers, peerCN: String(peer.subject?.CN), peerIssuerCN: String(peer.issuer?.CN) }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A plain-HTTP GET; resolves with the status, or with the transport error. */
function plainGet(url: string): Promise<number | Error> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(e));
  });
}

function start(args: string[]): Proc {
  const p = runTs('providers/cli/main.ts', args);
  procs.push(p);
  return p;
}

async function stop(p: Proc): Promise<void> {
  p.child.kill('SIGTERM');
  await p.exited;
}

const served = (p: Proc, secure: boolean) =>
  until(`the process to serve metrics (secure: ${secure})`, () => {
    if (p.child.exitCode !== null) throw new Error(`exited ${p.child.exitCode}:\n${p.output()}`);
    return p.logs().find((l) => l['msg'] === 'serving metrics' && l['secure'] === secure);
  }, 90_000);

beforeAll(async () => {
  cp = await startControlPlane({
    name: 'metrics',
    crds: [path.join(REPO, 'config/external/capi'), path.join(REPO, 'config/crd/bases'), path.join(REPO, 'config/external/capsule/capsule.clastix.io_tenants.yaml')],
  });
  admin = new Client(cp.kubeConfig, { fieldManager: 'metrics-test' });
  await admin.create(Namespaces, { metadata: { name: NS } });
  for (const doc of yamlDocs('config/rbac/metrics/reader.yaml')) await admin.apply(RBAC.ClusterRole, doc, { force: true });
  readerToken = await serviceAccountToken('prometheus');
  nosyToken = await serviceAccountToken('nosy');
  await admin.apply(RBAC.ClusterRoleBinding, {
    metadata: { name: 'prometheus-ironplane-metrics' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ironplane-metrics-reader' },
    subjects: [{ kind: 'ServiceAccount', name: 'prometheus', namespace: NS }],
  } as KubeObject);
}, 120_000);

afterEach(async () => {
  for (const p of procs.splice(0)) await stop(p);
});

afterAll(async () => {
  admin?.close();
  await cp?.stop();
});

describe('ironplane manager --metrics-secure', () => {
  it('given no token, a bad token, a token without the role and one with it, should answer 401, 401, 403 and 200 with the metrics', async () => {
    const kubeconfig = await restrictedKubeconfig(cp, admin, 'kairos');
    const [metricsPort, probePort] = await freePorts(2);
    const mgr = start([
      'manager', '--role', 'kairos', '--kubeconfig', kubeconfig,
      '--metrics-secure', '--metrics-bind-address', `127.0.0.1:${metricsPort}`,
      '--health-probe-bind-address', `127.0.0.1:${probePort}`,
      '--webhook-port', '0', '--log-level', 'debug',
    ]);
    await served(mgr, true);

    // No Authorization header, or one that is not a bearer token.
    const none = await scrape(metricsPort!);
    expect({ status: none.status, body: none.body }).toEqual({ status: 401, body: 'Unauthorized\n' });
    expect(none.headers['www-authenticate']).toBe('Bearer realm="metrics"');
    expect((await scrape(metricsPort!, { authorization: 'Basic YWRtaW46YWRtaW4=' })).status).toBe(401);

    // A token the apiserver does not recognise: refused, and never echoed.
    const forged = 'eyJhbGciOiJSUzI1NiJ9.forged-by-a-tenant.signature';
    const bad = await scrape(metricsPort!, { token: forged });
    expect({ status: bad.status, body: bad.body }).toEqual({ status: 401, body: 'Unauthorized\n' });

    // A real ServiceAccount without the role.
    const nosy = await scrape(metricsPort!, { token: nosyToken });
    expect({ status: nosy.status, body: nosy.body }).toEqual({ status: 403, body: `Authorization denied for user system:serviceaccount:${NS}:nosy\n` });

    // The scraper bound to ironplane-metrics-reader.
    const ok = await scrape(metricsPort!, { token: readerToken });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toContain('text/plain');
    expect(ok.body).toContain('# TYPE controller_runtime_reconcile_total counter');
    expect(ok.body).toMatch(/controller_runtime_max_concurrent_reconciles\{controller="kairosconfig"\} \d+/);
    // The reviews themselves went through the manager's client.
    expect(ok.body).toMatch(/rest_client_requests_total\{method="POST",code="201"\} [1-9]/);
    // A self-signed certificate for localhost made at start.
    expect(ok.peerCN).toBe('localhost');
    expect(ok.peerIssuerCN).toBe('localhost');

    // A flood of made-up tokens: each is refused, or turned away while the
    // reviews in flight are at their limit; none gets through, nothing breaks.
    const flood = await Promise.all(Array.from({ length: 40 }, (_, i) => scrape(metricsPort!, { token: `made-up-${i}-${Math.random().toString(36).slice(2)}` })));
    for (const r of flood) expect([401, 429]).toContain(r.status);
    for (const r of flood.filter((x) => x.status === 429)) expect({ body: r.body, retryAfter: r.headers['retry-after'] }).toEqual({ body: 'Too many requests\n', retryAfter: '1' });
    expect((await scrape(metricsPort!, { token: readerToken })).status).toBe(200);

    // Other methods and paths answer without a review.
    expect((await scrape(metricsPort!, { method: 'POST', token: readerToken })).status).toBe(405);
    expect((await scrape(metricsPort!, { path: '/debug/pprof', token: readerToken })).status).toBe(404);

    // Plain HTTP to the HTTPS port gets no metrics.
    const plain = await plainGet(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(plain).toBeInstanceOf(Error);

    // Probes stay plain HTTP, say "ok", and /metrics is not on their port.
    expect(await request(`http://127.0.0.1:${probePort}/readyz`, undefined)).toEqual({ status: 200, body: 'ok' });
    expect(await request(`http://127.0.0.1:${probePort}/healthz`, undefined)).toEqual({ status: 200, body: 'ok' });
    expect((await request(`http://127.0.0.1:${probePort}/metrics`, undefined)).status).toBe(404);

    // No token reached the log.
    expect(mgr.output()).not.toContain(readerToken);
    expect(mgr.output()).not.toContain(nosyToken);
    expect(mgr.output()).not.toContain(forged);
  });

  it('given the reader binding removed, should refuse the scraper once the cached decision expires', async () => {
    const kubeconfig = await restrictedKubeconfig(cp, admin, 'kairos');
    const [metricsPort] = await freePorts(1);
    const token = await serviceAccountToken('revoked');
    const binding = { metadata: { name: 'revoked-ironplane-metrics' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ironplane-metrics-reader' }, subjects: [{ kind: 'ServiceAccount', name: 'revoked', namespace: NS }] };
    await admin.apply(RBAC.ClusterRoleBinding, binding as KubeObject);
    const mgr = start(['manager', '--role', 'kairos', '--kubeconfig', kubeconfig, '--metrics-secure', '--metrics-bind-address', `127.0.0.1:${metricsPort}`, '--health-probe-bind-address', '0', '--webhook-port', '0']);
    await served(mgr, true);
    await until('the scraper to be allowed', async () => (await scrape(metricsPort!, { token })).status === 200, 60_000);
    await admin.delete(RBAC.ClusterRoleBinding, binding.metadata.name);
    const refused = await until('the scraper to be refused', async () => {
      const r = await scrape(metricsPort!, { token });
      return r.status === 403 ? r : undefined;
    }, 90_000);
    expect(refused.body).toBe(`Authorization denied for user system:serviceaccount:${NS}:revoked\n`);
  });

  it('given a certificate directory, should serve that certificate', async () => {
    const kubeconfig = await restrictedKubeconfig(cp, admin, 'kairos');
    const [metricsPort] = await freePorts(1);
    const certDir = fs.mkdtempSync(path.join(cp.dir, 'metrics-certs-'));
    const serving = await issueCert({ ca: cp.ca, commonName: 'ironplane-kairos-metrics', ipAddresses: ['127.0.0.1'], usages: 'server' });
    fs.writeFileSync(path.join(certDir, 'tls.crt'), serving.certPem);
    fs.writeFileSync(path.join(certDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
    const mgr = start([
      'manager', '--role', 'kairos', '--kubeconfig', kubeconfig,
      '--metrics-secure', '--metrics-cert-dir', certDir, '--metrics-bind-address', `127.0.0.1:${metricsPort}`,
      '--health-probe-bind-address', '0', '--webhook-port', '0',
    ]);
    await served(mgr, true);
    // Verified against the plane's CA, as a scraper given the CA would.
    const ok = await scrape(metricsPort!, { token: readerToken, ca: cp.ca.certPem });
    expect({ status: ok.status, peerCN: ok.peerCN }).toEqual({ status: 200, peerCN: 'ironplane-kairos-metrics' });
  });

  it('given a certificate directory without its files, should exit naming them', async () => {
    const kubeconfig = await restrictedKubeconfig(cp, admin, 'kairos');
    const [metricsPort] = await freePorts(1);
    const mgr = start(['manager', '--role', 'kairos', '--kubeconfig', kubeconfig, '--metrics-secure', '--metrics-cert-dir', '/nonexistent/certs', '--metrics-bind-address', `127.0.0.1:${metricsPort}`, '--health-probe-bind-address', '0', '--webhook-port', '0']);
    expect(await mgr.exited).not.toBe(0);
    expect(mgr.output()).toContain('cannot read TLS certificate /nonexistent/certs/tls.crt / key /nonexistent/certs/tls.key');
  });
});

describe('ironplane manager without --metrics-secure', () => {
  it('given no metrics flags, should serve plain /metrics on 127.0.0.1:8080 only', async () => {
    const kubeconfig = await restrictedKubeconfig(cp, admin, 'kairos');
    const mgr = start(['manager', '--role', 'kairos', '--kubeconfig', kubeconfig, '--health-probe-bind-address', '0', '--webhook-port', '0']);
    const line = await served(mgr, false);
    expect(line['address']).toBe('127.0.0.1:8080');
    const local = await request('http://127.0.0.1:8080/metrics', undefined);
    expect(local.status).toBe(200);
    expect(local.body).toContain('controller_runtime_reconcile_total');
    // Any address of this host other than loopback is refused.
    const external = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal);
    if (external) {
      const r = await plainGet(`http://${external.address}:8080/metrics`);
      expect(r).toBeInstanceOf(Error);
      expect((r as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    }
  });

  it('given a plain address on all interfaces, should warn that it is unauthenticated', async () => {
    const kubeconfig = await restrictedKubeconfig(cp, admin, 'kairos');
    const [metricsPort] = await freePorts(1);
    const mgr = start(['manager', '--role', 'kairos', '--kubeconfig', kubeconfig, '--metrics-bind-address', `:${metricsPort}`, '--health-probe-bind-address', '0', '--webhook-port', '0']);
    await served(mgr, false);
    expect(mgr.logs().find((l) => l['level'] === 'warn' && String(l['msg']).startsWith('/metrics is served over plain HTTP without authentication'))).toBeDefined();
  });
});

describe('ironplane extension --metrics-secure', () => {
  it('given the reader token, should serve the extension metrics; without a token, 401', async () => {
    const user = 'ironplane-extension';
    await ensureNamespace(admin, 'ironplane-system');
    for (const doc of yamlDocs('config/extension/rbac.yaml')) {
      // The manifest binds the in-cluster ServiceAccount; out of cluster the extension is a user with a client certificate.
      if (doc.kind === 'ClusterRoleBinding' || doc.kind === 'RoleBinding') doc['subjects'] = [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: user }];
      await admin.apply(RBAC[doc.kind as keyof typeof RBAC], doc, { force: true });
    }
    const cert = await issueCert({ ca: cp.ca, commonName: user, usages: 'client' });
    const kubeconfig = path.join(cp.dir, 'metrics-extension.kubeconfig');
    fs.writeFileSync(kubeconfig, renderKubeconfig({ server: cp.url, caPem: cp.ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem, name: 'management', user }), { mode: 0o600 });
    const certDir = fs.mkdtempSync(path.join(cp.dir, 'extension-certs-'));
    const serving = await issueCert({ ca: cp.ca, commonName: 'ironplane-extension', ipAddresses: ['127.0.0.1'], usages: 'server' });
    fs.writeFileSync(path.join(certDir, 'tls.crt'), serving.certPem);
    fs.writeFileSync(path.join(certDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
    const [hooksPort, metricsPort, probePort] = await freePorts(3);
    const ext = start([
      'extension', '--kubeconfig', kubeconfig, '--cert-dir', certDir, '--host', '127.0.0.1', '--port', String(hooksPort),
      '--metrics-secure', '--metrics-bind-address', `127.0.0.1:${metricsPort}`, '--health-probe-bind-address', `127.0.0.1:${probePort}`,
    ]);
    await served(ext, true);
    const none = await scrape(metricsPort!);
    expect({ status: none.status, body: none.body }).toEqual({ status: 401, body: 'Unauthorized\n' });
    const nosy = await scrape(metricsPort!, { token: nosyToken });
    expect({ status: nosy.status, body: nosy.body }).toEqual({ status: 403, body: `Authorization denied for user system:serviceaccount:${NS}:nosy\n` });
    const ok = await scrape(metricsPort!, { token: readerToken });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('# TYPE ironplane_runtime_extension_requests_total counter');
    expect(ok.peerCN).toBe('localhost');
    // Probes stay plain HTTP and carry no metrics.
    expect((await request(`http://127.0.0.1:${probePort}/metrics`, undefined)).status).toBe(404);
    expect(ext.output()).not.toContain(readerToken);
  });
});
