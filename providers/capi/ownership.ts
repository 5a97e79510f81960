// Names and ownership proofs for objects a provider creates where someone
// else may already hold the name: cluster-scoped objects, and Secrets in
// namespaces shared by several tenants or written by other controllers.
//
// The rule (DESIGN §6b): a provider writes or deletes an object only when
// the object's own marks prove it belongs to the caller, by namespace, name
// AND uid. A name alone proves nothing: another tenant, an operator or an
// earlier object of the same name may hold it.
//
// What a refusal says about the holder is written for the tenant who reads
// the condition: it names the holder only when the holder lives in the
// tenant's own namespace; another tenant's namespace and names stay hidden.
import { createHash } from 'node:crypto';
import { isAlreadyExists, type Client } from '../kit/client.js';
import type { KubeObject, ResourceType } from '../kit/types.js';

/** Hex digits of the hash in a collision-free name: 64 bits, beyond a brute-forced second preimage. */
export const NAME_HASH_LENGTH = 16;

/** Lowercase hex of sha256(key), NAME_HASH_LENGTH long. */
export function nameHash(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, NAME_HASH_LENGTH);
}

/**
 * `<readable>-<hash of key><suffix>`, at most `max` characters: the readable
 * part is cut to fit and cleaned so the result stays a valid DNS label
 * (`label`: no dots, the default) or subdomain (`subdomain`: dots kept). The hash is always there, so two
 * keys never share a name just because their readable parts agree (team +
 * a-alpha and team-a + alpha both read "team-a-alpha"). Deterministic: a
 * manager that dies mid-create finds its objects again by the same name.
 */
export function hashedName(readable: string, key: string, opts: { max?: number; suffix?: string; form?: 'label' | 'subdomain' } = {}): string {
  const max = opts.max ?? 63;
  const invalid = opts.form === 'subdomain' ? /[^a-z0-9.-]+/g : /[^a-z0-9-]+/g;
  const suffix = opts.suffix ?? '';
  const hash = nameHash(key);
  const room = max - hash.length - 1 - suffix.length;
  if (room < 1) throw new Error(`no room for a readable name in ${max} characters`);
  const prefix = readable
    .toLowerCase()
    .replace(invalid, '-')
    .slice(0, room)
    .replace(/[-.]+$/, '')
    .replace(/^[-.]+/, '');
  return `${prefix || 'x'}-${hash}${suffix}`;
}

export interface Owner {
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

/** The labels that mark an object as made for one namespaced owner (the object cannot carry an ownerReference to it). */
export interface OwnerLabels {
  name: string;
  namespace: string;
  uid: string;
}

/** The ownership labels for `owner`. */
export function ownerLabels(keys: OwnerLabels, owner: Owner): Record<string, string> {
  return { [keys.name]: owner.name, [keys.namespace]: owner.namespace, [keys.uid]: owner.uid };
}

/**
 * Why the ownership labels of `obj` do not prove it belongs to `owner`, or
 * undefined when they do. The reason completes "… does not belong to this
 * <kind>: it …".
 */
export function notMarkedFor(obj: KubeObject, keys: OwnerLabels, owner: Owner): string | undefined {
  const l = obj.metadata?.labels ?? {};
  const name = l[keys.name];
  const ns = l[keys.namespace];
  const uid = l[keys.uid];
  if (name === owner.name && ns === owner.namespace && uid === owner.uid) return undefined;
  if (name === undefined && ns === undefined && uid === undefined) return `it carries no Ironplane ownership labels (${keys.name}, ${keys.namespace}, ${keys.uid})`;
  if (ns !== owner.namespace) return `it is marked for a ${owner.kind} in another namespace`;
  if (name !== owner.name) return `it is marked for ${owner.kind} ${ns}/${name ?? '<none>'}`;
  return uid ? `it is marked for an earlier ${owner.kind} ${ns}/${name} (uid ${uid}, this one is ${owner.uid})` : `it has no ${keys.uid} label`;
}

/** True when `obj` has a controller ownerReference to `owner` (same kind and uid). */
export function isControlledBy(obj: KubeObject, owner: Pick<Owner, 'kind' | 'uid'>): boolean {
  return obj.metadata?.ownerReferences?.some((r) => r.controller === true && r.kind === owner.kind && r.uid === owner.uid) ?? false;
}

/**
 * Why `obj` is not controlled by `owner`, or undefined when it is. Owner
 * references point within the object's namespace, which is the tenant's own,
 * so the controller may be named. Completes "… does not belong to this
 * <kind>: it …".
 */
export function notControlledBy(obj: KubeObject, owner: Pick<Owner, 'kind' | 'uid'>): string | undefined {
  if (isControlledBy(obj, owner)) return undefined;
  const c = obj.metadata?.ownerReferences?.find((r) => r.controller);
  if (!c) return 'it has no controller ownerReference';
  if (c.kind === owner.kind) return `it is controlled by ${c.kind} ${c.name} (uid ${c.uid}, this one is ${owner.uid})`;
  return `it is controlled by ${c.kind} ${c.name}`;
}

/**
 * Creates `obj`, never applies it: when an object of that name appeared
 * since the caller saw none, the create fails instead of writing over it,
 * and the error asks for a retry, which reads the newcomer and checks its
 * owner before anything is written.
 */
export async function createNew<T extends KubeObject>(client: Pick<Client, 'create'>, rt: ResourceType, obj: T): Promise<void> {
  try {
    await client.create(rt, obj);
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
    const ns = obj.metadata?.namespace;
    throw new Error(`${rt.kind} ${ns ? `${ns}/` : ''}${obj.metadata?.name} appeared while it was being created; its owner is checked on the retry`);
  }
}
