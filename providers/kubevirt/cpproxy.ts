// `ironplane cp-proxy`: the private control-plane endpoint's proxy
// (privateendpoint.ts, adr/0014). A plain TCP forwarder: TLS passes through
// untouched, so the tenant's machines see their control plane's own serving
// certificate and the proxy holds no key.
//
// Bounded: at most `maxConnections` pairs at once; a connection beyond that
// is closed at once (the tenant's client retries). On SIGTERM/SIGINT it stops
// accepting, lets open connections finish for `drainMs`, then closes them.
import net from 'node:net';
import { Command, CommanderError } from 'commander';

/** `host:port`, `[v6]:port`, `:port` (every address) or `unix:<path>`. */
export type Address = { host: string; port: number } | { path: string };

export function parseAddress(s: string, what: string): Address {
  if (s.startsWith('unix:')) {
    const path = s.slice('unix:'.length);
    if (!path) throw new Error(`${what}: unix: needs a path`);
    return { path };
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) throw new Error(`${what}: "${s}" is not host:port, [v6]:port, :port or unix:<path>`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export interface ForwarderOptions {
  listen: Address;
  to: Address;
  maxConnections: number;
  /** How long open connections may finish after close() starts. Default 10 s. */
  drainMs?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface Forwarder {
  /** Where it listens (the bound port when 0 was asked for). */
  readonly address: Address;
  /** Connections being forwarded now. */
  active(): number;
  /** Stops accepting, drains, then closes what is left. Idempotent. */
  close(): Promise<void>;
}

export async function startForwarder(o: ForwarderOptions): Promise<Forwarder> {
  const log = o.log ?? (() => undefined);
  const sockets = new Set<net.Socket>();
  let closing: Promise<void> | undefined;
  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    if (closing || sockets.size / 2 >= o.maxConnections) {
      client.destroy();
      log('connection refused', { reason: closing ? 'closing' : 'max-connections', active: sockets.size / 2 });
      return;
    }
    const upstream = 'path' in o.to ? net.connect(o.to.path) : net.connect(o.to.port, o.to.host);
    sockets.add(client);
    sockets.add(upstream);
    const done = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', (e) => {
      log('upstream error', { error: e.message });
      done();
    });
    upstream.on('close', done);
    upstream.on('connect', () => {
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  });
  server.maxConnections = o.maxConnections * 4;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if ('path' in o.listen) server.listen(o.listen.path, resolve);
    else server.listen(o.listen.port, o.listen.host, 511, resolve);
  });
  const bound = server.address();
  const address: Address = typeof bound === 'string' || bound === null ? o.listen : { host: bound.address, port: bound.port };
  return {
    address,
    active: () => sockets.size / 2,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, o.drainMs ?? 10_000);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return closing;
    },
  };
}

export function cpProxyCommand(): Command {
  return new Command('cp-proxy')
    .description("forward TCP from a tenant's private control-plane endpoint to where its hosted control plane is served")
    .requiredOption('--listen <address>', 'host:port, :port or unix:<path> to accept connections on')
    .requiredOption('--to <address>', 'host:port or unix:<path> of the control plane')
    .option('--max-connections <n>', 'connections forwarded at once', '512')
    .option('--drain-seconds <n>', 'how long open connections may finish on SIGTERM', '10')
    .action(async (opts: { listen: string; to: string; maxConnections: string; drainSeconds: string }) => {
      const bad = (m: string) => new CommanderError(2, 'ironplane.badFlag', `error: ${m}`);
      let listen: Address, to: Address;
      try {
        listen = parseAddress(opts.listen, '--listen');
        to = parseAddress(opts.to, '--to');
      } catch (e) {
        throw bad((e as Error).message);
      }
      const maxConnections = Number(opts.maxConnections);
      if (!Number.isInteger(maxConnections) || maxConnections < 1) throw bad(`--max-connections must be a positive integer, got "${opts.maxConnections}"`);
      const drain = Number(opts.drainSeconds);
      if (!Number.isFinite(drain) || drain < 0) throw bad(`--drain-seconds must be a number of seconds, got "${opts.drainSeconds}"`);
      const log = (msg: string, fields: Record<string, unknown> = {}) => process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), msg, ...fields }) + '\n');
      const fwd = await startForwarder({ listen, to, maxConnections, drainMs: drain * 1000, log });
      log('forwarding', { listen: opts.listen, to: opts.to, maxConnections });
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          log('stopping', { signal: sig, active: fwd.active() });
          void fwd.close().then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });
}
