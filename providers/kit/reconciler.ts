// The reconciler harness: the fixed plumbing every reconciler of ours runs,
// in controller-runtime/CAPI order, around two functions a provider writes:
//   1. get the object from the cache (gone: nothing to do);
//   2. prepare(): look up owners; may stop early with a waiting condition;
//   3. ensure the finalizer (if it was just added, return: the update event
//      brings us back, and nothing is created before the finalizer exists);
//   4. honour paused (a Paused condition says so);
//   5. snapshot, then run normal() or delete() on a working copy;
//   6. finally, summarise Ready and patch metadata/spec and status separately,
//      writing only the condition types this reconciler owns.
// normal() and delete() change `scope.obj` and return {requeueAfterMs} when
// they wait; every wait is also a condition with a reason and a message.
import { realClock, type Clock } from './clock.js';
import type { Client } from './client.js';
import { PAUSED, READY, setCondition, summarize, type ConditionInput } from './conditions.js';
import type { Request, Result } from './controller.js';
import type { Informer } from './informer.js';
import type { Logger } from './log.js';
import { patchObject, type WithStatus } from './patch.js';
import type { ResourceType } from './types.js';

export class Scope<T extends WithStatus, C extends object = Record<string, unknown>> {
  /** The working copy; changes are written back when the reconcile ends. */
  obj: T;
  /** What prepare() found (owners, cluster) for the later steps. */
  ctx: Partial<C> = {};
  private finalizerRemoved = false;

  constructor(
    readonly original: T,
    readonly log: Logger,
    private readonly clock: Clock,
    private readonly finalizer: string,
  ) {
    this.obj = structuredClone(original);
  }

  now(): Date {
    return new Date(this.clock.now());
  }

  get deleting(): boolean {
    return Boolean(this.obj.metadata?.deletionTimestamp);
  }

  setCondition(c: ConditionInput): void {
    const status = (this.obj.status ??= {});
    status.conditions = setCondition(status.conditions, c, { now: this.now(), generation: this.obj.metadata?.generation });
  }

  hasFinalizer(): boolean {
    return this.obj.metadata?.finalizers?.includes(this.finalizer) ?? false;
  }

  addFinalizer(): void {
    const md = (this.obj.metadata ??= {});
    md.finalizers = [...(md.finalizers ?? []), this.finalizer];
  }

  /** Call from delete() once everything the object owns is gone. */
  removeFinalizer(): void {
    const md = (this.obj.metadata ??= {});
    md.finalizers = (md.finalizers ?? []).filter((f) => f !== this.finalizer);
    this.finalizerRemoved = true;
  }

  get removedFinalizer(): boolean {
    return this.finalizerRemoved;
  }
}

/** What prepare() decides: carry on, or stop here with a result. */
export type Prepared = { stop: true; result?: Result } | { stop: false } | void;

export interface ObjectReconcilerOptions<T extends WithStatus, C extends object = Record<string, unknown>> {
  client: Client;
  resource: ResourceType;
  cache: Informer<T>;
  finalizer: string;
  /** Condition types this reconciler writes; Ready and Paused are added. */
  ownedConditions: readonly string[];
  /** Conditions summarised into Ready; defaults to ownedConditions. */
  readyOf?: readonly string[];
  clock?: Clock;
  prepare?(scope: Scope<T, C>): Promise<Prepared>;
  /** Returns a reason string when reconciliation is paused. */
  paused?(scope: Scope<T, C>): string | undefined;
  normal(scope: Scope<T, C>): Promise<Result | void>;
  delete(scope: Scope<T, C>): Promise<Result | void>;
}

export function objectReconciler<T extends WithStatus, C extends object = Record<string, unknown>>(o: ObjectReconcilerOptions<T, C>): (req: Request, log: Logger) => Promise<Result | void> {
  const clock = o.clock ?? realClock;
  const owned = [...new Set([READY, PAUSED, ...o.ownedConditions])];
  const readyOf = o.readyOf ?? o.ownedConditions.filter((t) => t !== READY && t !== PAUSED);

  return async (req, log) => {
    const cached = o.cache.get(req.key);
    if (!cached) return;
    const scope = new Scope<T, C>(cached, log, clock, o.finalizer);
    // summarise is false where Ready must not move (finalizer just added,
    // paused): the object has not been looked at yet.
    let summarise = true;
    const body = async (): Promise<Result | void> => {
      if (!scope.deleting) {
        const p = await o.prepare?.(scope);
        if (p && p.stop) return p.result;
        if (!scope.hasFinalizer()) {
          scope.addFinalizer();
          summarise = false;
          return;
        }
      } else if (!scope.hasFinalizer()) {
        return; // being deleted and nothing of ours to clean up
      }
      const pausedReason = o.paused?.(scope);
      if (pausedReason) {
        scope.setCondition({ type: PAUSED, status: true, reason: 'Paused', message: pausedReason });
        summarise = false;
        return;
      }
      scope.setCondition({ type: PAUSED, status: false, reason: 'NotPaused' });
      return scope.deleting ? o.delete(scope) : o.normal(scope);
    };

    let result: Result | void = undefined;
    let failure: unknown;
    try {
      result = await body();
    } catch (e) {
      failure = e;
    }
    if (summarise && !scope.removedFinalizer) {
      const ready = summarize(scope.obj.status?.conditions, readyOf);
      if (scope.deleting) Object.assign(ready, { status: 'False', reason: 'Deleting', message: ready.message ?? 'deletion in progress' });
      scope.setCondition(ready);
    }
    try {
      await patchObject(o.client, o.resource, scope.original, scope.obj, { ownedConditions: owned });
    } catch (patchErr) {
      // Surface the reconcile error first; it explains why the patch mattered.
      if (failure === undefined) failure = patchErr;
      else log.error('patching after a failed reconcile also failed', { error: (patchErr as Error).message });
    }
    if (failure !== undefined) throw failure;
    return result;
  };
}
