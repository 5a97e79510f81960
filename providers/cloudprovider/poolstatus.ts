// LoadBalancerPool status: capacity, how many addresses are held (counted
// from the SwitchLBRules that hold them), and a Ready condition that names
// the field at fault when the pool cannot be used (an entry that does not
// parse, or an address another pool also holds).
import type { LoadBalancerPool } from '../api/generated/ironplane/v1alpha1/loadbalancerpool.js';
import type { SwitchLBRule } from '../api/generated/kubeovn/v1/switchlbrule.js';
import type { Client } from '../kit/client.js';
import { isNotFound } from '../kit/client.js';
import { READY, setCondition, type Condition } from '../kit/conditions.js';
import type { Request, Result } from '../kit/controller.js';
import type { EventRecorder } from '../kit/events.js';
import type { Informer } from '../kit/informer.js';
import { jsonEqual } from '../kit/patch.js';
import type { CloudMetrics } from './metrics.js';
import { LoadBalancerPools, POOL_LABEL } from './names.js';
import { evaluatePools, type ReservedRange } from './pools.js';

export const PoolReasons = {
  Available: 'Available',
  /** Another pool holds some of the same addresses. */
  Overlap: 'Overlap',
  /** Some addresses lie where tenants may choose control-plane addresses (the extension's loadBalancerAddressRanges). */
  OverlapsControlPlaneRanges: 'OverlapsControlPlaneRanges',
  /** An entry of spec.addresses cannot be read. */
  InvalidAddresses: 'InvalidAddresses',
} as const;

export function poolStatusReconciler(deps: { client: Client; pools: Informer<LoadBalancerPool>; rules: Informer<SwitchLBRule>; reserved: () => ReservedRange[]; recorder?: EventRecorder; metrics?: CloudMetrics; now?: () => Date }) {
  const now = deps.now ?? (() => new Date());
  return async (req: Request): Promise<Result | void> => {
    const pool = deps.pools.get(req.name);
    if (!pool) {
      deps.metrics?.capacity.remove({ pool: req.name });
      deps.metrics?.allocated.remove({ pool: req.name });
      return;
    }
    const view = evaluatePools(deps.pools.list(), deps.reserved()).get(req.name)!;
    const allocated = deps.rules.list((r) => r.metadata.labels?.[POOL_LABEL] === req.name).length;
    const ready = view.problems.length
      ? { type: READY, status: false, reason: view.overlapping ? PoolReasons.Overlap : view.reserved ? PoolReasons.OverlapsControlPlaneRanges : PoolReasons.InvalidAddresses, message: `no address is handed out: ${view.problems.join('; ')}` }
      : { type: READY, status: true, reason: PoolReasons.Available, message: `${Math.max(view.capacity - allocated, 0)} of ${view.capacity} addresses free` };
    const before = pool.status?.conditions?.find((c) => c.type === READY);
    const conditions = setCondition(pool.status?.conditions as Condition[] | undefined, ready, { now: now(), ...(pool.metadata.generation !== undefined ? { generation: pool.metadata.generation } : {}) });
    const status = { ...pool.status, observedGeneration: pool.metadata.generation, capacity: view.capacity, allocated, conditions };
    deps.metrics?.capacity.set({ pool: req.name }, view.capacity);
    deps.metrics?.allocated.set({ pool: req.name }, allocated);
    if (jsonEqual(JSON.parse(JSON.stringify(pool.status ?? {})), JSON.parse(JSON.stringify(status)))) return;
    if (!ready.status && (before?.reason !== ready.reason || before.message !== ready.message)) void deps.recorder?.event(pool, 'Warning', ready.reason, ready.message);
    try {
      await deps.client.mergePatch(LoadBalancerPools, req.name, undefined, { metadata: { resourceVersion: pool.metadata.resourceVersion }, status }, { subresource: 'status' });
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
  };
}
