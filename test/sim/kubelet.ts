// The kubelet of every simulated machine: once a VMI runs with an address
// (or, with `hosts`, a Metal3 BareMetalHost is provisioned and online), it
// boots the userdata the machine was given and joins the tenant cluster,
// which here means registering a Node in the tenant apiserver with the
// providerID the userdata carries. Anything our providers got wrong in that
// userdata means no Node, as on a real machine, and why() says what it was.
//
// The tenant is found the way the machine's join config would point to it:
// the VMI's cluster.x-k8s.io/cluster-name label (for a host, the label of the
// MetalMachine its consumerRef names) names the Cluster, whose
// <cluster>-kubeconfig Secret (written by the control-plane provider) gives
// the tenant apiserver.
//
// Both sources share one boot path (userdata → providerID → tenant → join
// check → Node); each has its own controller, so a VMI and a host may share
// a name.
//
// validateJoin (KubeletOptions) decides whether the kubeadm join in the
// userdata would get this machine into the tenant. The default is the join
// checker (join.ts): it runs kubeadm's discovery against the endpoint the
// userdata names (cluster-info signature, CA pin, token authentication), and
// a refused join is retried, as kubeadm retries discovery. Userdata without
// any join registers anyway unless requireJoin is set: infrastructure-provider
// tests boot bootstrap data that only carries the providerID.
import { KubeConfig } from '@kubernetes/client-node';
import { Client, isAlreadyExists, isNotFound } from '../../providers/kit/client.js';
import { Controller, type Request, type Result } from '../../providers/kit/controller.js';
import { Informer } from '../../providers/kit/informer.js';
import { silentLogger, type Logger } from '../../providers/kit/log.js';
import { keyOf, metadataOnly, Secrets, type KubeObject } from '../../providers/kit/types.js';
import { hostAddresses, hostOS, metaDataHostname } from './baremetal.js';
import { findJoinConfig, parseCloudConfig, providerIDOf, type CloudConfig, type JoinConfig } from './cloudinit.js';
import { kubeadmJoinValidator } from './join.js';
import { BareMetalHosts, MetalMachines, Nodes, VirtualMachineInstances, type BareMetalHost, type Secret, type SecretReference, type VirtualMachineInstance, type Volume } from './kinds.js';

export const CLUSTER_NAME_LABEL = 'cluster.x-k8s.io/cluster-name';
const FIELD_MANAGER = 'ironplane-sim-kubelet';

export interface JoinContext {
  /** The machine: a VMI or a BareMetalHost. */
  vmi?: VirtualMachineInstance;
  host?: BareMetalHost;
  cloudConfig: CloudConfig;
  /** The join settings found in the userdata, if any. */
  join: JoinConfig | undefined;
  /** The tenant apiserver (admin credentials, as read from <cluster>-kubeconfig). */
  tenant: Client;
  /** The tenant's CA certificate (PEM), from the kubeconfig. */
  tenantCA: string | undefined;
}

/** Undefined to let the machine join; otherwise why it could not. */
export type JoinValidator = (ctx: JoinContext) => Promise<string | undefined>;

/**
 * The default: a kubeadm join found in the userdata must pass the join
 * checker (join.ts) against the endpoint it names; userdata without one
 * joins (the providerID is all the infrastructure providers are tested for).
 */
export const validateJoin: JoinValidator = kubeadmJoinValidator();

/** A refused join is tried again after this long, as kubeadm join keeps retrying discovery. */
export const JOIN_RETRY_MS = 2_000;

