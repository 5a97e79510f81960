// KairosConfig → the bootstrap data Secret of one worker Machine: a Kairos
// cloud-config that joins the Kamaji-hosted control plane with kubeadm.
//
// Inputs, each waited for with a condition (never a crash loop):
// - the owner Machine and its Cluster;
// - the Cluster's spec.controlPlaneEndpoint (Kamaji's CP provider sets it);
// - for a Cluster on a KvmCluster, that KvmCluster: when it reports a private
//   control-plane endpoint (adr/0014), the worker joins there, since its VPC
//   has no route to spec.controlPlaneEndpoint;
// - the tenant CA from the <cluster>-ca Secret, pinned by its key hash (or,
//   for a private endpoint, written into kubeadm's discovery kubeconfig);
// - the tenant cluster itself, through <cluster>-kubeconfig, where the
//   bootstrap token is created (token.ts).
//
// While the Machine has no nodeRef the token's expiry is extended every
// TTL/3; the Secret's content does not change when that happens (the token
// stays the same), so nothing downstream churns. Once the Machine has a
// Node, the token is deleted (or, if the tenant cannot be reached, left to
// expire) and the Secret is left alone.
//
// Secrets (bootstrap data, referenced files, tenant kubeconfig and CA) are
// read by name when needed and never cached; token values never reach a log,
// an event or a condition.
//
// The data Secret's name is deterministic (the KairosConfig's), so anyone
// who may write Secrets in the namespace could take it first. A Secret of
// that name is written or deleted only when it has a controller
// ownerReference to this KairosConfig (by uid); otherwise DataSecretAvailable
// is False with reason DataSecretNotOwned, a Warning event names it, and it
// is left as it is, on deletion too.
import type { KairosConfig } from '../api/generated/ironplane/v1alpha1/kairosconfig.js';
import type { KvmCluster } from '../api/generated/ironplane/v1alpha1/kvmcluster.js';
import { CAPI_SECRET_TYPE, CLUSTER_NAME_LABEL, pausedReason, Reasons, type Cluster, type Machine } from '../capi/contract.js';
import { machineOwners } from '../capi/owners.js';
import { TenantNotReady, type Secret, type TenantClients } from '../capi/tenant.js';
import { realClock, type Clock } from '../kit/clock.js';
import { createNew, notControlledBy } from '../capi/ownership.js';
import { ApiError, UnreachableError, type Client } from '../kit/client.js';
import type { Result } from '../kit/controller.js';
import type { EventRecorder } from '../kit/events.js';
import type { Informer } from '../kit/informer.js';
import { jsonEqual } from '../kit/patch.js';
import { objectReconciler, type Scope } from '../kit/reconciler.js';
import { ConfigMaps, Secrets, type KubeObject } from '../kit/types.js';
import { PRIVATE_ENDPOINT_CONDITION, PrivateEndpointReasons } from '../kubevirt/privateendpoint.js';
import { KvmClusters } from '../kubevirt/resources.js';
import { API_VERSION, DATA_FORMAT, dataSecretName, KAIROS_CONFIG_FINALIZER } from './names.js';
import { endpointString, RenderError, type Renderer, type ResolvedFile } from './render.js';
import { KairosConfigs } from './resources.js';
import { caCertHashes, CHECK_EVERY, deleteBootstrapToken, ensureBootstrapToken, parseDuration, pemCertificates, rfc3339, type Token } from './token.js';
import { kubernetesVersionProblem, specProblems } from './validate.js';

export const Conditions = {
  /** The bootstrap data Secret exists with the current rendering (Cluster API's name for it). */
  DataSecretAvailable: 'DataSecretAvailable',
  /** The join token exists in the tenant cluster and is valid, or is no longer needed. */
  BootstrapTokenReady: 'BootstrapTokenReady',
} as const;

