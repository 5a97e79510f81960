import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { admissionHandler, MAX_ADMISSION_BODY, type AdmissionRequest } from '../kit/admission.js';
import { closeServer, listen } from '../kit/server.js';
import { templateImmutable } from '../capi/templates.js';
import { kubevirtWebhooks, WEBHOOK_PATHS } from './webhooks.js';

const tpl = (cores: number) => ({ apiVersion: 'infrastructure.ironplane.dev/v1alpha1', kind: 'KvmMachineTemplate', metadata: { name: 't', namespace: 'ns' }, spec: { template: { spec: { cpu: { cores } } } } });
const update = (o: AdmissionRequest['object'], n: AdmissionRequest['object'], dryRun = false): AdmissionRequest => ({
  uid: 'u1',
  kind: { group: 'infrastructure.ironplane.dev', version: 'v1alpha1', kind: 'KvmMachineTemplate' },
  operation: 'UPDATE',
  name: 't',
  namespace: 'ns',
  dryRun,
  oldObject: o,
  object: n,
});

describe('templateImmutable', () => {
  const review = templateImmutable('KvmMachineTemplate');

  it('given a changed template spec, should deny and say what to do instead', () => {
    expect(review(update(tpl(2), tpl(4)))).toEqual({
      allowed: false,
      message: 'KvmMachineTemplate ns/t: spec.template.spec is immutable; create a new KvmMachineTemplate and point the ClusterClass or MachineDeployment at it',
    });
  });

  it('given a dry-run, should allow the change (the ClusterClass contract)', () => {
    expect(review(update(tpl(2), tpl(4), true))).toEqual({ allowed: true });
  });

  it('given an unchanged spec (labels only), or a create, should allow it', () => {
    expect(review(update(tpl(2), { ...tpl(2), metadata: { name: 't', labels: { a: 'b' } } }))).toEqual({ allowed: true });
    expect(review({ ...update(undefined, tpl(2)), operation: 'CREATE' })).toEqual({ allowed: true });
  });
});

describe('admissionHandler', () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    if (server) await closeServer(server);
  });

  async function post(path: string, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
    server ??= http.createServer(admissionHandler(kubevirtWebhooks));
    const port = server.listening ? (server.address() as { port: number }).port : await listen(server, '127.0.0.1', 0);
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', body });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  }

  it('should answer an AdmissionReview with the verdict and the request uid', async () => {
    const r = await post(WEBHOOK_PATHS.kvmMachineTemplate, JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: update(tpl(2), tpl(8)) }));
    expect(r.status).toBe(200);
    expect(r.json['response']).toMatchObject({ uid: 'u1', allowed: false, status: { code: 403 } });
  });

  it('given a body that is not JSON, should answer 400 and say so', async () => {
    const r = await post(WEBHOOK_PATHS.kvmMachineTemplate, '{not json');
    expect(r).toEqual({ status: 400, json: { error: 'request body is not JSON' } });
  });

  it('given JSON that is not an AdmissionReview, should answer 400 and say what was expected', async () => {
    const r = await post(WEBHOOK_PATHS.kvmMachineTemplate, JSON.stringify({ kind: 'Pod' }));
    expect(r).toEqual({ status: 400, json: { error: 'expected an admission.k8s.io/v1 AdmissionReview with request.uid' } });
  });

  it('given an unknown path, should answer 404 naming it', async () => {
    const r = await post('/validate-something-else', '{}');
    expect(r).toEqual({ status: 404, json: { error: 'no webhook at /validate-something-else' } });
  });

  it('given an oversized body, should refuse it with 413 and keep serving', async () => {
    const big = 'x'.repeat(MAX_ADMISSION_BODY + 1024);
    const r = await post(WEBHOOK_PATHS.kvmMachineTemplate, big).catch(() => ({ status: 413, json: {} }));
    expect(r.status).toBe(413);
    const ok = await post(WEBHOOK_PATHS.kvmMachineTemplate, JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: update(tpl(2), tpl(2)) }));
    expect(ok.json['response']).toMatchObject({ allowed: true });
  });
});
