// The first step of every InfraMachine and InfraCluster reconcile: find the
// CAPI objects that own it, or wait for them with a condition that says so.
import type { Informer } from '../kit/informer.js';
import type { Prepared, Scope } from '../kit/reconciler.js';
import type { WithStatus } from '../kit/patch.js';
import { ownerClusterName, ownerMachineName, Reasons, type Cluster, type Machine } from './contract.js';

/** An InfraMachine's owners: its Machine, then the Machine's Cluster. */
export function machineOwners<T extends WithStatus>(
  scope: Scope<T, { machine: Machine; cluster: Cluster }>,
  caches: { machines: Informer<Machine>; clusters: Informer<Cluster> },
  conditionType: string,
  kind: string,
): Prepared {
  const ns = scope.obj.metadata?.namespace;
  const machineName = ownerMachineName(scope.obj);
  const machine = machineName ? caches.machines.get(`${ns}/${machineName}`) : undefined;
  if (!machine) {
    scope.setCondition({
      type: conditionType,
      status: false,
      reason: Reasons.WaitingForOwner,
      message: machineName ? `waiting for Machine ${machineName}` : `waiting for a Machine to own this ${kind}`,
    });
    return { stop: true };
  }
  const clusterName = machine.spec.clusterName;
  const cluster = caches.clusters.get(`${ns}/${clusterName}`);
  if (!cluster) {
    scope.setCondition({ type: conditionType, status: false, reason: Reasons.WaitingForCluster, message: `waiting for Cluster ${clusterName}` });
    return { stop: true };
  }
  scope.ctx = { machine, cluster };
  return { stop: false };
}

/** An InfraCluster's owner Cluster. */
export function clusterOwner<T extends WithStatus>(scope: Scope<T, { cluster: Cluster }>, clusters: Informer<Cluster>, conditionType: string, kind: string): Prepared {
  const ns = scope.obj.metadata?.namespace;
  const owner = ownerClusterName(scope.obj);
  const cluster = owner ? clusters.get(`${ns}/${owner}`) : undefined;
  if (!cluster) {
    scope.setCondition({
      type: conditionType,
      status: false,
      reason: Reasons.WaitingForOwner,
      message: owner ? `waiting for Cluster ${owner}` : `waiting for a Cluster to own this ${kind}`,
    });
    return { stop: true };
  }
  scope.ctx = { cluster };
  return { stop: false };
}
