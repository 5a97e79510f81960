// The kubelet of every simulated VM: once a VMI runs with an address, it
// boots the userdata the VM was given and joins the tenant cluster, which
// here means registering a Node in the tenant apiserver with the providerID
// the userdata carries. Anything our providers got wrong in that userdata
// means no Node, as on a real machine, and why() says what it was.
//
// The tenant is found the way the machine's join config would point to it:
// the VMI's cluster.x-k8s.io/cluster-name label names the Cluster, whose
// <cluster>-kubeconfig Secret (written by the control-plane provider) gives
// the tenant apiserver.
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
import { findJoinConfig, parseCloudConfig, providerIDOf, type CloudConfig, type JoinConfig } from './cloudinit.js';
import { kubeadmJoinValidator } from './join.js';
import { Nodes, VirtualMachineInstances, type Secret, type VirtualMachineInstance, type Volume } from './kinds.js';

export const CLUSTER_NAME_LABEL = 'cluster.x-k8s.io/cluster-name';
const FIELD_MANAGER = 'ironplane-sim-kubelet';

export interface JoinContext {
  vmi: VirtualMachineInstance;
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

export interface KubeletOptions {
  /** Management-cluster client; the kubelet makes its own from client.kubeConfig. */
  client: Client;
  log?: Logger;
  validateJoin?: JoinValidator;
  /** With the default validator: refuse userdata that runs no kubeadm join. */
  requireJoin?: boolean;
  workers?: number;
}

export interface Kubelet {
  /** Why the VMI namespace/name has no Node (undefined once it has one, or before it was looked at). */
  why(namespace: string, name: string): string | undefined;
  /** The Node the VMI registered, as tenant-namespace/cluster and node name. */
  nodeOf(namespace: string, name: string): { cluster: string; node: string; providerID: string } | undefined;
  stop(): Promise<void>;
}

interface Registration {
  cluster: string;
  node: string;
  providerID: string;
  vmiUID: string;
}

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
  private readonly vmis: Informer<VirtualMachineInstance>;
  private readonly secrets: Informer<Secret>;
  private readonly controller: Controller;
  private readonly validate: JoinValidator;
  private readonly reasons = new Map<string, string>();
  private readonly registered = new Map<string, Registration>();
  /** ns/cluster → tenant client, rebuilt when the kubeconfig Secret changes. */
  private readonly tenants = new Map<string, { version: string; client: Client; ca: string | undefined; kubeletVersion?: string }>();
  private stopped = false;

  constructor(opts: KubeletOptions) {
    this.log = (opts.log ?? silentLogger).with({ sim: 'kubelet' });
    this.validate = opts.validateJoin ?? (opts.requireJoin ? kubeadmJoinValidator({ requireJoin: true }) : validateJoin);
    this.client = new Client(opts.client.kubeConfig, { fieldManager: FIELD_MANAGER, userAgent: FIELD_MANAGER });
    const informerOpts = { log: this.log, retryMaxMs: 2000 };
    this.vmis = new Informer<VirtualMachineInstance>(this.client, VirtualMachineInstances, informerOpts);
    this.secrets = new Informer<Secret>(this.client, Secrets, { ...informerOpts, transform: metadataOnly });
    this.controller = new Controller({ name: 'sim-kubelet', reconcile: (req, log) => this.reconcile(req, log), log: this.log, workers: opts.workers ?? 2 })
      .watch(this.vmis)
      .watch(this.secrets, (s) => this.keysUsingSecret(s));
  }

  async start(): Promise<void> {
    await Promise.all([this.vmis.start(), this.secrets.start()]);
    await this.controller.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.controller.stop();
    await Promise.all([this.vmis.stop(), this.secrets.stop()]);
    for (const t of this.tenants.values()) t.client.close();
    this.tenants.clear();
    this.client.close();
  }

  why(namespace: string, name: string): string | undefined {
    return this.reasons.get(`${namespace}/${name}`);
  }

  nodeOf(namespace: string, name: string): { cluster: string; node: string; providerID: string } | undefined {
    const r = this.registered.get(`${namespace}/${name}`);
    return r && { cluster: r.cluster, node: r.node, providerID: r.providerID };
  }

  /** VMIs whose userdata or tenant kubeconfig is this Secret. */
  private keysUsingSecret(s: Secret): string[] {
    const ns = s.metadata?.namespace;
    const name = s.metadata?.name ?? '';
    return this.vmis
      .list((v) => {
        if (v.metadata?.namespace !== ns) return false;
        const src = userDataSource(v.spec?.volumes);
        const cluster = v.metadata?.labels?.[CLUSTER_NAME_LABEL];
        return (src !== undefined && 'secret' in src && src.secret === name) || (cluster !== undefined && name === `${cluster}-kubeconfig`);
      })
      .map(keyOf);
  }

  private noNode(key: string, why: string, log: Logger): void {
    if (this.reasons.get(key) !== why) log.info('no Node', { why });
    this.reasons.set(key, why);
  }

