// MetalMachine → a claimed and provisioned BareMetalHost.
//
// Claiming is optimistic concurrency on the host: the consumerRef is written
// with a merge patch that carries the resourceVersion the choice was made on,
// so the apiserver refuses it (409) when anything, another machine's claim
// included, changed the host meanwhile. The loser picks another host. A claim
// this process made but its cache does not show yet is remembered (Claims),
// so that neither this machine claims a second host nor another machine
// tries the same one.
//
// Order of writes, each idempotent, so a manager killed between any two
// leaves nothing behind that the next run does not find:
//   claim (consumerRef) → data Secrets next to the host → image, data refs and
//   online on the host → wait for BMO to provision.
// Deletion runs backwards: clear the image (BMO deprovisions and cleans) →
// wait for available → release (consumerRef and data refs cleared) → delete
// the Secrets → drop the finalizer.
//
// Nothing that is not provably this machine's is written or deleted. A host
// is patched only while a fresh read shows its consumerRef naming this
// MetalMachine (uid included), with that read's resourceVersion; a host
// claimed by anyone else is never given data, deprovisioned or released.
// The data Secrets may sit in a pool namespace others write to: each carries
// this MetalMachine's name, namespace and uid as labels, and one of our
// names without them is neither overwritten nor deleted (HostProvisioned
// False, DataSecretNotOwned, and a Warning event).
import type { HostDeployPolicy } from '../api/generated/metal3/v1alpha1/hostdeploypolicy.js';
import type { MetalCluster } from '../api/generated/ironplane/v1alpha1/metalcluster.js';
import type { MetalMachine } from '../api/generated/ironplane/v1alpha1/metalmachine.js';
import type { MetalMachineTemplate } from '../api/generated/ironplane/v1alpha1/metalmachinetemplate.js';
import { CAPI_SECRET_TYPE, CLUSTER_NAME_LABEL, hostnameFor, pausedReason, Reasons, type Cluster, type Machine } from '../capi/contract.js';
import type { Secret } from '../capi/tenant.js';
import { machineOwners } from '../capi/owners.js';
import { bootstrapUserData } from '../capi/userdata.js';
import { createNew, notMarkedFor, ownerLabels, type Owner } from '../capi/ownership.js';
import { isConflict, isNotFound, type Client } from '../kit/client.js';
import type { Result } from '../kit/controller.js';
import type { EventRecorder } from '../kit/events.js';
import type { Informer } from '../kit/informer.js';
import { jsonEqual } from '../kit/patch.js';
import { objectReconciler, type Scope } from '../kit/reconciler.js';
import { Secrets, type KubeObject } from '../kit/types.js';
import { candidates, candidatesWithReleased, hostKey, isConsumedBy, noHostMessage, resolvePools, slimHost, type Host } from './hosts.js';
import {
  API_VERSION,
  CLONED_FROM_GROUPKIND_ANNOTATION,
  CLONED_FROM_NAME_ANNOTATION,
  dataSecretName,
  DEFAULT_ZONE_LABEL,
  METAL_MACHINE_FINALIZER,
  METAL_MACHINE_OWNER_LABELS,
  NODE_REUSE_LABEL,
  nodeReuseValue,
  providerIDFor,
  type DataKind,
} from './names.js';
import { addressesFrom, desiredHostSpec, NetworkDataError, renderMetaData, renderNetworkData, type DesiredHostSpec } from './render.js';
import { BareMetalHosts, MetalMachines } from './resources.js';

export const Conditions = {
  /** A BareMetalHost is claimed for this machine. */
  HostClaimed: 'HostClaimed',
  /** The claimed host is provisioned with the machine's image. */
  HostProvisioned: 'HostProvisioned',
} as const;

/**
 * A bootstrap Secret named by the Machine but not there yet is an anomaly
 * (CAPI sets the name once the Secret exists); Secrets are not watched, so
 * look again after this long.
 */
export const BOOTSTRAP_SECRET_RETRY_MS = 10_000;

/**
 * A data Secret name held by someone else is looked at again after this
 * long: Secrets are not watched, and its removal by an operator should not
 * need a restart.
 */
