// The hypervisor: plays KubeVirt's virt-controller and virt-handler, with the
// bits of kube-scheduler, kubelet and kube-OVN a VM's launcher pod meets, for
// a management plane that has no nodes.
//
// What it does, per VirtualMachine (namespace/name is the key):
// - virt-controller's VM controller: adds KubeVirt's finalizer, creates the
//   VirtualMachineInstance the run strategy asks for (same name, controller
//   ownerReference, template labels/annotations/spec), deletes it for Halted
//   or a deleted VM, replaces a Failed one for Always/RerunOnFailure, and
//   writes VM status (created, ready, printableStatus, runStrategy,
//   conditions mirrored from the VMI);
// - the launcher pod's life: scheduling against `nodes` (nodeSelector and
//   required node affinity), mounting the Secrets the volumes name, an address
//   from the kube-OVN Subnet named by ovn.kubernetes.io/logical_switch;
// - virt-handler: phase Running with nodeName, interfaces and Ready=True.
// A step that cannot succeed leaves the VMI in phase Scheduling (where KubeVirt
// leaves a VMI whose pod exists but does not run) with a condition saying why,
// and is retried when the Subnet or Secret it waits for changes.
//
// Not simulated: pods, migrations, pause, guest agent, start-failure back-off,
// VMI finalizers (a VMI deletion here is immediate), kube-OVN's IP objects.
//
// OVN mode (`ovn`, an OvnWorld from test/harness/ovn.ts): the network is real.
// A VMI that is placed gets a virt-launcher Pod (launcher.ts) bound to the OVN
// world's node; the REAL kube-ovn-controller allocates its address, MAC and
// logical switch port; the hypervisor then does what kube-ovn-cni and the
// kubelet do: plugs a network namespace standing for the VM into br-int with
// exactly that address and MAC, and reports the address as the Pod's podIP.
// The VMI's interface carries kube-OVN's address. When the VMI goes (deleted,
// Failed or Succeeded), its namespace is unplugged and its Pod deleted.
//
// Reconcile reads the VM and VMI with live GETs rather than from the informer
// caches: a cache that lags our own writes would make printableStatus flap,
// which a provider under test could observe.
import { Client, isAlreadyExists, isConflict, isNotFound, type JsonPatchOp } from '../../providers/kit/client.js';
import { Controller, type Request, type Result } from '../../providers/kit/controller.js';
import { Informer } from '../../providers/kit/informer.js';
import { silentLogger, type Logger } from '../../providers/kit/log.js';
import { CustomResourceDefinitions, keyOf, metadataOnly, Secrets, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import { Ipam, parsePool } from './ipam.js';
import { allocationOf, CREATED_BY_LABEL, launcherPod, LAUNCHER_SELECTOR, Pods, portOf, runningStatus, type Pod } from './launcher.js';
import {
  Nodes,
  Subnets,
  VirtualMachineInstances,
  VirtualMachines,
  type Condition,
  type RunStrategy,
  type Secret,
  type Subnet,
  type VirtualMachine,
  type VirtualMachineInstance,
  type VMIPhase,
  type VMIStatus,
  type Volume,
} from './kinds.js';
import { schedule, type SimNode } from './scheduling.js';

export const LOGICAL_SWITCH_ANNOTATION = 'ovn.kubernetes.io/logical_switch';
export const IP_ADDRESS_ANNOTATION = 'ovn.kubernetes.io/ip_address';
export const VM_FINALIZER = 'kubevirt.io/virtualMachineControllerFinalize';
export const NODE_NAME_LABEL = 'kubevirt.io/nodeName';
const VM_GENERATION_ANNOTATION = 'kubevirt.io/vm-generation';
const FIELD_MANAGER = 'ironplane-sim-hypervisor';

export interface HypervisorOptions {
  /** Management-cluster client; the hypervisor makes its own from client.kubeConfig, with its own field manager. */
  client: Client;
  log?: Logger;
  /** The nodes VMIs can land on. */
  nodes: SimNode[];
  /** Also create these Nodes in the management cluster, labelled as virt-handler labels them (default true). */
  registerNodes?: boolean;
  workers?: number;
  /**
   * A real network (test/harness/ovn.ts startOvn()): launcher Pods get their
   * addresses from kube-ovn-controller and each running VM is a network
   * namespace plugged into OVN. Every node must then be the OVN world's node.
   */
  ovn?: OvnAttachment;
}

/** What the hypervisor needs of an OVN world (test/harness/ovn.ts OvnWorld has it). */
export interface OvnAttachment {
  /** The Node that is the OVN chassis; launcher Pods are bound to it. */
  readonly nodeName: string;
  plug(opts: { name: string; pod: string; namespace: string; ip: string; mac: string; gateway: string; cidr: string }): Promise<string>;
  unplug(netns: string): Promise<void>;
}

/** A VM plugged into OVN: its network namespace and what it was plugged with. */
export interface PluggedVM {
  /** namespace/name of the VMI. */
  key: string;
  netns: string;
  ip: string;
  mac: string;
  pod: string;
}

export interface Hypervisor {
  /**
   * Makes the Running VMI namespace/name fail (phase Failed, status.reason
   * `reason`, Ready=False with `reason` and `message`), as when its guest
   * crashes. Resolves with the Failed VMI once written. The run strategy then
   * applies as in KubeVirt: Always and RerunOnFailure replace the VMI with a
   * new one (new uid, same address), Once leaves it Failed.
   */
  fail(namespace: string, name: string, reason: string, message: string): Promise<VirtualMachineInstance>;
  /** Whether the CRDs found on the server have a status subresource (KubeVirt v1.8: VM yes, VMI no). */
  readonly statusSubresource: { vm: boolean; vmi: boolean };
  /** OVN mode: the network namespace of the running VMI namespace/name, once plugged. */
  vmNetns(namespace: string, name: string): PluggedVM | undefined;
  stop(): Promise<void>;
}

const FINAL: VMIPhase[] = ['Succeeded', 'Failed'];
const isFinal = (vmi: VirtualMachineInstance): boolean => FINAL.includes(vmi.status?.phase ?? '');

function runStrategyOf(vm: VirtualMachine): RunStrategy {
  if (vm.spec?.runStrategy) return vm.spec.runStrategy;
  return vm.spec?.running === true ? 'Always' : 'Halted';
}

function condition(list: Condition[] | undefined, type: string): Condition | undefined {
  return list?.find((c) => c.type === type);
}

/** Sets `c` in `list`, keeping lastTransitionTime when the status did not change. */
function setCondition(list: Condition[], c: Omit<Condition, 'lastProbeTime' | 'lastTransitionTime'>, now: string, old: Condition[] | undefined): void {
  const prev = condition(old, c.type);
  const lastTransitionTime = prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : now;
  list.push({ type: c.type, status: c.status, ...(c.reason ? { reason: c.reason } : {}), ...(c.message ? { message: c.message } : {}), lastProbeTime: null, lastTransitionTime });
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** Every Secret a VMI's volumes need mounted, with the volume that needs it. */
function secretsOf(volumes: Volume[] | undefined): { volume: string; secret: string }[] {
  const out: { volume: string; secret: string }[] = [];
  for (const v of volumes ?? []) {
    for (const ci of [v.cloudInitNoCloud, v.cloudInitConfigDrive]) {
      if (ci?.secretRef?.name) out.push({ volume: v.name, secret: ci.secretRef.name });
      if (ci?.networkDataSecretRef?.name) out.push({ volume: v.name, secret: ci.networkDataSecretRef.name });
    }
    if (v.secret?.secretName && !v.secret.optional) out.push({ volume: v.name, secret: v.secret.secretName });
  }
  return out;
}

function isControlledBy(obj: KubeObject, vm: VirtualMachine | undefined): boolean {
  const ref = obj.metadata?.ownerReferences?.find((r) => r.controller);
  return ref !== undefined && vm !== undefined && ref.kind === 'VirtualMachine' && ref.uid === vm.metadata?.uid;
}

function controllerRefKind(obj: KubeObject): string | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller)?.kind;
}

