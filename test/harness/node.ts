// A real Kubernetes node in the test world: kubelet, containerd, runc, the
// bridge CNI plugin and kube-proxy, joined to a harness control plane started
// with startControlPlane({ nodes: true }).
//
// Isolation from the host: everything of the node runs inside ONE `unshare`
// with its own mount, network, UTS and PID namespaces; its first process (a
// bash script written into the node's temp dir) sets the namespace up and
// starts the rest:
// - mounts, all private to the namespace: /proc (of the new PID namespace),
//   a tmpfs on /run, the node's dir over /var/log (pod logs), an overlay on
//   /var/lib whose upper layer is in the node's dir (libcni's cache
//   /var/lib/cni is not configurable in containerd 1.6), and read-only bind
//   mounts over the three host-wide sysctls the kubelet would otherwise
//   rewrite (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops),
//   holding the values it wants;
// - network: lo, and a veth pair whose ends are both inside: eth0 holds the
//   node IP, api0 holds NODE_API_ADDRESS (the `kubernetes` Service's
//   endpoint); the default route leads nowhere, so nothing leaves the
//   machine. The apiserver (on the host's loopback) is reached through
//   node-util proxy listening on its port inside the namespace, piped over
//   a unix socket in the node's dir to a forwarder in this Node process:
//   the kubelet and kube-proxy use the control plane's own URL
//   (https://127.0.0.1:<port>), Pods the Service IP, DNATed by kube-proxy to
//   NODE_API_ADDRESS;
// - cgroups: the kubelet's cgroupRoot `/ironplane-node-<our pid>-<random>`
//   is created in each hierarchy before start and removed after stop.
// containerd, runc, the CNI plugins and iptables are Debian's, unpacked into
// bin/node by `make tools` (hack/tools/node/build.sh), as is the image
// ironplane.dev/node-util:v1 (the Pod sandbox's pause process and a probe),
// imported with `ctr -n k8s.io images import`; Pods use it with
// imagePullPolicy: Never. importImage() imports more archives the same way
// (the ironplane image of `make image`, say), for Pods whose images are never
// pulled (Never, or IfNotPresent with the image present).
//
// Cleanup: stop() SIGKILLs the namespace's first process, which takes every
// process of the namespace (and with them its mounts and network) along,
// then removes the cgroups and the dir. If this Node process dies first, the
// unshare (started with --kill-child) is killed by the exit hook, or, after
// a SIGKILL, by the next startNode() in any process (sweepNodeOrphans).
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { defaultBinDir, LocalControlPlane, NODE_API_ADDRESS, type ControlPlane, type Dependent } from './controlplane.js';
import { request, waitFor, type ClientCredentials } from './http.js';
import { writeKubeconfig } from './kubeconfig.js';
import { issueCert } from './pki.js';
import { alive, OWNER_FILE, reapOrphans, registerLive, spawnLogged, terminate, unregisterLive, type ManagedProcess, type OwnerRecord } from './procs.js';

export interface NodeOptions {
  /** The Node's name (and the namespace's hostname). Default 'node-0'. */
  name?: string;
  /** Where kubelet, kube-proxy and node/ live. Default: $IRONPLANE_BIN_DIR, else <repo>/bin. */
  binDir?: string;
  /** How long to wait for the Node to be Ready. Default 120 s (stretched by the machine's load). */
  readyTimeoutMs?: number;
  /** Harness progress lines. Process output goes to <dir>/<process>.log. */
  log?: (line: string) => void;
}

