// KvmMachine → a KubeVirt VirtualMachine that joins the tenant cluster.
//
// Readiness without SSH: a KvmMachine is provisioned when its VMI is Running
// and Ready AND a Node with our providerID has registered in the tenant
// cluster. A registered Node proves the guest booted, read its bootstrap data
// and ran kubeadm join; the qemu guest agent would only prove the guest runs.
//
// The providerID (kubevirt://<namespace>/<name>) is known before the VM
// exists. It reaches the guest in the userdata, as the file
// /etc/ironplane/provider-id, from which the Kairos bootstrap sets kubelet's
// --provider-id; CAPI then links Machine and Node by it.
//
// The VM and the `<machine>-userdata` Secret have names anyone with write
// access to the namespace could take first. Neither is adopted, written or
// deleted unless it has a controller ownerReference to this KvmMachine (by
// uid); otherwise a condition and a Warning event say which object is in the
// way, and deletion leaves it where it is.
import type { KvmCluster } from '../api/generated/ironplane/v1alpha1/kvmcluster.js';
import type { KvmMachine } from '../api/generated/ironplane/v1alpha1/kvmmachine.js';
import { CAPI_SECRET_TYPE, CLUSTER_NAME_LABEL, CONTROL_PLANE_LABEL, pausedReason, Reasons, type Cluster, type Machine } from '../capi/contract.js';
import { TenantNotReady, type Secret, type TenantClients } from '../capi/tenant.js';
import { machineOwners } from '../capi/owners.js';
import { bootstrapUserData } from '../capi/userdata.js';
import { createNew, notControlledBy } from '../capi/ownership.js';
import type { Client } from '../kit/client.js';
import { jsonEqual } from '../kit/patch.js';
import type { Result } from '../kit/controller.js';
import type { EventRecorder } from '../kit/events.js';
import type { Informer } from '../kit/informer.js';
import { objectReconciler, type Scope } from '../kit/reconciler.js';
import { Secrets, type KubeObject } from '../kit/types.js';
import { API_VERSION, hostnameFor, KVM_MACHINE_FINALIZER, KVM_MACHINE_LABEL, providerIDFor, userDataSecretName } from './names.js';
import { addressesFrom, specProblems, renderVirtualMachine, type VirtualMachine, type VirtualMachineInstance } from './render.js';
import { KvmMachines, Nodes, VirtualMachines } from './resources.js';

export const Conditions = {
  /** The VM exists and its VMI is Running and Ready. */
  VirtualMachineReady: 'VirtualMachineReady',
  /** A Node with our providerID registered in the tenant cluster. */
  BootstrapSucceeded: 'BootstrapSucceeded',
} as const;

/**
 * How often the tenant cluster is asked whether the Node has registered.
 * Tenant clusters are not watched (a watch per tenant does not scale to a
 * fleet); a Node registers once per machine, so a short poll bounds the delay.
 */
export const NODE_POLL_INTERVAL_MS = 10_000;

export interface KvmMachineCaches {
  kvmMachines: Informer<KvmMachine>;
  machines: Informer<Machine>;
  clusters: Informer<Cluster>;
  kvmClusters: Informer<KvmCluster>;
  vms: Informer<VirtualMachine>;
  vmis: Informer<VirtualMachineInstance>;
}

interface Ctx {
  machine: Machine;
  cluster: Cluster;
}

interface Node extends KubeObject {
  spec?: { providerID?: string };
}

export const MachineReasons = {
  /** A VirtualMachine of this KvmMachine's name exists and is not controlled by it. */
  VirtualMachineNotOwned: 'VirtualMachineNotOwned',
  /** The `<machine>-userdata` Secret exists and is not controlled by this KvmMachine. */
  UserDataSecretNotOwned: 'UserDataSecretNotOwned',
  /** A spec the CRD schema could not refuse (e.g. a PVC source in another namespace). */
  InvalidSpec: 'InvalidSpec',
} as const;

/** Run strategies under which KubeVirt replaces a failed VMI by itself: a failure is not terminal. */
const RESTARTING_RUN_STRATEGIES = new Set(['Always', 'RerunOnFailure']);

/**
 * A bootstrap Secret named by the Machine but not there yet is an anomaly
 * (CAPI sets the name once the Secret exists); we do not watch Secrets, so
 * look again after this long.
 */
export const BOOTSTRAP_SECRET_RETRY_MS = 10_000;
/** VM statuses that need a human (or a MachineHealthCheck) to act. */
const TERMINAL_VM_STATUSES = new Set(['ErrImagePull', 'ImagePullBackOff', 'ErrorUnschedulable', 'CrashLoopBackOff', 'ErrorDataVolumeNotFound', 'DataVolumeError', 'ErrorPvcNotFound']);

