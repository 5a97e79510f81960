// A tenant's read access to its Cluster's kubeconfig (adr/0010): for every
// Cluster, a Role with `get` on the one Secret <cluster>-kubeconfig, and a
// RoleBinding of it to whoever the namespace's tenant RoleBindings bind (the
// ClusterRole ironplane-tenant, which Capsule binds per Tenant owner). No
// list, no watch: RBAC cannot filter those by name.
//
// Why the Kairos manager: it already reads these Secrets (every
// <cluster>-kubeconfig, to reach tenant clusters), so the apiserver's
// escalation check lets it grant `get` on one of them without the
// `escalate` or `bind` verbs, and it gains no read it did not have.
//
// Both objects are controlled by the Cluster (ownerReference with its uid),
// so the garbage collector removes them with it and a later Cluster of the
// same name gets a grant of its own; nothing here deletes. A Role or
// RoleBinding of that name the controller did not make (no controller
// ownerReference to this Cluster's uid, or no managed-by mark) is left as it
// is and a Warning event on the Cluster says so: adopting it would bind the
// tenant to rules someone else wrote. Cluster status is CAPI's; nothing
// here writes it.
//
// Level-triggered: any change of a Cluster's identity, or of a Role or
// RoleBinding in its namespace, reconciles the namespace's Clusters from the
// caches, and a reconcile writes only what differs.
import { CLUSTER_NAME_LABEL, type Cluster } from '../capi/contract.js';
import { createNew, hashedName, notControlledBy } from '../capi/ownership.js';
import { kubeconfigSecretName } from '../capi/tenant.js';
import type { Client } from '../kit/client.js';
import type { ReconcileFn } from '../kit/controller.js';
import type { EventRecorder } from '../kit/events.js';
import type { Informer } from '../kit/informer.js';
import { jsonEqual } from '../kit/patch.js';
import { splitKey, type KubeObject, type ResourceType } from '../kit/types.js';

export const Roles: ResourceType = { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true };
export const RoleBindings: ResourceType = { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true };

const RBAC_GROUP = 'rbac.authorization.k8s.io';
/** The ClusterRole Capsule binds to a Tenant's owners in each of its namespaces (config/tenant/role.yaml). */
export const TENANT_CLUSTER_ROLE = 'ironplane-tenant';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'ironplane-kairos';
const NAME_PREFIX = 'ironplane-kubeconfig-';
/** Longest name of an RBAC object the apiserver stores. */
const MAX_NAME = 253;

export const AccessReasons = {
  /** A Role or RoleBinding of the grant's name exists and is not this controller's for this Cluster. */
  KubeconfigAccessNotOwned: 'KubeconfigAccessNotOwned',
} as const;

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}
export interface Role extends KubeObject {
  rules?: PolicyRule[];
}
export interface Subject {
  kind: string;
  apiGroup?: string;
  name: string;
  namespace?: string;
}
export interface RoleRef {
  apiGroup: string;
  kind: string;
  name: string;
}
export interface RoleBinding extends KubeObject {
  roleRef: RoleRef;
  subjects?: Subject[];
}


/** The Role's and RoleBinding's name: ironplane-kubeconfig-<cluster>, or a hashed name when that is too long. */
export function grantName(namespace: string, cluster: string): string {
  const plain = `${NAME_PREFIX}${cluster}`;
  return plain.length <= MAX_NAME ? plain : hashedName(plain, `${namespace}/${cluster}`, { max: MAX_NAME, form: 'subdomain' });
}

function labelsFor(cluster: Cluster): Record<string, string> {
  const name = cluster.metadata.name ?? '';
  // CAPI keeps Cluster names to a DNS label; a longer one is no label value.
  return { [MANAGED_BY_LABEL]: MANAGED_BY, ...(name.length <= 63 ? { [CLUSTER_NAME_LABEL]: name } : {}) };
}

function ownerRef(cluster: Cluster) {
  // No blockOwnerDeletion: it would need update on clusters/finalizers, and
  // nothing waits for these objects to go.
  return [{ apiVersion: cluster.apiVersion ?? 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', name: cluster.metadata.name ?? '', uid: cluster.metadata.uid ?? '', controller: true }];
}

/** The one rule of the Role: get on <cluster>-kubeconfig. */
export function grantRules(cluster: string): PolicyRule[] {
  return [{ apiGroups: [''], resources: ['secrets'], resourceNames: [kubeconfigSecretName(cluster)], verbs: ['get'] }];
}

export function desiredRole(cluster: Cluster): Role {
  const ns = cluster.metadata.namespace ?? '';
  const name = cluster.metadata.name ?? '';
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'Role',
    metadata: { name: grantName(ns, name), namespace: ns, labels: labelsFor(cluster), ownerReferences: ownerRef(cluster) },
    rules: grantRules(name),
  };
}

export function desiredRoleBinding(cluster: Cluster, subjects: Subject[]): RoleBinding {
  const ns = cluster.metadata.namespace ?? '';
  const name = grantName(ns, cluster.metadata.name ?? '');
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'RoleBinding',
    metadata: { name, namespace: ns, labels: labelsFor(cluster), ownerReferences: ownerRef(cluster) },
    roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name },
    subjects,
  };
}

const subjectKey = (s: Subject) => [s.kind, s.apiGroup ?? '', s.namespace ?? '', s.name].join('\u0000');