export const ConfigReasons = {
  /** A Secret of the data Secret's name exists and is not controlled by this KairosConfig. */
  DataSecretNotOwned: 'DataSecretNotOwned',
  /** The Cluster's KvmCluster could not be read (forbidden, or another API error): where the worker joins is unknown. */
  InfrastructureClusterUnreadable: 'InfrastructureClusterUnreadable',
  /** The KvmCluster's private control-plane endpoint is on its way (its proxy or control plane is not up yet). */
  WaitingForPrivateEndpoint: 'WaitingForPrivateEndpoint',
} as const;

/** PrivateEndpointReady reasons of a KvmCluster that end in a private endpoint, given time. */
const PRIVATE_ENDPOINT_COMING: ReadonlySet<string> = new Set([PrivateEndpointReasons.WaitingForControlPlane, PrivateEndpointReasons.WaitingForProxy]);

/** Secrets and ConfigMaps are not watched: a missing one is looked for again after this long. */
export const SECRET_RETRY_MS = 10_000;
/** An unreachable tenant cluster is tried again after this long (its kubeconfig Secret is not watched either). */
export const TENANT_RETRY_MS = 15_000;
/** The earliest a valid token is looked at again, whatever its TTL. */
const MIN_CHECK_MS = 1_000;
const DEFAULT_TTL = '15m';
/** How often a token of this TTL is looked at while the Machine has no Node. */
const tokenCheckMs = (ttlMs: number): number => Math.max(MIN_CHECK_MS, Math.floor(ttlMs * CHECK_EVERY));

export interface KairosConfigCaches {
  kairosConfigs: Informer<KairosConfig>;
  machines: Informer<Machine>;
  clusters: Informer<Cluster>;
}

interface Ctx {
  machine: Machine;
  cluster: Cluster;
}

/** Where the worker joins its control plane, and why there (for the condition and the event). */
interface JoinTarget {
  endpoint: { host: string; port: number };
  why: string;
  /** A private control-plane endpoint: kubeadm discovers through a kubeconfig file for it (render.ts discoveryCA). */
  private: boolean;
}

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** A tenant-side failure as a condition reason and message; anything else is rethrown. */
function tenantFailure(e: unknown): { reason: string; message: string } {
  if (e instanceof TenantNotReady) return { reason: e.reason, message: e.message };
  if (e instanceof UnreachableError) return { reason: 'TenantUnreachable', message: e.message };
  if (e instanceof ApiError) return { reason: 'TenantAPIError', message: `tenant API server: ${e.message}` };
  throw e;
}

