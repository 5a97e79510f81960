// Packets on the OVN world's datapath (test/harness/ovn.ts), beyond ping:
// TCP servers and clients inside the world's network namespaces, pods of
// kube-OVN's default VPC plugged as kube-ovn-cni would, the management host's
// port on kube-OVN's join switch, and the NB rows that tell where a load
// balancer is attached.
// (TCP works in every namespace plug() makes: it turns tx checksum offload
// off, as kube-ovn-cni does with a userspace datapath.)
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '../../../providers/kit/client.js';
import type { OvnWorld } from '../../harness/index.js';
import { allocationOf, Pods, runningStatus, type Allocation, type Pod } from '../../sim/launcher.js';
import { runBinary, until, type Proc } from '../processes.js';

/** An HTTP server answering every request with `body`, listening on `port` inside `netns`. */
const SERVER_JS = `
const [port, body] = process.argv.slice(1);
require('http').createServer((req, res) => res.end(body)).listen(Number(port), () => console.log('listening'));
`;

/**
 * An HTTP(S) GET from inside a namespace: prints the body and exits 0, or
 * exits 1 on a timeout or error. TLS is not verified: the point is which
 * server answers, and the management apiserver's certificate does not name
 * the address OVN reaches it at.
 */
const GET_JS = `
const [scheme, host, port, path, ms] = process.argv.slice(1);
const req = require(scheme).get({ host, port: Number(port), path, rejectUnauthorized: false, timeout: Number(ms) }, (res) => {
  let body = '';
  res.on('data', (d) => (body += d));
  res.on('end', () => { process.stdout.write(body); process.exit(0); });
});
req.on('timeout', () => req.destroy(new Error('timed out after ' + ms + ' ms')));
req.on('error', (e) => { process.stderr.write(e.message); process.exit(1); });
`;

/** The body of GET <scheme>://ip:port<path> from inside `netns`, or undefined when nothing answered within `timeoutMs`. */
export async function httpGet(ovn: OvnWorld, netns: string, ip: string, port: number, opts: { scheme?: 'http' | 'https'; path?: string; timeoutMs?: number } = {}): Promise<string | undefined> {
  const r = await ovn.exec(netns, [process.execPath, '-e', GET_JS, opts.scheme ?? 'http', ip, String(port), opts.path ?? '/', String(opts.timeoutMs ?? 2000)]);
  return r.code === 0 ? r.stdout : undefined;
}

/** Processes started inside namespaces, ended by stop(). */
export class NetnsProcesses {
  private readonly procs: Proc[] = [];
  private readonly servers: net.Server[] = [];
  private readonly dirs: string[] = [];

  /** Starts an HTTP server answering `body` on `port` in `netns`; resolves once it listens. */
  async httpServer(netns: string, port: number, body: string): Promise<Proc> {
    const p = runBinary('ip', ['netns', 'exec', netns, process.execPath, '-e', SERVER_JS, String(port), body]);
    this.procs.push(p);
    await until(`HTTP server on port ${port} in ${netns}`, () => {
      if (p.child.exitCode !== null) throw new Error(`server exited: ${p.output()}`);
      return p.output().includes('listening');
    }, 30_000);
    return p;
  }

