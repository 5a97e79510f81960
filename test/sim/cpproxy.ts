// The node that runs the private control-plane endpoint's proxy Pods
// (providers/kubevirt/privateendpoint.ts, adr/0014), for the OVN world.
//
// In production the proxy is a Pod of the KvmCluster's Deployment with two
// legs: its primary interface on the tenant Subnet (kube-OVN, at the address
// the Deployment pins) and a multus attachment on the network where Kamaji
// serves control planes. Here the Deployment, its ReplicaSet and its Pod are
// real (kube-controller-manager makes them) and so is the address: the REAL
// kube-ovn-controller allocates it on the Pod and makes its logical switch
// port. What this sim stands in for is the kubelet, kube-ovn-cni and multus:
// - binds the Pod to the OVN world's node (kube-scheduler's part);
// - plugs a network namespace into the tenant switch at exactly the Pod's
//   address and MAC (ovn.plug, as for a VM) and runs the proxy's tenant leg
//   in it: the production forwarder (providers/kubevirt/cpproxy.ts) listening
//   where the container's --listen says, forwarding to a UNIX socket (the
//   file system is shared across network namespaces);
// - serves that socket from this process with the same forwarder, connected
//   to the container's --to: the management leg, on the host's loopback where
//   the tenant apiservers listen (multus's part: only for a Pod that names an
//   attachment in k8s.v1.cni.cncf.io/networks);
// - reports the Pod Running and Ready (the kubelet's part), so the
//   Deployment becomes available; a deleted Pod is torn down and its deletion
//   confirmed (grace period 0), as a kubelet does;
// - heartbeats the node's Ready condition every 10 s, as a kubelet does:
//   otherwise kube-controller-manager's node lifecycle controller marks the
//   node Unknown after 40 s and every Pod on it not Ready.
// The leg process exits when this process goes (its stdin closes); the
// namespace is the OVN world's and is swept with it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '../../providers/kit/client.js';
import { isNotFound } from '../../providers/kit/client.js';
import { Controller, type Request, type Result } from '../../providers/kit/controller.js';
import { Informer } from '../../providers/kit/informer.js';
import type { KubeObject } from '../../providers/kit/types.js';
import { Nodes } from '../../providers/kubevirt/resources.js';
import { silentLogger, type Logger } from '../../providers/kit/log.js';
import { parseAddress, startForwarder, type Forwarder } from '../../providers/kubevirt/cpproxy.js';
import { NETWORKS_ANNOTATION, PROXY_APP } from '../../providers/kubevirt/privateendpoint.js';
import { allocationOf, Pods, portOf, runningStatus, type Pod } from './launcher.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const LEG_SCRIPT = join(HERE, 'cpproxy-leg.ts');
const REPO = resolve(HERE, '../..');

/** What the sim needs of an OVN world (test/harness/ovn.ts OvnWorld has it). */
export interface ProxyOvn {
  readonly nodeName: string;
  exec(netns: string, cmd: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  plug(opts: { name: string; pod: string; namespace: string; ip: string; mac: string; gateway: string; cidr: string }): Promise<string>;
  unplug(netns: string): Promise<void>;
}

export interface ProxyNodeOptions {
  client: Client;
  ovn: ProxyOvn;
  log?: Logger;
}

interface Running {
  uid: string;
  netns: string;
  ip: string;
  socket: string;
  /** The management leg; none when the Pod names no multus attachment. */
  host: Forwarder | undefined;
  leg: ChildProcess;
  legOutput: () => string;
}

export interface ProxyNode {
  /** The proxy Pod namespace/name's tenant leg, once plugged. */
  leg(namespace: string, pod: string): { netns: string; ip: string } | undefined;
  /** Every proxy Pod running now, by namespace/name. */
  pods(): string[];
  stop(): Promise<void>;
}

class SimProxyNode implements ProxyNode {
  private readonly log: Logger;
  private readonly pods_: Informer<Pod>;
  private readonly controller: Controller;
  private readonly running = new Map<string, Running>();
  private readonly dir = mkdtempSync(join(tmpdir(), 'ironplane-cpproxy-'));
  private stopping: Promise<void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ProxyNodeOptions) {
    this.log = (opts.log ?? silentLogger).with({ sim: 'cp-proxy-node' });
    this.pods_ = new Informer<Pod>(opts.client, Pods, { log: this.log, labelSelector: `app.kubernetes.io/name=${PROXY_APP}`, retryMaxMs: 2000 });
    this.controller = new Controller({ name: 'sim-cp-proxy', reconcile: (req) => this.reconcile(req), log: this.log, workers: 2 }).watch(this.pods_);
  }

