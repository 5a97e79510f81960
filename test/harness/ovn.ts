// The tenant network, for real: kube-OVN's controller and an OVN deployment
// with a userspace Open vSwitch datapath, on top of a harness control plane.
//
// What runs (each with its own files under one temp dir of this world):
// - OVN Northbound and Southbound ovsdb-server, on databases created from
//   kube-OVN's own schemas (bin/ovn/schema, extracted from the pinned module
//   by `make tools`): kube-OVN v1.14 refuses a server whose schema lacks a
//   column of its models, which Debian's OVN 23.03 schemas do. They listen on
//   unix sockets and on 127.0.0.1 (kube-ovn-controller speaks TCP).
// - ovn-northd, the local Open_vSwitch ovsdb-server, ovn-controller as the
//   one chassis (system-id and hostname = the Node's name).
// - ovs-vswitchd with --disable-system: a userspace (netdev) datapath, so no
//   kernel module is needed. It runs inside a network namespace of this
//   world (`ironplane-ovn-<our pid>-<random>`), where br-int and every veth
//   live: nothing of the datapath touches the host's network.
// - kube-ovn-controller (bin/kube-ovn-controller), in a private mount
//   namespace with a directory of this world bound over /var/log, since it
//   writes /var/log/kube-ovn/kube-ovn-controller.log at a fixed path.
// - In the management plane: all of kube-OVN's CRDs (bin/ovn/crds; its
//   informers need every one) and one Node with an InternalIP and the
//   `ovn.kubernetes.io/chassis` annotation, as kube-ovn-cni leaves a node.
//   The plane should run kube-controller-manager (startControlPlane({
//   controllerManager: true })): kube-OVN programs load balancers from the
//   EndpointSlices that its mirroring controller writes.
//
// plug() stands in for kube-ovn-cni: a network namespace plays the VM (or
// pod), its eth0 one end of a veth whose other end is a port of br-int with
// external_ids:iface-id = the logical switch port's name, and the address,
// MAC and default route kube-OVN allocated.
//
// The external network (opt-in, `external: { cidr, gateway }`): the
// platform's public side, as kube-ovn-cni and an operator would set it up for
// kube-OVN's OvnEip/OvnDnatRule/OvnFip. kube-ovn-cni's part: an OVS bridge
// br-external (netdev, in the datapath namespace) and the chassis'
// ovn-bridge-mappings `external:br-external`, and the Node labels that say the
// provider network's bridge is ready on it. The operator's part: the
// ProviderNetwork `external`, Vlan `vlan0` (id 0: untagged) on it, the
// underlay Subnet `external` (the name kube-ovn-controller's
// --external-gateway-switch defaults to) and the ConfigMap
// kube-system/ovn-external-gw-config naming this Node as the gateway node.
// A Vpc with spec.enableExternal then gets a router port on `external`, bound
// to this chassis. plugExternal() plays a client on that network: a
// namespace whose veth is a port of br-external, outside every VPC.
//
// Cleanup: stop() kills exactly the processes it started and deletes every
// namespace it made (which takes their veths along). If this Node process
// dies first, the next startOvn() in any process sweeps what it left: temp
// dirs with a dead owner (reapOrphans) and namespaces named after a dead pid.
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '../../providers/kit/client.js';
import { CustomResourceDefinitions, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import { Subnets } from '../../providers/kubevirt/resources.js';
import { containsIp, parseCidr, parseIp } from '../../providers/topology/cidr.js';
import { defaultBinDir, LocalControlPlane, type ControlPlane, type Dependent } from './controlplane.js';
import { FIELD_MANAGER } from './crds.js';
import { request, waitFor } from './http.js';
import {
  alive,
  freePorts,
  killGroup,
  OWNER_FILE,
  reapOrphans,
  registerLive,
  spawnLogged,
  tail,
  terminate,
  unregisterLive,
  type ManagedProcess,
  type OwnerRecord,
} from './procs.js';


/**
 * Turns TX checksum offload off on eth0, as kube-ovn-cni does on every
 * container NIC when OVS runs a userspace datapath (`ethtool -K <nic> tx
 * off`): ovs-vswitchd reads the veths through packet sockets and never
 * completes a checksum the sending kernel left to the NIC, so every TCP
 * segment would arrive with a bad checksum and be dropped (ICMP, checksummed
 * in software, passes). SIOCETHTOOL/ETHTOOL_STXCSUM through python3's ioctl:
 * the machine has no ethtool.
 */
const TX_CHECKSUM_OFF_PY = [
  'import array, fcntl, socket, struct',
  's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  "v = array.array('B', struct.pack('II', 0x17, 0))",
  "fcntl.ioctl(s.fileno(), 0x8946, struct.pack('16sP', b'eth0', v.buffer_info()[0]))",
].join('\n');
/** The platform's external network (see the header): an underlay kube-OVN Subnet on an OVS bridge of the chassis. */
export interface ExternalNetworkOptions {
  /** IPv4 CIDR of the external network, e.g. 172.30.0.0/24. */
  cidr: string;
  /** The network's gateway address, inside `cidr` (kube-OVN excludes it from allocation; nothing answers on it). */
  gateway: string;
}

/** What kube-OVN sees of the external network, by name. */
export interface ExternalNetwork extends ExternalNetworkOptions {
  /** ProviderNetwork name, also the bridge mapping's network name. */
  readonly providerNetwork: string;
  readonly vlan: string;
  /** The underlay Subnet (and logical switch) OvnEips are allocated from. */
  readonly subnet: string;
  /** The OVS bridge in the datapath namespace. */
  readonly bridge: string;
}

export interface OvnOptions {
  /** Where kube-ovn-controller and ovn/ live. Default: $IRONPLANE_BIN_DIR, else <repo>/bin. */
  binDir?: string;
  /** The Node (and OVN chassis) name. Default 'ovn-node-0'. */
  nodeName?: string;
  /** Labels for the Node, e.g. the ones the hypervisor's scheduler matches. */
  nodeLabels?: Record<string, string>;
  /** kube-OVN's default Subnet, for pods without a logical switch. Default 10.16.0.0/16. */
  defaultCIDR?: string;
  /** kube-OVN's join Subnet (node ports). Default 100.64.0.0/16. */
  joinCIDR?: string;
  /** An external network (OvnEip, OvnDnatRule, Vpc.spec.enableExternal); none by default. */
  external?: ExternalNetworkOptions;
  /** How long kube-ovn-controller gets to build its default topology. Default 120 s. */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface PlugOptions {
  /** Short name of the network namespace (letters, digits, '-'); the namespace is `<world prefix>-<name>`. */
  name: string;
  /** The logical switch port: kube-OVN names it `<pod>.<namespace>` (for a KubeVirt launcher pod, `<vm>.<namespace>`). */
  pod: string;
  namespace: string;
  ip: string;
  mac: string;
  gateway: string;
  /** The Subnet's CIDR: gives the prefix length of the address. */
  cidr: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface OvnWorld {
  /** The Node kube-OVN sees (the chassis). */
  readonly nodeName: string;
  /** The network namespace where ovs-vswitchd, br-int and the veths live. */
  readonly datapathNetns: string;
  /** tcp:127.0.0.1:<port> */
  readonly nbAddress: string;
  readonly sbAddress: string;
  /** This world's temp dir (databases, sockets, logs). */
  readonly dir: string;
  /** kube-ovn-controller's output (klog writes to stderr; its file in /var/log/kube-ovn stays empty). */
  readonly controllerLogPath: string;
  /** The external network, when startOvn() was given one. */
  readonly external: ExternalNetwork | undefined;
  /**
   * A client on the external network, outside every VPC: a namespace plugged
   * into the external bridge with `ip` (inside the external CIDR) and a
   * default route via its gateway. Resolves with the namespace's name;
   * unplug() deletes it.
   */
  plugExternal(name: string, ip: string): Promise<string>;
  /** A network namespace standing for a VM, plugged into br-int; resolves with its name. */
  plug(opts: PlugOptions): Promise<string>;
  /** Deletes a namespace plug() made (its veth and OVS port go with it). Idempotent. */
  unplug(netns: string): Promise<void>;
  /** Runs `cmd` inside a network namespace of this world; never throws for a non-zero exit. */
  exec(netns: string, cmd: string[]): Promise<ExecResult>;
  /** `ping -c <count>` from a namespace; true when a reply came back. */
  ping(netns: string, ip: string, count?: number): Promise<boolean>;
  /** ovn-nbctl against this world's NB; stdout, throws on failure. */
  nbctl(...args: string[]): Promise<string>;
  sbctl(...args: string[]): Promise<string>;
  vsctl(...args: string[]): Promise<string>;
  /**
   * Restarts kube-ovn-controller (SIGTERM, then the same command) and waits
   * until it is ready again. Its full garbage collection (among others, the
   * load balancers of a deleted Vpc) runs only at start-up.
   */
  restartController(): Promise<void>;
  /** Stops every process this world started, deletes its namespaces and temp dir. Idempotent. */
  stop(): Promise<void>;
}

export const OVN_DIR_PREFIX = 'ironplane-harness-ovn-';
/** Every network namespace of a world is named `ironplane-ovn-<owner pid>-<random>[-<name>]`. */
const NETNS_PREFIX = 'ironplane-ovn-';
const CHASSIS_ANNOTATION = 'ovn.kubernetes.io/chassis';
const Nodes: ResourceType = { group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false };
const KUBE_OVN_CRD_COUNT = 21;
const ProviderNetworks: ResourceType = { group: 'kubeovn.io', version: 'v1', kind: 'ProviderNetwork', plural: 'provider-networks', namespaced: false };
const Vlans: ResourceType = { group: 'kubeovn.io', version: 'v1', kind: 'Vlan', plural: 'vlans', namespaced: false };
const ConfigMaps: ResourceType = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
/** kube-ovn-controller's defaults: --external-gateway-net and --external-gateway-switch are both `external`. */
const EXTERNAL_NAME = 'external';
/** kube-ovn-cni's name for a provider network's bridge. */
const EXTERNAL_BRIDGE = `br-${EXTERNAL_NAME}`;
/** The NIC kube-ovn-cni would have put into the bridge: recorded on the Node and in the ConfigMap, never created. */
const EXTERNAL_NIC = 'eth-external';

/** Checks `external` before anything starts; the message names the field. */
function externalNetwork(o: ExternalNetworkOptions): ExternalNetwork & { prefix: number } {
  const cidr = parseCidr(o.cidr ?? '');
  if (typeof cidr === 'string' || cidr.family !== 4) throw new Error(`startOvn: external.cidr: ${typeof cidr === 'string' ? cidr : `"${o.cidr}" is not IPv4`}`);
  const gw = parseIp(o.gateway ?? '');
  if (!gw || !containsIp(cidr, gw)) throw new Error(`startOvn: external.gateway: "${o.gateway}" is not an address of external.cidr ${cidr.text}`);
  return { cidr: cidr.text, gateway: o.gateway, prefix: cidr.prefix, providerNetwork: EXTERNAL_NAME, vlan: 'vlan0', subnet: EXTERNAL_NAME, bridge: EXTERNAL_BRIDGE };
}

interface Paths {
  ovn: string;
  env: Record<string, string>;
  bin: (name: string) => string;
}

function ovnPaths(binDir: string, runDir: string): Paths {
  const ovn = join(binDir, 'ovn');
  if (!existsSync(join(ovn, 'usr/bin/ovn-northd')) || !existsSync(join(ovn, 'schema/ovn-nb.ovsschema'))) {
    throw new Error(`OVN not found at ${ovn}: run 'make tools' (hack/tools/kubeovn/build.sh ovn)`);
  }
  const env: Record<string, string> = {
    LD_LIBRARY_PATH: [join(ovn, 'usr/lib/x86_64-linux-gnu'), join(ovn, 'lib/x86_64-linux-gnu')].join(':'),
  };
  // Every directory Open vSwitch and OVN would otherwise take from the host.
  for (const p of ['OVS', 'OVN']) {
    env[`${p}_RUNDIR`] = runDir;
    env[`${p}_LOGDIR`] = runDir;
    env[`${p}_DBDIR`] = runDir;
    env[`${p}_SYSCONFDIR`] = runDir;
  }
  env['OVS_PKGDATADIR'] = join(ovn, 'usr/share/openvswitch');
  env['OVN_PKGDATADIR'] = join(ovn, 'usr/share/ovn');
  env['OVS_BINDIR'] = join(ovn, 'usr/bin');
  env['OVN_BINDIR'] = join(ovn, 'usr/bin');
  const bin = (name: string): string => {
    for (const d of ['usr/bin', 'usr/sbin', 'usr/lib/openvswitch-switch', 'bin']) {
      const p = join(ovn, d, name);
      if (existsSync(p)) return p;
    }
    throw new Error(`${name} not found under ${ovn}: run 'make tools'`);
  };
  return { ovn, env, bin };
}

function run(bin: string, args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<ExecResult> {
  return new Promise((resolveRun) => {
    execFile(bin, args, { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      // err.code is the exit status for a command that ran, a string (ENOENT...) for one that did not.
      const status = (err as { code?: unknown } | null)?.code;
      const code = err === null ? 0 : typeof status === 'number' ? status : 127;
      resolveRun({ code, stdout, stderr: stderr || (err && code === 127 ? err.message : '') });
    });
  });
}

async function must(bin: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await run(bin, args, env);
  if (r.code !== 0) throw new Error(`${bin.split('/').pop() ?? bin} ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

async function listNetns(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.length > 0);
}

/**
 * Deletes what worlds whose owning process is gone left behind: their network
 * namespaces (named after the owner's pid) and their temp dirs, killing the
 * processes recorded there. startOvn() calls it first.
 */
export async function sweepOvnOrphans(): Promise<void> {
  reapOrphans(tmpdir(), OVN_DIR_PREFIX);
  for (const ns of await listNetns()) {
    const m = /^ironplane-ovn-(\d+)-/.exec(ns);
    if (m && !alive(Number(m[1]))) await run('ip', ['netns', 'delete', ns]);
  }
}

function prefixLength(cidr: string): number {
  const bits = Number(cidr.split(',').find((c) => c.includes('.'))?.split('/')[1]);
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) throw new Error(`plug: unusable IPv4 cidr '${cidr}'`);
  return bits;
}

class LocalOvn implements OvnWorld, Dependent {
  readonly datapathNetns: string;
  readonly controllerLogPath: string;
  nbAddress = '';
  sbAddress = '';
  private readonly procs: ManagedProcess[] = [];
  private readonly netns = new Set<string>();
  private stopping: Promise<void> | undefined;
  private readonly vethPrefix = randomBytes(2).toString('hex');
  private plugs = 0;
  readonly external: (ExternalNetwork & { prefix: number }) | undefined;
  private controller: { proc?: ManagedProcess; argv: string[]; env: Record<string, string>; healthPort: number; timeoutMs: number } | undefined;

  constructor(
    readonly dir: string,
    readonly nodeName: string,
    private readonly paths: Paths,
    private readonly host: LocalControlPlane | undefined,
    external: ExternalNetworkOptions | undefined,
  ) {
    this.external = external ? externalNetwork(external) : undefined;
    this.datapathNetns = `${NETNS_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
    this.controllerLogPath = join(dir, 'kube-ovn-controller.out');
  }

  private sock(name: string): string {
    return `unix:${join(this.dir, `${name}.sock`)}`;
  }

  /** Starts `bin` (with this world's OVS/OVN environment) and records its pid for a later sweep. */
  private spawn(name: string, argv: string[], env: Record<string, string> = {}): ManagedProcess {
    const assignments = Object.entries({ ...this.paths.env, ...env }).map(([k, v]) => `${k}=${v}`);
    const proc = spawnLogged(name, '/usr/bin/env', [...assignments, ...argv], join(this.dir, `${name}.out`));
    this.procs.push(proc);
    const owner: OwnerRecord = { ownerPid: process.pid, pids: this.procs.map((p) => p.pid) };
    writeFileSync(join(this.dir, OWNER_FILE), JSON.stringify(owner));
    return proc;
  }

  private tool(name: string, db: string): (...args: string[]) => Promise<string> {
    return (...args) => must(this.paths.bin(name), [`--db=${db}`, '--timeout=20', ...args], this.paths.env);
  }

  nbctl(...args: string[]): Promise<string> {
    return this.tool('ovn-nbctl', this.sock('nb'))(...args);
  }

  sbctl(...args: string[]): Promise<string> {
    return this.tool('ovn-sbctl', this.sock('sb'))(...args);
  }

  vsctl(...args: string[]): Promise<string> {
    return this.tool('ovs-vsctl', this.sock('db'))(...args);
  }

  /** Fails with the process's log when it has exited. */
  private check(proc: ManagedProcess): void {
    if (proc.exitReason !== undefined) {
      throw new Error(`${proc.name} ${proc.exitReason}\n--- last lines of ${proc.logPath} ---\n${tail(proc.logPath)}\n--- ${proc.name}.log ---\n${tail(join(this.dir, `${proc.name}.log`))}`);
    }
  }

  private async waitSocket(proc: ManagedProcess, sock: string): Promise<void> {
    await waitFor(`${proc.name} to listen on ${sock}`, 20_000, async (note) => {
      this.check(proc);
      return existsSync(sock) ? true : note('no socket yet');
    }, 20);
  }

  async boot(cp: ControlPlane, opts: OvnOptions, binDir: string): Promise<void> {
    const log = opts.log ?? ((): void => {});
    const t0 = Date.now();
    const { bin } = this.paths;
    const schema = (n: string): string => join(this.paths.ovn, 'schema', n);
    const [nbPort, sbPort, healthPort] = await freePorts(3);
    if (nbPort === undefined || sbPort === undefined || healthPort === undefined) throw new Error('harness: port allocation failed');
    this.nbAddress = `tcp:127.0.0.1:${nbPort}`;
    this.sbAddress = `tcp:127.0.0.1:${sbPort}`;

    await Promise.all(
      [
        ['nb.db', 'ovn-nb.ovsschema'],
        ['sb.db', 'ovn-sb.ovsschema'],
        ['conf.db', 'vswitch.ovsschema'],
      ].map(([db, s]) => must(bin('ovsdb-tool'), ['create', join(this.dir, db!), schema(s!)], this.paths.env)),
    );
    const dbServer = (name: string, db: string, remotes: string[]): ManagedProcess =>
      this.spawn(name, [
        bin('ovsdb-server'),
        join(this.dir, db),
        `--remote=punix:${join(this.dir, `${name}.sock`)}`,
        ...remotes.map((r) => `--remote=${r}`),
        `--pidfile=${join(this.dir, `${name}.pid`)}`,
        `--unixctl=${join(this.dir, `${name}.ctl`)}`,
        `--log-file=${join(this.dir, `${name}.log`)}`,
      ]);
    const nb = dbServer('nb', 'nb.db', [`ptcp:${nbPort}:127.0.0.1`]);
    const sb = dbServer('sb', 'sb.db', [`ptcp:${sbPort}:127.0.0.1`]);
    const db = dbServer('db', 'conf.db', ['db:Open_vSwitch,Open_vSwitch,manager_options']);
    await Promise.all([this.waitSocket(nb, join(this.dir, 'nb.sock')), this.waitSocket(sb, join(this.dir, 'sb.sock')), this.waitSocket(db, join(this.dir, 'db.sock'))]);

    this.spawn('northd', [
      bin('ovn-northd'),
      `--ovnnb-db=${this.sock('nb')}`,
      `--ovnsb-db=${this.sock('sb')}`,
      `--pidfile=${join(this.dir, 'northd.pid')}`,
      `--unixctl=${join(this.dir, 'northd.ctl')}`,
      `--log-file=${join(this.dir, 'northd.log')}`,
    ]);

    // The chassis: named after the Node, as kube-ovn-cni's start-up script names it.
    await this.vsctl('--no-wait', 'init');
    await this.vsctl(
      '--no-wait',
      'set',
      'Open_vSwitch',
      '.',
      `external_ids:system-id=${this.nodeName}`,
      `external_ids:hostname=${this.nodeName}`,
      `external_ids:ovn-remote=${this.sbAddress}`,
      'external_ids:ovn-encap-type=geneve',
      'external_ids:ovn-encap-ip=127.0.0.1',
      'external_ids:ovn-bridge-datapath-type=netdev',
    );

    // The datapath: its own network namespace, loopback up (OVN's own flows never need it, pings of the gateway do not either).
    await must('ip', ['netns', 'add', this.datapathNetns]);
    this.netns.add(this.datapathNetns);
    await must('ip', ['-n', this.datapathNetns, 'link', 'set', 'lo', 'up']);
    const vswitchd = this.spawn('vswitchd', [
      'ip',
      'netns',
      'exec',
      this.datapathNetns,
      bin('ovs-vswitchd'),
      this.sock('db'),
      '--disable-system',
      `--pidfile=${join(this.dir, 'vswitchd.pid')}`,
      `--unixctl=${join(this.dir, 'vswitchd.ctl')}`,
      `--log-file=${join(this.dir, 'vswitchd.log')}`,
    ]);
    const controller = this.spawn('ovn-controller', [
      bin('ovn-controller'),
      this.sock('db'),
      `--pidfile=${join(this.dir, 'ovn-controller.pid')}`,
      `--log-file=${join(this.dir, 'ovn-controller.log')}`,
    ]);
    await waitFor('ovn-controller to register the chassis and create br-int', 30_000, async (note) => {
      this.check(vswitchd);
      this.check(controller);
      const chassis = (await this.sbctl('--bare', '--columns=name', 'find', 'Chassis', `name=${this.nodeName}`)).trim();
      if (chassis !== this.nodeName) return note('no chassis in SB yet');
      const br = await run(bin('ovs-vsctl'), [`--db=${this.sock('db')}`, 'br-exists', 'br-int'], this.paths.env);
      return br.code === 0 ? true : note('no br-int yet');
    }, 50);
    const ext = this.external;
    if (ext) {
      // kube-ovn-cni's part for a provider network: its bridge, mapped for ovn-controller (which then binds the localnet port).
      await this.vsctl('--may-exist', 'add-br', ext.bridge, '--', 'set', 'Bridge', ext.bridge, 'datapath_type=netdev');
      await this.vsctl('set', 'Open_vSwitch', '.', `external_ids:ovn-bridge-mappings=${ext.providerNetwork}:${ext.bridge}`);
    }
    log(`OVN up: NB ${this.nbAddress}, SB ${this.sbAddress}, chassis ${this.nodeName}, datapath in netns ${this.datapathNetns} (${Date.now() - t0} ms)`);

    // The management plane side: CRDs and the Node.
    const client = new Client(cp.kubeConfig, { fieldManager: FIELD_MANAGER, timeoutMs: 30_000 });
    try {
      await cp.installCRDs([join(this.paths.ovn, 'crds')]);
      const crds = await client.list<KubeObject & { spec?: { group?: string } }>(CustomResourceDefinitions);
      const installed = crds.items.filter((c) => c.spec?.group === 'kubeovn.io').length;
      if (installed < KUBE_OVN_CRD_COUNT) throw new Error(`kube-OVN needs its ${KUBE_OVN_CRD_COUNT} CRDs; ${installed} are installed`);
      await client.apply(
        Nodes,
        {
          metadata: {
            name: this.nodeName,
            labels: {
              'kubernetes.io/hostname': this.nodeName,
              'kubernetes.io/os': 'linux',
              // kube-ovn-cni's labels once the provider network's bridge is up on the node.
              ...(ext
                ? {
                    [`${ext.providerNetwork}.provider-network.kubernetes.io/ready`]: 'true',
                    [`${ext.providerNetwork}.provider-network.kubernetes.io/interface`]: EXTERNAL_NIC,
                    [`${ext.providerNetwork}.provider-network.kubernetes.io/mtu`]: '1500',
                  }
                : {}),
              ...(opts.nodeLabels ?? {}),
            },
            annotations: { [CHASSIS_ANNOTATION]: this.nodeName },
          },
        } as KubeObject,
        { force: true },
      );
      await client.apply(
        Nodes,
        {
          metadata: { name: this.nodeName },
          status: {
            addresses: [
              { type: 'InternalIP', address: '127.0.0.1' },
              { type: 'Hostname', address: this.nodeName },
            ],
            conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'the OVN chassis of the test world' }],
          },
        } as KubeObject,
        { force: true, subresource: 'status' },
      );
      if (ext) await this.declareExternal(client, ext);
    } finally {
      client.close();
    }

    // kube-ovn-controller, with /var/log of its own.
    const varlog = join(this.dir, 'varlog');
    // It creates the log file, not its directory.
    mkdirSync(join(varlog, 'kube-ovn'), { recursive: true });
    const kovnBin = resolve(binDir, 'kube-ovn-controller');
    if (!existsSync(kovnBin)) throw new Error(`kube-ovn-controller not found at ${kovnBin}: run 'make tools'`);
    // Started through a link in our dir (of the name main() expects), so its
    // command line names the dir: what the orphan sweep checks before killing.
    const exe = join(this.dir, 'kube-ovn-controller');
    symlinkSync(kovnBin, exe);
    const args = [
      `--kubeconfig=${cp.kubeconfigPath}`,
      `--ovn-nb-addr=${this.nbAddress}`,
      `--ovn-sb-addr=${this.sbAddress}`,
      `--default-cidr=${opts.defaultCIDR ?? '10.16.0.0/16'}`,
      `--node-switch-cidr=${opts.joinCIDR ?? '100.64.0.0/16'}`,
      `--pprof-port=${healthPort}`,
      '--enable-metrics=false',
      '--enable-np=false',
      '--worker-num=1',
      '--v=3',
    ];
    const script = 'mount --bind "$1" /var/log && shift && exec "$@"';
    this.controller = {
      argv: ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh', varlog, exe, ...args],
      env: { KUBECONFIG: cp.kubeconfigPath, POD_NAME: `kube-ovn-controller-${this.nodeName}`, KUBE_NAMESPACE: 'kube-system', ENABLE_BIND_LOCAL_IP: 'true', POD_IPS: '127.0.0.1', KUBE_NODE_NAME: this.nodeName },
      healthPort,
      timeoutMs: opts.readyTimeoutMs ?? 120_000,
    };
    await this.startController();
    log(`kube-ovn-controller ready (${Date.now() - t0} ms since OVN start; log ${this.controllerLogPath})`);
  }

  /**
   * The operator's objects for the external network, written before
   * kube-ovn-controller starts so that its first pass sees them: the gateway
   * ConfigMap is read by a periodic resync that, finding none, would mark the
   * Node as no gateway.
   */
  private async declareExternal(client: Client, ext: ExternalNetwork & { prefix: number }): Promise<void> {
    await client.apply(ProviderNetworks, { metadata: { name: ext.providerNetwork }, spec: { defaultInterface: EXTERNAL_NIC } } as KubeObject, { force: true });
    await client.apply(Vlans, { metadata: { name: ext.vlan }, spec: { id: 0, provider: ext.providerNetwork } } as KubeObject, { force: true });
    await client.apply(
      Subnets,
      { metadata: { name: ext.subnet }, spec: { protocol: 'IPv4', cidrBlock: ext.cidr, gateway: ext.gateway, excludeIps: [ext.gateway], vlan: ext.vlan, provider: 'ovn' } } as KubeObject,
      { force: true },
    );
    await client.apply(
      ConfigMaps,
      {
        metadata: { name: 'ovn-external-gw-config', namespace: 'kube-system' },
        data: {
          'enable-external-gw': 'true',
          type: 'centralized',
          'external-gw-nodes': this.nodeName,
          'external-gw-nic': EXTERNAL_NIC,
          'external-gw-addr': `${ext.gateway}/${ext.prefix}`,
        },
      } as KubeObject,
      { force: true },
    );
  }

  /** Starts kube-ovn-controller; resolves when it is healthy and its default topology is in NB. */
  private async startController(): Promise<void> {
    const c = this.controller;
    if (!c) throw new Error('kube-ovn-controller is not configured');
    const kovn = this.spawn('kube-ovn-controller', c.argv, c.env);
    c.proc = kovn;
    await waitFor('kube-ovn-controller to program its default topology', c.timeoutMs, async (note) => {
      this.check(kovn);
      try {
        const res = await request(`http://127.0.0.1:${c.healthPort}/readyz`, undefined, { timeoutMs: 2000 });
        if (res.status !== 200) return note(`readyz: HTTP ${res.status}`);
      } catch (err) {
        return note(`readyz: ${(err as Error).message}`);
      }
      const routers = (await this.nbctl('--bare', '--columns=name', 'list', 'Logical_Router')).split('\n');
      if (!routers.includes('ovn-cluster')) return note('no ovn-cluster router in NB yet');
      const switches = (await this.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch')).split('\n');
      const missing = ['join', 'ovn-default'].filter((s) => !switches.includes(s));
      return missing.length === 0 ? true : note(`no ${missing.join(', ')} switch in NB yet`);
    }, 200).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n--- ${kovn.logPath} ---\n${tail(kovn.logPath, 20)}`);
    });
  }

  async restartController(): Promise<void> {
    if (this.stopping) throw new Error('OVN world has been stopped');
    const c = this.controller;
    if (!c) throw new Error('kube-ovn-controller is not configured');
    if (c.proc) {
      await terminate(c.proc);
      this.procs.splice(this.procs.indexOf(c.proc), 1);
    }
    await this.startController();
  }

  plug(o: PlugOptions): Promise<string> {
    return this.attach('plug', { name: o.name, bridge: 'br-int', address: `${o.ip}/${prefixLength(o.cidr)}`, mac: o.mac, gateway: o.gateway, ifaceIds: [`external_ids:iface-id=${o.pod}.${o.namespace}`] });
  }

  plugExternal(name: string, ip: string): Promise<string> {
    const ext = this.external;
    if (!ext) return Promise.reject(new Error('plugExternal: this world has no external network (startOvn({ external }))'));
    const addr = parseIp(ip);
    const cidr = parseCidr(ext.cidr);
    if (!addr || typeof cidr === 'string' || !containsIp(cidr, addr)) return Promise.reject(new Error(`plugExternal: ip "${ip}" is not an address of the external network ${ext.cidr}`));
    if (ip === ext.gateway) return Promise.reject(new Error(`plugExternal: ip "${ip}" is the external network's gateway`));
    return this.attach('plugExternal', { name, bridge: ext.bridge, address: `${ip}/${ext.prefix}`, gateway: ext.gateway, ifaceIds: [] });
  }

  /**
   * A namespace of this world whose eth0 is one end of a veth, the other end
   * a port of `bridge` in the datapath namespace, with tx checksum offload
   * off (see TX_CHECKSUM_OFF_PY).
   */
  private async attach(caller: string, o: { name: string; bridge: string; address: string; mac?: string; gateway: string; ifaceIds: string[] }): Promise<string> {
    if (this.stopping) throw new Error('OVN world has been stopped');
    if (!/^[a-z0-9-]{1,40}$/.test(o.name)) throw new Error(`${caller}: name '${o.name}' must be 1-40 of [a-z0-9-]`);
    const ns = `${this.datapathNetns}-${o.name}`;
    if (this.netns.has(ns)) throw new Error(`${caller}: ${ns} is already plugged`);
    // Interface names are limited to 15 characters.
    const port = `vp${this.vethPrefix}${(this.plugs++).toString(16).padStart(4, '0')}`;
    await must('ip', ['netns', 'add', ns]);
    this.netns.add(ns);
    const inNs = (...a: string[]): Promise<string> => must('ip', ['-n', ns, ...a]);
    await must('ip', ['-n', this.datapathNetns, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await inNs('link', 'set', 'lo', 'up');
    if (o.mac) await inNs('link', 'set', 'eth0', 'address', o.mac);
    await inNs('addr', 'add', o.address, 'dev', 'eth0');
    await inNs('link', 'set', 'eth0', 'up');
    await inNs('route', 'add', 'default', 'via', o.gateway, 'dev', 'eth0');
    await must('ip', ['netns', 'exec', ns, 'python3', '-c', TX_CHECKSUM_OFF_PY]);
    await must('ip', ['-n', this.datapathNetns, 'link', 'set', port, 'up']);
    await this.vsctl('add-port', o.bridge, port, '--', 'set', 'Interface', port, ...o.ifaceIds, `external_ids:ironplane-netns=${ns}`);
    return ns;
  }

  async unplug(ns: string): Promise<void> {
    if (!this.netns.has(ns) || ns === this.datapathNetns) return;
    const ports = (await this.vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ironplane-netns=${ns}`).catch(() => '')).split('\n').filter(Boolean);
    for (const p of ports) await this.vsctl('--if-exists', 'del-port', p).catch(() => undefined);
    await run('ip', ['netns', 'delete', ns]);
    this.netns.delete(ns);
  }

  exec(ns: string, cmd: string[]): Promise<ExecResult> {
    if (!this.netns.has(ns)) return Promise.reject(new Error(`exec: ${ns} is not a namespace of this OVN world`));
    const [first, ...rest] = cmd;
    if (!first) return Promise.reject(new Error('exec: empty command'));
    // Our own ping when the host has none (bin/ovn/bin/ping from Debian's iputils-ping).
    const program = first === 'ping' ? this.paths.bin('ping') : first;
    return run('ip', ['netns', 'exec', ns, program, ...rest], this.paths.env, 60_000);
  }

  async ping(ns: string, ip: string, count = 1): Promise<boolean> {
    const r = await this.exec(ns, ['ping', '-n', '-c', String(count), '-W', '1', ip]);
    return r.code === 0;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        // kube-ovn-controller first (it talks to the databases), the databases last.
        const order = [...this.procs].reverse();
        for (const p of order) await terminate(p).catch(() => undefined);
        for (const ns of [...this.netns].reverse()) await run('ip', ['netns', 'delete', ns]);
        this.netns.clear();
      } finally {
        rmSync(this.dir, { recursive: true, force: true });
        unregisterLive(this);
        this.host?.release(this);
      }
    })();
    return this.stopping;
  }

  cleanupSync(): void {
    for (const p of this.procs) if (p.exitReason === undefined) killGroup(p.pid, 'SIGKILL');
    // Exit handlers allow nothing asynchronous. After a SIGKILL this never
    // runs: namespaces named after our pid are swept by the next startOvn().
    for (const ns of this.netns) spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore', timeout: 5000 });
    this.netns.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts the OVN world on `cp`: OVN NB/SB/northd, the chassis (ovn-controller
 * + userspace ovs-vswitchd in a network namespace of its own), kube-OVN's CRDs,
 * the Node, and kube-ovn-controller. Resolves once kube-ovn-controller has
 * programmed its default topology. Stopped by stop(), by cp.stop() (before the
 * plane's processes) and when this Node process exits.
 */
export async function startOvn(cp: ControlPlane, opts: OvnOptions = {}): Promise<OvnWorld> {
  if (process.platform !== 'linux') throw new Error('startOvn: needs Linux (network namespaces, veth, /dev/net/tun)');
  const binDir = opts.binDir ? resolve(opts.binDir) : defaultBinDir();
  await sweepOvnOrphans();
  const dir = mkdtempSync(join(tmpdir(), OVN_DIR_PREFIX));
  const host = cp instanceof LocalControlPlane ? cp : undefined;
  let world: LocalOvn;
  try {
    world = new LocalOvn(dir, opts.nodeName ?? 'ovn-node-0', ovnPaths(binDir, dir), host, opts.external);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  registerLive(world);
  host?.adopt(world);
  try {
    await world.boot(cp, opts, binDir);
  } catch (err) {
    await world.stop().catch(() => undefined);
    throw err;
  }
  return world;
}