export function kvmMachineReconciler(deps: { client: Client; caches: KvmMachineCaches; tenants: TenantClients; recorder?: EventRecorder }) {
  const { client, caches, tenants } = deps;

  /** A Warning event, once per change of what the condition of that type says. */
  const warnOnce = (scope: Scope<KvmMachine, Ctx>, type: string, reason: string, message: string) => {
    const before = scope.original.status?.conditions?.find((c) => c.type === type);
    if (before?.reason !== reason || before.message !== message) void deps.recorder?.event(scope.obj, 'Warning', reason, message);
  };
  const owner = (m: KvmMachine) => ({ kind: 'KvmMachine', uid: m.metadata.uid! });

  const fail = (scope: Scope<KvmMachine, Ctx>, reason: string, message: string) => {
    // The v1beta1 failure fields are what existing MachineHealthChecks and
    // `clusterctl describe` read; the condition is the v1beta2 signal.
    const first = !scope.original.status?.deprecated?.v1beta1?.failureReason;
    scope.obj.status = { ...scope.obj.status, deprecated: { v1beta1: { failureReason: reason, failureMessage: message } } };
    scope.setCondition({ type: Conditions.VirtualMachineReady, status: false, reason, message });
    if (first) void deps.recorder?.event(scope.obj, 'Warning', reason, message);
  };

  return objectReconciler<KvmMachine, Ctx>({
    client,
    resource: KvmMachines,
    cache: caches.kvmMachines,
    finalizer: KVM_MACHINE_FINALIZER,
    ownedConditions: [Conditions.VirtualMachineReady, Conditions.BootstrapSucceeded],

    prepare: async (scope) => machineOwners(scope, caches, Conditions.VirtualMachineReady, 'KvmMachine'),

    paused: (scope) => pausedReason(scope.ctx.cluster, scope.obj),

    async normal(scope): Promise<Result | void> {
      const m = scope.obj;
      const { machine, cluster } = scope.ctx as Ctx;
      const ns = m.metadata.namespace!;
      const name = m.metadata.name!;
      const clusterName = cluster.metadata.name!;
      const providerID = providerIDFor(ns, name);
      m.spec = { ...m.spec!, providerID };
      m.metadata.labels = { ...m.metadata.labels, [CLUSTER_NAME_LABEL]: clusterName };
      if (machine.spec.failureDomain) m.status = { ...m.status, failureDomain: machine.spec.failureDomain };

      const problems = specProblems(m);
      if (problems.length) {
        const message = problems.join('; ');
        warnOnce(scope, Conditions.VirtualMachineReady, MachineReasons.InvalidSpec, message);
        scope.setCondition({ type: Conditions.VirtualMachineReady, status: false, reason: MachineReasons.InvalidSpec, message });
        return;
      }

      // 1. The tenant network must exist before a VM can attach to it.
      const infraRef = cluster.spec?.infrastructureRef;
      const kvmCluster = infraRef?.kind === 'KvmCluster' ? caches.kvmClusters.get(`${ns}/${infraRef.name}`) : undefined;
      if (!kvmCluster?.status?.initialization?.provisioned || !kvmCluster.status.network?.subnet) {
        scope.setCondition({
          type: Conditions.VirtualMachineReady,
          status: false,
          reason: Reasons.WaitingForClusterInfrastructure,
          message: infraRef ? `waiting for ${infraRef.kind} ${infraRef.name} to provision the tenant network` : `Cluster ${clusterName} has no infrastructureRef yet`,
        });
        return;
      }

      // 2. Bootstrap data, copied into our own Secret with the providerID added.
      let vm = caches.vms.get(`${ns}/${name}`);
      if (!vm) {
        const dataSecretName = machine.spec.bootstrap.dataSecretName;
        if (!dataSecretName) {
          scope.setCondition({ type: Conditions.VirtualMachineReady, status: false, reason: Reasons.WaitingForBootstrapData, message: 'waiting for the bootstrap provider to set Machine spec.bootstrap.dataSecretName' });
          return;
        }
        // The cache holds only VMs with our label: one without it may hold the name.
        vm = await client.tryGet<VirtualMachine>(VirtualMachines, name, ns);
      }
      if (!vm) {
        const ready = await ensureUserData(scope, machine.spec.bootstrap.dataSecretName!, providerID, clusterName);
        if (ready === 'missing') return { requeueAfterMs: BOOTSTRAP_SECRET_RETRY_MS };
        if (ready !== 'ok') return;
        // 3. The VM.
        const rendered = renderVirtualMachine({
          kvmMachine: m,
          clusterName,
          subnet: kvmCluster.status.network.subnet,
          zoneLabel: kvmCluster.spec?.failureDomains?.zoneLabel ?? 'topology.kubernetes.io/zone',
          controlPlane: machine.metadata.labels?.[CONTROL_PLANE_LABEL] !== undefined,
          ...(machine.spec.failureDomain ? { failureDomain: machine.spec.failureDomain } : {}),
          ...(kvmCluster.spec?.failureDomains?.nodeSelector ? { nodeSelector: kvmCluster.spec.failureDomains.nodeSelector } : {}),
        });
        await createNew(client, VirtualMachines, rendered);
        void deps.recorder?.event(m, 'Normal', 'VirtualMachineCreated', `created VirtualMachine ${name}`);
        m.status = { ...m.status, virtualMachine: name };
        scope.setCondition({ type: Conditions.VirtualMachineReady, status: false, reason: 'VirtualMachineCreated', message: `VirtualMachine ${name} created, waiting for it to start` });
        return;
      }
      const notOurs = notControlledBy(vm, owner(m));
      if (notOurs) {
        const message = `VirtualMachine ${ns}/${name} exists and does not belong to this KvmMachine: ${notOurs}; it is left untouched`;
        warnOnce(scope, Conditions.VirtualMachineReady, MachineReasons.VirtualMachineNotOwned, message);
        scope.setCondition({ type: Conditions.VirtualMachineReady, status: false, reason: MachineReasons.VirtualMachineNotOwned, message });
        return;
      }
      m.status = { ...m.status, virtualMachine: name };

      // 4. Is it running?
      const vmi = caches.vmis.get(`${ns}/${name}`);
      const printable = vm.status?.printableStatus;
      if (printable && TERMINAL_VM_STATUSES.has(printable)) {
        const why = vm.status?.conditions?.find((c) => c.status === 'False' && c.message)?.message;
        fail(scope, 'VirtualMachineFailed', `VirtualMachine ${name} is ${printable}${why ? `: ${why}` : ''}`);
        return;
      }
      if (vmi?.status?.phase === 'Failed' && !RESTARTING_RUN_STRATEGIES.has(m.spec?.runStrategy ?? 'Always')) {
        const why = vmi.status?.conditions?.find((c) => c.status === 'False' && c.message)?.message;
        fail(scope, 'VirtualMachineFailed', `VirtualMachineInstance ${name} failed${why ? `: ${why}` : ''}`);
        return;
      }
      const vmiReady = vmi?.status?.phase === 'Running' && vmi.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      if (!vmi || !vmiReady) {
        const blocked = vmi?.status?.conditions?.find((c) => c.status === 'False' && c.message);
        scope.setCondition({
          type: Conditions.VirtualMachineReady,
          status: false,
          reason: blocked?.reason ?? 'WaitingForVirtualMachine',
          message: blocked?.message ?? `waiting for VirtualMachine ${name} to run${printable ? ` (${printable})` : ''}`,
        });
        return;
      }
      m.status = { ...m.status, addresses: addressesFrom(vmi) };
      scope.setCondition({ type: Conditions.VirtualMachineReady, status: true, reason: 'Running', message: `running on ${vmi.status?.nodeName ?? 'a node'}` });

      // 5. Has the guest joined the tenant cluster?
      if (m.status.initialization?.provisioned) return;
      const hostname = hostnameFor(name);
      let node: Node | undefined;
      try {
        const tenant = await tenants.get(ns, clusterName);
        node = await tenant.tryGet<Node>(Nodes, hostname);
      } catch (e) {
        const reason = e instanceof TenantNotReady ? e.reason : 'TenantUnreachable';
        scope.setCondition({ type: Conditions.BootstrapSucceeded, status: 'Unknown', reason, message: (e as Error).message });
        return { requeueAfterMs: NODE_POLL_INTERVAL_MS };
      }
      if (!node) {
        scope.setCondition({ type: Conditions.BootstrapSucceeded, status: false, reason: 'WaitingForNode', message: `waiting for Node ${hostname} to register in the tenant cluster` });
        return { requeueAfterMs: NODE_POLL_INTERVAL_MS };
      }
      if (node.spec?.providerID !== providerID) {
        scope.setCondition({
          type: Conditions.BootstrapSucceeded,
          status: false,
          reason: 'ProviderIDMismatch',
          message: `Node ${hostname} has providerID "${node.spec?.providerID ?? ''}", expected "${providerID}": the guest did not apply ${'/etc/ironplane/provider-id'}`,
        });
        return { requeueAfterMs: NODE_POLL_INTERVAL_MS };
      }
      scope.setCondition({ type: Conditions.BootstrapSucceeded, status: true, reason: 'NodeJoined', message: `Node ${hostname} joined the tenant cluster` });
      m.status = { ...m.status, initialization: { provisioned: true } };
      void deps.recorder?.event(m, 'Normal', 'Provisioned', `Node ${hostname} joined cluster ${clusterName}`);
    },

    async delete(scope) {
      const m = scope.obj;
      const ns = m.metadata.namespace!;
      const name = m.metadata.name!;
      const vm = caches.vms.get(`${ns}/${name}`) ?? (await client.tryGet<VirtualMachine>(VirtualMachines, name, ns));
      const notOurs = vm && notControlledBy(vm, owner(m));
      if (vm && !notOurs) {
        // The uid precondition: a VM that replaced ours since it was read is not deleted.
        if (!vm.metadata?.deletionTimestamp) await client.delete(VirtualMachines, name, ns, { propagationPolicy: 'Foreground', uid: vm.metadata!.uid! });
        scope.setCondition({ type: Conditions.VirtualMachineReady, status: false, reason: Reasons.Deleting, message: `waiting for VirtualMachine ${name} to be deleted` });
        return;
      }
      if (notOurs) void deps.recorder?.event(m, 'Warning', MachineReasons.VirtualMachineNotOwned, `VirtualMachine ${ns}/${name} does not belong to this KvmMachine: ${notOurs}; it is left in place`);
      // Our VM's instance, still stopping; the instance of a VM that is not ours is not waited for.
      const vmi = caches.vmis.get(`${ns}/${name}`);
      if (vmi && !(vm && vmi.metadata?.ownerReferences?.some((r) => r.uid === vm.metadata?.uid))) {
        scope.setCondition({ type: Conditions.VirtualMachineReady, status: false, reason: Reasons.Deleting, message: `waiting for VirtualMachineInstance ${name} to stop` });
        return;
      }
      const secretName = userDataSecretName(name);
      const secret = await client.tryGet<Secret>(Secrets, secretName, ns);
      if (secret) {
        const why = notControlledBy(secret, owner(m));
        if (why) void deps.recorder?.event(m, 'Warning', MachineReasons.UserDataSecretNotOwned, `Secret ${ns}/${secretName} does not belong to this KvmMachine: ${why}; it is left in place`);
        else await client.delete(Secrets, secretName, ns, { uid: secret.metadata!.uid! });
      }
      scope.removeFinalizer();
    },
  });

  /**
   * Writes `<name>-userdata`; otherwise sets a condition saying why the
   * bootstrap data is not usable (yet), or that a Secret of that name is not ours.
   */
  async function ensureUserData(scope: Scope<KvmMachine, Ctx>, dataSecretName: string, providerID: string, clusterName: string): Promise<'ok' | 'missing' | 'invalid' | 'notOwned'> {
    const m = scope.obj;
    const ns = m.metadata.namespace!;
    const data = await bootstrapUserData(client, ns, dataSecretName, providerID);
    if (!data.ok) {
      scope.setCondition({ type: Conditions.VirtualMachineReady, status: false, reason: data.missing ? Reasons.WaitingForBootstrapData : 'BootstrapDataInvalid', message: data.message });
      return data.missing ? 'missing' : 'invalid';
    }
    const secret: Secret = {
      metadata: {
        name: userDataSecretName(m.metadata.name!),
        namespace: ns,
        labels: { [CLUSTER_NAME_LABEL]: clusterName, [KVM_MACHINE_LABEL]: m.metadata.name! },
        ownerReferences: [{ apiVersion: API_VERSION, kind: 'KvmMachine', name: m.metadata.name!, uid: m.metadata.uid!, controller: true, blockOwnerDeletion: true }],
      },
      type: CAPI_SECRET_TYPE,
      data: { userdata: Buffer.from(data.userdata).toString('base64') },
    };
    const name = secret.metadata!.name!;
    const live = await client.tryGet<Secret>(Secrets, name, ns);
    if (!live) {
      await createNew(client, Secrets, secret);
      return 'ok';
    }
    const why = notControlledBy(live, owner(m));
    if (why) {
      const message = `Secret ${ns}/${name} exists and does not belong to this KvmMachine: ${why}; it is left untouched`;
      warnOnce(scope, Conditions.VirtualMachineReady, MachineReasons.UserDataSecretNotOwned, message);
      scope.setCondition({ type: Conditions.VirtualMachineReady, status: false, reason: MachineReasons.UserDataSecretNotOwned, message });
      return 'notOwned';
    }
    // Ours, left by a run that died mid-way: converge it, this very object only (its resourceVersion).
    const labelsAgree = Object.entries(secret.metadata!.labels!).every(([k, v]) => live.metadata?.labels?.[k] === v);
    if (!labelsAgree || live.type !== secret.type || !jsonEqual(live.data, secret.data)) {
      await client.apply(Secrets, { ...secret, metadata: { ...secret.metadata, resourceVersion: live.metadata!.resourceVersion! } }, { force: true });
    }
    return 'ok';
  }
}
