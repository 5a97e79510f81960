// Names, labels and annotations of the Metal3 provider. Deterministic, so that
// a manager that dies mid-way finds its own objects again.
import { createHash } from 'node:crypto';
import { hashedName } from '../capi/ownership.js';

export const GROUP = 'infrastructure.ironplane.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const METAL_MACHINE_FINALIZER = 'metalmachine.infrastructure.ironplane.dev';
export const METAL_CLUSTER_FINALIZER = 'metalcluster.infrastructure.ironplane.dev';

/**
 * On the data Secrets next to a host: the MetalMachine they were rendered
 * for, by name, namespace and uid. They may sit in a pool namespace shared
 * by tenants and operators, where an owner reference to the MetalMachine
 * cannot point: all three must match before the provider changes or
 * deletes one.
 */
export const METAL_MACHINE_LABEL = 'infrastructure.ironplane.dev/metal-machine';
export const METAL_MACHINE_NAMESPACE_LABEL = 'infrastructure.ironplane.dev/metal-machine-namespace';
export const METAL_MACHINE_UID_LABEL = 'infrastructure.ironplane.dev/metal-machine-uid';
export const METAL_MACHINE_OWNER_LABELS = { name: METAL_MACHINE_LABEL, namespace: METAL_MACHINE_NAMESPACE_LABEL, uid: METAL_MACHINE_UID_LABEL } as const;
/** On a released host: the MetalMachineTemplate whose machine released it (node reuse). */
export const NODE_REUSE_LABEL = 'infrastructure.ironplane.dev/node-reuse';

/** BMO's own annotations: a paused host is left alone by BMO and by us; a detached one too. */
export const HOST_PAUSED_ANNOTATION = 'baremetalhost.metal3.io/paused';
export const HOST_DETACHED_ANNOTATION = 'baremetalhost.metal3.io/detached';
/** The annotation operators already use with CAPM3 to take a host out of rotation. */
export const HOST_UNHEALTHY_ANNOTATION = 'capi.metal3.io/unhealthy';

/** Set by Cluster API on an InfraMachine cloned from a template. */
export const CLONED_FROM_NAME_ANNOTATION = 'cluster.x-k8s.io/cloned-from-name';
export const CLONED_FROM_GROUPKIND_ANNOTATION = 'cluster.x-k8s.io/cloned-from-groupkind';

export const DEFAULT_ZONE_LABEL = 'topology.kubernetes.io/zone';

/** metal3://<host namespace>/<host>/<MetalMachine>, as CAPM3 writes it, so tooling that parses it keeps working. */
export function providerIDFor(hostNamespace: string, host: string, metalMachine: string): string {
  return `metal3://${hostNamespace}/${host}/${metalMachine}`;
}

export type DataKind = 'userdata' | 'networkdata' | 'metadata';

/**
 * The Secrets BMO reads must sit in the host's namespace, which may be a
 * pool shared by tenants: `<machine namespace>.<machine>` cut to fit, a hash
 * of "<machine namespace>/<machine>", then the kind. The hash is always
 * there, so no other machine, in any namespace, maps to the same name
 * (without it, machine "b.c" of the pool namespace and machine "c" of
 * namespace "b" would share "b.c-userdata"). At most 253 characters.
 */
export function dataSecretName(machineNamespace: string, machine: string, kind: DataKind): string {
  return hashedName(`${machineNamespace}.${machine}`, `${machineNamespace}/${machine}`, { max: 253, suffix: `-${kind}`, form: 'subdomain' });
}

/** A label value (≤ 63 characters, no '/') naming a template: "<namespace>.<name>", hashed when long. */
export function nodeReuseValue(namespace: string, template: string): string {
  const full = `${namespace}.${template}`;
  if (full.length <= 63) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 10);
  return `${full.slice(0, 52).replace(/[-.]+$/, '')}-${hash}`;
}
