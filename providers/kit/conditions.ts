// Conditions in the metav1.Condition shape that the CAPI v1beta2 contract
// uses. Reconcilers set only the types they own; the patch helper merges
// those into the live object so that controllers sharing an object (CAPI core
// writes some conditions on ours) never overwrite each other.

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export interface ConditionInput {
  type: string;
  status: ConditionStatus | boolean;
  reason: string;
  message?: string;
}

export const READY = 'Ready';
export const PAUSED = 'Paused';

function toStatus(s: ConditionStatus | boolean): ConditionStatus {
  if (s === true) return 'True';
  if (s === false) return 'False';
  return s;
}

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'True';
}

/**
 * Returns conditions with `input` set. lastTransitionTime changes only when
 * the status changes, so an unchanged condition produces no patch.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  opts: { now: Date; generation?: number },
): Condition[] {
  const list = [...(conditions ?? [])];
  const status = toStatus(input.status);
  const idx = list.findIndex((c) => c.type === input.type);
  const prev = idx >= 0 ? list[idx] : undefined;
  const next: Condition = {
    type: input.type,
    status,
    reason: input.reason,
    ...(input.message ? { message: input.message } : {}),
    ...(opts.generation !== undefined ? { observedGeneration: opts.generation } : {}),
    lastTransitionTime:
      prev && prev.status === status ? prev.lastTransitionTime : opts.now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  if (idx >= 0) list[idx] = next;
  else list.push(next);
  return sortConditions(list);
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** Ready first, then alphabetical: a stable order keeps patches minimal. */
export function sortConditions(conditions: Condition[]): Condition[] {
  return conditions.sort((a, b) =>
    a.type === READY ? -1 : b.type === READY ? 1 : a.type < b.type ? -1 : a.type > b.type ? 1 : 0,
  );
}

/**
 * Merges the owned condition types from `ours` into `live`: owned types take
 * our value (or are removed if we dropped them), every other type keeps the
 * live value.
 */
export function mergeOwnedConditions(
  live: readonly Condition[] | undefined,
  ours: readonly Condition[] | undefined,
  owned: readonly string[],
): Condition[] {
  const own = new Set(owned);
  const kept = (live ?? []).filter((c) => !own.has(c.type));
  const mine = (ours ?? []).filter((c) => own.has(c.type));
  return sortConditions([...kept, ...mine]);
}

/**
 * Summarises `of` into a Ready condition, as CAPI's summary does: Ready is
 * False with the first False condition's reason and a message listing every
 * non-True condition; Unknown if any is missing or Unknown; True otherwise.
 * A negative-polarity type (Paused, Deleting) is not part of a summary.
 */
export function summarize(conditions: readonly Condition[] | undefined, of: readonly string[]): ConditionInput {
  const issues: string[] = [];
  let worst: ConditionStatus = 'True';
  let reason = 'Ready';
  for (const type of of) {
    const c = getCondition(conditions, type);
    if (!c) {
      if (worst === 'True') {
        worst = 'Unknown';
        reason = 'ReadyUnknown';
      }
      issues.push(`${type}: not reported yet`);
      continue;
    }
    if (c.status === 'True') continue;
    if (c.status === 'False' && worst !== 'False') {
      worst = 'False';
      reason = c.reason;
    } else if (c.status === 'Unknown' && worst === 'True') {
      worst = 'Unknown';
      reason = c.reason;
    }
    issues.push(`${type}: ${c.message ?? c.reason}`);
  }
  return { type: READY, status: worst, reason, ...(issues.length ? { message: issues.join('; ') } : {}) };
}
