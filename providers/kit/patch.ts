// The patch helper: a reconciler mutates a working copy of the object, and at
// the end of the reconcile the difference to the snapshot is written back in
// two requests, metadata/spec first and status second (they are separate
// endpoints for any kind with a status subresource).
//
// Conditions are merged, not overwritten: only the condition types this
// controller owns are taken from the working copy; every other type is kept
// as it is on the server right now. This is CAPI's "owned conditions" rule,
// which lets CAPI core and a provider write conditions on the same object.
import { isConflict, isNotFound, type Client } from './client.js';
import { mergeOwnedConditions, type Condition } from './conditions.js';
import type { KubeObject, ResourceType } from './types.js';

type Json = unknown;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep equality for JSON values. */
export function jsonEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}

/**
 * An RFC 7386 merge patch turning `before` into `after`: changed keys carry
 * the new value, removed keys carry null, arrays are replaced whole.
 * Returns undefined when nothing changed.
 */
export function createMergePatch(before: Json, after: Json): Json | undefined {
  if (jsonEqual(before, after)) return undefined;
  if (!isPlainObject(before) || !isPlainObject(after)) return after === undefined ? null : after;
  const patch: Record<string, unknown> = {};
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (after[k] === undefined) {
      if (before[k] !== undefined) patch[k] = null;
      continue;
    }
    const sub = createMergePatch(before[k], after[k]);
    if (sub !== undefined) patch[k] = sub;
  }
  return Object.keys(patch).length ? patch : undefined;
}

/** Objects with conditions in the v1beta2 place, status.conditions. */
export interface WithStatus extends KubeObject {
  spec?: unknown;
  status?: { conditions?: Condition[] };
}

export interface PatchOptions {
  /** Condition types this controller owns; others are never written. */
  ownedConditions: readonly string[];
  /** The kind has no status subresource: status goes with the main patch. */
  noStatusSubresource?: boolean;
}

/** Picks the parts of an object a controller may write through the main endpoint. */
function writable(o: WithStatus): Record<string, unknown> {
  const m = o.metadata ?? {};
  return {
    metadata: { labels: m.labels, annotations: m.annotations, finalizers: m.finalizers, ownerReferences: m.ownerReferences },
    spec: o.spec,
  };
}

const MAX_STATUS_ATTEMPTS = 3;

/**
 * Writes the changes from `before` to `after`. Returns the object as last
 * written, or `before` if nothing changed. A changed finalizer list is
 * written with the read resourceVersion, so two writers cannot silently drop
 * each other's finalizers; the loser gets a Conflict and retries.
 */
export async function patchObject<T extends WithStatus>(client: Client, rt: ResourceType, before: T, after: T, opts: PatchOptions): Promise<T> {
  const name = before.metadata?.name ?? '';
  const namespace = before.metadata?.namespace;
  let result = before;

  const main = createMergePatch(writable(before), writable(after)) as Record<string, Record<string, unknown>> | undefined;
  if (main) {
    if (!jsonEqual(before.metadata?.finalizers ?? [], after.metadata?.finalizers ?? [])) {
      main['metadata'] = { ...(main['metadata'] ?? {}), resourceVersion: before.metadata?.resourceVersion };
    }
    result = await client.mergePatch<T>(rt, name, namespace, main);
  }

  const statusChanged = !jsonEqual(withoutConditions(before.status), withoutConditions(after.status));
  const oursBefore = (before.status?.conditions ?? []).filter((c) => opts.ownedConditions.includes(c.type));
  const oursAfter = (after.status?.conditions ?? []).filter((c) => opts.ownedConditions.includes(c.type));
  const conditionsChanged = !jsonEqual(oursBefore, oursAfter);
  if (!statusChanged && !conditionsChanged) return result;
  // A deleted object has no status to write (its finalizer was just removed).
  if (after.metadata?.deletionTimestamp && !(after.metadata.finalizers?.length)) return result;

  const statusPatch = createMergePatch(withoutConditions(before.status) ?? {}, withoutConditions(after.status) ?? {}) as Record<string, unknown> | undefined;
  // The freshest copy we have: what the main patch returned, else the cached
  // object we started from. Conditions are merged into it and written with
  // its resourceVersion; if someone wrote in between, the write conflicts
  // and we merge again into a fresh read, so their conditions are kept.
  let live: T | undefined = result;
  for (let attempt = 1; ; attempt++) {
    let body: Record<string, unknown> = { ...(statusPatch ?? {}) };
    let rv: string | undefined;
    if (conditionsChanged) {
      if (!live) {
        try {
          live = await client.get<T>(rt, name, namespace);
        } catch (e) {
          if (isNotFound(e)) return result;
          throw e;
        }
      }
      body = { ...body, conditions: mergeOwnedConditions(live.status?.conditions, after.status?.conditions, opts.ownedConditions) };
      rv = live.metadata?.resourceVersion;
    }
    try {
      const patch = { ...(rv ? { metadata: { resourceVersion: rv } } : {}), status: body };
      return await client.mergePatch<T>(rt, name, namespace, patch, opts.noStatusSubresource ? {} : { subresource: 'status' });
    } catch (e) {
      if (isConflict(e) && attempt < MAX_STATUS_ATTEMPTS) {
        live = undefined;
        continue;
      }
      if (isNotFound(e)) return result;
      throw e;
    }
  }
}

function withoutConditions(status: WithStatus['status']): Record<string, unknown> | undefined {
  if (!status) return undefined;
  const { conditions: _c, ...rest } = status as Record<string, unknown>;
  return rest;
}