export interface RealNode {
  readonly name: string;
  /** The Node's InternalIP (inside the node's network namespace). */
  readonly ip: string;
  /** The node's temp dir (configs, logs, containerd's and the kubelet's state); removed by stop(). */
  readonly dir: string;
  /** The image every Pod on this node can run (imagePullPolicy: Never): entrypoint /node-util. */
  readonly image: string;
  /** The kubelet's cgroupRoot, e.g. /ironplane-node-123-ab12cd. */
  readonly cgroupRoot: string;
  /** Host pid of the namespace's first process. */
  readonly pid: number;
  /** The namespaces' ids (readlink /proc/<pid>/ns/<kind>, e.g. 'net:[4026532]'). */
  readonly namespaces: { readonly mnt: string; readonly net: string; readonly pid: string; readonly uts: string };
  /** Milliseconds from starting the namespace to the Node being Ready. */
  readonly readyMs: number;
  /** Resident memory in bytes of the node's own processes (0 for one not running). */
  memory(): Record<'kubelet' | 'containerd' | 'kube-proxy', number>;
  /**
   * Imports an image archive (OCI layout or docker-archive, as `ctr images
   * import` takes) into the node's containerd, namespace k8s.io, unpacked
   * with the node's snapshotter. Resolves to the names ctr unpacked (from
   * the archive's own annotations) once Pods can use them; rejects with
   * ctr's last line.
   */
  importImage(archive: string): Promise<string[]>;
  /** Kills the namespace (and so every process of the node), removes the cgroups and the dir. Idempotent. */
  stop(): Promise<void>;
}

export const NODE_DIR_PREFIX = 'ironplane-node-';
export const NODE_IMAGE = 'ironplane.dev/node-util:v1';
/** The node IP, on eth0 inside the node's network namespace. */
export const NODE_IP = '10.255.254.2';
const NODE_PREFIX = 24;
// A gateway nobody answers for: the default route leads nowhere.
const DEAD_GATEWAY = '10.255.254.254';
const POD_CIDR = '10.244.0.0/24';
const CLUSTER_CIDR = '10.244.0.0/16';
const CGROUP_FS = '/sys/fs/cgroup';
const CGROUP_PREFIX = 'ironplane-node-';
// The values the kubelet sets (pkg/kubelet/cm: setupKernelTunables).
const KERNEL_TUNABLES: Record<string, string> = { 'vm/overcommit_memory': '1', 'kernel/panic': '10', 'kernel/panic_on_oops': '1' };

/** Why a node cannot start here, as one line saying what is missing and how to get it. */
class NodeUnavailable extends Error {}

function executable(path: string, what: string, fix: string): string {
  try {
    accessSync(path, constants.X_OK);
    if (statSync(path).isFile()) return path;
  } catch {
    // Fall through to the one-line message.
  }
  throw new NodeUnavailable(`startNode: ${what} not found at ${path}: ${fix}`);
}

function onPath(cmd: string, pkg: string): string {
  for (const d of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = join(d, cmd);
    if (existsSync(p)) return p;
  }
  throw new NodeUnavailable(`startNode: ${cmd} not found on PATH: install Debian's ${pkg} (apt-get install ${pkg})`);
}

interface Paths {
  kubelet: string;
  kubeProxy: string;
  nodeUtil: string;
  containerd: string;
  ctr: string;
  runc: string;
  cniBin: string;
  sbin: string;
  libDir: string;
  image: string;
  unshare: string;
  bash: string;
}

/** Everything the node needs from the machine, checked before anything is created. */
function preflight(binDir: string): Paths {
  if (process.platform !== 'linux') throw new NodeUnavailable('startNode: needs Linux (namespaces, cgroups, veth)');
  if (process.getuid?.() !== 0) throw new NodeUnavailable('startNode: needs root (mount, network and PID namespaces, cgroups): run the tests as root');
  const tools = "run 'make tools'";
  const debian = "run 'make tools' (hack/tools/node/build.sh unpacks Debian's containerd, runc, containernetworking-plugins and iptables into bin/node)";
  const node = join(binDir, 'node');
  const paths: Paths = {
    kubelet: executable(join(binDir, 'kubelet'), 'kubelet', tools),
    kubeProxy: executable(join(binDir, 'kube-proxy'), 'kube-proxy', tools),
    nodeUtil: executable(join(node, 'node-util'), 'node-util (the node image program)', tools),
    containerd: executable(join(node, 'debian/usr/bin/containerd'), "Debian's containerd", debian),
    ctr: executable(join(node, 'debian/usr/bin/ctr'), "Debian's ctr (containerd)", debian),
    runc: executable(join(node, 'debian/usr/sbin/runc'), "Debian's runc", debian),
    cniBin: join(node, 'debian/usr/lib/cni'),
    sbin: join(node, 'sbin'),
    libDir: join(node, 'debian/usr/lib/x86_64-linux-gnu'),
    image: join(node, 'images/node-util.tar'),
    unshare: onPath('unshare', 'util-linux'),
    bash: onPath('bash', 'bash'),
  };
  executable(join(paths.cniBin, 'bridge'), "Debian's CNI bridge plugin (containernetworking-plugins)", debian);
  executable(join(paths.sbin, 'iptables'), "Debian's iptables", debian);
  onPath('ip', 'iproute2');
  onPath('mount', 'mount');
  if (!existsSync(paths.image)) throw new NodeUnavailable(`startNode: the node image not found at ${paths.image}: ${tools}`);
  if (!existsSync(join(CGROUP_FS, 'cgroup.controllers')) && !existsSync(join(CGROUP_FS, 'memory'))) {
    throw new NodeUnavailable(`startNode: no cgroup hierarchy under ${CGROUP_FS}: mount cgroup2 (or the v1 controllers) there`);
  }
  return paths;
}

