// What must be true of a Cluster, as the apiserver holds it, before a
// lifecycle hook acts on it. A hook request is a hint: it names the Cluster
// (namespace, name, uid) and the extension reads the Cluster itself, so a
// forged request (any client that reaches the port can send one) changes
// nothing the real Cluster's state does not already call for.
//
// Pure: the server gathers the Cluster (cache, then a live read) and the
// control plane's version, and these functions say whether the premise holds,
// with the message a Failure carries when it does not.
import type { Cluster } from '../capi/contract.js';

/** The Cluster a request names. */
export interface ClusterRef {
  namespace: string;
  name: string;
  uid: string;
}

export const refOf = (c: Cluster): ClusterRef => ({ namespace: c.metadata.namespace ?? '', name: c.metadata.name ?? '', uid: c.metadata.uid ?? '' });

/**
 * One message for a Cluster that does not exist and one whose uid differs:
 * a caller learns nothing about which Clusters exist, and a Cluster deleted
 * and created again under the same name is not the one the request was for.
 */
export const notHeld = (ref: ClusterRef): string =>
  `Cluster ${ref.namespace}/${ref.name} with uid ${ref.uid} is not a Cluster the apiserver holds: the request does not describe a real Cluster, so nothing was done`;

/** CAPI's own test (topology reconcile_state.go isControlPlaneInitialized) is the ControlPlaneInitialized condition; status.initialization.controlPlaneInitialized is set with it. */
export function controlPlaneInitialized(c: Cluster): boolean {
  if (c.status?.initialization?.controlPlaneInitialized === true) return true;
  return (c.status?.conditions ?? []).some((x) => x.type === 'ControlPlaneInitialized' && x.status === 'True');
}

export function initializedProblem(c: Cluster): string | undefined {
  if (controlPlaneInitialized(c)) return undefined;
  return `the control plane of Cluster ${c.metadata.namespace}/${c.metadata.name} is not initialized (status.initialization.controlPlaneInitialized is not true): no add-on labels were written`;
}

export function deletingProblem(c: Cluster): string | undefined {
  if (c.metadata.deletionTimestamp) return undefined;
  return `Cluster ${c.metadata.namespace}/${c.metadata.name} is not being deleted (it has no deletionTimestamp): nothing is reported`;
}

/** The control plane's versions, read through spec.controlPlaneRef. */
export interface ControlPlaneVersion {
  /** "Kind namespace/name" for messages. */
  what: string;
  spec?: string;
  status?: string;
}

/**
 * An upgrade to `to` is pending when the Cluster's topology asks for it and
 * the control plane has not been given it yet: CAPI calls BeforeClusterUpgrade
 * with toKubernetesVersion = spec.topology.version while the control plane's
 * spec.version (its fromKubernetesVersion) is still the old one
 * (exp/topology/desiredstate lifecycle_hooks.go).
 */
export function upgradeProblem(c: Cluster, to: string, cp: ControlPlaneVersion | string): string | undefined {
  const name = `${c.metadata.namespace}/${c.metadata.name}`;
  const version = c.spec.topology?.version;
  if (version !== to) return `no upgrade of Cluster ${name} to ${to} is pending: its spec.topology.version is ${version ?? 'unset'}`;
  if (typeof cp === 'string') return `cannot tell whether an upgrade of Cluster ${name} to ${to} is pending: ${cp}`;
  const current = cp.spec ?? cp.status;
  if (current === undefined) return `cannot tell whether an upgrade of Cluster ${name} to ${to} is pending: ${cp.what} has no spec.version or status.version`;
  if (current === to) return `no upgrade of Cluster ${name} to ${to} is pending: its control plane ${cp.what} already has version ${to}`;
  return undefined;
}
