// TCP connections opened from inside a network namespace, for code of this
// process. The kubelet simulation's join (join.ts) runs kubeadm's requests
// from the VM's own namespace through one of these, so they cross the real
// datapath as a real kubelet's would: the VM's switch, its VPC's load
// balancer, the private endpoint's proxy (adr/0014).
//
// One helper process per namespace (`ip netns exec <ns> node -e …`) listens
// on a UNIX socket (the file system is shared across network namespaces).
// Each connection to it starts with one line, "<host> <port>\n"; the helper
// connects to host:port from inside the namespace and answers "OK\n", then
// relays bytes both ways, or answers "ERR <message>\n" and closes. The helper
// exits when this process goes (its stdin closes).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HELPER_JS = `
const net = require('node:net');
const [sock] = process.argv.slice(-1);
const server = net.createServer((c) => {
  let head = Buffer.alloc(0);
  c.on('error', () => {});
  const onData = (d) => {
    head = Buffer.concat([head, d]);
    const nl = head.indexOf(10);
    if (nl < 0) { if (head.length > 512) c.destroy(); return; }
    c.off('data', onData);
    c.pause();
    const [host, port] = head.subarray(0, nl).toString('utf8').split(' ');
    const rest = head.subarray(nl + 1);
    const u = net.connect({ host, port: Number(port) });
    let connected = false;
    u.on('connect', () => {
      connected = true;
      c.write('OK\\n');
      if (rest.length) u.write(rest);
      c.pipe(u);
      u.pipe(c);
      c.resume();
    });
    u.on('error', (e) => { if (connected) c.destroy(); else c.end('ERR ' + (e.code || e.message) + '\\n'); });
    c.on('close', () => u.destroy());
    u.on('close', () => c.end());
  };
  c.on('data', onData);
});
server.listen(sock, () => process.stdout.write('listening\\n'));
const stop = () => process.exit(0);
process.stdin.on('end', stop).on('close', stop).resume();
`;

/** Opens host:port from inside a namespace; rejects with why not within `timeoutMs`. */
export type Dial = (host: string, port: number, timeoutMs: number) => Promise<net.Socket>;

export interface NetnsDialer {
  /** A Dial from inside `netns`, its helper started on first use. */
  dial(netns: string): Dial;
  /** The namespaces a connection was dialled from so far. */
  dialled(): string[];
  stop(): Promise<void>;
}

interface Helper {
  proc: ChildProcess;
  socket: string;
  ready: Promise<void>;
}

class Dialer implements NetnsDialer {
  private readonly dir = mkdtempSync(join(tmpdir(), 'ironplane-netnsdial-'));
  private readonly helpers = new Map<string, Helper>();
  private readonly used = new Set<string>();

  dialled(): string[] {
    return [...this.used].sort();
  }

  private helper(netns: string): Helper {
    let h = this.helpers.get(netns);
    if (h && h.proc.exitCode === null && h.proc.signalCode === null) return h;
    const socket = join(this.dir, `${this.helpers.size}-${netns.replace(/[^a-zA-Z0-9-]/g, '_')}.sock`);
    rmSync(socket, { force: true });
    const proc = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', HELPER_JS, socket], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    const ready = new Promise<void>((resolve, reject) => {
      const onOut = (d: Buffer) => {
        out += d.toString('utf8');
        if (out.includes('listening')) resolve();
      };
      proc.stdout?.on('data', onOut);
      proc.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')));
      proc.once('exit', (code) => reject(new Error(`dial helper in ${netns} exited (${code}): ${out.slice(-500)}`)));
      proc.once('error', reject);
    });
    ready.catch(() => {});
    h = { proc, socket, ready };
    this.helpers.set(netns, h);
    return h;
  }

  dial(netns: string): Dial {
    return async (host, port, timeoutMs) => {
      const h = this.helper(netns);
      await h.ready;
      this.used.add(netns);
      return new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(h.socket);
        let head = Buffer.alloc(0);
        const timer = setTimeout(() => {
          s.destroy();
          reject(new Error(`connecting to ${host}:${port} from ${netns}: no connection within ${timeoutMs} ms`));
        }, timeoutMs);
        const onData = (d: Buffer) => {
          head = Buffer.concat([head, d]);
          const nl = head.indexOf(10);
          if (nl < 0) return;
          clearTimeout(timer);
          s.off('data', onData);
          s.pause();
          const line = head.subarray(0, nl).toString('utf8');
          if (line !== 'OK') {
            s.destroy();
            reject(new Error(`connecting to ${host}:${port} from ${netns}: ${line.replace(/^ERR /, '')}`));
            return;
          }
          const rest = head.subarray(nl + 1);
          if (rest.length) s.unshift(rest);
          resolve(s);
        };
        s.on('data', onData);
        s.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        s.once('connect', () => s.write(`${host} ${port}\n`));
      });
    };
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.helpers.values()].map(
        (h) =>
          new Promise<void>((resolve) => {
            if (h.proc.exitCode !== null || h.proc.signalCode !== null) return resolve();
            h.proc.once('exit', () => resolve());
            h.proc.stdin?.end();
          }),
      ),
    );
    this.helpers.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function startNetnsDialer(): NetnsDialer {
  return new Dialer();
}