/** The node conditions a healthy kubelet reports besides Ready (CAPI's NodeHealthy reads them all). */
const PRESSURES: readonly (readonly [string, string, string])[] = [
  ['MemoryPressure', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
  ['DiskPressure', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
  ['PIDPressure', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
];

export interface KubeletOptions {
  /** Management-cluster client; the kubelet makes its own from client.kubeConfig. */
  client: Client;
  log?: Logger;
  validateJoin?: JoinValidator;
  /** With the default validator: refuse userdata that runs no kubeadm join. */
  requireJoin?: boolean;
  /** Boot VMIs (default true; needs the KubeVirt CRDs). */
  vmis?: boolean;
  /** Boot provisioned BareMetalHosts too (default false; needs the Metal3 and MetalMachine CRDs). */
  hosts?: boolean;
  workers?: number;
}

export interface Kubelet {
  /**
   * Why the VMI or BareMetalHost namespace/name has no Node (undefined once
   * it has one, or before it was looked at). A VMI's answer comes first when
   * both exist.
   */
  why(namespace: string, name: string): string | undefined;
  /** The Node the VMI or BareMetalHost registered: its cluster, node name and providerID. */
  nodeOf(namespace: string, name: string): { cluster: string; node: string; providerID: string } | undefined;
  stop(): Promise<void>;
}

interface Registration {
  /** The namespace of the Cluster and its <cluster>-kubeconfig Secret. */
  namespace: string;
  cluster: string;
  node: string;
  providerID: string;
  /** The VMI's uid, or the host consumer's: a new one means a new machine. */
  uid: string;
}

/** A machine that is up, as its source sees it, ready to boot. */
interface Boot {
  /** What the join validator is told about the machine. */
  machine: { vmi: VirtualMachineInstance } | { host: BareMetalHost };
  uid: string;
  userdata: string;
  /** Where the Cluster is, and which, or why the machine has none. */
  namespace: string;
  cluster: string | { why: string };
  node: string;
  ips: string[];
}

/** State keys: a VMI and a host may share namespace/name. */
const vmiKey = (key: string): string => `vmi:${key}`;
const hostKey = (key: string): string => `host:${key}`;

function userDataSource(volumes: Volume[] | undefined): { secret: string } | { inline: string } | undefined {
  for (const v of volumes ?? []) {
    for (const ci of [v.cloudInitNoCloud, v.cloudInitConfigDrive]) {
      if (!ci) continue;
      if (ci.secretRef?.name) return { secret: ci.secretRef.name };
      if (ci.userData !== undefined) return { inline: ci.userData };
      if (ci.userDataBase64 !== undefined) return { inline: Buffer.from(ci.userDataBase64, 'base64').toString('utf8') };
    }
  }
  return undefined;
}

const decode = (s: string | undefined): string | undefined => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

class SimKubelet implements Kubelet {
  private readonly client: Client;
  private readonly log: Logger;
  private readonly secrets: Informer<Secret>;
  private readonly vmis?: Informer<VirtualMachineInstance>;
  private readonly hosts?: Informer<BareMetalHost>;
  private readonly metalMachines?: Informer<KubeObject>;
  private readonly informers: Informer<KubeObject>[] = [];
  private readonly controllers: Controller[] = [];
  private readonly validate: JoinValidator;
  private readonly reasons = new Map<string, string>();
  private readonly registered = new Map<string, Registration>();
  /** The boot (uid/namespace/cluster) each machine has joined with: kubeadm join runs once per boot. */
  private readonly joined = new Map<string, string>();
  /** ns/cluster → tenant client, rebuilt when the kubeconfig Secret changes. */
  private readonly tenants = new Map<string, { version: string; client: Client; ca: string | undefined; kubeletVersion?: string }>();
  private stopped = false;

  constructor(opts: KubeletOptions) {
    this.log = (opts.log ?? silentLogger).with({ sim: 'kubelet' });
    this.validate = opts.validateJoin ?? (opts.requireJoin ? kubeadmJoinValidator({ requireJoin: true }) : validateJoin);
    this.client = new Client(opts.client.kubeConfig, { fieldManager: FIELD_MANAGER, userAgent: FIELD_MANAGER });
    const informerOpts = { log: this.log, retryMaxMs: 2000 };
    const informer = <T extends KubeObject>(i: Informer<T>): Informer<T> => {
      this.informers.push(i as unknown as Informer<KubeObject>);
      return i;
    };
    const controller = (name: string, reconcile: (req: Request, log: Logger) => Promise<Result | void>): Controller => {
      const c = new Controller({ name, reconcile, log: this.log, workers: opts.workers ?? 2 });
      this.controllers.push(c);
      return c;
    };
    this.secrets = informer(new Informer<Secret>(this.client, Secrets, { ...informerOpts, transform: metadataOnly }));
    if (opts.vmis !== false) {
      const vmis = (this.vmis = informer(new Informer<VirtualMachineInstance>(this.client, VirtualMachineInstances, informerOpts)));
      controller('sim-kubelet', (req, log) => this.reconcileVMI(req, log))
        .watch(vmis)
        .watch(this.secrets, (s) => this.vmisUsingSecret(s));
    }
    if (opts.hosts) {
      const hosts = (this.hosts = informer(new Informer<BareMetalHost>(this.client, BareMetalHosts, informerOpts)));
      const mms = (this.metalMachines = informer(new Informer<KubeObject>(this.client, MetalMachines, { ...informerOpts, transform: metadataOnly })));
      controller('sim-kubelet-hosts', (req, log) => this.reconcileHost(req, log))
        .watch(hosts)
        .watch(mms, (m) => this.hostsConsumedBy(m))
        .watch(this.secrets, (s) => this.hostsUsingSecret(s));
    }
  }

  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
    await Promise.all(this.controllers.map((c) => c.start()));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.controllers.map((c) => c.stop()));
    await Promise.all(this.informers.map((i) => i.stop()));
    for (const t of this.tenants.values()) t.client.close();
    this.tenants.clear();
    this.client.close();
  }

  why(namespace: string, name: string): string | undefined {
    const key = `${namespace}/${name}`;
    return this.reasons.get(vmiKey(key)) ?? this.reasons.get(hostKey(key));
  }

  nodeOf(namespace: string, name: string): { cluster: string; node: string; providerID: string } | undefined {
    const key = `${namespace}/${name}`;
    const r = this.registered.get(vmiKey(key)) ?? this.registered.get(hostKey(key));
    return r && { cluster: r.cluster, node: r.node, providerID: r.providerID };
  }

  /** VMIs whose userdata or tenant kubeconfig is this Secret. */
  private vmisUsingSecret(s: Secret): string[] {
    const ns = s.metadata?.namespace;
    const name = s.metadata?.name ?? '';
    return this.vmis!
      .list((v) => {
        if (v.metadata?.namespace !== ns) return false;
        const src = userDataSource(v.spec?.volumes);
        const cluster = v.metadata?.labels?.[CLUSTER_NAME_LABEL];
        return (src !== undefined && 'secret' in src && src.secret === name) || (cluster !== undefined && name === `${cluster}-kubeconfig`);
      })
      .map(keyOf);
  }

  /** Hosts whose userData or metaData is this Secret, or whose MetalMachine's tenant kubeconfig it is. */
  private hostsUsingSecret(s: Secret): string[] {
    const ns = s.metadata?.namespace;
    const name = s.metadata?.name ?? '';
    const names = (h: BareMetalHost, ref: SecretReference | null | undefined) => ref?.name === name && (ref.namespace || h.metadata?.namespace) === ns;
    return this.hosts!
      .list((h) => {
        if (names(h, h.spec?.userData) || names(h, h.spec?.metaData)) return true;
        const c = h.spec?.consumerRef;
        const mmNs = c?.namespace || h.metadata?.namespace;
        if (!c?.name || mmNs !== ns) return false;
        const cluster = this.metalMachines!.get(`${mmNs}/${c.name}`)?.metadata?.labels?.[CLUSTER_NAME_LABEL];
        return cluster !== undefined && name === `${cluster}-kubeconfig`;
      })
      .map(keyOf);
  }

  /** Hosts whose consumerRef names this MetalMachine. */
  private hostsConsumedBy(m: KubeObject): string[] {
    const ns = m.metadata?.namespace;
    return this.hosts!.list((h) => h.spec?.consumerRef?.name === m.metadata?.name && (h.spec?.consumerRef?.namespace || h.metadata?.namespace) === ns).map(keyOf);
  }

  private noNode(key: string, why: string, log: Logger): void {
    if (this.reasons.get(key) !== why) log.info('no Node', { why });
    this.reasons.set(key, why);
  }

  private async reconcileVMI(req: Request, log: Logger): Promise<Result | void> {
    const key = vmiKey(req.key);
    const ns = req.namespace ?? '';
    const vmi = await this.client.tryGet<VirtualMachineInstance>(VirtualMachineInstances, req.name, ns);
    let reg = this.registered.get(key);

    if (!vmi || vmi.metadata?.deletionTimestamp) {
      this.reasons.delete(key);
      if (reg) await this.deregister(key, reg, log);
      return;
    }
    if (reg && reg.uid !== vmi.metadata?.uid) {
      // The VMI we registered was replaced (its deletion and the new one's
      // creation came as one event): its Node went with it.
      await this.deregister(key, reg, log);
      reg = undefined;
    }
    const phase = vmi.status?.phase;
    if (phase === 'Failed' || phase === 'Succeeded') {
      // The machine is down: its Node stays, no longer ready (what the node
      // lifecycle controller reports once the kubelet stops posting status).
      if (reg) await this.markUnknown(reg, `VMI ${phase}`, log);
      this.noNode(key, `VMI is ${phase}`, log);
      return;
    }
    const ip = vmi.status?.interfaces?.find((i) => i.ipAddress)?.ipAddress;
    if (phase !== 'Running' || !ip) {
      this.noNode(key, `VMI is not running with an address yet (phase ${phase || 'none'})`, log);
      return;
    }

    // Boot: the userdata.
    const src = userDataSource(vmi.spec?.volumes);
    if (!src) return this.noNode(key, 'VMI has no cloud-init volume with userdata (cloudInitNoCloud or cloudInitConfigDrive with secretRef, userData or userDataBase64)', log);
    let text: string | undefined;
    if ('inline' in src) {
      text = src.inline;
    } else {
      const secret = await this.client.tryGet<Secret>(Secrets, src.secret, ns);
      if (!secret) return this.noNode(key, `userdata Secret ${ns}/${src.secret} not found`, log);
      text = decode(secret.data?.['userdata']) ?? decode(secret.data?.['value']);
      if (text === undefined) return this.noNode(key, `userdata Secret ${ns}/${src.secret} has neither a 'userdata' nor a 'value' key`, log);
    }
    const cluster = vmi.metadata?.labels?.[CLUSTER_NAME_LABEL];
    return this.boot(key, reg, {
      machine: { vmi },
      uid: vmi.metadata?.uid ?? '',
      userdata: text,
      namespace: ns,
      cluster: cluster ?? { why: `VMI has no ${CLUSTER_NAME_LABEL} label: no tenant cluster to join` },
      node: vmi.spec?.hostname || vmi.metadata?.name || '',
      ips: [ip],
    }, log);
  }

  /**
   * A BareMetalHost runs the OS once provisioned and online: the userdata and
   * meta_data it was given, its addresses from inspection, and the Cluster of
   * the MetalMachine that consumes it. A host that leaves provisioned loses
   * its Node; one powered off keeps it, no longer ready.
   */
  private async reconcileHost(req: Request, log: Logger): Promise<Result | void> {
    const key = hostKey(req.key);
    const ns = req.namespace ?? '';
    const host = await this.client.tryGet<BareMetalHost>(BareMetalHosts, req.name, ns);
    let reg = this.registered.get(key);

    if (!host) {
      this.reasons.delete(key);
      if (reg) await this.deregister(key, reg, log);
      return;
    }
    const os = hostOS(host);
    if (os.os === 'gone') {
      if (reg) await this.deregister(key, reg, log);
      return this.noNode(key, os.why, log);
    }
    if (reg && reg.uid !== os.consumer.uid) {
      // Provisioned again for another consumer: the old OS and its Node are gone.
      await this.deregister(key, reg, log);
      reg = undefined;
    }
    if (os.os === 'down') {
      if (reg) await this.markUnknown(reg, 'host powered off', log);
      return this.noNode(key, os.why, log);
    }

    // Boot: the userdata and the config drive's meta_data.
    const read = async (what: string, ref: SecretReference | null | undefined, keys: string[]): Promise<string | { why: string } | undefined> => {
      if (!ref?.name) return undefined;
      const sns = ref.namespace || ns;
      const secret = await this.client.tryGet<Secret>(Secrets, ref.name, sns);
      if (!secret) return { why: `${what} Secret ${sns}/${ref.name} not found` };
      for (const k of keys) {
        const text = decode(secret.data?.[k]);
        if (text !== undefined) return text;
      }
      return { why: `${what} Secret ${sns}/${ref.name} has no ${keys.map((k) => `'${k}'`).join(' or ')} key` };
    };
    const text = await read('userData', host.spec?.userData, ['userData', 'value']);
    if (text === undefined) return this.noNode(key, 'host has no spec.userData: the OS boots without userdata', log);
    if (typeof text !== 'string') return this.noNode(key, text.why, log);
    const meta = await read('metaData', host.spec?.metaData, ['metaData']);
    if (meta !== undefined && typeof meta !== 'string') return this.noNode(key, meta.why, log);
    const hostname = meta === undefined ? { hostname: undefined } : metaDataHostname(meta);
    if ('why' in hostname) return this.noNode(key, hostname.why, log);

    const { namespace, name } = os.consumer;
    const mm = await this.client.tryGet<KubeObject>(MetalMachines, name, namespace);
    const cluster = mm?.metadata?.labels?.[CLUSTER_NAME_LABEL];
    return this.boot(key, reg, {
      machine: { host },
      uid: os.consumer.uid,
      userdata: text,
      namespace,
      cluster:
        cluster ??
        { why: mm ? `MetalMachine ${namespace}/${name} has no ${CLUSTER_NAME_LABEL} label: no tenant cluster to join` : `MetalMachine ${namespace}/${name} (the host's consumerRef) not found: no tenant cluster to join` },
      node: hostname.hostname ?? req.name,
      ips: hostAddresses(host),
    }, log);
  }

  /** The shared path of a machine that is up: its userdata, the tenant, the join, the Node. */
  private async boot(key: string, reg: Registration | undefined, b: Boot, log: Logger): Promise<Result | void> {
    const cc = parseCloudConfig(b.userdata);
    if (typeof cc === 'string') return this.noNode(key, cc, log);
    const pid = providerIDOf(cc);
    if ('why' in pid) return this.noNode(key, pid.why, log);

    // Join: the tenant cluster.
    if (typeof b.cluster !== 'string') return this.noNode(key, b.cluster.why, log);
    const cluster = b.cluster;
    const tenant = await this.tenant(b.namespace, cluster);
    if (typeof tenant === 'string') return this.noNode(key, tenant, log);
    // kubeadm join runs once per boot: a machine that has joined keeps its
    // kubelet credentials, even after its bootstrap token is deleted.
    const joined = this.joined.get(key) === `${b.uid}/${b.namespace}/${cluster}`;
    const rejected = joined ? undefined : await this.validate({ ...b.machine, cloudConfig: cc, join: findJoinConfig(cc), tenant: tenant.client, tenantCA: tenant.ca });
    if (rejected !== undefined) {
      this.noNode(key, `join refused: ${rejected}`, log);
      return { requeueAfterMs: JOIN_RETRY_MS };
    }
    this.joined.set(key, `${b.uid}/${b.namespace}/${cluster}`);

    if (reg && (reg.node !== b.node || reg.cluster !== cluster || reg.namespace !== b.namespace)) await this.deregister(key, reg, log);
    const clash = await this.register(tenant.client, b.node, pid.providerID, b.ips, await this.kubeletVersion(tenant), log);
    if (clash) return this.noNode(key, clash, log);
    this.reasons.delete(key);
    if (!reg || reg.uid !== b.uid) log.info('Node registered', { cluster, node: b.node, providerID: pid.providerID, ips: b.ips });
    this.registered.set(key, { namespace: b.namespace, cluster, node: b.node, providerID: pid.providerID, uid: b.uid });
  }

  /** A client for the tenant from <cluster>-kubeconfig, or why there is none. */
  private async tenant(ns: string, cluster: string): Promise<{ client: Client; ca: string | undefined; kubeletVersion?: string } | string> {
    const name = `${cluster}-kubeconfig`;
    const secret = await this.client.tryGet<Secret>(Secrets, name, ns);
    if (!secret) return `kubeconfig Secret ${ns}/${name} not found: no tenant control plane to join`;
    const text = decode(secret.data?.['value']);
    if (!text) return `kubeconfig Secret ${ns}/${name} has no 'value' key`;
    const key = `${ns}/${cluster}`;
    const version = secret.metadata?.resourceVersion ?? '';
    const cached = this.tenants.get(key);
    if (cached && cached.version === version) return cached;
    const kc = new KubeConfig();
    try {
      kc.loadFromString(text);
    } catch (e) {
      return `kubeconfig Secret ${ns}/${name} is not a kubeconfig: ${(e as Error).message}`;
    }
    if (!kc.getCurrentCluster()) return `kubeconfig Secret ${ns}/${name} has no current cluster`;
    const caData = kc.getCurrentCluster()?.caData;
    const entry = { version, client: new Client(kc, { fieldManager: FIELD_MANAGER, userAgent: FIELD_MANAGER, timeoutMs: 10_000 }), ca: caData ? Buffer.from(caData, 'base64').toString('utf8') : undefined };
    cached?.client.close();
    this.tenants.set(key, entry);
    return entry;
  }

  /** What the kubelet reports as its version: the tenant control plane's (kubeadm joins at the same minor). */
  private async kubeletVersion(tenant: { client: Client; kubeletVersion?: string }): Promise<string> {
    // `tenant` is the cache entry itself, so the answer is kept until the kubeconfig changes.
    tenant.kubeletVersion ??= (await tenant.client.version()).gitVersion;
    return tenant.kubeletVersion;
  }

  /** Creates the Node (or finds ours) and posts a Ready status; returns why not if another machine owns the name. */
  private async register(tenant: Client, name: string, providerID: string, ips: string[], kubeletVersion: string, log: Logger): Promise<string | undefined> {
    interface Node extends KubeObject {
      spec?: { providerID?: string };
      status?: Record<string, unknown>;
    }
    let node: Node;
    try {
      node = await tenant.create<Node>(Nodes, {
        metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' } },
        spec: { providerID },
      });
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      node = await tenant.get<Node>(Nodes, name);
      const existing = node.spec?.providerID;
      // The apiserver lets providerID change only from empty.
      if (existing && existing !== providerID) return `tenant Node ${name} already exists with providerID ${existing}, not ${providerID}`;
      if (!existing) node = await tenant.mergePatch<Node>(Nodes, name, undefined, { spec: { providerID } });
    }
    const now = new Date().toISOString();
    const status = {
      addresses: [...ips.map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: name }],
      conditions: [
        ...PRESSURES.map(([type, reason, message]) => ({ type, status: 'False', reason, message, lastHeartbeatTime: now, lastTransitionTime: now })),
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status (simulated)', lastHeartbeatTime: now, lastTransitionTime: now },
      ],
      nodeInfo: {
        machineID: node.metadata?.uid ?? '',
        systemUUID: node.metadata?.uid ?? '',
        bootID: node.metadata?.uid ?? '',
        kernelVersion: '6.8.0',
        osImage: 'Kairos (simulated)',
        containerRuntimeVersion: 'containerd://2.1.0',
        kubeletVersion,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    };
    const cur = node.status as { addresses?: unknown; conditions?: { type: string; status: string }[] } | undefined;
    const ready = cur?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True' && JSON.stringify(cur?.addresses) === JSON.stringify(status.addresses)) return undefined;
    await tenant.mergePatch(Nodes, name, undefined, { status }, { subresource: 'status' });
    log.debug('Node status posted', { node: name });
    return undefined;
  }

  private async markUnknown(reg: Registration, why: string, log: Logger): Promise<void> {
    const tenant = await this.tenant(reg.namespace, reg.cluster);
    if (typeof tenant === 'string') return;
    const now = new Date().toISOString();
    try {
      await tenant.client.mergePatch(Nodes, reg.node, undefined, {
        // What the node lifecycle controller writes once the kubelet stops posting: every condition Unknown.
        status: { conditions: [...PRESSURES.map(([type]) => type), 'Ready'].map((type) => ({ type, status: 'Unknown', reason: 'NodeStatusUnknown', message: `Kubelet stopped posting node status (${why}).`, lastHeartbeatTime: now, lastTransitionTime: now })) },
      }, { subresource: 'status' });
      log.info('Node no longer ready', { node: reg.node, why });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  private async deregister(key: string, reg: Registration, log: Logger): Promise<void> {
    const tenant = await this.tenant(reg.namespace, reg.cluster);
    // Without the kubeconfig, fall back to the client used to register.
    const client = typeof tenant === 'string' ? this.tenants.get(`${reg.namespace}/${reg.cluster}`)?.client : tenant.client;
    if (client) {
      const gone = await client.delete(Nodes, reg.node);
      if (gone) log.info('Node deleted', { cluster: reg.cluster, node: reg.node });
    } else {
      log.warn('cannot delete Node: tenant kubeconfig gone', { cluster: reg.cluster, node: reg.node });
    }
    this.registered.delete(key);
    this.joined.delete(key);
  }
}

/** Starts the kubelet simulation once its informers have synced. */
export async function startKubelet(opts: KubeletOptions): Promise<Kubelet> {
  const k = new SimKubelet(opts);
  try {
    await k.start();
  } catch (e) {
    await k.stop().catch(() => undefined);
    throw e;
  }
  return k;
}
