// Admission webhooks: an HTTPS handler for admission.k8s.io/v1
// AdmissionReview requests, routing by path to pure review functions.
// Malformed or oversized requests get a clear 400; a review function that
// throws denies with its message rather than crashing the server.
import type http from 'node:http';
import type { Logger } from './log.js';
import type { KubeObject } from './types.js';

export interface AdmissionRequest<T extends KubeObject = KubeObject> {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  name?: string;
  namespace?: string;
  dryRun?: boolean;
  object?: T;
  oldObject?: T;
}

export type Verdict = { allowed: true; warnings?: string[] } | { allowed: false; message: string; code?: number };

export type Review = (req: AdmissionRequest) => Verdict;

/** The API server sends far less; anything bigger is refused before parsing. */
export const MAX_ADMISSION_BODY = 3 * 1024 * 1024;

export function admissionHandler(routes: Record<string, Review>, log?: Logger): http.RequestListener {
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const review = routes[path];
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'POST') return reply(405, { error: `${req.method} not allowed: admission reviews are POSTed` });
    if (!review) return reply(404, { error: `no webhook at ${path}` });
    const chunks: Buffer[] = [];
    let size = 0;
    let aborted = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_ADMISSION_BODY && !aborted) {
        aborted = true;
        reply(413, { error: `admission review larger than ${MAX_ADMISSION_BODY} bytes` });
        req.destroy();
        return;
      }
      if (!aborted) chunks.push(c);
    });
    req.on('end', () => {
      if (aborted) return;
      let body: { apiVersion?: string; kind?: string; request?: AdmissionRequest };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        return reply(400, { error: 'request body is not JSON' });
      }
      if (body.kind !== 'AdmissionReview' || body.apiVersion !== 'admission.k8s.io/v1' || !body.request?.uid) {
        return reply(400, { error: 'expected an admission.k8s.io/v1 AdmissionReview with request.uid' });
      }
      let verdict: Verdict;
      try {
        verdict = review(body.request);
      } catch (e) {
        log?.error('admission review failed', { path, error: (e as Error).message });
        verdict = { allowed: false, message: `internal error in ${path}: ${(e as Error).message}`, code: 500 };
      }
      reply(200, {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: {
          uid: body.request.uid,
          allowed: verdict.allowed,
          ...(verdict.allowed ? (verdict.warnings?.length ? { warnings: verdict.warnings } : {}) : { status: { code: verdict.code ?? 403, message: verdict.message } }),
        },
      });
    });
  };
}