export function kairosConfigReconciler(deps: { client: Client; caches: KairosConfigCaches; tenants: TenantClients; render: Renderer; recorder?: EventRecorder; clock?: Clock }) {
  const { client, caches, tenants, render } = deps;
  const clock = deps.clock ?? realClock;

  const setData = (scope: Scope<KairosConfig, Ctx>, status: boolean, reason: string, message: string) =>
    scope.setCondition({ type: Conditions.DataSecretAvailable, status, reason, message });
  const setToken = (scope: Scope<KairosConfig, Ctx>, status: boolean | 'Unknown', reason: string, message: string) =>
    scope.setCondition({ type: Conditions.BootstrapTokenReady, status, reason, message });

  return objectReconciler<KairosConfig, Ctx>({
    client,
    resource: KairosConfigs,
    cache: caches.kairosConfigs,
    finalizer: KAIROS_CONFIG_FINALIZER,
    ownedConditions: [Conditions.DataSecretAvailable, Conditions.BootstrapTokenReady],
    clock,

    prepare: async (scope) => machineOwners(scope, caches, Conditions.DataSecretAvailable, 'KairosConfig'),

    paused: (scope) => pausedReason(scope.ctx.cluster, scope.obj),

    async normal(scope): Promise<Result | void> {
      const kc = scope.obj;
      const { machine, cluster } = scope.ctx as Ctx;
      const ns = kc.metadata.namespace!;
      const name = kc.metadata.name!;
      const clusterName = cluster.metadata.name!;
      kc.metadata.labels = { ...kc.metadata.labels, [CLUSTER_NAME_LABEL]: clusterName };
      kc.status = { ...kc.status, ...(kc.metadata.generation !== undefined ? { observedGeneration: kc.metadata.generation } : {}) };

      // Joined: the token has done its job; the bootstrap data is left as it is.
      const node = machine.status?.nodeRef?.name;
      if (node) return afterJoin(scope, clusterName, node);

      const problems = [...specProblems(kc.spec)];
      const versionProblem = kubernetesVersionProblem(machine.spec.version);
      if (versionProblem) problems.push(versionProblem);
      if (problems.length) {
        setData(scope, false, 'InvalidSpec', problems.join('; '));
        return;
      }

      const ep = cluster.spec?.controlPlaneEndpoint;
      if (!ep?.host) {
        setData(scope, false, 'WaitingForControlPlaneEndpoint', `waiting for Cluster ${clusterName} spec.controlPlaneEndpoint (the control-plane provider sets it)`);
        return;
      }
      const ttlMs = parseDuration(kc.spec?.join?.tokenTTL || DEFAULT_TTL);
      const target = await joinTarget(cluster, { host: ep.host, port: ep.port || 6443 });
      if ('reason' in target) {
        if (!kc.status?.initialization?.dataSecretCreated) {
          setData(scope, false, target.reason, target.message);
          return { requeueAfterMs: SECRET_RETRY_MS };
        }
        // The data is out (a proxy restarting takes the private endpoint
        // away for a while): it stays as it is, and so does its token, which
        // the worker may still need once the endpoint is back.
        const kept = await keepToken(scope, clusterName, ttlMs);
        return 'requeueAfterMs' in kept ? kept : { requeueAfterMs: Math.min(SECRET_RETRY_MS, tokenCheckMs(ttlMs)) };
      }
      const { endpoint } = target;

      const ca = await clusterCA(ns, clusterName);
      if (typeof ca === 'string') {
        setData(scope, false, 'WaitingForClusterCA', ca);
        return { requeueAfterMs: SECRET_RETRY_MS };
      }
      const files = await resolveFiles(kc);
      if (typeof files === 'string') {
        setData(scope, false, 'MissingReference', files);
        return { requeueAfterMs: SECRET_RETRY_MS };
      }
      const input = {
        namespace: ns,
        config: name,
        cluster: clusterName,
        machine: machine.metadata.name!,
        ...(machine.spec.infrastructureRef?.name ? { infraMachine: machine.spec.infrastructureRef.name } : {}),
        spec: kc.spec ?? {},
        files,
        endpoint,
        caCertHashes: ca.hashes,
        ...(target.private ? { discoveryCA: ca.certificates } : {}),
      };
      // Everything that can be wrong with the rendering is found before a
      // token is made: a placeholder of the same length gives the same size.
      try {
        render({ ...input, token: 'aaaaaa.aaaaaaaaaaaaaaaa' });
      } catch (e) {
        if (!(e instanceof RenderError)) throw e;
        setData(scope, false, e.reason, e.message);
        return;
      }

      const kept = await keepToken(scope, clusterName, ttlMs);
      if ('requeueAfterMs' in kept) return kept;
      const { token } = kept;

      const rendered = render({ ...input, token: `${token.id}.${token.secret}` });
      const written = await writeDataSecret(kc, clusterName, rendered.value);
      if (typeof written === 'object') {
        const message = `Secret ${ns}/${dataSecretName(name)} exists and does not belong to this KairosConfig: ${written.notOwned}; it is left untouched`;
        const before = scope.original.status?.conditions?.find((c) => c.type === Conditions.DataSecretAvailable);
        if (before?.reason !== ConfigReasons.DataSecretNotOwned || before.message !== message) void deps.recorder?.event(kc, 'Warning', ConfigReasons.DataSecretNotOwned, message);
        setData(scope, false, ConfigReasons.DataSecretNotOwned, message);
        return { requeueAfterMs: SECRET_RETRY_MS };
      }
      const joining = `${endpointString(endpoint)}, ${target.why}`;
      if (written === 'created') void deps.recorder?.event(kc, 'Normal', 'DataSecretCreated', `bootstrap data Secret ${dataSecretName(name)} created: kubeadm join to ${joining}`);
      kc.status = { ...kc.status, dataSecretName: dataSecretName(name), initialization: { dataSecretCreated: true } };
      setData(scope, true, 'Available', `Secret ${dataSecretName(name)}: Kairos cloud-config joining ${joining}, with kubeadm`);
      return { requeueAfterMs: tokenCheckMs(ttlMs) };
    },

    async delete(scope) {
      const kc = scope.obj;
      const ns = kc.metadata.namespace!;
      const clusterName = kc.metadata.labels?.[CLUSTER_NAME_LABEL];
      const token = kc.status?.bootstrapToken;
      if (clusterName && token?.id && !token.removed) {
        // Best effort: a tenant that is gone or unreachable lets the token expire.
        try {
          await deleteBootstrapToken(await tenants.get(ns, clusterName), token.id, kc.metadata.uid!);
        } catch (e) {
          scope.log.info('bootstrap token left to expire', { tokenID: token.id, why: tenantFailure(e).message });
        }
      }
      const name = dataSecretName(kc.metadata.name!);
      const secret = await client.tryGet<Secret>(Secrets, name, ns);
      const notOurs = secret && notControlledBy(secret, owner(kc));
      // The uid precondition: a Secret that replaced ours since it was read is not deleted.
      if (secret && !notOurs) await client.delete(Secrets, name, ns, { uid: secret.metadata!.uid! });
      if (notOurs) void deps.recorder?.event(kc, 'Warning', ConfigReasons.DataSecretNotOwned, `Secret ${ns}/${name} does not belong to this KairosConfig: ${notOurs}; it is left in place`);
      scope.removeFinalizer();
    },
  });

  async function afterJoin(scope: Scope<KairosConfig, Ctx>, clusterName: string, node: string): Promise<void> {
    const kc = scope.obj;
    const token = kc.status?.bootstrapToken;
    if (!getData(kc)) setData(scope, true, 'Available', `Secret ${dataSecretName(kc.metadata.name!)}: the Machine joined as Node ${node}`);
    if (!token?.id || token.removed) {
      setToken(scope, true, 'NodeJoined', token?.id ? `the Machine joined as Node ${node}; token ${token.id} deleted` : `the Machine joined as Node ${node}`);
      return;
    }
    try {
      await deleteBootstrapToken(await tenants.get(kc.metadata.namespace!, clusterName), token.id, kc.metadata.uid!);
      kc.status = { ...kc.status, bootstrapToken: { ...token, removed: true } };
      setToken(scope, true, 'NodeJoined', `the Machine joined as Node ${node}; token ${token.id} deleted`);
    } catch (e) {
      const f = tenantFailure(e);
      // Not worth a retry loop: the token expires by itself.
      setToken(scope, true, 'NodeJoined', `the Machine joined as Node ${node}; token ${token.id} could not be deleted (${f.message}) and expires at ${token.expires ?? 'its expiry'}`);
    }
  }

  function getData(kc: KairosConfig): boolean {
    return kc.status?.conditions?.some((c) => c.type === Conditions.DataSecretAvailable && c.status === 'True') ?? false;
  }

  /**
   * Makes or extends the KairosConfig's join token in the tenant and reports
   * it; on a tenant failure, says so and when to look again.
   */
  async function keepToken(scope: Scope<KairosConfig, Ctx>, clusterName: string, ttlMs: number): Promise<{ token: Token } | { requeueAfterMs: number }> {
    const kc = scope.obj;
    const ns = kc.metadata.namespace!;
    let ensured;
    try {
      const tenant = await tenants.get(ns, clusterName);
      ensured = await ensureBootstrapToken(tenant, {
        owner: { namespace: ns, name: kc.metadata.name!, uid: kc.metadata.uid! },
        ttlMs,
        now: clock.now(),
        ...(kc.status?.bootstrapToken?.id ? { knownID: kc.status.bootstrapToken.id } : {}),
      });
    } catch (e) {
      const f = tenantFailure(e);
      setToken(scope, 'Unknown', f.reason, f.message);
      if (!kc.status?.initialization?.dataSecretCreated) setData(scope, false, f.reason, f.message);
      return { requeueAfterMs: TENANT_RETRY_MS };
    }
    const { token } = ensured;
    const expires = rfc3339(token.expiresMs);
    kc.status = { ...kc.status, bootstrapToken: { id: token.id, expires } };
    setToken(scope, true, 'TokenValid', `token ${token.id} valid until ${expires}, extended until the Machine has a Node`);
    return { token };
  }

  /**
   * Where the worker joins: the private control-plane endpoint of the
   * Cluster's KvmCluster when it reports one, else spec.controlPlaneEndpoint
   * (`public`); or why that cannot be known yet. The KvmCluster is read by
   * name (`get`), not watched: no informer, and the reconcile comes back on
   * its own (SECRET_RETRY_MS while waiting, TTL/3 until the Machine has a Node).
   */
  async function joinTarget(cluster: Cluster, pub: { host: string; port: number }): Promise<JoinTarget | { reason: string; message: string }> {
    const publicTarget = { endpoint: pub, why: `the Cluster's spec.controlPlaneEndpoint`, private: false };
    const ref = cluster.spec?.infrastructureRef;
    if (ref?.apiGroup !== KvmClusters.group || ref.kind !== KvmClusters.kind) return publicTarget;
    const ns = cluster.metadata.namespace!;
    let kvm: KvmCluster | undefined;
    try {
      kvm = await client.tryGet<KvmCluster>(KvmClusters, ref.name, ns);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return { reason: ConfigReasons.InfrastructureClusterUnreadable, message: `cannot read KvmCluster ${ns}/${ref.name} (Cluster ${cluster.metadata.name} spec.infrastructureRef) to learn whether its workers join through a private control-plane endpoint: ${e.message}` };
    }
    // Not the public endpoint meanwhile: the KvmCluster's VPC may have no route to it.
    if (!kvm) return { reason: Reasons.WaitingForClusterInfrastructure, message: `waiting for KvmCluster ${ref.name} (Cluster ${cluster.metadata.name} spec.infrastructureRef): it says whether its workers join through a private control-plane endpoint` };
    const pe = kvm.status?.privateControlPlaneEndpoint;
    if (!pe?.host) {
      // The platform gives this cluster a private endpoint, and it is not up
      // yet (or not reported yet): data for the public endpoint now would
      // leave the worker with an address its VPC may have no route to.
      const c = kvm.status?.conditions?.find((x) => x.type === PRIVATE_ENDPOINT_CONDITION);
      if (!c || (c.status !== 'True' && PRIVATE_ENDPOINT_COMING.has(c.reason ?? ''))) {
        return { reason: ConfigReasons.WaitingForPrivateEndpoint, message: `waiting for the private control-plane endpoint of KvmCluster ${ref.name} (${c ? `${PRIVATE_ENDPOINT_CONDITION} ${c.reason}: ${c.message}` : `no ${PRIVATE_ENDPOINT_CONDITION} yet`})` };
      }
      // Turned off by the platform, or refused for this cluster (the reason says why).
      return { ...publicTarget, why: `the Cluster's spec.controlPlaneEndpoint (KvmCluster ${ref.name} has no private endpoint: ${c.reason})` };
    }
    return { endpoint: { host: pe.host, port: pe.port || 6443 }, why: `the private control-plane endpoint of KvmCluster ${ref.name}`, private: true };
  }

  /** The tenant CA's certificates (PEM, never its key) and their pins from <cluster>-ca, or why they cannot be had yet. */
  async function clusterCA(ns: string, cluster: string): Promise<{ certificates: string; hashes: string[] } | string> {
    const name = `${cluster}-ca`;
    const secret = await client.tryGet<Secret>(Secrets, name, ns);
    if (!secret) return `Secret ${ns}/${name} not found: the control plane has not published the tenant CA yet`;
    const crt = secret.data?.['tls.crt'];
    if (!crt) return `Secret ${ns}/${name} has no tls.crt`;
    try {
      const pem = Buffer.from(crt, 'base64').toString('utf8');
      return { certificates: `${pemCertificates(pem).join('\n')}\n`, hashes: caCertHashes(pem) };
    } catch (e) {
      return `Secret ${ns}/${name} tls.crt is not a PEM certificate: ${(e as Error).message}`;
    }
  }

  /** spec.files with Secret and ConfigMap contents read, or why one cannot be. */
  async function resolveFiles(kc: KairosConfig): Promise<ResolvedFile[] | string> {
    const ns = kc.metadata.namespace!;
    const out: ResolvedFile[] = [];
    for (const [i, f] of (kc.spec?.files ?? []).entries()) {
      const base = { path: f.path, permissions: f.permissions ?? '0644', owner: f.owner ?? 0, group: f.group ?? 0 };
      const at = `spec.files[${i}] (${f.path})`;
      if (f.content !== undefined) {
        out.push({ ...base, content: f.content });
        continue;
      }
      const sref = f.contentFrom?.secretKeyRef;
      const cref = f.contentFrom?.configMapKeyRef;
      if (sref) {
        const s = await client.tryGet<Secret>(Secrets, sref.name, ns);
        if (!s) return `${at}: Secret ${ns}/${sref.name} not found`;
        const v = s.data?.[sref.key];
        if (v === undefined) return `${at}: Secret ${ns}/${sref.name} has no key "${sref.key}"`;
        out.push({ ...base, base64: v });
      } else if (cref) {
        const cm = await client.tryGet<ConfigMap>(ConfigMaps, cref.name, ns);
        if (!cm) return `${at}: ConfigMap ${ns}/${cref.name} not found`;
        const text = cm.data?.[cref.key];
        const bin = cm.binaryData?.[cref.key];
        if (text === undefined && bin === undefined) return `${at}: ConfigMap ${ns}/${cref.name} has no key "${cref.key}"`;
        out.push({ ...base, base64: bin ?? b64(text!) });
      }
    }
    return out;
  }

  /** Writes the data Secret when it differs from `value`; refuses, writing nothing, a Secret of that name that is not ours. */
  async function writeDataSecret(kc: KairosConfig, cluster: string, value: string): Promise<'created' | 'updated' | 'unchanged' | { notOwned: string }> {
    const ns = kc.metadata.namespace!;
    const name = dataSecretName(kc.metadata.name!);
    const desired: Secret = {
      metadata: {
        name,
        namespace: ns,
        labels: { [CLUSTER_NAME_LABEL]: cluster },
        ownerReferences: [{ apiVersion: API_VERSION, kind: 'KairosConfig', name: kc.metadata.name!, uid: kc.metadata.uid!, controller: true }],
      },
      type: CAPI_SECRET_TYPE,
      data: { value: b64(value), format: b64(DATA_FORMAT) },
    };
    const existing = await client.tryGet<Secret>(Secrets, name, ns);
    if (!existing) {
      await createNew(client, Secrets, desired);
      return 'created';
    }
    const notOwned = notControlledBy(existing, owner(kc)) ?? (existing.type !== CAPI_SECRET_TYPE ? `it has type ${existing.type ?? 'Opaque'}, not ${CAPI_SECRET_TYPE}` : undefined);
    if (notOwned) return { notOwned };
    if (jsonEqual(existing.data, desired.data) && existing.metadata?.labels?.[CLUSTER_NAME_LABEL] === cluster) return 'unchanged';
    // Ours, left by a killed run or rendered from older inputs: converge this
    // very object (the resourceVersion read), never one that replaced it.
    await client.apply(Secrets, { ...desired, metadata: { ...desired.metadata, resourceVersion: existing.metadata!.resourceVersion! } }, { force: true });
    return 'updated';
  }
}

const owner = (kc: KairosConfig) => ({ kind: 'KairosConfig', uid: kc.metadata.uid! });