async function hasStatusSubresource(client: Client, rt: ResourceType): Promise<boolean> {
  const name = `${rt.plural}.${rt.group}`;
  interface CRD extends KubeObject {
    spec: { versions: { name: string; subresources?: { status?: unknown } }[] };
  }
  const crd = await client.tryGet<CRD>(CustomResourceDefinitions, name);
  if (!crd) throw new Error(`hypervisor: CRD ${name} is not installed (install config/external/kubevirt and config/external/kube-ovn)`);
  const v = crd.spec.versions.find((x) => x.name === rt.version);
  if (!v) throw new Error(`hypervisor: CRD ${name} does not serve ${rt.version}`);
  return v.subresources?.status !== undefined;
}

interface PendingFailure {
  reason: string;
  message: string;
  resolve: (vmi: VirtualMachineInstance) => void;
  reject: (err: Error) => void;
}

class SimHypervisor implements Hypervisor {
  readonly statusSubresource = { vm: true, vmi: false };
  private readonly client: Client;
  private readonly log: Logger;
  private readonly vms: Informer<VirtualMachine>;
  private readonly vmis: Informer<VirtualMachineInstance>;
  private readonly subnets: Informer<Subnet>;
  private readonly secrets: Informer<Secret>;
  private readonly controller: Controller;
  private readonly ipam = new Ipam();
  private readonly failures = new Map<string, PendingFailure>();
  /** OVN mode: launcher Pods, and the VMs plugged so far by VMI uid. */
  private readonly pods: Informer<Pod> | undefined;
  private readonly plugged = new Map<string, PluggedVM>();
  private stopped = false;