  /**
   * Makes the management apiserver answer at ip:port inside `netns`: a
   * listener there relays each connection over a unix socket (files cross
   * network namespaces) to this process, which relays it to `target` on the
   * host's loopback, where the harness's kube-apiserver listens.
   */
  async relay(netns: string, ip: string, port: number, target: { host: string; port: number }): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'ironplane-relay-'));
    this.dirs.push(dir);
    const sock = join(dir, 'relay.sock');
    const host = net.createServer((c) => pipe(c, net.connect(target.port, target.host)));
    this.servers.push(host);
    await new Promise<void>((resolve, reject) => host.once('error', reject).listen(sock, () => resolve()));
    const js = `
const net = require('net');
const [sock, ip, port] = process.argv.slice(1);
net.createServer((c) => { const u = net.connect(sock); c.pipe(u); u.pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); })
  .listen(Number(port), ip, () => console.log('listening'));
`;
    const p = runBinary('ip', ['netns', 'exec', netns, process.execPath, '-e', js, sock, ip, String(port)]);
    this.procs.push(p);
    await until(`relay on ${ip}:${port} in ${netns}`, () => {
      if (p.child.exitCode !== null) throw new Error(`relay exited: ${p.output()}`);
      return p.output().includes('listening');
    }, 30_000);
  }

  /**
   * Starts GETs of http://ip:port/ from inside `netns`, one every
   * `intervalMs`, each given `attemptMs`, until one is answered; resolves with
   * the wall-clock time (Date.now(), the same clock on both sides) of that
   * first answer and its body. The overlapping attempts bound the error of
   * the time by `intervalMs`, where one attempt after another would add a
   * whole timeout for a SYN dropped just before the path existed. Resolves
   * once the prober runs, with the promise of its answer.
   */
  async firstAnswer(netns: string, ip: string, port: number, opts: { intervalMs?: number; attemptMs?: number; timeoutMs?: number } = {}): Promise<{ answer: Promise<{ at: number; body: string }> }> {
    const js = `
const [host, port, every, ms] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const http = require('http');
setInterval(() => {
  const req = http.get({ host, port, path: '/', timeout: ms, agent: false }, (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => { console.log(JSON.stringify({ at: Date.now(), body })); process.exit(0); });
  });
  req.on('timeout', () => req.destroy());
  req.on('error', () => {});
}, every);
console.log('probing');
`;
    const p = runBinary('ip', ['netns', 'exec', netns, process.execPath, '-e', js, ip, String(port), String(opts.intervalMs ?? 25), String(opts.attemptMs ?? 1000)]);
    this.procs.push(p);
    await until(`the prober of ${ip}:${port} in ${netns} to start`, () => {
      if (p.child.exitCode !== null) throw new Error(`prober exited: ${p.output()}`);
      return p.output().includes('probing');
    }, 30_000);
    const answer = until(`an answer from ${ip}:${port} in ${netns}`, () => {
      const line = p.output().split('\n').find((l) => l.startsWith('{"at"'));
      if (line) return JSON.parse(line) as { at: number; body: string };
      if (p.child.exitCode !== null) throw new Error(`prober exited: ${p.output()}`);
      return undefined;
    }, opts.timeoutMs ?? 120_000);
    // A caller that gives up first (another wait failed) leaves no unhandled rejection behind.
    answer.catch(() => undefined);
    return { answer };
  }

  async stop(): Promise<void> {
    for (const p of this.procs) {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
    for (const s of this.servers) await new Promise((resolve) => s.close(resolve));
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

function pipe(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
}

/**
 * A pod of kube-OVN's default VPC (no logical switch annotation: subnet
 * ovn-default), bound to the OVN node: kube-ovn-controller allocates it, and
 * this plays kube-ovn-cni (plug) and the kubelet (status
 * with the address). Resolves with its namespace and allocation.
 */
export async function defaultVpcPod(ovn: OvnWorld, client: Client, namespace: string, name: string): Promise<{ netns: string; alloc: Allocation }> {
  await client.create<Pod>(Pods, { metadata: { name, namespace }, spec: { nodeName: ovn.nodeName, containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] } });
  const pod = await until(`kube-OVN to allocate pod ${namespace}/${name}`, async () => {
    const p = await client.get<Pod>(Pods, name, namespace);
    return allocationOf(p) ? p : undefined;
  }, 60_000);
  const alloc = allocationOf(pod)!;
  const netns = await ovn.plug({ name: `pod-${name}`, pod: name, namespace, ip: alloc.ip, mac: alloc.mac, gateway: alloc.gateway, cidr: alloc.cidr });
  await client.patchStatus(Pods, name, namespace, runningStatus(pod, alloc, '127.0.0.1'));
  return { netns, alloc };
}

interface NodeAllocation {
  ip: string;
  mac: string;
  gateway: string;
  cidr: string;
  port: string;
}

/**
 * The management host as OVN reaches it: kube-ovn-cni's `ovn0`, the port
 * kube-OVN made for the Node on its join switch (`node-<node>`, with the
 * address and MAC written on the Node), plugged as a namespace of this world.
 */
export async function nodeJoinPort(ovn: OvnWorld, client: Client): Promise<{ netns: string; alloc: NodeAllocation }> {
  const Nodes = { group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false } as const;
  const alloc = await until(`kube-OVN to give node ${ovn.nodeName} a join address`, async () => {
    const a = (await client.get(Nodes, ovn.nodeName)).metadata?.annotations ?? {};
    const k = (s: string): string | undefined => a[`ovn.kubernetes.io/${s}`];
    if (k('allocated') !== 'true') return undefined;
    const [ip, mac, gateway, cidr, port] = [k('ip_address'), k('mac_address'), k('gateway'), k('cidr'), k('port_name')];
    return ip && mac && gateway && cidr && port ? { ip, mac, gateway, cidr, port } : undefined;
  }, 60_000);
  // plug() names the port's iface-id <pod>.<namespace>; the node's port has no namespace.
  const netns = await ovn.plug({ name: 'node-ovn0', pod: 'node-ovn0', namespace: 'host', ip: alloc.ip, mac: alloc.mac, gateway: alloc.gateway, cidr: alloc.cidr });
  const iface = (await ovn.vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ironplane-netns=${netns}`)).trim();
  await ovn.vsctl('set', 'Interface', iface, `external_ids:iface-id=${alloc.port}`);
  return { netns, alloc };
}

type OvsdbValue = string | number | boolean | [string, unknown];

/** Rows of `ovn-nbctl --format=json list <table>` as objects of plain values (uuids as strings, sets as arrays, maps as objects). */
export async function nbRows(ovn: OvnWorld, table: string, columns: string[]): Promise<Record<string, unknown>[]> {
  const out = JSON.parse(await ovn.nbctl('--format=json', `--columns=${columns.join(',')}`, 'list', table)) as { headings: string[]; data: OvsdbValue[][] };
  const plain = (v: OvsdbValue): unknown => {
    if (!Array.isArray(v)) return v;
    const [kind, body] = v;
    if (kind === 'uuid') return body;
    if (kind === 'set') return (body as OvsdbValue[]).map(plain);
    if (kind === 'map') return Object.fromEntries((body as [OvsdbValue, OvsdbValue][]).map(([k, x]) => [plain(k), plain(x)]));
    return v;
  };
  return out.data.map((row) => Object.fromEntries(out.headings.map((h, i) => [h, plain(row[i]!)])));
}

/** A set column as an array (ovsdb writes a one-element set as the element itself). */
export const asSet = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : v === undefined || v === '' ? [] : [String(v)]);
