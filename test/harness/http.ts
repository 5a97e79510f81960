// Minimal HTTPS probe with a client certificate, for what the harness checks
// before a server is up (etcd /health, kube-apiserver /readyz): no pooled
// connections to processes that come and go. API calls go through the kit's
// Client.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import os from 'node:os';

/** CA to trust, plus a client certificate unless the caller authenticates another way (a bearer header). */
export interface ClientCredentials {
  ca: string;
  cert?: string;
  key?: string;
}

export interface HttpResponse {
  status: number;
  body: string;
}

export interface RequestInit {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** One request; resolves with any status, rejects only on transport errors. */
export function request(url: string, creds: ClientCredentials | undefined, init: RequestInit = {}): Promise<HttpResponse> {
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      u,
      {
        method: init.method ?? 'GET',
        headers: { accept: 'application/json', ...init.headers },
        ...creds,
        // No keep-alive pool: probes run against servers that come and go.
        agent: false,
        timeout: init.timeoutMs ?? 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${init.timeoutMs ?? 5000} ms`)));
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Upper bound of loadScale(): a wait never grows past four times its budget for load alone. */
const MAX_LOAD_SCALE = 4;

/**
 * How much longer than its budget a wait may take on this machine now: the
 * 1-minute load average per core (at least 1, at most MAX_LOAD_SCALE), times
 * IRONPLANE_TEST_TIMEOUT_SCALE when set (a slower machine, a debugger). On a
 * quiet machine 1: a budget means what it says; on a 2-core machine running
 * a build beside the tests, the waits stretch instead of failing.
 */
export function loadScale(env: NodeJS.ProcessEnv = process.env): number {
  const cores = Math.max(1, os.cpus().length);
  const load = Math.min(MAX_LOAD_SCALE, Math.max(1, os.loadavg()[0]! / cores));
  const raw = env['IRONPLANE_TEST_TIMEOUT_SCALE'];
  const extra = raw === undefined || raw === '' ? 1 : Number(raw);
  if (!Number.isFinite(extra) || extra <= 0) throw new Error(`IRONPLANE_TEST_TIMEOUT_SCALE: "${raw}" is not a positive number`);
  return load * extra;
}

/**
 * Polls `probe` until it returns a value other than undefined. `probe` may
 * throw to abort (e.g. the process died); `note` records why the last attempt
 * was not ready, for the timeout message (it returns undefined, so a probe can
 * `return note('why')`). The budget `timeoutMs` stretches with the machine's
 * load (loadScale(), the largest seen while waiting), and the message says by
 * how much.
 */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: (note: (why: string) => undefined) => Promise<T | undefined>,
  intervalMs = 50,
): Promise<T> {
  const start = Date.now();
  let scale = loadScale();
  let last = 'not tried';
  const note = (why: string): undefined => {
    last = why;
    return undefined;
  };
  for (;;) {
    const v = await probe(note);
    if (v !== undefined) return v;
    scale = Math.max(scale, loadScale());
    const elapsed = Date.now() - start;
    if (elapsed >= timeoutMs * scale) {
      const stretched = scale > 1 ? ` (a ${timeoutMs / 1000}s budget stretched ×${scale.toFixed(1)} for the machine's load)` : '';
      throw new Error(`timed out after ${Math.round(elapsed / 100) / 10}s${stretched} waiting for ${what} (last: ${last})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
