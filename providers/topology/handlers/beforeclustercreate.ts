// BeforeClusterCreate: a Cluster is created only in a namespace of a Capsule
// Tenant whose quota holds what the topology asks, and only with address
// ranges that pass the same checks as ValidateTopology. Otherwise the hook
// blocks with retryAfterSeconds and a message naming what is missing, which
// CAPI shows in the Cluster's TopologyReconciled condition (ClusterCreating).
import { blocked, failure, success, type ClusterRequest, type RetryResponse } from '../api.js';
import { askOf, networkProblems, quotaShortfalls, type Tenancy } from '../checks.js';
import { clusterMachineSets, type ClassKinds } from '../machinesets.js';
import { resolveConfig, type BaseConfig } from '../variables.js';
import { joinProblems } from './generatepatches.js';

/**
 * Tenancy and quota change by operator action (a namespace label, a Tenant
 * edit); checking again after a minute keeps the wait short without polling
 * the extension hard. CAPI does not call again before the delay (v1.12+).
 */
export const TENANCY_RETRY_SECONDS = 60;
/** Invalid ranges need a Cluster edit, which triggers a reconcile anyway. */
export const INVALID_RETRY_SECONDS = 60;

export function beforeClusterCreate(req: ClusterRequest, base: BaseConfig, tenancy: Tenancy, kinds: ClassKinds | undefined): RetryResponse {
  const { config, problems: settingsProblems } = resolveConfig(base, req.settings);
  if (settingsProblems.length) return failure('BeforeClusterCreate', joinProblems(settingsProblems)) as RetryResponse;
  const cluster = req.cluster;
  const { sets, values, problems } = clusterMachineSets(cluster, kinds, config.gpuClass);
  const net = cluster.spec.clusterNetwork;
  problems.push(...networkProblems(values, config, { pods: net?.pods?.cidrBlocks, services: net?.services?.cidrBlocks }));
  if (problems.length) return blocked('BeforeClusterCreate', INVALID_RETRY_SECONDS, `the topology is invalid: ${joinProblems(problems)}`);
  if (tenancy.problem) return blocked('BeforeClusterCreate', TENANCY_RETRY_SECONDS, tenancy.problem);
  const short = quotaShortfalls(askOf(sets), tenancy);
  if (short.length) return blocked('BeforeClusterCreate', TENANCY_RETRY_SECONDS, `Capsule Tenant ${tenancy.tenant} lacks quota for this cluster: ${short.join(', ')}`);
  return success<RetryResponse>('BeforeClusterCreate', {});
}
