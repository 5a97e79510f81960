// Minimal HTTPS probe with a client certificate, for what the harness checks
// before a server is up (etcd /health, kube-apiserver /readyz): no pooled
// connections to processes that come and go. API calls go through the kit's
// Client.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

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

/**
 * Polls `probe` until it returns a value other than undefined. `probe` may
 * throw to abort (e.g. the process died); `note` records why the last attempt
 * was not ready, for the timeout message (it returns undefined, so a probe can
 * `return note('why')`).
 */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: (note: (why: string) => undefined) => Promise<T | undefined>,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not tried';
  const note = (why: string): undefined => {
    last = why;
    return undefined;
  };
  for (;;) {
    const v = await probe(note);
    if (v !== undefined) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
