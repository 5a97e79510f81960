// HTTP endpoints of a manager (/healthz, /readyz and plain-HTTP /metrics;
// the authenticated HTTPS /metrics is securemetrics.ts) and an HTTPS server
// helper that picks up a renewed certificate without a restart: cert-manager
// rewrites the mounted Secret files in place, and webhook, runtime-extension
// and metrics servers must serve the new certificate before the old one
// expires.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

export type Check = () => string | undefined;

/** Parses ":8081", "127.0.0.1:8081" or "0" (disabled). */
export function parseBindAddress(addr: string): { host: string; port: number } | undefined {
  if (addr === '0' || addr === '') return undefined;
  const m = /^(.*):(\d+)$/.exec(addr);
  if (!m) throw new Error(`invalid bind address "${addr}": use host:port, :port or 0 to disable`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`invalid bind address "${addr}": port must be at most 65535`);
  return { host: m[1] || '0.0.0.0', port };
}

export function listen(server: http.Server | https.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export function closeServer(server: http.Server | https.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

/**
 * The /metrics handler: Prometheus text format of the registry. A failure
 * to collect is logged; the body says only that it failed.
 */
export function metricsHandler(registry: Registry, log?: Logger): http.RequestListener {
  return (req, res) => {
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (e: Error) => {
        log?.error('cannot collect metrics', { error: e.message });
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('cannot collect metrics\n');
      },
    );
  };
}

/**
 * Serves /healthz and /readyz as plain HTTP (the kubelet probes the pod IP):
 * 200 "ok", or 500 naming the failing checks with their reasons withheld, as
 * Kubernetes components answer: a probe body is readable by anyone who can
 * reach the port, so reasons go to the log only. With metrics given (a shared
 * port, plain HTTP metrics only), /metrics as well.
 */
export function probeServer(opts: { healthz: Record<string, Check>; readyz: Record<string, Check>; metrics?: Metrics; log?: Logger }): http.Server {
  const run = (checks: Record<string, Check>) => {
    const failed = Object.entries(checks)
      .map(([name, check]) => [name, check()] as const)
      .filter(([, err]) => err !== undefined);
    if (failed.length) opts.log?.debug('probe failed', { checks: Object.fromEntries(failed) });
    return failed.length ? { code: 500, body: failed.map(([n]) => `[-]${n} failed: reason withheld`).join('\n') + '\n' } : { code: 200, body: 'ok' };
  };
  const metrics = opts.metrics ? metricsHandler(opts.metrics.registry, opts.log) : undefined;
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' || path === '/readyz') {
      const r = run(path === '/healthz' ? opts.healthz : opts.readyz);
      res.writeHead(r.code, { 'Content-Type': 'text/plain; charset=utf-8' }).end(r.body);
      return;
    }
    if (path === '/metrics' && metrics) {
      metrics(req, res);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
  });
}

export interface ReloadingServerOptions {
  certFile: string;
  keyFile: string;
  handler: http.RequestListener;
  log?: Logger;
  /** How often the files are checked for changes. */
  pollMs?: number;
}

/** An HTTPS server that reloads its certificate and key when the files change. */
export class ReloadingHttpsServer {
  readonly server: https.Server;
  private loaded = '';
  private readonly watcher: () => void;

  constructor(private readonly opts: ReloadingServerOptions) {
    const { cert, key } = this.read();
    this.server = https.createServer({ cert, key, minVersion: 'TLSv1.2' }, opts.handler);
    this.loaded = cert + key;
    this.watcher = () => this.reload();
    // fs.watchFile polls stat(): it survives the atomic symlink swap that
    // Kubernetes uses to update mounted Secrets, where fs.watch would not.
    fs.watchFile(opts.certFile, { interval: opts.pollMs ?? 1000, persistent: false }, this.watcher);
    fs.watchFile(opts.keyFile, { interval: opts.pollMs ?? 1000, persistent: false }, this.watcher);
  }

  private read(): { cert: string; key: string } {
    try {
      return { cert: fs.readFileSync(this.opts.certFile, 'utf8'), key: fs.readFileSync(this.opts.keyFile, 'utf8') };
    } catch (e) {
      throw new Error(`cannot read TLS certificate ${this.opts.certFile} / key ${this.opts.keyFile}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Re-reads the files; keeps serving the old pair if the new one is unreadable or mismatched. */
  reload(): boolean {
    try {
      const { cert, key } = this.read();
      if (cert + key === this.loaded) return false;
      this.server.setSecureContext({ cert, key });
      this.loaded = cert + key;
      this.opts.log?.info('serving certificate reloaded', { certFile: this.opts.certFile });
      return true;
    } catch (e) {
      // Mid-rotation the cert and key may briefly not match; the next poll retries.
      this.opts.log?.warn('serving certificate not reloaded', { certFile: this.opts.certFile, error: (e as Error).message });
      return false;
    }
  }

  listen(host: string, port: number): Promise<number> {
    return listen(this.server, host, port);
  }

  async close(): Promise<void> {
    fs.unwatchFile(this.opts.certFile, this.watcher);
    fs.unwatchFile(this.opts.keyFile, this.watcher);
    await closeServer(this.server);
  }
}