export const NAME_TAKEN_RETRY_MS = 60_000;

export const MachineReasons = {
  /** A data Secret of this machine's name exists next to the host and is not this MetalMachine's. */
  DataSecretNotOwned: 'DataSecretNotOwned',
  /** The host the status names is gone or claimed by someone else. */
  HostLost: 'HostLost',
} as const;

/** How many candidate hosts one reconcile tries before backing off, when others keep winning the race. */
const CLAIM_ATTEMPTS = 5;

const BMH_API_VERSION = 'metal3.io/v1alpha1';

/** Host states in which the image is still on the disk or being written or wiped. */
const BUSY_STATES: ReadonlySet<string> = new Set(['provisioning', 'provisioned', 'deprovisioning', 'externally provisioned', 'powering off before delete']);

/**
 * Claims this process made that its host cache may not show yet: machine key
 * → host key. An entry goes when the cache shows the claim, or the machine is
 * gone; a live GET settles any doubt in between.
 */
export class Claims {
  private readonly byMachine = new Map<string, string>();

  record(machine: string, host: string): void {
    this.byMachine.set(machine, host);
  }

  hostOf(machine: string): string | undefined {
    return this.byMachine.get(machine);
  }

  forget(machine: string): void {
    this.byMachine.delete(machine);
  }

  /** Hosts claimed in flight, to keep other machines off them. */
  taken(): ReadonlySet<string> {
    return new Set(this.byMachine.values());
  }
}

export interface MetalMachineCaches {
  metalMachines: Informer<MetalMachine>;
  machines: Informer<Machine>;
  clusters: Informer<Cluster>;
  metalClusters: Informer<MetalCluster>;
  templates: Informer<MetalMachineTemplate>;
  hosts: Informer<Host>;
  policies: Informer<HostDeployPolicy>;
  namespaces: Informer<KubeObject>;
}

interface Ctx {
  machine: Machine;
  cluster: Cluster;
}

const pascal = (s: string) =>
  s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('') || 'Unknown';

/** The MetalMachine as the owner its data Secrets are marked for. */
export function ownerOf(m: MetalMachine): Owner {
  return { kind: 'MetalMachine', namespace: m.metadata.namespace!, name: m.metadata.name!, uid: m.metadata.uid! };
}

/** True when the host spec already carries everything desired. */
function hostHas(host: Host, want: DesiredHostSpec): boolean {
  const s = host.spec ?? {};
  return (
    s.online === true &&
    jsonEqual(s.image ?? null, want.image) &&
    jsonEqual(s.userData ?? null, want.userData) &&
    jsonEqual(s.metaData ?? null, want.metaData) &&
    jsonEqual(s.networkData ?? null, want.networkData) &&
    s.automatedCleaningMode === want.automatedCleaningMode
  );
}

export interface ClaimMetrics {
  /** One claim attempt: won, or lost to a concurrent change of the host (409). */
  attempt(result: 'claimed' | 'conflict'): void;
}