/** The cgroup hierarchies to create the cgroupRoot in: every v1 one and the unified one. */
function hierarchies(): string[] {
  if (existsSync(join(CGROUP_FS, 'cgroup.controllers'))) return [CGROUP_FS];
  return readdirSync(CGROUP_FS)
    .map((d) => join(CGROUP_FS, d))
    .filter((d) => {
      try {
        return statSync(d).isDirectory() && existsSync(join(d, 'cgroup.procs'));
      } catch {
        return false;
      }
    });
}

function createCgroupRoot(root: string): void {
  for (const h of hierarchies()) {
    const dir = join(h, root);
    try {
      mkdirSync(dir);
    } catch (err) {
      throw new NodeUnavailable(`startNode: cannot create the cgroup ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): the node needs writable cgroups (root, not a read-only /sys/fs/cgroup)`);
    }
    // A new cpuset cgroup has no CPUs or memory nodes until given its parent's.
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      if (existsSync(join(h, f)) && existsSync(join(dir, f))) writeFileSync(join(dir, f), readFileSync(join(h, f), 'utf8'));
    }
  }
}

/** Removes `root` in every hierarchy, deepest first; false if some cgroup is still busy. */
function removeCgroupRoot(root: string): boolean {
  let clean = true;
  const remove = (dir: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return; // Gone.
    }
    for (const e of entries) remove(join(dir, e));
    try {
      rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') clean = false;
    }
  };
  for (const h of hierarchies()) remove(join(h, root));
  return clean;
}

/**
 * Removes what nodes whose owning process is gone left behind: their temp
 * dirs and processes (reapOrphans: the unshare and the namespace's first
 * process, whose command lines name the dir) and their cgroups (named after
 * the owner's pid). startNode() calls it first.
 */
export async function sweepNodeOrphans(): Promise<void> {
  reapOrphans(tmpdir(), NODE_DIR_PREFIX);
  if (!existsSync(CGROUP_FS)) return;
  const orphans = new Set<string>();
  for (const h of hierarchies()) {
    for (const e of readdirSync(h)) {
      const m = new RegExp(`^${CGROUP_PREFIX}(\\d+)-`).exec(e);
      if (m && !alive(Number(m[1]))) orphans.add(e);
    }
  }
  for (const root of orphans) {
    // The namespace's processes die asynchronously after the SIGKILL.
    await waitFor(`the cgroups of an orphaned node (${root}) to empty`, 15_000, async () => (removeCgroupRoot(`/${root}`) ? true : undefined), 100).catch(() => undefined);
  }
}

/** The admin credentials of a harness control plane's kubeconfig. */
function adminCredentials(cp: ControlPlane): ClientCredentials {
  const cluster = cp.kubeConfig.getCurrentCluster();
  const user = cp.kubeConfig.getCurrentUser();
  const b64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');
  return { ca: b64(cluster?.caData), cert: b64(user?.certData), key: b64(user?.keyData) };
}