  constructor(private readonly opts: HypervisorOptions) {
    this.log = (opts.log ?? silentLogger).with({ sim: 'hypervisor' });
    this.client = new Client(opts.client.kubeConfig, { fieldManager: FIELD_MANAGER, userAgent: FIELD_MANAGER });
    const informerOpts = { log: this.log, retryMaxMs: 2000 };
    this.vms = new Informer<VirtualMachine>(this.client, VirtualMachines, informerOpts);
    this.vmis = new Informer<VirtualMachineInstance>(this.client, VirtualMachineInstances, informerOpts);
    this.subnets = new Informer<Subnet>(this.client, Subnets, informerOpts);
    // Only names matter here: whether a Secret exists, not what it holds.
    this.secrets = new Informer<Secret>(this.client, Secrets, { ...informerOpts, transform: metadataOnly });
    this.controller = new Controller({
      name: 'sim-hypervisor',
      reconcile: (req, log) => this.reconcile(req, log),
      log: this.log,
      workers: opts.workers ?? 2,
    })
      .watch(this.vms)
      .watch(this.vmis)
      .watch(this.subnets, (s) => this.keysUsingSubnet(s.metadata?.name ?? ''))
      .watch(this.secrets, (s) => this.keysUsingSecret(s.metadata?.namespace ?? '', s.metadata?.name ?? ''));
    if (opts.ovn) {
      const bad = opts.nodes.filter((n) => n.name !== opts.ovn?.nodeName).map((n) => n.name);
      if (bad.length > 0) throw new Error(`hypervisor: in OVN mode every node must be the OVN chassis node ${opts.ovn.nodeName}; got ${bad.join(', ')}`);
      this.pods = new Informer<Pod>(this.client, Pods, { ...informerOpts, labelSelector: LAUNCHER_SELECTOR });
      // kube-OVN's allocation lands on the Pod: the VMI it belongs to is reconciled.
      this.controller.watch(this.pods, (p) => {
        const vmi = p.metadata?.ownerReferences?.find((r) => r.kind === 'VirtualMachineInstance')?.name;
        return vmi ? [`${p.metadata?.namespace ?? ''}/${vmi}`] : [];
      });
    }
  }