  async start(): Promise<void> {
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat().catch((e: unknown) => this.log.info('node heartbeat failed', { error: (e as Error).message })), 10_000);
    await this.pods_.start();
    await this.controller.start();
  }

  /** The kubelet's node status heartbeat: Ready, with a fresh lastHeartbeatTime. */
  private async beat(): Promise<void> {
    const { client, ovn } = this.opts;
    type NodeObj = KubeObject & { status?: { conditions?: { type: string; status: string; lastTransitionTime?: string }[] } };
    const node = await client.get<NodeObj>(Nodes, ovn.nodeName);
    const now = new Date().toISOString();
    const others = (node.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
    const before = node.status?.conditions?.find((c) => c.type === 'Ready');
    const ready = { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'simulated by test/sim', lastHeartbeatTime: now, lastTransitionTime: before?.status === 'True' && before.lastTransitionTime ? before.lastTransitionTime : now };
    await client.patchStatus(Nodes, ovn.nodeName, undefined, { conditions: [...others, ready] });
  }

  leg(namespace: string, pod: string): { netns: string; ip: string } | undefined {
    const r = this.running.get(`${namespace}/${pod}`);
    return r ? { netns: r.netns, ip: r.ip } : undefined;
  }

  pods(): string[] {
    return [...this.running.keys()].sort();
  }

  private async teardown(key: string): Promise<void> {
    const r = this.running.get(key);
    if (!r) return;
    this.running.delete(key);
    r.leg.kill('SIGTERM');
    await r.host?.close();
    await this.opts.ovn.unplug(r.netns);
    rmSync(r.socket, { force: true });
    this.log.info('proxy pod torn down', { pod: key });
  }

  private async reconcile(req: Request): Promise<Result | void> {
    const { client, ovn } = this.opts;
    const pod = this.pods_.get(req.key);
    const ns = req.namespace ?? '';
    if (!pod || pod.metadata?.deletionTimestamp) {
      await this.teardown(req.key);
      // The kubelet's confirmation: the sandbox is gone.
      if (pod) {
        await client
          .request({ method: 'DELETE', path: `/api/v1/namespaces/${ns}/pods/${req.name}`, body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: pod.metadata!.uid! } } })
          .catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
      }
      return;
    }
    if (!pod.spec?.nodeName) {
      // kube-scheduler's part.
      await client.request({ method: 'POST', path: `/api/v1/namespaces/${ns}/pods/${req.name}/binding`, body: { apiVersion: 'v1', kind: 'Binding', metadata: { name: req.name }, target: { kind: 'Node', name: ovn.nodeName } } });
      return;
    }
    const alloc = allocationOf(pod);
    if (!alloc) return; // kube-OVN's annotations wake us.
    const uid = pod.metadata!.uid!;
    let r = this.running.get(req.key);
    if (r && (r.uid !== uid || r.ip !== alloc.ip)) {
      await this.teardown(req.key);
      r = undefined;
    }
    if (!r) {
      const container = (pod.spec.containers as { name: string; args?: string[] }[] | undefined)?.find((c) => c.name === PROXY_APP);
      const args = container?.args ?? [];
      const flag = (f: string) => {
        const i = args.indexOf(f);
        return i >= 0 ? args[i + 1] : undefined;
      };
      const listen = flag('--listen');
      const to = flag('--to');
      if (args[0] !== 'cp-proxy' || !listen || !to) throw new Error(`proxy pod ${req.key}: container ${PROXY_APP} does not run "cp-proxy --listen … --to …" (args ${JSON.stringify(args)})`);
      const port = portOf(pod);
      const netns = await ovn.plug({ name: `cpp-${uid.slice(0, 8)}`, pod: port.pod, namespace: port.namespace, ip: alloc.ip, mac: alloc.mac, gateway: alloc.gateway, cidr: alloc.cidr });
      const socket = join(this.dir, `${uid}.sock`);
      // The management leg: this process, to where --to points; multus's
      // part, so only when the Pod names an attachment. Without one the
      // tenant leg forwards into nothing, as the real Pod would.
      const attached = !!pod.metadata?.annotations?.[NETWORKS_ANNOTATION];
      const host = attached ? await startForwarder({ listen: { path: socket }, to: parseAddress(to, '--to'), maxConnections: 64 }) : undefined;
      // The tenant leg: inside the Pod's network namespace, where --listen says.
      let out = '';
      const leg = spawn('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx', LEG_SCRIPT, '--listen', listen, '--to', `unix:${socket}`], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
      leg.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      leg.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      r = { uid, netns, ip: alloc.ip, socket, host, leg, legOutput: () => out };
      this.running.set(req.key, r);
      const ready = await new Promise<boolean>((done) => {
        const timer = setTimeout(() => done(false), 60_000);
        const check = () => {
          if (!out.includes('"listening"')) return;
          clearTimeout(timer);
          done(true);
        };
        leg.stdout!.on('data', check);
        leg.on('exit', () => {
          clearTimeout(timer);
          done(false);
        });
      });
      if (!ready) {
        await this.teardown(req.key);
        throw new Error(`proxy pod ${req.key}: the tenant leg exited: ${out}`);
      }
      this.log.info('proxy pod plugged', { pod: req.key, netns, ip: alloc.ip, listen, to, managementLeg: attached });
    }
    const ready = (pod.status?.conditions as { type: string; status: string }[] | undefined)?.find((c) => c.type === 'Ready')?.status === 'True';
    if (pod.status?.podIP !== alloc.ip || pod.status?.phase !== 'Running' || !ready) {
      await client.patchStatus(Pods, req.name, ns, runningStatus(pod, alloc, '127.0.0.1'));
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.heartbeat);
      await this.controller.stop();
      await this.pods_.stop();
      for (const key of [...this.running.keys()]) await this.teardown(key).catch(() => undefined);
      rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.stopping;
  }
}

/** Starts the proxy node once its Pod informer has synced. */
export async function startProxyNode(opts: ProxyNodeOptions): Promise<ProxyNode> {
  const n = new SimProxyNode(opts);
  try {
    await n.start();
  } catch (e) {
    await n.stop().catch(() => undefined);
    throw e;
  }
  return n;
}