/** The bash script the namespace's first process runs: sets the namespace up, then starts the node. */
function initScript(p: Paths, dir: string, name: string, apiPort: number): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const masks = Object.entries(KERNEL_TUNABLES)
    .map(([k, v]) => {
      const f = join(dir, 'sysctl', k.replace('/', '.'));
      return `printf '%s\\n' ${v} >${q(f)}; mount --bind ${q(f)} /proc/sys/${k}; mount -o remount,bind,ro /proc/sys/${k}`;
    })
    .join('\n');
  return `#!/bin/bash
# The first process of the node's namespaces (see test/harness/node.ts).
set -euo pipefail
D=${q(dir)}
fail() { echo "node: FAILED: $*"; exit 1; }
trap 'fail "set-up step failed (line $LINENO): $BASH_COMMAND"' ERR
export PATH=${q(p.sbin)}:${q(join(p.containerd, '..'))}:${q(join(p.runc, '..'))}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LD_LIBRARY_PATH=${q(p.libDir)}
export XTABLES_LIBDIR=${q(join(p.libDir, 'xtables'))}

hostname ${q(name)}
mount -t tmpfs -o mode=0755 tmpfs /run
${masks}
mount --bind "$D/var-log" /var/log
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$D/var-lib/upper,workdir=$D/var-lib/work" /var/lib
mkdir -p /var/lib/cni

ip link set lo up
ip link add eth0 type veth peer name api0
ip addr add ${NODE_IP}/${NODE_PREFIX} dev eth0
ip addr add ${NODE_API_ADDRESS}/32 dev api0
ip link set api0 up
ip link set eth0 up
ip route add default via ${DEAD_GATEWAY} dev eth0 onlink
echo "node: namespace ready"

# Each node process in the background; the first one to exit ends the node.
run() {
  local n="$1"; shift
  set +e
  "$@" >>"$D/$n.log" 2>&1
  echo "node: FAILED: $n exited with code $? (last line of $D/$n.log: $(tail -n 1 "$D/$n.log"))"
}
run apiserver-proxy ${q(p.nodeUtil)} proxy 0.0.0.0:${apiPort} "$D/api.sock" &
run containerd ${q(p.containerd)} --config "$D/containerd.toml" &
for i in $(seq 600); do [ -S "$D/containerd.sock" ] && break; sleep 0.1; done
[ -S "$D/containerd.sock" ] || fail "containerd did not create its socket within 60 s (see $D/containerd.log)"
${q(p.ctr)} --address "$D/containerd.sock" -n k8s.io images import --snapshotter native ${q(p.image)} >>"$D/ctr.log" 2>&1 \\
  || fail "ctr images import failed: $(tail -n 1 "$D/ctr.log")"
echo "node: image imported"
run kubelet ${q(p.kubelet)} --config="$D/kubelet.yaml" --kubeconfig="$D/kubelet.kubeconfig" --root-dir="$D/kubelet" \\
  --hostname-override=${q(name)} --node-ip=${NODE_IP} --v=1 &
run kube-proxy ${q(p.kubeProxy)} --config="$D/kube-proxy.yaml" --v=1 &
echo "node: started"
trap - ERR
wait -n
exit 1
`;
}

function containerdConfig(p: Paths, dir: string): string {
  const q = JSON.stringify;
  return `version = 2
root = ${q(join(dir, 'containerd/root'))}
state = ${q(join(dir, 'containerd/state'))}
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = ${q(join(dir, 'containerd.sock'))}

[ttrpc]
  address = ${q(join(dir, 'containerd-ttrpc.sock'))}

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(dir, 'containerd/opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(NODE_IMAGE)}
  # Without CAP_SYS_RESOURCE the sandbox's oom_score_adj cannot be lowered.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    # Plain copies: works on any file system under the temp dir (overlay on overlay does not).
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = ${q(p.runc)}
        Root = ${q(join(dir, 'runc'))}
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(p.cniBin)}
    conf_dir = ${q(join(dir, 'cni'))}
`;
}

function cniConfig(): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'ironplane-node',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          // Pods only talk to the node's own addresses: nothing to masquerade.
          ipMasq: false,
          ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR }]], routes: [{ dst: '0.0.0.0/0' }] },
        },
      ],
    },
    null,
    2,
  );
}