  private async reconcile(req: Request, log: Logger): Promise<Result | void> {
    const ns = req.namespace ?? '';
    const vmi = await this.client.tryGet<VirtualMachineInstance>(VirtualMachineInstances, req.name, ns);
    let reg = this.registered.get(req.key);

    if (!vmi || vmi.metadata?.deletionTimestamp) {
      this.reasons.delete(req.key);
      if (reg) await this.deregister(req.key, ns, reg, log);
      return;
    }
    if (reg && reg.vmiUID !== vmi.metadata?.uid) {
      // The VMI we registered was replaced (its deletion and the new one's
      // creation came as one event): its Node went with it.
      await this.deregister(req.key, ns, reg, log);
      reg = undefined;
    }
    const phase = vmi.status?.phase;
    if (phase === 'Failed' || phase === 'Succeeded') {
      // The machine is down: its Node stays, no longer ready (what the node
      // lifecycle controller reports once the kubelet stops posting status).
      if (reg) await this.markUnknown(ns, reg, `VMI ${phase}`, log);
      this.noNode(req.key, `VMI is ${phase}`, log);
      return;
    }
    const ip = vmi.status?.interfaces?.find((i) => i.ipAddress)?.ipAddress;
    if (phase !== 'Running' || !ip) {
      this.noNode(req.key, `VMI is not running with an address yet (phase ${phase || 'none'})`, log);
      return;
    }

    // Boot: the userdata.
    const src = userDataSource(vmi.spec?.volumes);
    if (!src) return this.noNode(req.key, 'VMI has no cloud-init volume with userdata (cloudInitNoCloud or cloudInitConfigDrive with secretRef, userData or userDataBase64)', log);
    let text: string | undefined;
    if ('inline' in src) {
      text = src.inline;
    } else {
      const secret = await this.client.tryGet<Secret>(Secrets, src.secret, ns);
      if (!secret) return this.noNode(req.key, `userdata Secret ${ns}/${src.secret} not found`, log);
      text = decode(secret.data?.['userdata']) ?? decode(secret.data?.['value']);
      if (text === undefined) return this.noNode(req.key, `userdata Secret ${ns}/${src.secret} has neither a 'userdata' nor a 'value' key`, log);
    }
    const cc = parseCloudConfig(text);
    if (typeof cc === 'string') return this.noNode(req.key, cc, log);
    const pid = providerIDOf(cc);
    if ('why' in pid) return this.noNode(req.key, pid.why, log);

    // Join: the tenant cluster.
    const cluster = vmi.metadata?.labels?.[CLUSTER_NAME_LABEL];
    if (!cluster) return this.noNode(req.key, `VMI has no ${CLUSTER_NAME_LABEL} label: no tenant cluster to join`, log);
    const tenant = await this.tenant(ns, cluster);
    if (typeof tenant === 'string') return this.noNode(req.key, tenant, log);
    const rejected = await this.validate({ vmi, cloudConfig: cc, join: findJoinConfig(cc), tenant: tenant.client, tenantCA: tenant.ca });
    if (rejected !== undefined) {
      this.noNode(req.key, `join refused: ${rejected}`, log);
      return { requeueAfterMs: JOIN_RETRY_MS };
    }

    const node = vmi.spec?.hostname || vmi.metadata?.name || '';
    if (reg && (reg.node !== node || reg.cluster !== cluster)) await this.deregister(req.key, ns, reg, log);
    const clash = await this.register(tenant.client, node, pid.providerID, ip, await this.kubeletVersion(tenant), log);
    if (clash) return this.noNode(req.key, clash, log);
    this.reasons.delete(req.key);
    if (!reg || reg.vmiUID !== vmi.metadata?.uid) log.info('Node registered', { cluster, node, providerID: pid.providerID, ip });
    this.registered.set(req.key, { cluster, node, providerID: pid.providerID, vmiUID: vmi.metadata?.uid ?? '' });
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
  private async register(tenant: Client, name: string, providerID: string, ip: string, kubeletVersion: string, log: Logger): Promise<string | undefined> {
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
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'Hostname', address: name },
      ],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status (simulated)', lastHeartbeatTime: now, lastTransitionTime: now }],
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

  private async markUnknown(ns: string, reg: Registration, why: string, log: Logger): Promise<void> {
    const tenant = await this.tenant(ns, reg.cluster);
    if (typeof tenant === 'string') return;
    const now = new Date().toISOString();
    try {
      await tenant.client.mergePatch(Nodes, reg.node, undefined, {
        status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: `Kubelet stopped posting node status (${why}).`, lastHeartbeatTime: now, lastTransitionTime: now }] },
      }, { subresource: 'status' });
      log.info('Node no longer ready', { node: reg.node, why });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  private async deregister(key: string, ns: string, reg: Registration, log: Logger): Promise<void> {
    const tenant = await this.tenant(ns, reg.cluster);
    // Without the kubeconfig, fall back to the client used to register.
    const client = typeof tenant === 'string' ? this.tenants.get(`${ns}/${reg.cluster}`)?.client : tenant.client;
    if (client) {
      const gone = await client.delete(Nodes, reg.node);
      if (gone) log.info('Node deleted', { cluster: reg.cluster, node: reg.node });
    } else {
      log.warn('cannot delete Node: tenant kubeconfig gone', { cluster: reg.cluster, node: reg.node });
    }
    this.registered.delete(key);
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
