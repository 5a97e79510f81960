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
import type { HostDeployPolicy } from '../api/generated/metal3/v1alpha1/hostdeploypolicy.js';
import type { MetalCluster } from '../api/generated/ironplane/v1alpha1/metalcluster.js';
import type { MetalMachine } from '../api/generated/ironplane/v1alpha1/metalmachine.js';
import type { MetalMachineTemplate } from '../api/generated/ironplane/v1alpha1/metalmachinetemplate.js';
import { CAPI_SECRET_TYPE, CLUSTER_NAME_LABEL, hostnameFor, pausedReason, Reasons, type Cluster, type Machine } from '../capi/contract.js';
import type { Secret } from '../capi/tenant.js';
import { machineOwners } from '../capi/owners.js';
import { bootstrapUserData } from '../capi/userdata.js';
import { isConflict, isNotFound, type Client } from '../kit/client.js';
import type { Result } from '../kit/controller.js';
import type { EventRecorder } from '../kit/events.js';
import type { Informer } from '../kit/informer.js';
import { jsonEqual } from '../kit/patch.js';
import { objectReconciler, type Scope } from '../kit/reconciler.js';
import { Secrets, type KubeObject } from '../kit/types.js';
import { candidates, hostKey, isConsumedBy, noHostMessage, resolvePools, slimHost, type Host } from './hosts.js';
import {
  API_VERSION,
  CLONED_FROM_GROUPKIND_ANNOTATION,
  CLONED_FROM_NAME_ANNOTATION,
  dataSecretName,
  DEFAULT_ZONE_LABEL,
  METAL_MACHINE_FINALIZER,
  METAL_MACHINE_LABEL,
  METAL_MACHINE_NAMESPACE_LABEL,
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
    const key = `${ns}/${name}`;
    const pending = claims.hostOf(key);
    const named = m.status?.host ? `${m.status.host.namespace}/${m.status.host.name}` : pending;
    if (named) {
      const cached = caches.hosts.get(named);
      if (cached && isConsumedBy(cached, ns, name)) {
        claims.forget(key);
        return cached;
      }
      // The cache may lag behind our own claim: ask the apiserver.
      const [hns, hname] = named.split('/') as [string, string];
      const live = await client.tryGet<Host>(BareMetalHosts, hname, hns);
      if (live && isConsumedBy(live, ns, name)) return slimHost(live);
      claims.forget(key);
      if (m.status?.host) return 'lost';
    }
    return caches.hosts.list((h) => isConsumedBy(h, ns, name))[0];
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
        fail(scope, Conditions.HostClaimed, 'HostLost', `BareMetalHost ${m.status!.host!.namespace}/${m.status!.host!.name} was deleted or released by someone else; delete this Machine to replace it`);
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
        await writeData(m, host, clusterName, {
          userdata: { userData: userdata.userdata },
          metadata: { metaData: renderMetaData({ hostname, providerID, machine: name, machineNamespace: ns, cluster: clusterName }) },
          ...(networkData ? { networkdata: { networkData } } : {}),
        });
        await client.mergePatch(BareMetalHosts, hostName, hostNs, { spec: want });
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
      const host = found === 'lost' ? undefined : found;
      if (host) {
        const hostNs = host.metadata!.namespace!;
        const hostName = host.metadata!.name!;
        const state = host.status?.provisioning?.state ?? '';
        // a. Take the image away: BMO deprovisions, cleaning as the machine asks.
        if (host.spec?.image || host.spec?.customDeploy) {
          await client.mergePatch(BareMetalHosts, hostName, hostNs, { spec: { image: null, customDeploy: null, automatedCleaningMode: m.spec?.automatedCleaningMode ?? 'metadata' } });
          scope.setCondition({ type: Conditions.HostProvisioned, status: false, reason: 'Deprovisioning', message: `deprovisioning BareMetalHost ${hostNs}/${hostName}` });
          return;
        }
        // b. Wait until it is wiped and available again.
        if (BUSY_STATES.has(state)) {
          scope.setCondition({ type: Conditions.HostProvisioned, status: false, reason: 'Deprovisioning', message: `waiting for BareMetalHost ${hostNs}/${hostName} to deprovision (${state})` });
          return;
        }
        // c. Release it; label it for the next machine of the same template.
        const reuse = nodeReuseOf(m);
        await client.mergePatch(BareMetalHosts, hostName, hostNs, {
          ...(reuse ? { metadata: { labels: { [NODE_REUSE_LABEL]: reuse } } } : {}),
          spec: { consumerRef: null, userData: null, metaData: null, networkData: null, online: false },
        });
        void deps.recorder?.event(m, 'Normal', 'HostReleased', `released BareMetalHost ${hostNs}/${hostName}`);
      }
      // d. The data Secrets: where the status says the host was, or our own namespace.
      const hostNs = m.status?.host?.namespace ?? host?.metadata?.namespace;
      if (hostNs) for (const kind of ['userdata', 'metadata', 'networkdata'] as DataKind[]) await client.delete(Secrets, dataSecretName(ns, name, hostNs, kind), hostNs);
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
    const all = caches.hosts.list();
    const options = candidates(all, query);
    if (!options.length) {
      scope.setCondition({ type: Conditions.HostClaimed, status: false, reason: 'NoHostAvailable', message: noHostMessage(all, query) });
      return 'none';
    }
    for (const h of options.slice(0, CLAIM_ATTEMPTS)) {
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
      }
    }
    scope.setCondition({ type: Conditions.HostClaimed, status: false, reason: 'ClaimConflict', message: `other claims won the ${Math.min(options.length, CLAIM_ATTEMPTS)} best hosts first; retrying` });
    throw new Error(`lost the race for ${Math.min(options.length, CLAIM_ATTEMPTS)} hosts; retrying with a fresher cache`);
  }

  /** Applies the data Secrets next to the host, owned by it (owners cannot cross namespaces). */
  async function writeData(m: MetalMachine, host: Host, clusterName: string, data: Partial<Record<DataKind, Record<string, string>>>): Promise<void> {
    const ns = m.metadata.namespace!;
    const name = m.metadata.name!;
    const hostNs = host.metadata!.namespace!;
    for (const [kind, content] of Object.entries(data) as [DataKind, Record<string, string>][]) {
      const secret: Secret = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: dataSecretName(ns, name, hostNs, kind),
          namespace: hostNs,
          labels: { [CLUSTER_NAME_LABEL]: clusterName, [METAL_MACHINE_LABEL]: name, [METAL_MACHINE_NAMESPACE_LABEL]: ns },
          ownerReferences: [{ apiVersion: BMH_API_VERSION, kind: 'BareMetalHost', name: host.metadata!.name!, uid: host.metadata!.uid! }],
        },
        type: CAPI_SECRET_TYPE,
        data: Object.fromEntries(Object.entries(content).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      };
      await client.apply(Secrets, secret, { force: true });
    }
  }
}