function kubeletConfig(dir: string, cgroupRoot: string): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // v1.35 refuses cgroup v1 hosts otherwise.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupRoot,
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${join(dir, 'containerd.sock')}`,
    imageServiceEndpoint: `unix://${join(dir, 'containerd.sock')}`,
    address: NODE_IP,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    authentication: { x509: { clientCAFile: join(dir, 'ca.crt') }, webhook: { enabled: false }, anonymous: { enabled: false } },
    authorization: { mode: 'AlwaysAllow' },
    // A shared disk must never put the node under pressure.
    evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'nodefs.inodesFree': '1%', 'imagefs.available': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    volumePluginDir: join(dir, 'volume-plugins'),
    // No cluster DNS, and the host's resolver means nothing in here.
    resolvConf: '',
    staticPodPath: '',
    serializeImagePulls: false,
    nodeStatusReportFrequency: '10s',
    syncFrequency: '10s',
  });
}

function kubeProxyConfig(dir: string, name: string): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: join(dir, 'kube-proxy.kubeconfig') },
    mode: 'iptables',
    hostnameOverride: name,
    clusterCIDR: CLUSTER_CIDR,
    // Zero everywhere: leave the host-wide conntrack sysctls alone.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    metricsBindAddress: '127.0.0.1:10249',
    healthzBindAddress: '127.0.0.1:10256',
  });
}

