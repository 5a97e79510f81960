// BeforeClusterUpgrade: an upgrade starts only inside the Cluster's
// maintenance window (annotation ironplane.dev/maintenance-window, see
// ../maintenance.ts) and only while fewer than the configured number of other
// Clusters of the same ClusterClass are upgrading. "Upgrading" is what CAPI
// itself records: its runtime.cluster.x-k8s.io/pending-hooks annotation
// lists AfterClusterUpgrade from the moment an upgrade is let through until
// it has finished (exp/topology/desiredstate), so clusters that are only
// waiting here do not count, and two waiting clusters cannot block each other.
import { blocked, failure, success, type BeforeClusterUpgradeRequest, type RetryResponse } from '../api.js';
import { evaluate, formatOpening, MAINTENANCE_ANNOTATION, parseSchedule } from '../maintenance.js';
import { resolveConfig, type BaseConfig } from '../variables.js';
import { joinProblems } from './generatepatches.js';

/**
 * How soon CAPI asks again while the window is closed. The annotation can be
 * changed at any time and CAPI does not call before the delay: five minutes
 * bounds how long an operator's "open" takes to be seen.
 */
export const MAINTENANCE_RECHECK_SECONDS = 300;
/** Upgrades of other clusters take minutes; checking each minute starts the next one soon after a slot frees (--upgrade-retry-seconds). */
export const CONCURRENCY_RETRY_SECONDS = 60;

export interface Fleet {
  /** The class, "namespace/name". */
  classRef: string;
  /** Other Clusters of the class that are upgrading (or were just let through), "namespace/name", sorted. */
  upgrading: string[];
  /** Why the other Clusters cannot be known yet (the cache is not synced): no upgrade starts blind. */
  unknown?: string;
}

export function beforeClusterUpgrade(req: BeforeClusterUpgradeRequest, base: BaseConfig, fleet: Fleet, now: Date): RetryResponse {
  const { config, problems } = resolveConfig(base, req.settings);
  if (problems.length) return failure('BeforeClusterUpgrade', joinProblems(problems)) as RetryResponse;
  const reasons: string[] = [];
  let retry = 0;
  const annotation = req.cluster.metadata.annotations?.[MAINTENANCE_ANNOTATION];
  if (annotation !== undefined) {
    const schedule = parseSchedule(annotation);
    if (typeof schedule === 'string') {
      reasons.push(`the ${MAINTENANCE_ANNOTATION} annotation is invalid, so no upgrade starts until it is fixed: ${schedule}`);
      retry = MAINTENANCE_RECHECK_SECONDS;
    } else {
      const state = evaluate(schedule, now);
      if (!state.open) {
        if (schedule.kind === 'closed') reasons.push(`the maintenance window is closed (${MAINTENANCE_ANNOTATION}: closed): set it to open, or to a schedule, to let the upgrade to ${req.toKubernetesVersion} start`);
        else reasons.push(`outside the maintenance window "${annotation.trim()}" (UTC)${state.nextOpen ? `: it next opens ${formatOpening(state.nextOpen)}` : ''}`);
        const untilOpen = state.nextOpen ? Math.ceil((state.nextOpen.getTime() - now.getTime()) / 1000) : MAINTENANCE_RECHECK_SECONDS;
        retry = Math.max(1, Math.min(MAINTENANCE_RECHECK_SECONDS, untilOpen));
      }
    }
  }
  const limit = config.upgradeConcurrency;
  const again = config.upgradeRetrySeconds ?? CONCURRENCY_RETRY_SECONDS;
  if (limit > 0 && fleet.unknown) {
    reasons.push(fleet.unknown);
    retry = retry === 0 ? again : Math.min(retry, again);
  } else if (limit > 0 && fleet.upgrading.length >= limit) {
    const n = fleet.upgrading.length;
    reasons.push(`${n} other Cluster${n === 1 ? '' : 's'} of ClusterClass ${fleet.classRef} ${n === 1 ? 'is' : 'are'} upgrading (${fleet.upgrading.join(', ')}) and at most ${limit} may upgrade at once: waiting for one to finish`);
    retry = retry === 0 ? again : Math.min(retry, again);
  }
  if (reasons.length) return blocked('BeforeClusterUpgrade', retry, reasons.join('; '));
  return success<RetryResponse>('BeforeClusterUpgrade', {});
}