/**
 * Everyone the namespace's RoleBindings to the ClusterRole ironplane-tenant
 * bind, sorted and without repeats. A ServiceAccount subject keeps its
 * namespace (defaulted to the binding's) and, like the apiserver's copy,
 * no apiGroup, so a stored binding compares equal to the desired one.
 */
export function tenantSubjects(bindings: RoleBinding[], namespace: string): Subject[] {
  const seen = new Map<string, Subject>();
  for (const b of bindings) {
    if (b.metadata?.namespace !== namespace || b.metadata.deletionTimestamp) continue;
    if (b.roleRef?.kind !== 'ClusterRole' || b.roleRef.name !== TENANT_CLUSTER_ROLE || b.roleRef.apiGroup !== RBAC_GROUP) continue;
    for (const s of b.subjects ?? []) {
      const subject: Subject =
        s.kind === 'ServiceAccount' ? { kind: s.kind, name: s.name, namespace: s.namespace || namespace } : { kind: s.kind, apiGroup: s.apiGroup || RBAC_GROUP, name: s.name };
      seen.set(subjectKey(subject), subject);
    }
  }
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s);
}

/**
 * Why `obj` is not this controller's grant for `cluster`, or undefined when
 * it is: a controller ownerReference to the Cluster's uid and the
 * managed-by mark, and for a RoleBinding the Role of the same name.
 * Completes "… does not belong to this Cluster: …".
 */
export function notOurs(obj: Role | RoleBinding, cluster: Cluster): string | undefined {
  const notControlled = notControlledBy(obj, { kind: 'Cluster', uid: cluster.metadata.uid ?? '' });
  if (notControlled) return notControlled;
  const mark = obj.metadata?.labels?.[MANAGED_BY_LABEL];
  if (mark !== MANAGED_BY) return `it is not marked ${MANAGED_BY_LABEL}=${MANAGED_BY}`;
  if ('roleRef' in obj) {
    const want = grantName(cluster.metadata.namespace ?? '', cluster.metadata.name ?? '');
    const r = obj.roleRef;
    if (r.kind !== 'Role' || r.name !== want) return `it binds ${r.kind} ${r.name}, not Role ${want}`;
  }
  return undefined;
}

/** Whether the labels of `obj` include every one of `want`. */
function hasLabels(obj: KubeObject, want: Record<string, string>): boolean {
  const l = obj.metadata?.labels ?? {};
  return Object.entries(want).every(([k, v]) => l[k] === v);
}

export interface KubeconfigAccessCaches {
  clusters: Informer<Cluster>;
  roles: Informer<Role>;
  roleBindings: Informer<RoleBinding>;
}

export function kubeconfigAccessReconciler(deps: { client: Client; caches: KubeconfigAccessCaches; recorder?: EventRecorder }): ReconcileFn {
  const { client, caches } = deps;
  return async (req, log) => {
    const cluster = caches.clusters.get(req.key);
    // Gone or going: the garbage collector removes what it owns.
    if (!cluster || cluster.metadata.deletionTimestamp || !cluster.metadata.uid) return;
    const ns = req.namespace ?? splitKey(req.key).namespace ?? '';
    const name = grantName(ns, req.name);

    const refuse = (kind: string, reason: string) => {
      const message = `${kind} ${ns}/${name} does not belong to this Cluster: ${reason}; it is left unchanged and the kubeconfig is not granted by this controller`;
      log.warn('kubeconfig access not granted: the name is taken', { kind, name, reason });
      void deps.recorder?.event(cluster, 'Warning', AccessReasons.KubeconfigAccessNotOwned, message);
    };

    // The Role first: the RoleBinding is only made to a Role that is ours.
    const role = desiredRole(cluster);
    const existingRole = caches.roles.get(`${ns}/${name}`);
    if (!existingRole) {
      await createNew(client, Roles, role);
      log.info('kubeconfig Role created', { role: name });
    } else {
      const reason = notOurs(existingRole, cluster);
      if (reason) return refuse('Role', reason);
      if (!jsonEqual(existingRole.rules ?? [], role.rules!) || !hasLabels(existingRole, role.metadata!.labels!)) {
        // The resourceVersion makes the patch fail if the Role changed since
        // its owner was checked.
        await client.mergePatch(Roles, name, ns, { metadata: { resourceVersion: existingRole.metadata!.resourceVersion, labels: role.metadata!.labels }, rules: role.rules });
        log.info('kubeconfig Role updated', { role: name });
      }
    }

    const subjects = tenantSubjects(caches.roleBindings.list((b) => b.metadata?.namespace === ns), ns);
    const binding = desiredRoleBinding(cluster, subjects);
    const existing = caches.roleBindings.get(`${ns}/${name}`);
    if (!existing) {
      await createNew(client, RoleBindings, binding);
      log.info('kubeconfig RoleBinding created', { roleBinding: name, subjects: subjects.length });
      return;
    }
    const reason = notOurs(existing, cluster);
    if (reason) return refuse('RoleBinding', reason);
    if (!jsonEqual(existing.subjects ?? [], subjects) || !hasLabels(existing, binding.metadata!.labels!)) {
      await client.mergePatch(RoleBindings, name, ns, { metadata: { resourceVersion: existing.metadata!.resourceVersion, labels: binding.metadata!.labels }, subjects });
      log.info('kubeconfig RoleBinding subjects updated', { roleBinding: name, subjects: subjects.length });
    }
  };
}