/** Host pid of the only child of `pid` (unshare --fork's child), once it exists. */
function childOf(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The last line of the node script's output that says why it stopped, for a one-line error. */
function failureLine(logPath: string): string {
  let lines: string[] = [];
  try {
    lines = readFileSync(logPath, 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('==='));
  } catch {
    // No log: the generic line below.
  }
  const failed = lines.filter((l) => l.startsWith('node: FAILED: ')).pop();
  if (failed) return failed.slice('node: FAILED: '.length);
  const last = lines.pop();
  if (last && /unshare/.test(last)) return `${last}: the node needs mount, network, UTS and PID namespaces (root, and a kernel that allows them)`;
  return last ?? 'the node exited without saying why';
}

class LocalNode implements RealNode, Dependent {
  readonly ip = NODE_IP;
  readonly image = NODE_IMAGE;
  readonly cgroupRoot: string;
  pid = 0;
  namespaces = { mnt: '', net: '', pid: '', uts: '' };
  readyMs = 0;
  private proc: ManagedProcess | undefined;
  private forwarder: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private cgroupsMade = false;
  private stopping: Promise<void> | undefined;
  private paths: Paths | undefined;

  constructor(
    readonly name: string,
    readonly dir: string,
    private readonly host: LocalControlPlane | undefined,
  ) {
    this.cgroupRoot = `/${CGROUP_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
  }

  async boot(cp: ControlPlane, p: Paths, opts: NodeOptions, log: (line: string) => void): Promise<void> {
    const api = new URL(cp.url);
    const apiPort = Number(api.port);
    const dir = this.dir;
    this.paths = p;
    for (const d of ['sysctl', 'var-log', 'var-lib/upper', 'var-lib/work', 'cni', 'kubelet', 'volume-plugins', 'containerd', 'runc']) mkdirSync(join(dir, d), { recursive: true });
    const [kubelet, proxy] = await Promise.all([
      issueCert({ ca: cp.ca, commonName: `system:node:${this.name}`, organizations: ['system:nodes'], usages: 'client' }),
      issueCert({ ca: cp.ca, commonName: 'system:kube-proxy', usages: 'client' }),
    ]);
    writeFileSync(join(dir, 'ca.crt'), cp.ca.certPem);
    writeKubeconfig(join(dir, 'kubelet.kubeconfig'), { server: cp.url, caPem: cp.ca.certPem, name: 'node', user: `system:node:${this.name}`, certPem: kubelet.certPem, keyPem: kubelet.keyPem });
    writeKubeconfig(join(dir, 'kube-proxy.kubeconfig'), { server: cp.url, caPem: cp.ca.certPem, name: 'node', user: 'system:kube-proxy', certPem: proxy.certPem, keyPem: proxy.keyPem });
    writeFileSync(join(dir, 'containerd.toml'), containerdConfig(p, dir));
    writeFileSync(join(dir, 'cni', '10-ironplane.conflist'), cniConfig());
    writeFileSync(join(dir, 'kubelet.yaml'), kubeletConfig(dir, this.cgroupRoot));
    writeFileSync(join(dir, 'kube-proxy.yaml'), kubeProxyConfig(dir, this.name));
    const script = join(dir, 'node.sh');
    writeFileSync(script, initScript(p, dir, this.name, apiPort), { mode: 0o755 });

    // The host end of the node's path to the apiserver.
    this.forwarder = createServer((c) => {
      const up = createConnection(apiPort, api.hostname);
      this.sockets.add(c).add(up);
      const done = (): void => {
        c.destroy();
        up.destroy();
        this.sockets.delete(c);
        this.sockets.delete(up);
      };
      c.on('error', done).on('close', done);
      up.on('error', done).on('close', done);
      c.pipe(up);
      up.pipe(c);
    });
    await new Promise<void>((res, rej) => {
      this.forwarder!.once('error', rej);
      this.forwarder!.listen(join(dir, 'api.sock'), res);
    });
    this.forwarder.unref();

    createCgroupRoot(this.cgroupRoot);
    this.cgroupsMade = true;

    const t0 = Date.now();
    this.proc = spawnLogged(
      'node',
      p.unshare,
      ['--mount', '--net', '--uts', '--pid', '--fork', '--kill-child', '--mount-proc', '--propagation', 'private', p.bash, script],
      join(dir, 'node.log'),
    );
    this.writeOwner();
    const proc = this.proc;
    const fail = (): Error => new NodeUnavailable(`startNode(${this.name}): ${failureLine(proc.logPath)}`);
    this.pid = await waitFor('the node namespace to start', 10_000, async () => {
      if (proc.exitReason !== undefined) throw fail();
      return childOf(proc.pid);
    });
    this.writeOwner();
    for (const k of ['mnt', 'net', 'pid', 'uts'] as const) {
      this.namespaces[k] = await waitFor(`the node's ${k} namespace`, 10_000, async () => {
        if (proc.exitReason !== undefined) throw fail();
        const own = readlinkSync(`/proc/self/ns/${k}`);
        const ns = readlinkSync(`/proc/${this.pid}/ns/${k}`);
        return ns !== own ? ns : undefined;
      });
    }
    log(`node ${this.name}: namespace up (pid ${this.pid}, ${this.namespaces.net}), waiting for Ready`);

    const creds = adminCredentials(cp);
    await waitFor(`node ${this.name} to become Ready`, opts.readyTimeoutMs ?? 120_000, async (note) => {
      if (proc.exitReason !== undefined) throw fail();
      const res = await request(`${cp.url}/api/v1/nodes/${this.name}`, creds, { timeoutMs: 2000 }).catch((e: Error) => ({ status: 0, body: e.message }));
      if (res.status !== 200) return note(`GET node: HTTP ${res.status}`);
      const node = JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string; message?: string }[] } };
      const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' ? true : note(`Ready=${ready?.status ?? 'unknown'}: ${ready?.message ?? ''}`);
    }, 200);
    this.readyMs = Date.now() - t0;
    log(`node ${this.name}: Ready in ${this.readyMs} ms (dir ${dir})`);
  }

  private writeOwner(): void {
    const pids = [this.proc?.pid, this.pid].filter((x): x is number => x !== undefined && x > 0);
    const owner: OwnerRecord = { ownerPid: process.pid, pids };
    writeFileSync(join(this.dir, OWNER_FILE), JSON.stringify(owner));
  }

  memory(): Record<'kubelet' | 'containerd' | 'kube-proxy', number> {
    const out = { kubelet: 0, containerd: 0, 'kube-proxy': 0 };
    if (!this.namespaces.pid) return out;
    for (const e of readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        if (readlinkSync(`/proc/${e}/ns/pid`) !== this.namespaces.pid) continue;
        const comm = readFileSync(`/proc/${e}/comm`, 'utf8').trim();
        if (comm === 'kubelet' || comm === 'containerd' || comm === 'kube-proxy') out[comm] += rss(Number(e));
      } catch {
        // Exited meanwhile.
      }
    }
    return out;
  }

  importImage(archive: string): Promise<string[]> {
    const ctr = this.paths?.ctr;
    if (!ctr || this.stopping) return Promise.reject(new Error(`node ${this.name}: importImage: the node is not running`));
    // containerd's socket is a path in the node's dir: reachable from here, whatever the namespaces.
    const args = ['--address', join(this.dir, 'containerd.sock'), '-n', 'k8s.io', 'images', 'import', '--snapshotter', 'native', resolve(archive)];
    return new Promise((res, rej) => {
      execFile(ctr, args, { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) {
          const last = `${stderr}${stdout}`.trim().split('\n').pop() ?? '';
          rej(new Error(`node ${this.name}: ctr images import ${archive} failed: ${last || err.message}`));
          return;
        }
        // "unpacking <name> (sha256:...)...done", one line per image.
        res([...stdout.matchAll(/^unpacking (\S+) \(/gm)].map((m) => m[1]!));
      });
    });
  }

  /**
   * SIGKILL to the namespace's first process: the kernel then kills every
   * process of the namespace, and that process only finishes exiting once
   * they are all gone; unshare exits after reaping it. With `unshareToo` (or
   * before the first process is known) unshare is killed as well, whose
   * --kill-child then does the same.
   */
  private killNamespace(unshareToo: boolean): void {
    const targets = [this.pid, ...(unshareToo || this.pid === 0 ? [this.proc?.exitReason === undefined ? this.proc?.pid : undefined] : [])];
    for (const pid of targets) {
      if (pid === undefined || pid <= 0) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        this.killNamespace(false);
        // unshare exits once it has reaped the namespace's first process, which
        // is once every process of the namespace is gone.
        if (this.proc) await terminate(this.proc, 20_000);
        // The namespace's processes are gone once its init and our unshare are reaped;
        // a cgroup stays busy for a moment while the kernel tears them down.
        if (this.cgroupsMade) await waitFor(`the cgroups ${this.cgroupRoot} to be removed`, 30_000, async () => (removeCgroupRoot(this.cgroupRoot) ? true : undefined), 100);
      } finally {
        for (const s of this.sockets) s.destroy();
        this.forwarder?.close();
        rmSync(this.dir, { recursive: true, force: true });
        unregisterLive(this);
        this.host?.release(this);
      }
    })();
    return this.stopping;
  }

  cleanupSync(): void {
    this.killNamespace(true);
    // Exit handlers allow nothing asynchronous: try briefly; the next startNode() sweeps the rest.
    if (this.cgroupsMade) {
      const until = Date.now() + 2000;
      while (!removeCgroupRoot(this.cgroupRoot) && Date.now() < until) execFileSync('sleep', ['0.05']);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Joins one real node to `cp` (started with `nodes: true`) and resolves once
 * the Node is Ready. Throws one line saying what is missing (binaries,
 * packages, root, namespaces, cgroups) when a node cannot run here. Stopped
 * by stop(), by cp.stop() (before the plane's processes) and when this Node
 * process exits.
 */
export async function startNode(cp: ControlPlane, opts: NodeOptions = {}): Promise<RealNode> {
  const binDir = opts.binDir ? resolve(opts.binDir) : defaultBinDir();
  const name = opts.name ?? 'node-0';
  const log = opts.log ?? ((): void => {});
  const paths = preflight(binDir);
  await sweepNodeOrphans();
  const dir = mkdtempSync(join(tmpdir(), `${NODE_DIR_PREFIX}${process.pid}-`));
  const host = cp instanceof LocalControlPlane ? cp : undefined;
  const node = new LocalNode(name, dir, host);
  registerLive(node);
  host?.adopt(node);
  try {
    await node.boot(cp, paths, opts, log);
  } catch (err) {
    await node.stop().catch(() => undefined);
    throw err;
  }
  return node;
}