export function metalMachineReconciler(deps: { client: Client; caches: MetalMachineCaches; claims: Claims; recorder?: EventRecorder; metrics?: ClaimMetrics }) {
  const { client, caches, claims } = deps;

  const fail = (scope: Scope<MetalMachine, Ctx>, type: string, reason: string, message: string) => {
    const first = scope.original.status?.deprecated?.v1beta1?.failureReason !== reason;
    scope.obj.status = { ...scope.obj.status, deprecated: { v1beta1: { failureReason: reason, failureMessage: message } } };
    scope.setCondition({ type, status: false, reason, message });
    if (first) void deps.recorder?.event(scope.obj, 'Warning', reason, message);
  };

  /**
   * The host this machine holds: the one its status names, a claim made by
   * this process the cache does not show yet, or one whose consumerRef names
   * it (a claim whose status write was lost). 'lost' when the status names a
   * host that is gone or no longer ours.
   */
  async function findHost(m: MetalMachine): Promise<Host | 'lost' | undefined> {
    const ns = m.metadata.namespace!;
    const name = m.metadata.name!;
    const uid = m.metadata.uid;
    const key = `${ns}/${name}`;
    const pending = claims.hostOf(key);
    const named = m.status?.host ? `${m.status.host.namespace}/${m.status.host.name}` : pending;
    if (named) {
      const cached = caches.hosts.get(named);
      if (cached && isConsumedBy(cached, ns, name, uid)) {
        claims.forget(key);
        return cached;
      }
      // The cache may lag behind our own claim: ask the apiserver.
      const [hns, hname] = named.split('/') as [string, string];
      const live = await client.tryGet<Host>(BareMetalHosts, hname, hns);
      if (live && isConsumedBy(live, ns, name, uid)) return slimHost(live);
      claims.forget(key);
      if (m.status?.host) return 'lost';
    }
    return caches.hosts.list((h) => isConsumedBy(h, ns, name, uid))[0];
  }

  /**
   * Merge-patches the host only while it is this machine's: a fresh read
   * must show the consumerRef naming this MetalMachine, and the patch
   * carries that read's resourceVersion, so a release or another claim in
   * between makes it fail (409) instead of landing on someone else's host.
   * False when the host is gone or no longer this machine's.
   */
  async function patchOwnHost(m: MetalMachine, host: Host, patch: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> }): Promise<boolean> {
    const hostNs = host.metadata!.namespace!;
    const hostName = host.metadata!.name!;
    const live = await client.tryGet<Host>(BareMetalHosts, hostName, hostNs);
    if (!live || !isConsumedBy(live, m.metadata.namespace!, m.metadata.name!, m.metadata.uid)) return false;
    await client.mergePatch(BareMetalHosts, hostName, hostNs, { ...patch, metadata: { ...patch.metadata, resourceVersion: live.metadata!.resourceVersion } });
    return true;
  }

  return objectReconciler<MetalMachine, Ctx>({
    client,
    resource: MetalMachines,
    cache: caches.metalMachines,
    finalizer: METAL_MACHINE_FINALIZER,
    ownedConditions: [Conditions.HostClaimed, Conditions.HostProvisioned],

    prepare: async (scope) => machineOwners(scope, caches, Conditions.HostClaimed, 'MetalMachine'),

    paused: (scope) => pausedReason(scope.ctx.cluster, scope.obj),

    async normal(scope): Promise<Result | void> {
      const m = scope.obj;
      const { machine, cluster } = scope.ctx as Ctx;
      const ns = m.metadata.namespace!;
      const name = m.metadata.name!;
      const clusterName = cluster.metadata.name!;
      m.metadata.labels = { ...m.metadata.labels, [CLUSTER_NAME_LABEL]: clusterName };

      // 1. The cluster's pools must be resolved before a host can be chosen from them.
      const infraRef = cluster.spec?.infrastructureRef;
      const metalCluster = infraRef?.kind === 'MetalCluster' ? caches.metalClusters.get(`${ns}/${infraRef.name}`) : undefined;
      if (!metalCluster?.status?.initialization?.provisioned) {
        scope.setCondition({
          type: Conditions.HostClaimed,
          status: false,
          reason: Reasons.WaitingForClusterInfrastructure,
          message: infraRef ? `waiting for ${infraRef.kind} ${infraRef.name} to be provisioned` : `Cluster ${clusterName} has no infrastructureRef yet`,
        });
        return;
      }
      const zoneLabel = metalCluster.spec?.failureDomains?.zoneLabel ?? DEFAULT_ZONE_LABEL;

      // 2. Find or claim a host.
      let host: Host | undefined;
      const found = await findHost(m);
      if (found === 'lost') {
        fail(scope, Conditions.HostClaimed, MachineReasons.HostLost, `BareMetalHost ${m.status!.host!.namespace}/${m.status!.host!.name} was deleted or released by someone else; delete this Machine to replace it`);
        return;
      }
      host = found;
      if (!host) {
        // Hold no host idle: claim only once usable bootstrap data exists.
        const dataSecret = machine.spec.bootstrap.dataSecretName;
        if (!dataSecret) {
          scope.setCondition({ type: Conditions.HostClaimed, status: false, reason: Reasons.WaitingForBootstrapData, message: 'waiting for the bootstrap provider to set Machine spec.bootstrap.dataSecretName' });
          return;
        }
        const probe = await bootstrapUserData(client, ns, dataSecret, '');
        if (!probe.ok) {
          scope.setCondition({ type: Conditions.HostClaimed, status: false, reason: probe.missing ? Reasons.WaitingForBootstrapData : 'BootstrapDataInvalid', message: probe.message });
          return probe.missing ? { requeueAfterMs: BOOTSTRAP_SECRET_RETRY_MS } : undefined;
        }
        // Grants are evaluated here, from the policies themselves, not taken
        // from the MetalCluster's status, which whoever may edit it could write.
        const tenant = caches.namespaces.get(ns);
        const pools = (metalCluster.spec?.hostPools ?? []).map((p) => p.namespace);
        const { namespaces } = resolvePools({ name: ns, labels: tenant?.metadata?.labels ?? {} }, pools, caches.policies.list());
        const claimed = await claim(scope, namespaces, zoneLabel);
        if (claimed === 'none') return; // the condition says why; a host change wakes us
        host = claimed;
      }
      const hostNs = host.metadata!.namespace!;
      const hostName = host.metadata!.name!;
      const providerID = providerIDFor(hostNs, hostName, name);
      if (!m.spec!.providerID) m.spec = { ...m.spec!, providerID };
      const zone = host.metadata?.labels?.[zoneLabel];
      m.status = {
        ...m.status,
        host: { name: hostName, namespace: hostNs },
        ...(machine.spec.failureDomain || zone ? { failureDomain: machine.spec.failureDomain ?? zone } : {}),
      };
      scope.setCondition({ type: Conditions.HostClaimed, status: true, reason: 'Claimed', message: `claimed BareMetalHost ${hostNs}/${hostName}` });

      // 3. Give the host its image and data, once.
      const withNetworkData = Boolean(m.spec!.network);
      const want = desiredHostSpec({ machine: m, host, withNetworkData });
      if (!hostHas(host, want)) {
        const dataSecret = machine.spec.bootstrap.dataSecretName;
        if (!dataSecret) {
          scope.setCondition({ type: Conditions.HostProvisioned, status: false, reason: Reasons.WaitingForBootstrapData, message: 'waiting for the bootstrap provider to set Machine spec.bootstrap.dataSecretName' });
          return;
        }
        const userdata = await bootstrapUserData(client, ns, dataSecret, providerID);
        if (!userdata.ok) {
          scope.setCondition({ type: Conditions.HostProvisioned, status: false, reason: userdata.missing ? Reasons.WaitingForBootstrapData : 'BootstrapDataInvalid', message: userdata.message });
          return userdata.missing ? { requeueAfterMs: BOOTSTRAP_SECRET_RETRY_MS } : undefined;
        }
        let networkData: string | undefined;
        try {
          networkData = withNetworkData ? renderNetworkData(m.spec!.network!, host) : undefined;
        } catch (e) {
          if (!(e instanceof NetworkDataError)) throw e;
          scope.setCondition({ type: Conditions.HostProvisioned, status: false, reason: 'InvalidNetworkData', message: e.message });
          return;
        }
        const hostname = hostnameFor(name);
        const taken = await writeData(m, host, clusterName, {
          userdata: { userData: userdata.userdata },
          metadata: { metaData: renderMetaData({ hostname, providerID, machine: name, machineNamespace: ns, cluster: clusterName }) },
          ...(networkData ? { networkdata: { networkData } } : {}),
        });
        if (taken) {
          const message = `${taken}; it is left untouched, and BareMetalHost ${hostNs}/${hostName} is not given an image until the name is free`;
          const before = scope.original.status?.conditions?.find((c) => c.type === Conditions.HostProvisioned);
          if (before?.reason !== MachineReasons.DataSecretNotOwned || before.message !== message) void deps.recorder?.event(m, 'Warning', MachineReasons.DataSecretNotOwned, message);
          scope.setCondition({ type: Conditions.HostProvisioned, status: false, reason: MachineReasons.DataSecretNotOwned, message });
          return { requeueAfterMs: NAME_TAKEN_RETRY_MS };
        }
        if (!(await patchOwnHost(m, host, { spec: { ...want } }))) {
          fail(scope, Conditions.HostClaimed, MachineReasons.HostLost, `BareMetalHost ${hostNs}/${hostName} was deleted or released by someone else before it was given an image; delete this Machine to replace it`);
          return;
        }
        void deps.recorder?.event(m, 'Normal', 'HostProvisioning', `provisioning BareMetalHost ${hostNs}/${hostName} with ${want.image.url}`);
        scope.setCondition({ type: Conditions.HostProvisioned, status: false, reason: 'ProvisioningRequested', message: `BareMetalHost ${hostNs}/${hostName} was given image ${want.image.url}` });
        return;
      }

      // 4. Report what BMO does with it.
      const state = host.status?.provisioning?.state || 'unregistered';
      if (host.status?.errorType) {
        const message = `BareMetalHost ${hostNs}/${hostName} (${state}) reports ${host.status.errorType}: ${host.status.errorMessage ?? 'no message'}`;
        const before = scope.original.status?.conditions?.find((c) => c.type === Conditions.HostProvisioned)?.message;
        scope.setCondition({ type: Conditions.HostProvisioned, status: false, reason: pascal(host.status.errorType), message });
        if (before !== message) void deps.recorder?.event(m, 'Warning', pascal(host.status.errorType), message);
        return;
      }
      if (state !== 'provisioned') {
        scope.setCondition({ type: Conditions.HostProvisioned, status: false, reason: pascal(state), message: `BareMetalHost ${hostNs}/${hostName} is ${state}` });
        return;
      }
      m.status = { ...m.status, addresses: addressesFrom(host, hostnameFor(name)) };
      scope.setCondition({ type: Conditions.HostProvisioned, status: true, reason: 'Provisioned', message: `BareMetalHost ${hostNs}/${hostName} is provisioned with ${want.image.url}` });
      if (!m.status.initialization?.provisioned) {
        m.status = { ...m.status, initialization: { provisioned: true } };
        void deps.recorder?.event(m, 'Normal', 'Provisioned', `BareMetalHost ${hostNs}/${hostName} is provisioned`);
      }
    },

    async delete(scope) {
      const m = scope.obj;
      const ns = m.metadata.namespace!;
      const name = m.metadata.name!;
      const found = await findHost(m);
      if (found === 'lost') {
        // Claimed by someone else now, or gone: never deprovisioned or released by us.
        void deps.recorder?.event(m, 'Warning', MachineReasons.HostLost, `BareMetalHost ${m.status!.host!.namespace}/${m.status!.host!.name} is gone or no longer claimed by this MetalMachine; it is left as it is`);
      }
      const host = found === 'lost' ? undefined : found;
      if (host) {
        const hostNs = host.metadata!.namespace!;
        const hostName = host.metadata!.name!;
        const state = host.status?.provisioning?.state ?? '';
        // a. Take the image away: BMO deprovisions, cleaning as the machine asks.
        if (host.spec?.image || host.spec?.customDeploy) {
          if (await patchOwnHost(m, host, { spec: { image: null, customDeploy: null, automatedCleaningMode: m.spec?.automatedCleaningMode ?? 'metadata' } })) {
            scope.setCondition({ type: Conditions.HostProvisioned, status: false, reason: 'Deprovisioning', message: `deprovisioning BareMetalHost ${hostNs}/${hostName}` });
          }
          // Not ours any more: the next reconcile finds no host of ours.
          return;
        }
        // b. Wait until it is wiped and available again.
        if (BUSY_STATES.has(state)) {
          scope.setCondition({ type: Conditions.HostProvisioned, status: false, reason: 'Deprovisioning', message: `waiting for BareMetalHost ${hostNs}/${hostName} to deprovision (${state})` });
          return;
        }
        // c. Release it; label it for the next machine of the same template.
        const reuse = nodeReuseOf(m);
        const released = await patchOwnHost(m, host, {
          ...(reuse ? { metadata: { labels: { [NODE_REUSE_LABEL]: reuse } } } : {}),
          spec: { consumerRef: null, userData: null, metaData: null, networkData: null, online: false },
        });
        if (!released) return; // no longer ours: the next reconcile finds no host of ours
        void deps.recorder?.event(m, 'Normal', 'HostReleased', `released BareMetalHost ${hostNs}/${hostName}`);
      }
      // d. The data Secrets: where the status says the host was, or where the host is.
      const hostNs = m.status?.host?.namespace ?? host?.metadata?.namespace;
      if (hostNs) await deleteData(m, hostNs);
      claims.forget(`${ns}/${name}`);
      scope.removeFinalizer();
    },
  });

  /** The node-reuse label value, when the machine came from a template that asks for it. */
  function nodeReuseOf(m: MetalMachine): string | undefined {
    const a = m.metadata.annotations ?? {};
    const tmpl = a[CLONED_FROM_NAME_ANNOTATION];
    if (!tmpl || !a[CLONED_FROM_GROUPKIND_ANNOTATION]?.startsWith('MetalMachineTemplate.')) return undefined;
    const t = caches.templates.get(`${m.metadata.namespace}/${tmpl}`);
    return t?.spec?.nodeReuse ? nodeReuseValue(m.metadata.namespace!, tmpl) : undefined;
  }

  /** Tries the best candidates in turn; a 409 means another claim won that host. */
  async function claim(scope: Scope<MetalMachine, Ctx>, namespaces: string[], zoneLabel: string): Promise<Host | 'none'> {
    const m = scope.obj;
    const ns = m.metadata.namespace!;
    const name = m.metadata.name!;
    const { machine } = scope.ctx as Ctx;
    const reuse = nodeReuseOf(m);
    const query = {
      namespaces,
      selector: m.spec?.hostSelector,
      ...(machine.spec.failureDomain ? { failureDomain: machine.spec.failureDomain } : {}),
      zoneLabel,
      ...(reuse ? { reuse } : {}),
      seed: m.metadata.uid ?? `${ns}/${name}`,
      taken: claims.taken(),
    };
    const { all, options } = await candidatesWithReleased(caches.hosts.list(), query, async (selector) =>
      (await Promise.all(namespaces.map((n) => client.list<Host>(BareMetalHosts, { namespace: n, labelSelector: selector })))).flatMap((l) => l.items.map(slimHost)),
    );
    if (!options.length) {
      scope.setCondition({ type: Conditions.HostClaimed, status: false, reason: 'NoHostAvailable', message: noHostMessage(all, query) });
      return 'none';
    }
    for (const option of options.slice(0, CLAIM_ATTEMPTS)) {
      let h: Host | undefined = option;
      // A 409 says the host changed since it was read, not that it was
      // claimed: BMO writes a host's status often, right after it becomes
      // available too. The host is read again once and, still claimable,
      // tried again, so a status write never sends the machine to a worse
      // host (the one its template released is the best).
      for (let attempt = 0; h && attempt < 2; attempt++) {
        try {
          const claimed = await client.mergePatch<Host>(BareMetalHosts, h.metadata!.name!, h.metadata!.namespace, {
            // The resourceVersion makes this a compare-and-swap: 409 if the host changed since we chose it.
            metadata: { resourceVersion: h.metadata!.resourceVersion, labels: { [NODE_REUSE_LABEL]: null } },
            spec: { consumerRef: { apiVersion: API_VERSION, kind: 'MetalMachine', name, namespace: ns, uid: m.metadata.uid } },
          });
          claims.record(`${ns}/${name}`, hostKey(h));
          deps.metrics?.attempt('claimed');
          void deps.recorder?.event(m, 'Normal', 'HostClaimed', `claimed BareMetalHost ${hostKey(h)}`);
          return slimHost(claimed);
        } catch (e) {
          if (!isConflict(e) && !isNotFound(e)) throw e;
          deps.metrics?.attempt('conflict');
          if (!isConflict(e) || attempt > 0) break;
          const live: Host | undefined = await client.tryGet<Host>(BareMetalHosts, h.metadata!.name!, h.metadata!.namespace);
          h = live ? candidates([slimHost(live)], query)[0] : undefined;
        }
      }
    }
    scope.setCondition({ type: Conditions.HostClaimed, status: false, reason: 'ClaimConflict', message: `other claims won the ${Math.min(options.length, CLAIM_ATTEMPTS)} best hosts first; retrying` });
    throw new Error(`lost the race for ${Math.min(options.length, CLAIM_ATTEMPTS)} hosts; retrying with a fresher cache`);
  }

  /**
   * Writes the data Secrets next to the host, owned by it for garbage
   * collection (owner references cannot cross namespaces) and marked with
   * this MetalMachine's labels. Returns why a name is taken, writing
   * nothing, when a Secret of one of our names is not this machine's.
   */
  async function writeData(m: MetalMachine, host: Host, clusterName: string, data: Partial<Record<DataKind, Record<string, string>>>): Promise<string | undefined> {
    const owner = ownerOf(m);
    const hostNs = host.metadata!.namespace!;
    const wanted = (Object.entries(data) as [DataKind, Record<string, string>][]).map(([kind, content]): Secret => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: dataSecretName(owner.namespace, owner.name, kind),
        namespace: hostNs,
        labels: { [CLUSTER_NAME_LABEL]: clusterName, ...ownerLabels(METAL_MACHINE_OWNER_LABELS, owner) },
        ownerReferences: [{ apiVersion: BMH_API_VERSION, kind: 'BareMetalHost', name: host.metadata!.name!, uid: host.metadata!.uid! }],
      },
      type: CAPI_SECRET_TYPE,
      data: Object.fromEntries(Object.entries(content).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    }));
    // Every name is checked before any is written: nothing is half-written.
    const live = await Promise.all(wanted.map((w) => client.tryGet<Secret>(Secrets, w.metadata!.name!, hostNs)));
    for (const [i, l] of live.entries()) {
      const why = l && notMarkedFor(l, METAL_MACHINE_OWNER_LABELS, owner);
      if (why) return `Secret ${hostNs}/${wanted[i]!.metadata!.name} exists and does not belong to this MetalMachine: ${why}`;
    }
    for (const [i, want] of wanted.entries()) {
      const l = live[i];
      if (!l) {
        await createNew(client, Secrets, want);
        continue;
      }
      // Ours, left by a run that died mid-way or rendered for an earlier
      // host: converge this very object (its resourceVersion), not one that replaced it.
      const same = jsonEqual(l.data, want.data) && jsonEqual(l.metadata?.ownerReferences, want.metadata!.ownerReferences) && Object.entries(want.metadata!.labels!).every(([k, v]) => l.metadata?.labels?.[k] === v);
      if (!same) await client.apply(Secrets, { ...want, metadata: { ...want.metadata, resourceVersion: l.metadata!.resourceVersion! } }, { force: true });
    }
    return undefined;
  }

  /** Deletes the data Secrets that are this machine's; one of our names that is not is left, with a Warning event. */
  async function deleteData(m: MetalMachine, hostNs: string): Promise<void> {
    const owner = ownerOf(m);
    for (const kind of ['userdata', 'metadata', 'networkdata'] as DataKind[]) {
      const name = dataSecretName(owner.namespace, owner.name, kind);
      const live = await client.tryGet<Secret>(Secrets, name, hostNs);
      if (!live) continue;
      const why = notMarkedFor(live, METAL_MACHINE_OWNER_LABELS, owner);
      if (why) {
        void deps.recorder?.event(m, 'Warning', MachineReasons.DataSecretNotOwned, `Secret ${hostNs}/${name} does not belong to this MetalMachine: ${why}; it is left in place`);
        continue;
      }
      // The uid precondition: a Secret that replaced ours since it was read is not deleted.
      await client.delete(Secrets, name, hostNs, { uid: live.metadata!.uid! });
    }
  }
}