  async start(): Promise<void> {
    const [vm, vmi] = await Promise.all([
      hasStatusSubresource(this.client, VirtualMachines),
      hasStatusSubresource(this.client, VirtualMachineInstances),
      hasStatusSubresource(this.client, Subnets),
    ]);
    this.statusSubresource.vm = vm;
    this.statusSubresource.vmi = vmi;
    if (this.opts.registerNodes ?? true) await this.registerNodes();
    await Promise.all([this.vms.start(), this.vmis.start(), this.subnets.start(), this.secrets.start(), this.pods?.start()]);
    // Addresses already on VMIs (a restarted simulation) stay theirs.
    for (const vmi of this.vmis.list()) {
      const sw = vmi.metadata?.annotations?.[LOGICAL_SWITCH_ANNOTATION];
      const ip = vmi.status?.interfaces?.[0]?.ipAddress;
      if (sw && ip) this.ipam.restore(keyOf(vmi), sw, ip);
    }
    await this.controller.start();
    this.log.info('hypervisor started', { nodes: this.opts.nodes.map((n) => n.name), statusSubresource: this.statusSubresource });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const f of this.failures.values()) f.reject(new Error('hypervisor stopped'));
    this.failures.clear();
    await this.controller.stop();
    await Promise.all([this.vms.stop(), this.vmis.stop(), this.subnets.stop(), this.secrets.stop(), this.pods?.stop()]);
    this.client.close();
  }

  vmNetns(namespace: string, name: string): PluggedVM | undefined {
    const key = `${namespace}/${name}`;
    return [...this.plugged.values()].find((p) => p.key === key);
  }

  fail(namespace: string, name: string, reason: string, message: string): Promise<VirtualMachineInstance> {
    if (this.stopped) return Promise.reject(new Error('hypervisor stopped'));
    const key = `${namespace}/${name}`;
    return new Promise((resolve, reject) => {
      this.failures.get(key)?.reject(new Error('superseded by another fail()'));
      this.failures.set(key, { reason, message, resolve, reject });
      this.controller.queue.add(key);
    });
  }

  // ---- event mapping (synchronous: only computes keys) ----

  private keysUsingSubnet(subnet: string): string[] {
    const keys = new Set<string>();
    for (const vm of this.vms.list()) if (vm.spec?.template?.metadata?.annotations?.[LOGICAL_SWITCH_ANNOTATION] === subnet) keys.add(keyOf(vm));
    for (const vmi of this.vmis.list()) if (vmi.metadata?.annotations?.[LOGICAL_SWITCH_ANNOTATION] === subnet) keys.add(keyOf(vmi));
    return [...keys];
  }

  private keysUsingSecret(namespace: string, secret: string): string[] {
    const uses = (o: KubeObject, volumes: Volume[] | undefined): boolean =>
      o.metadata?.namespace === namespace && secretsOf(volumes).some((s) => s.secret === secret);
    const keys = new Set<string>();
    for (const vm of this.vms.list()) if (uses(vm, vm.spec?.template?.spec?.volumes)) keys.add(keyOf(vm));
    for (const vmi of this.vmis.list()) if (uses(vmi, vmi.spec?.volumes)) keys.add(keyOf(vmi));
    return [...keys];
  }

  // ---- reconcile ----

  private async reconcile(req: Request, log: Logger): Promise<Result | void> {
    try {
      await this.sync(req, log);
    } catch (e) {
      // Someone wrote the VM between our read and our write: read again, quietly.
      if (isConflict(e)) return { requeue: true };
      throw e;
    }
  }

  private async sync(req: Request, log: Logger): Promise<void> {
    const ns = req.namespace ?? '';
    let vm = await this.client.tryGet<VirtualMachine>(VirtualMachines, req.name, ns);
    let vmi = await this.client.tryGet<VirtualMachineInstance>(VirtualMachineInstances, req.name, ns);

    const failure = this.failures.get(req.key);
    if (failure) {
      this.failures.delete(req.key);
      if (vmi?.status?.phase !== 'Running' || vmi.metadata?.deletionTimestamp) {
        failure.reject(new Error(`VMI ${req.key} is not running (phase ${vmi?.status?.phase ?? 'none'}); only a running VMI can fail`));
      } else {
        vmi = await this.applyFailure(vmi, failure.reason, failure.message);
        log.info('VMI failed on request', { reason: failure.reason });
        failure.resolve(vmi);
        // The run strategy reacts on the next pass, after watchers have seen Failed.
        if (vm) await this.writeVMStatus(vm, vmi);
        return;
      }
    }

    if (vm) {
      const next = await this.syncVM(vm, vmi, log);
      vm = next.vm;
      vmi = next.vmi;
    } else if (vmi && controllerRefKind(vmi) === 'VirtualMachine') {
      // The owning VM is gone: what the garbage collector would do.
      log.info('deleting VMI whose VirtualMachine is gone');
      await this.client.delete(VirtualMachineInstances, req.name, ns, { uid: vmi.metadata?.uid ?? '' });
      vmi = undefined;
    }

    if (vmi && !vmi.metadata?.deletionTimestamp && !isFinal(vmi) && vmi.status?.phase !== 'Running') {
      vmi = await this.launch(vmi, log);
    }

    if (vm) await this.writeVMStatus(vm, vmi);
    if (this.opts.ovn) await this.dropLaunchers(req.key, vmi, log);
    // kube-OVN keeps a VM's address while the VM exists (keep-vm-ip), a bare VMI's while it exists.
    if (!vm && !vmi) {
      const freed = this.ipam.release(req.key);
      // VMIs waiting for an address in that Subnet may get this one now.
      if (freed) for (const k of this.keysUsingSubnet(freed.subnet)) this.controller.queue.add(k);
    }
  }

  /** virt-controller's VM controller: finalizer, run strategy, deletion. */
  private async syncVM(vm: VirtualMachine, vmi: VirtualMachineInstance | undefined, log: Logger): Promise<{ vm: VirtualMachine | undefined; vmi: VirtualMachineInstance | undefined }> {
    const name = vm.metadata?.name ?? '';
    const ns = vm.metadata?.namespace ?? '';
    if (vmi && !isControlledBy(vmi, vm)) {
      // A VMI of the same name that this VM does not own (e.g. left from an
      // earlier VM of that name): KubeVirt would not adopt it; the GC deletes it if orphaned.
      if (controllerRefKind(vmi) === 'VirtualMachine') {
        await this.client.delete(VirtualMachineInstances, name, ns, { uid: vmi.metadata?.uid ?? '' });
      }
      vmi = undefined;
    }

    if (vm.metadata?.deletionTimestamp) {
      if (vmi && !vmi.metadata?.deletionTimestamp) {
        log.info('VM is being deleted: deleting its VMI');
        await this.client.delete(VirtualMachineInstances, name, ns, { uid: vmi.metadata?.uid ?? '' });
        // Still there if someone else holds a finalizer on it.
        vmi = await this.client.tryGet<VirtualMachineInstance>(VirtualMachineInstances, name, ns);
      }
      // KubeVirt lets the VM go once its VMI is gone. With foreground
      // deletion the garbage collector (absent here) would then drop its
      // foregroundDeletion finalizer too: the VMI was the only dependent.
      const ours = [VM_FINALIZER, 'foregroundDeletion'];
      if (vmi || !vm.metadata.finalizers?.some((f) => ours.includes(f))) return { vm, vmi };
      const finalizers = vm.metadata.finalizers.filter((f) => !ours.includes(f));
      try {
        await this.client.mergePatch<VirtualMachine>(VirtualMachines, name, ns, { metadata: { finalizers, resourceVersion: vm.metadata.resourceVersion } });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      log.info('VM deleted: finalizer removed');
      return { vm: undefined, vmi: undefined };
    }

    if (!vm.metadata?.finalizers?.includes(VM_FINALIZER)) {
      vm = await this.client.mergePatch<VirtualMachine>(VirtualMachines, name, ns, {
        metadata: { finalizers: [...(vm.metadata?.finalizers ?? []), VM_FINALIZER], resourceVersion: vm.metadata?.resourceVersion },
      });
    }

    const strategy = runStrategyOf(vm);
    const phase = vmi?.status?.phase;
    const stop = strategy === 'Halted' || (vmi !== undefined && ((strategy === 'Always' && isFinal(vmi)) || (strategy === 'RerunOnFailure' && phase === 'Failed')));
    if (vmi && stop) {
      // One already going away (finalizers of others) is waited for; ours go at once.
      if (vmi.metadata?.deletionTimestamp) return { vm, vmi };
      log.info('stopping VMI', { runStrategy: strategy, phase });
      await this.client.delete(VirtualMachineInstances, name, ns, { uid: vmi.metadata?.uid ?? '' });
      return { vm, vmi: undefined };
    }
    if (vmi?.metadata?.deletionTimestamp) return { vm, vmi };
    const start = strategy === 'Always' || strategy === 'RerunOnFailure' || strategy === 'Once';
    if (!vmi && start) vmi = await this.createVMI(vm, log);
    return { vm, vmi };
  }

  private async createVMI(vm: VirtualMachine, log: Logger): Promise<VirtualMachineInstance> {
    const meta = vm.metadata ?? {};
    const tmpl = vm.spec?.template;
    const body: VirtualMachineInstance = {
      metadata: {
        name: meta.name,
        namespace: meta.namespace,
        labels: { ...(tmpl?.metadata?.labels ?? {}) },
        annotations: { ...(tmpl?.metadata?.annotations ?? {}), [VM_GENERATION_ANNOTATION]: String(meta.generation ?? 1) },
        ownerReferences: [
          { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: meta.name ?? '', uid: meta.uid ?? '', controller: true, blockOwnerDeletion: true },
        ],
      },
      spec: structuredClone(tmpl?.spec ?? {}),
    };
    try {
      const created = await this.client.create(VirtualMachineInstances, body);
      log.info('created VMI');
      return created;
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      return this.client.get<VirtualMachineInstance>(VirtualMachineInstances, meta.name ?? '', meta.namespace);
    }
  }

  /** The launcher pod's way to Running: scheduler, kubelet volume mounts, kube-OVN, virt-handler. */
  private async launch(vmi: VirtualMachineInstance, log: Logger): Promise<VirtualMachineInstance> {
    const key = keyOf(vmi);
    const ns = vmi.metadata?.namespace ?? '';
    const old = vmi.status?.conditions;
    const now = new Date().toISOString();
    const conditions: Condition[] = [];
    const waiting = (cond: Omit<Condition, 'lastProbeTime' | 'lastTransitionTime'>): VMIStatus => {
      setCondition(conditions, { type: 'Ready', status: 'False', reason: 'GuestNotRunning', message: 'Guest VM is not reported as running' }, now, old);
      setCondition(conditions, cond, now, old);
      return { phase: 'Scheduling', conditions };
    };

    let status: VMIStatus;
    let node: string | undefined;
    const placed = schedule(this.opts.nodes, vmi.spec ?? {}, (n) => this.vmis.list((v) => v.status?.nodeName === n && v.status.phase === 'Running').length);
    if ('message' in placed) {
      status = waiting({ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: placed.message });
    } else {
      node = placed.node.name;
      let missing: { volume: string; secret: string } | undefined;
      for (const s of secretsOf(vmi.spec?.volumes)) {
        if (!(await this.exists(Secrets, this.secrets, s.secret, ns))) {
          missing = s;
          break;
        }
      }
      const net = missing ? undefined : this.opts.ovn ? await this.launcherAddress(vmi, node, this.opts.ovn, log) : await this.address(vmi, key);
      if (missing) {
        // What kubelet reports for the launcher pod (event FailedMount); KubeVirt surfaces no VMI condition for it.
        status = waiting({
          type: 'Synchronized',
          status: 'False',
          reason: 'FailedMount',
          message: `MountVolume.SetUp failed for volume "${missing.volume}" : secret "${missing.secret}" not found`,
        });
      } else if (typeof net === 'string') {
        // What kubelet reports when the CNI (kube-OVN) cannot give the pod an address.
        status = waiting({ type: 'Synchronized', status: 'False', reason: 'FailedCreatePodSandBox', message: net });
      } else {
        setCondition(conditions, { type: 'Ready', status: 'True' }, now, old);
        const network = vmi.spec?.networks?.find((n) => n.pod !== undefined)?.name ?? 'default';
        status = {
          phase: 'Running',
          nodeName: node,
          interfaces: [
            { name: network, interfaceName: 'eth0', ipAddress: net!.ip, ipAddresses: [net!.ip], mac: net!.mac, infoSource: 'domain, guest-agent', queueCount: 1 },
          ],
          conditions,
          qosClass: 'Burstable',
          migrationTransport: 'Unix',
          guestOSInfo: { id: 'kairos', name: 'Kairos' },
        };
      }
    }

    const next = this.nextStatus(vmi, status);
    if (same(next, vmi.status)) return vmi;
    if (status.phase !== vmi.status?.phase) log.info('VMI phase', { phase: status.phase, node: status.nodeName, ip: status.interfaces?.[0]?.ipAddress, waiting: status.phase === 'Running' ? undefined : conditions.find((c) => c.type !== 'Ready')?.message });
    return this.writeVMIStatus(vmi, next, status.phase === 'Running' ? node : undefined);
  }

  /** The VMI's primary address from its kube-OVN Subnet, or why there is none. */
  private async address(vmi: VirtualMachineInstance, key: string): Promise<{ ip: string; mac: string } | string> {
    const ann = vmi.metadata?.annotations ?? {};
    const sw = ann[LOGICAL_SWITCH_ANNOTATION];
    if (!sw) {
      return `no ${LOGICAL_SWITCH_ANNOTATION} annotation: the VM would land in kube-OVN's default subnet, outside any tenant VPC (the simulation refuses)`;
    }
    const subnet = this.subnets.get(sw) ?? (await this.client.tryGet<Subnet>(Subnets, sw));
    if (!subnet) return `kube-OVN: subnet ${sw} not found`;
    const pool = parsePool(subnet.spec ?? {});
    if (typeof pool === 'string') return `kube-OVN: subnet ${sw} ${pool}`;
    const lease = this.ipam.allocate(sw, pool, key, ann[IP_ADDRESS_ANNOTATION]);
    return typeof lease === 'string' ? `kube-OVN: subnet ${sw} ${lease}` : lease;
  }

  /**
   * OVN mode: the address the real kube-ovn-controller gave the VMI's launcher
   * Pod, with the VM plugged into OVN under it; or why there is none yet.
   */
  private async launcherAddress(vmi: VirtualMachineInstance, node: string, ovn: OvnAttachment, log: Logger): Promise<{ ip: string; mac: string } | string> {
    const sw = vmi.metadata?.annotations?.[LOGICAL_SWITCH_ANNOTATION];
    if (!sw) {
      return `no ${LOGICAL_SWITCH_ANNOTATION} annotation: the VM would land in kube-OVN's default subnet, outside any tenant VPC (the simulation refuses)`;
    }
    if (!(this.subnets.get(sw) ?? (await this.client.tryGet<Subnet>(Subnets, sw)))) return `kube-OVN: subnet ${sw} not found`;
    const ns = vmi.metadata?.namespace ?? '';
    const uid = vmi.metadata?.uid ?? '';
    let pod = this.pods?.list((p) => p.metadata?.namespace === ns && p.metadata.labels?.[CREATED_BY_LABEL] === uid)[0];
    // The cache may lag our own create: a live list before creating another.
    pod ??= (await this.client.list<Pod>(Pods, { namespace: ns, labelSelector: `${CREATED_BY_LABEL}=${uid}` })).items[0];
    if (!pod) {
      pod = await this.client.create<Pod>(Pods, launcherPod(vmi, node));
      log.info('created launcher pod', { pod: pod.metadata?.name });
    }
    const podName = pod.metadata?.name ?? '';
    const alloc = allocationOf(pod);
    if (!alloc) return `kube-OVN has not allocated an address to pod ${ns}/${podName} yet`;
    if (alloc.logicalSwitch !== sw) return `kube-OVN put pod ${ns}/${podName} on logical switch ${alloc.logicalSwitch}, not ${sw}`;

    // kube-ovn-cni's part: the VM's interface, plugged with exactly that address and MAC.
    let plugged = this.plugged.get(uid);
    if (plugged && (plugged.ip !== alloc.ip || plugged.mac !== alloc.mac)) {
      await ovn.unplug(plugged.netns);
      this.plugged.delete(uid);
      plugged = undefined;
    }
    if (!plugged) {
      const port = portOf(pod);
      const netns = await ovn.plug({ name: `vm-${uid.slice(0, 8)}`, pod: port.pod, namespace: port.namespace, ip: alloc.ip, mac: alloc.mac, gateway: alloc.gateway, cidr: alloc.cidr });
      plugged = { key: keyOf(vmi), netns, ip: alloc.ip, mac: alloc.mac, pod: podName };
      this.plugged.set(uid, plugged);
      log.info('VM plugged into OVN', { netns, ip: alloc.ip, mac: alloc.mac, port: `${port.pod}.${port.namespace}` });
    }
    // The kubelet's part: the Pod runs and reports its address.
    if (pod.status?.podIP !== alloc.ip || pod.status.phase !== 'Running') {
      await this.client.patchStatus(Pods, podName, ns, runningStatus(pod, alloc, '127.0.0.1'));
    }
    return { ip: alloc.ip, mac: alloc.mac };
  }

  /** OVN mode: unplugs and deletes the launcher Pods of `key` whose VMI is gone, deleted or final. */
  private async dropLaunchers(key: string, vmi: VirtualMachineInstance | undefined, log: Logger): Promise<void> {
    const live = vmi && !vmi.metadata?.deletionTimestamp && !isFinal(vmi) ? vmi.metadata?.uid : undefined;
    for (const [uid, p] of [...this.plugged]) {
      if (p.key !== key || uid === live) continue;
      await this.opts.ovn?.unplug(p.netns);
      this.plugged.delete(uid);
      log.info('VM unplugged from OVN', { netns: p.netns });
    }
    const [ns, name] = key.split('/');
    for (const pod of this.pods?.list((p) => p.metadata?.namespace === ns && (p.metadata?.ownerReferences ?? []).some((r) => r.kind === 'VirtualMachineInstance' && r.name === name)) ?? []) {
      if (pod.metadata?.labels?.[CREATED_BY_LABEL] === live) continue;
      try {
        // virt-controller deletes the Pod and the kubelet, once the sandbox is
        // torn down (unplugged above), confirms it: grace period 0. Without
        // that a Pod bound to a node stays Terminating for ever.
        await this.client.request({
          method: 'DELETE',
          path: this.client.path(Pods, ns, pod.metadata?.name ?? ''),
          body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid: pod.metadata?.uid ?? '' } },
        });
        log.info('deleted launcher pod', { pod: pod.metadata?.name });
      } catch (e) {
        if (!isNotFound(e) && !isConflict(e)) throw e;
      }
    }
  }

  /**
   * Whether an object exists: the cache answers yes at once; a miss is
   * confirmed live, so an object created just before the VM never shows up
   * as missing (which a test could observe as a spurious condition).
   */
  private async exists<T extends KubeObject>(rt: ResourceType, informer: Informer<T>, name: string, namespace: string): Promise<boolean> {
    if (informer.get(`${namespace}/${name}`)) return true;
    return (await this.client.tryGet(rt, name, namespace)) !== undefined;
  }

  /** `status` over the VMI's current status: fields we do not own are kept, ours replaced. */
  private nextStatus(vmi: VirtualMachineInstance, status: VMIStatus): VMIStatus {
    const { nodeName: _n, interfaces: _i, conditions: _c, reason: _r, guestOSInfo: _g, ...others } = vmi.status ?? {};
    const next: VMIStatus = { ...others, ...status };
    const phase = status.phase ?? '';
    const transitions = [...(vmi.status?.phaseTransitionTimestamps ?? [])];
    if (phase && vmi.status?.phase !== phase) transitions.push({ phase, phaseTransitionTimestamp: new Date().toISOString() });
    next.phaseTransitionTimestamps = transitions;
    return next;
  }

  private async applyFailure(vmi: VirtualMachineInstance, reason: string, message: string): Promise<VirtualMachineInstance> {
    const now = new Date().toISOString();
    const conditions: Condition[] = [];
    setCondition(conditions, { type: 'Ready', status: 'False', reason, message }, now, vmi.status?.conditions);
    const next = this.nextStatus(vmi, { phase: 'Failed', reason, conditions });
    // The interfaces stay as last reported, like KubeVirt's.
    if (vmi.status?.interfaces) next.interfaces = vmi.status.interfaces;
    if (vmi.status?.nodeName) next.nodeName = vmi.status.nodeName;
    return this.writeVMIStatus(vmi, next, undefined);
  }

  /** Replaces the VMI's status (and sets the node label when `node`), honouring the CRD's status subresource. */
  private async writeVMIStatus(vmi: VirtualMachineInstance, status: VMIStatus, node: string | undefined): Promise<VirtualMachineInstance> {
    const name = vmi.metadata?.name ?? '';
    const ns = vmi.metadata?.namespace;
    const labelOps: JsonPatchOp[] = [];
    if (node && vmi.metadata?.labels?.[NODE_NAME_LABEL] !== node) {
      labelOps.push(
        vmi.metadata?.labels
          ? { op: 'add', path: `/metadata/labels/${NODE_NAME_LABEL.replace(/~/g, '~0').replace(/\//g, '~1')}`, value: node }
          : { op: 'add', path: '/metadata/labels', value: { [NODE_NAME_LABEL]: node } },
      );
    }
    const statusOp: JsonPatchOp = { op: 'add', path: '/status', value: status };
    if (this.statusSubresource.vmi) {
      let out = await this.client.jsonPatch<VirtualMachineInstance>(VirtualMachineInstances, name, ns, [statusOp], { subresource: 'status' });
      if (labelOps.length > 0) out = await this.client.jsonPatch<VirtualMachineInstance>(VirtualMachineInstances, name, ns, labelOps);
      return out;
    }
    // No status subresource (KubeVirt's VMI CRD): status is written with the object itself.
    return this.client.jsonPatch<VirtualMachineInstance>(VirtualMachineInstances, name, ns, [...labelOps, statusOp]);
  }

  /** virt-controller's VM status: created, ready, printableStatus, runStrategy, conditions. */
  private async writeVMStatus(vm: VirtualMachine, vmi: VirtualMachineInstance | undefined): Promise<void> {
    const strategy = runStrategyOf(vm);
    const now = new Date().toISOString();
    const old = vm.status?.conditions;
    const vmiConds = vmi?.status?.conditions ?? [];
    const ready = condition(vmiConds, 'Ready');
    const conditions: Condition[] = [];
    if (!vmi) setCondition(conditions, { type: 'Ready', status: 'False', reason: 'VMINotExists', message: 'VMI does not exist' }, now, old);
    else if (!ready) setCondition(conditions, { type: 'Ready', status: 'False', reason: 'VMIConditionMissing', message: 'VMI is missing the Ready condition' }, now, old);
    else conditions.push({ ...ready });
    // Every other VMI condition is mirrored onto the VM.
    for (const c of vmiConds) if (c.type !== 'Ready') conditions.push({ ...c });

    const phase = vmi?.status?.phase;
    const unschedulable = vmiConds.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable');
    let printableStatus: string;
    if (vm.metadata?.deletionTimestamp) printableStatus = 'Terminating';
    else if (vmi && !isFinal(vmi) && (vmi.metadata?.deletionTimestamp || strategy === 'Halted')) printableStatus = 'Stopping';
    else if (phase === 'Running') printableStatus = 'Running';
    else if (unschedulable) printableStatus = 'ErrorUnschedulable';
    else if (vmi && !isFinal(vmi)) printableStatus = 'Starting';
    else printableStatus = 'Stopped';

    const generation = vmi?.metadata?.annotations?.[VM_GENERATION_ANNOTATION];
    const status: NonNullable<VirtualMachine['status']> & Record<string, unknown> = {
      ...(vm.status ?? {}),
      created: vmi !== undefined,
      ready: phase === 'Running' && ready?.status === 'True',
      printableStatus,
      runStrategy: strategy,
      conditions,
      desiredGeneration: vm.metadata?.generation,
      ...(generation ? { observedGeneration: Number(generation) } : {}),
    };
    if (same(status, vm.status)) return;
    const op: JsonPatchOp = { op: 'add', path: '/status', value: status };
    try {
      await this.client.jsonPatch(VirtualMachines, vm.metadata?.name ?? '', vm.metadata?.namespace, [op], this.statusSubresource.vm ? { subresource: 'status' } : {});
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** The nodes as they appear in a KubeVirt cluster (virt-handler marks them schedulable). */
  private async registerNodes(): Promise<void> {
    await Promise.all(
      this.opts.nodes.map(async (n) => {
        const labels = { 'kubernetes.io/hostname': n.name, 'kubevirt.io/schedulable': 'true', ...n.labels };
        await this.client.apply(Nodes, { metadata: { name: n.name, labels } }, { force: true });
        await this.client.apply(
          Nodes,
          { metadata: { name: n.name }, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'simulated by test/sim' }] } } as KubeObject,
          { force: true, subresource: 'status' },
        );
      }),
    );
  }
}

/** Starts the hypervisor once its informers have synced. Needs the KubeVirt and kube-OVN CRDs installed. */
export async function startHypervisor(opts: HypervisorOptions): Promise<Hypervisor> {
  const hv = new SimHypervisor(opts);
  try {
    await hv.start();
  } catch (e) {
    await hv.stop().catch(() => undefined);
    throw e;
  }
  return hv;
}
