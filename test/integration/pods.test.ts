// The tenant cloud provider run for real as a Pod: the ironplane image of
// `make image` (hack/image/build.sh) imported into a real node's containerd
// (test/harness/node.ts), and the release's cloud-provider-components.yaml
// (config/release/build.sh) rendered by clusterctl and applied by kubectl as
// they are, nothing changed, not even the image (the default reference is the
// one the image is built and imported under, and imagePullPolicy
// IfNotPresent finds it there). The Deployment becomes Available through its
// own probes; its Pod runs as 1000:1000 from the image, holds the leader
// Lease under its own name over the in-cluster `kubernetes` Service, and
// writes LoadBalancerPool status and Events; deleted, the Pod's successor
// takes the Lease over and carries on, with one Pod, one holder and one Event
// per change. Figures: apply → Available, and the manager's memory as a Pod
// beside the same build (dist/) run as a host process.
//
// Needs what `make test` builds first: `make tools` (bin/, bin/node) and
// `make build` (dist/). IRONPLANE_IMAGE_ARCHIVE names an archive to use
// instead of building one (e.g. out/image/ironplane-<version>.oci.tar).
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { LoadBalancerPool } from '../../providers/api/generated/ironplane/v1alpha1/loadbalancerpool.js';
import { LoadBalancerPools } from '../../providers/cloudprovider/names.js';
import { Client } from '../../providers/kit/client.js';
import { Events, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import { freePorts, startControlPlane, startNode, type ControlPlane, type RealNode } from '../harness/index.js';
import { REPO, run, until, type Proc } from './processes.js';

const PKG = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
const VERSION = `v${PKG.version}`;
const PROVIDER = 'infrastructure-ironplane-kvm';
const NS = 'ironplane-kvm-system';
const DEPLOYMENT = 'ironplane-cloud-provider';
const LEASE = 'ironplane-cloud-provider-leader';
const SELECTOR = 'app.kubernetes.io/component=cloud-provider,app.kubernetes.io/name=ironplane';
const KUBECTL = path.join(REPO, 'bin/kubectl');
const CLUSTERCTL = path.join(REPO, 'bin/clusterctl');

const Pods: ResourceType = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };
const Deployments: ResourceType = { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true };
const ReplicaSets: ResourceType = { group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', namespaced: true };
const Leases: ResourceType = { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true };
const Namespaces: ResourceType = { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false };

type Condition = { type: string; status: string; reason?: string; message?: string };
type Pod = KubeObject & {
  spec?: { nodeName?: string; containers?: { image?: string; imagePullPolicy?: string }[] };
  status?: {
    phase?: string;
    conditions?: Condition[];
    containerStatuses?: { ready?: boolean; restartCount?: number; image?: string; imageID?: string; containerID?: string; state?: Record<string, { reason?: string; message?: string } | undefined> }[];
  };
};
type Deployment = KubeObject & { status?: { observedGeneration?: number; replicas?: number; readyReplicas?: number; availableReplicas?: number; conditions?: Condition[] } };
type Lease = KubeObject & { spec?: { holderIdentity?: string; leaseTransitions?: number } };
type CoreEvent = KubeObject & { reason?: string; note?: string; reportingController?: string; reportingInstance?: string; regarding?: { name?: string; uid?: string } };

const sh = promisify(execFile);
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

let tmp: string;
let cp: ControlPlane;
let node: RealNode | undefined;
let client: Client;
let archive: string;
let components: string;
let imageRef: string;
let hostManager: Proc | undefined;
const figures: string[] = [];

/** The image reference the rendered Deployment runs, and the digests of the archive's manifest and config. */
function archiveDigests(file: string): { manifest: string; config: string } {
  const index = JSON.parse(spawnSync('tar', ['-xOf', file, 'index.json'], { encoding: 'utf8' }).stdout) as { manifests: { digest: string }[] };
  const manifest = index.manifests[0]?.digest ?? '';
  const m = JSON.parse(spawnSync('tar', ['-xOf', file, `blobs/sha256/${manifest.replace(/^sha256:/, '')}`], { encoding: 'utf8' }).stdout) as { config: { digest: string } };
  return { manifest, config: m.config.digest };
}

/** `hack/image/build.sh` into the temp dir (its downloads and node_modules are cached under .tmp/image), unless IRONPLANE_IMAGE_ARCHIVE names one. */
async function imageArchive(): Promise<string> {
  const given = process.env['IRONPLANE_IMAGE_ARCHIVE'];
  if (given) return path.resolve(given);
  const out = path.join(tmp, 'image');
  const sde = (await sh('git', ['log', '-1', '--format=%ct'], { cwd: REPO })).stdout.trim();
  await sh(path.join(REPO, 'hack/image/build.sh'), [out], { cwd: REPO, env: { ...process.env, SOURCE_DATE_EPOCH: sde }, maxBuffer: 64 << 20 });
  return path.join(out, `ironplane-${PKG.version}.oci.tar`);
}

/** `clusterctl generate yaml --from <file>`: every variable of the file at its default, as `clusterctl init` would fill it in. */
function render(file: string): string {
  const r = spawnSync(CLUSTERCTL, ['generate', 'yaml', '--from', file], { encoding: 'utf8', cwd: tmp, env: { ...process.env, HOME: tmp, XDG_CONFIG_HOME: path.join(tmp, '.config') } });
  if (r.status !== 0) throw new Error(`clusterctl generate yaml failed: ${r.stderr}`);
  return r.stdout;
}

function kubectl(args: string[], input?: string): string {
  const r = spawnSync(KUBECTL, ['--kubeconfig', cp.kubeconfigPath, ...args], { encoding: 'utf8', input });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

const readyOf = (p: LoadBalancerPool | undefined) => p?.status?.conditions?.find((c) => c.type === 'Ready');
const podReady = (p: Pod): boolean => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const alive = (p: Pod): boolean => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';

async function pods(): Promise<Pod[]> {
  return (await client.list<Pod>(Pods, { namespace: NS, labelSelector: SELECTOR })).items;
}

async function lease(): Promise<Lease> {
  return client.get<Lease>(Leases, LEASE, NS);
}

/** The container's cgroup directory (cgroup v1 memory hierarchy, or v2) under the node's cgroupRoot. */
function containerCgroup(n: RealNode, containerId: string): { dir: string; v2: boolean } {
  const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
  const root = path.join(v2 ? '/sys/fs/cgroup' : '/sys/fs/cgroup/memory', n.cgroupRoot);
  const found = fs.readdirSync(root, { recursive: true, encoding: 'utf8' }).find((e) => path.basename(e) === containerId);
  if (!found) throw new Error(`no cgroup of container ${containerId} under ${root}`);
  return { dir: path.join(root, found), v2 };
}

interface ProcInfo {
  pid: number;
  uid: string;
  gid: string;
  rss: number;
  /** Seccomp mode (2: filter), no_new_privs, effective capabilities (hex). */
  seccomp: string;
  noNewPrivs: string;
  capEff: string;
  /** RSS split: anonymous (heap, stacks) and file-backed (the node binary, mostly). */
  rssAnon: number;
  rssFile: number;
  cmdline: string[];
}

function procInfo(pid: number): ProcInfo {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (k: string): string => new RegExp(`^${k}:\\s+(.*)$`, 'm').exec(status)?.[1] ?? '';
  const kb = (k: string): number => Number(/(\d+) kB/.exec(field(k))?.[1] ?? 0) * 1024;
  return {
    pid,
    uid: field('Uid'),
    gid: field('Gid'),
    seccomp: field('Seccomp'),
    noNewPrivs: field('NoNewPrivs'),
    capEff: field('CapEff'),
    rss: kb('VmRSS'),
    rssAnon: kb('RssAnon'),
    rssFile: kb('RssFile'),
    cmdline: fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean),
  };
}

/** The container's processes (host pids, from its cgroup) and the cgroup's memory use. */
function container(n: RealNode, pod: Pod): { procs: ProcInfo[]; cgroupBytes: number } {
  const id = pod.status?.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, '') ?? '';
  const cg = containerCgroup(n, id);
  const pids = fs.readFileSync(path.join(cg.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  const cgroupBytes = Number(fs.readFileSync(path.join(cg.dir, cg.v2 ? 'memory.current' : 'memory.usage_in_bytes'), 'utf8').trim());
  return { procs: pids.map(procInfo), cgroupBytes };
}

/**
 * The container's log lines, read from the node's /var/log/pods (the
 * apiserver cannot reach the kubelet inside the node's network namespace,
 * so `kubectl logs` cannot either): CRI lines `<time> <stream> <tag> <text>`.
 */
function podLog(n: RealNode, pod: Pod): string[] {
  const dir = path.join(n.dir, 'var-log/pods', `${NS}_${pod.metadata?.name}_${pod.metadata?.uid}`, 'cloud-provider');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .sort()
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n'))
    .filter(Boolean)
    .map((l) => l.split(' ').slice(3).join(' '));
}

/** The manager's JSON log entries at warn or above (a conflict, retried, is logged at info). */
function complaints(lines: string[]): string[] {
  return lines.filter((l) => {
    try {
      const e = JSON.parse(l) as { level?: string };
      return e.level === 'warn' || e.level === 'error';
    } catch {
      return true; // Not the logger's: a crash trace, say.
    }
  });
}

/** Events about `pool` recorded by the cloud provider. */
async function poolEvents(pool: LoadBalancerPool): Promise<CoreEvent[]> {
  return (await client.list<CoreEvent>(Events, { namespace: 'default' })).items.filter((e) => e.regarding?.uid === pool.metadata.uid && e.reportingController === 'infrastructure.ironplane.dev/cloud-provider');
}

const poolOf = (name: string, addresses: string[]): LoadBalancerPool => ({ metadata: { name }, spec: { addresses, tenants: { namespaces: ['team-a'] } } }) as LoadBalancerPool;

/** The pool's status once the manager has caught up with its spec. */
async function settled(name: string, want: { capacity: number; ready: 'True' | 'False' }): Promise<LoadBalancerPool> {
  return until(
    `pool ${name} to have capacity ${want.capacity} and Ready=${want.ready}`,
    async () => {
      const p = await client.get<LoadBalancerPool>(LoadBalancerPools, name);
      return p.status?.observedGeneration === p.metadata.generation && p.status?.capacity === want.capacity && readyOf(p)?.status === want.ready ? p : undefined;
    },
    60_000,
  );
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ironplane-pods-'));
  const release = path.join(tmp, 'release');
  const built = spawnSync(path.join(REPO, 'config/release/build.sh'), [release], { encoding: 'utf8', cwd: REPO });
  if (built.status !== 0) throw new Error(`config/release/build.sh failed: ${built.stderr}`);
  components = path.join(release, PROVIDER, VERSION, 'cloud-provider-components.yaml');
  // The image build (tar and gzip, tens of seconds) runs while the plane and the node start.
  const image = imageArchive();
  image.catch(() => undefined);
  cp = await startControlPlane({
    name: 'pods',
    nodes: true,
    crds: ['config/external/capi', 'config/external/kube-ovn', 'config/crd/bases'].map((p) => path.join(REPO, p)),
    log: (l) => console.log(l),
  });
  client = new Client(cp.kubeConfig, { fieldManager: 'pods-test' });
  node = await startNode(cp, { log: (l) => console.log(l) });
  archive = await image;
  const t0 = Date.now();
  const names = await node.importImage(archive);
  console.log(`image ${path.basename(archive)} imported into node ${node.name} in ${Date.now() - t0} ms: ${names.join(', ')}`);
  imageRef = `ghcr.io/ironplane/ironplane:${VERSION}`;
  expect(names).toEqual([imageRef]);
}, 600_000);

afterAll(async () => {
  if (hostManager && hostManager.child.exitCode === null) {
    hostManager.child.kill('SIGKILL');
    await hostManager.exited;
  }
  if (figures.length) console.log(`figures:\n  ${figures.join('\n  ')}`);
  client?.close();
  await node?.stop();
  await cp?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}, 120_000);

describe('the cloud provider as a Pod from the release manifests', () => {
  let first: Pod;

  it('given cloud-provider-components.yaml as released, should become Available on the node, running the imported image as 1000:1000 and holding the leader Lease', async () => {
    const n = node!;
    const yaml = render(components);
    const docs = parseAllDocuments(yaml).map((d) => d.toJS() as KubeObject & { spec?: { template?: { spec?: { containers?: { image?: string; imagePullPolicy?: string }[] } } } });
    const deployment = docs.find((d) => d.kind === 'Deployment');
    // Nothing to change: the release's default image is the one imported, and it is not pulled when present.
    expect(deployment?.spec?.template?.spec?.containers?.[0]).toMatchObject({ image: imageRef, imagePullPolicy: 'IfNotPresent' });
    expect(yaml).not.toMatch(/\$\{/);

    // What `clusterctl init` of the provider leaves: its namespace (the components file is applied after it).
    await client.create(Namespaces, { metadata: { name: NS, labels: { 'cluster.x-k8s.io/provider': PROVIDER } } } as KubeObject);
    const t0 = Date.now();
    kubectl(['apply', '-f', '-'], yaml);
    const available = await until(
      `Deployment ${NS}/${DEPLOYMENT} to be Available`,
      async () => {
        const d = await client.get<Deployment>(Deployments, DEPLOYMENT, NS);
        return d.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True') && d.status.availableReplicas === 1 ? d : undefined;
      },
      180_000,
    ).catch(async (e: Error) => {
      // Say why: the Pod's state and the end of its log.
      const ps = await pods().catch(() => []);
      const log = ps[0] ? podLog(n, ps[0]).slice(-20).join('\n') : '';
      throw new Error(`${e.message}\npods: ${JSON.stringify(ps.map((p) => p.status))}\nlog: ${log}`);
    });
    const applyToAvailable = Date.now() - t0;
    figures.push(`apply → Deployment Available: ${applyToAvailable} ms`);
    expect(available.status?.readyReplicas).toBe(1);

    const ps = (await pods()).filter(alive);
    expect(ps).toHaveLength(1);
    first = ps[0]!;
    const name = first.metadata?.name ?? '';
    const status = first.status?.containerStatuses?.[0];
    expect(first.spec?.nodeName).toBe(n.name);
    expect(podReady(first)).toBe(true);
    expect(status?.restartCount).toBe(0);
    // Ran from the imported archive: its manifest (or config) digest, under the release's reference.
    const digests = archiveDigests(archive);
    expect(status?.image).toBe(imageRef);
    expect([digests.manifest, digests.config].some((d) => status?.imageID?.endsWith(d))).toBe(true);

    // The container's process: the CLI as the Deployment starts it, as 1000:1000, its root the image's.
    const c = container(n, first);
    expect(c.procs).toHaveLength(1);
    const proc = c.procs[0]!;
    expect(proc.cmdline.slice(-10)).toEqual([
      'manager',
      '--role=cloud-provider',
      '--leader-elect',
      `--leader-election-namespace=${NS}`,
      '--metrics-bind-address=:8443',
      '--metrics-secure',
      '--health-probe-bind-address=:8081',
      '--webhook-port=0',
      '--workers=4',
      '--log-level=info',
    ]);
    expect(proc.uid.split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
    expect(proc.gid.split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
    // The Deployment's securityContext in force: RuntimeDefault seccomp, no privilege escalation, no capabilities, a read-only root.
    expect({ seccomp: proc.seccomp, noNewPrivs: proc.noNewPrivs, capEff: proc.capEff }).toEqual({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000' });
    const rootMount = fs.readFileSync(`/proc/${proc.pid}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === '/');
    expect(rootMount?.split(' ')[5]?.split(',')).toContain('ro');
    const inImage = JSON.parse(fs.readFileSync(`/proc/${proc.pid}/root/app/package.json`, 'utf8')) as { version: string };
    expect(inImage.version).toBe(PKG.version);
    expect(fs.existsSync(`/proc/${proc.pid}/root/app/dist/providers/cli/main.js`)).toBe(true);

    // The leader Lease, taken through the in-cluster Service with the Pod's own token.
    const l = await until('the Pod to hold the leader Lease', async () => {
      const got = await lease();
      return got.spec?.holderIdentity === name ? got : undefined;
    });
    expect(l.spec?.holderIdentity).toBe(name);
  }, 300_000);

  it('given a LoadBalancerPool, should write its capacity and Ready condition, and an Event naming the Pod for a pool that overlaps it', async () => {
    const name = first.metadata?.name ?? '';
    await client.create(LoadBalancerPools, poolOf('pods-a', ['203.0.113.0/30']));
    const a = await settled('pods-a', { capacity: 4, ready: 'True' });
    expect(readyOf(a)).toMatchObject({ status: 'True', reason: 'Available', message: '4 of 4 addresses free' });
    // Written by the manager's own field manager (the test writes spec only).
    const managed = (a.metadata as { managedFields?: { manager?: string; subresource?: string }[] }).managedFields;
    expect(managed?.find((f) => f.subresource === 'status')?.manager).toBe('ironplane-cloud-provider');

    await client.create(LoadBalancerPools, poolOf('pods-clash', ['203.0.113.2-203.0.113.3']));
    const clash = await settled('pods-clash', { capacity: 2, ready: 'False' });
    expect(readyOf(clash)?.reason).toBe('Overlap');
    const events = await until('an Overlap Event about pods-clash', async () => {
      const es = (await poolEvents(clash)).filter((e) => e.reason === 'Overlap');
      return es.length ? es : undefined;
    });
    expect(events).toHaveLength(1);
    expect(events[0]?.reportingInstance).toBe(name);
    await client.delete(LoadBalancerPools, 'pods-clash');
    await settled('pods-a', { capacity: 4, ready: 'True' });
    // Nothing went wrong on the way: no warning or error in the Pod's log.
    const log = podLog(node!, first);
    expect(log.some((l) => l.includes('controllers started'))).toBe(true);
    expect(complaints(log)).toEqual([]);
  }, 120_000);

  it('given its Pod deleted, should let the Deployment\'s new Pod take the Lease over and keep reconciling, with one Pod, one holder and one Event', async () => {
    const n = node!;
    const oldName = first.metadata?.name ?? '';
    const before = await lease();
    const t0 = Date.now();
    await client.delete(Pods, oldName, NS);

    // The successor: another Pod, Ready, holding the Lease.
    const next = await until(
      'a new Pod to be Ready',
      async () => {
        const ps = (await pods()).filter((p) => p.metadata?.name !== oldName && alive(p) && podReady(p));
        return ps.length === 1 ? ps[0] : undefined;
      },
      180_000,
    );
    const newName = next.metadata?.name ?? '';
    const l = await until('the new Pod to hold the Lease', async () => {
      const got = await lease();
      return got.spec?.holderIdentity === newName ? got : undefined;
    }, 60_000);
    figures.push(`Pod deleted → new Pod holds the Lease: ${Date.now() - t0} ms`);
    expect(l.spec?.leaseTransitions).toBe((before.spec?.leaseTransitions ?? 0) + 1);
    await until(`the old Pod ${oldName} to be gone`, async () => (await pods()).every((p) => p.metadata?.name !== oldName), 60_000);

    // Still reconciling: the pool grows, the status follows.
    await client.mergePatch(LoadBalancerPools, 'pods-a', undefined, { spec: { addresses: ['203.0.113.0/29'] } });
    const a = await settled('pods-a', { capacity: 8, ready: 'True' });
    expect(readyOf(a)?.message).toBe('8 of 8 addresses free');
    expect(a.status?.conditions?.filter((c) => c.type === 'Ready')).toHaveLength(1);
    await client.create(LoadBalancerPools, poolOf('pods-clash2', ['203.0.113.6/31']));
    const clash = await settled('pods-clash2', { capacity: 2, ready: 'False' });
    const events = await until('an Overlap Event about pods-clash2', async () => {
      const es = await poolEvents(clash);
      return es.length ? es : undefined;
    });
    // Give a second writer time to show itself, then count.
    await new Promise((r) => setTimeout(r, 3000));
    const after = await poolEvents(clash);
    await client.delete(LoadBalancerPools, 'pods-clash2');
    expect(after).toHaveLength(1);
    expect(after[0]?.reportingInstance).toBe(newName);
    expect(events[0]?.metadata?.uid).toBe(after[0]?.metadata?.uid);

    // Nothing duplicated: one ReplicaSet, one live Pod, no restarts, the same holder.
    const rs = (await client.list<KubeObject>(ReplicaSets, { namespace: NS, labelSelector: SELECTOR })).items;
    expect(rs).toHaveLength(1);
    const live = (await pods()).filter(alive);
    expect(live.map((p) => p.metadata?.name)).toEqual([newName]);
    expect(live[0]?.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    expect((await lease()).spec?.holderIdentity).toBe(newName);
    expect(container(n, live[0]!).procs).toHaveLength(1);
    expect(complaints(podLog(n, live[0]!))).toEqual([]);
    await settled('pods-a', { capacity: 8, ready: 'True' });
  }, 300_000);

  it('should report its memory as a Pod beside the same build run as a host process', async () => {
    const n = node!;
    // The Pod, settled: leading, caches full, pools reconciled.
    await new Promise((r) => setTimeout(r, 5000));
    const pod = (await pods()).filter(alive)[0]!;
    const inPod = container(n, pod);
    const inside = inPod.procs[0]!;
    const podRss = inside.rss;
    figures.push(`memory as a Pod: RSS ${mib(podRss)} (anon ${mib(inside.rssAnon)}, file ${mib(inside.rssFile)}), container cgroup ${mib(inPod.cgroupBytes)} (limit 256Mi)`);

    // The same dist/ build as a host process with the Deployment's flags (serving secure metrics and probes
    // on loopback ports) and NODE_OPTIONS, leading once the Pod is gone.
    const [metricsPort, probePort] = await freePorts(2);
    kubectl(['scale', '-n', NS, `deployment/${DEPLOYMENT}`, '--replicas=0']);
    await until('the Pod to be gone', async () => (await pods()).length === 0, 60_000);
    hostManager = run(
      [
        path.join(REPO, 'dist/providers/cli/main.js'),
        'manager',
        '--role=cloud-provider',
        '--kubeconfig',
        cp.kubeconfigPath,
        '--leader-elect',
        `--leader-election-namespace=${NS}`,
        `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        '--metrics-secure',
        `--health-probe-bind-address=127.0.0.1:${probePort}`,
        '--webhook-port=0',
        '--workers=4',
        '--log-level=info',
      ],
      { env: { NODE_OPTIONS: '--max-semi-space-size=4 --max-old-space-size=100', POD_NAME: 'host-process' } },
    );
    await until('the host process to hold the Lease', async () => (await lease()).spec?.holderIdentity === 'host-process', 60_000);
    await client.create(LoadBalancerPools, poolOf('pods-host', ['198.51.100.0/28']));
    await settled('pods-host', { capacity: 16, ready: 'True' });
    await new Promise((r) => setTimeout(r, 5000));
    const host = procInfo(hostManager.child.pid!);
    const hostRss = host.rss;
    figures.push(`memory as a host process (node ${process.version} dist/providers/cli/main.js): RSS ${mib(hostRss)} (anon ${mib(host.rssAnon)}, file ${mib(host.rssFile)})`);
    expect(podRss).toBeGreaterThan(0);
    expect(hostRss).toBeGreaterThan(0);
    hostManager.child.kill('SIGTERM');
    expect(await hostManager.exited).toBe(0);
  }, 180_000);
});
