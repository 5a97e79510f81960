// The machine sets a topology asks for, from a Cluster's spec.topology (for
// lifecycle hooks and for the tenant's other clusters) or from the templates
// of a ValidateTopology request. Both size them from the same variables.
import type { Cluster } from '../api/generated/capi/v1beta2/cluster.js';
import type { ValidateTopologyRequestItem, Variable } from './api.js';
import type { MachineSetAsk } from './checks.js';
import { describe, kindOf, type Kind } from './templates.js';
import { builtinsOf, parseValues, variableMap, type Values, type VariableMap } from './variables.js';

export const KVM_MACHINE_TEMPLATE = 'KvmMachineTemplate';
export const METAL_MACHINE_TEMPLATE = 'MetalMachineTemplate';

/** The infrastructure template kind of each machine deployment class of a ClusterClass. */
export type ClassKinds = Record<string, string>;

/** Prefixes problems that come from a per-MachineDeployment override with where they come from. */
export function attribute(problems: readonly string[], overrides: ReadonlySet<string>, where: string): string[] {
  return problems.map((p) => {
    const name = /^variable ([A-Za-z]+)/.exec(p)?.[1];
    return name && overrides.has(name) ? `${where}: ${p}` : p;
  });
}

export const overrideNames = (vars: readonly Variable[] | undefined): Set<string> => new Set((vars ?? []).map((v) => v.name).filter((n) => n !== 'builtin'));

/** Whether the gpu variable applies to a machine deployment: the GPU class, or an explicit per-MachineDeployment override. */
export const gpuApplies = (mdClass: string | undefined, overrides: ReadonlySet<string>, gpuClass: string): boolean => mdClass === gpuClass || overrides.has('gpu');

function setOf(values: Values, replicas: number, virtual: boolean, withGpu: boolean): MachineSetAsk {
  return { replicas, virtual, cpu: values.workers.cpu, memoryBytes: values.workers.memoryBytes, ...(withGpu && values.gpu ? { gpu: { model: values.gpu.model, count: values.gpu.count } } : {}) };
}

/**
 * The machine sets of a Cluster's topology. A class missing from `kinds` is
 * counted as virtual machines: its CPU and memory count against the quota.
 */
export function clusterMachineSets(cluster: Cluster, kinds: ClassKinds | undefined, gpuClass: string): { sets: MachineSetAsk[]; values: Values; problems: string[] } {
  const topology = cluster.spec.topology;
  const global = (topology?.variables ?? []) as Variable[];
  const base = parseValues(variableMap(global));
  const problems = [...base.problems];
  const sets: MachineSetAsk[] = [];
  for (const md of topology?.workers?.machineDeployments ?? []) {
    const overrides = (md.variables?.overrides ?? []) as Variable[];
    const names = overrideNames(overrides);
    const parsed = names.size ? parseValues(variableMap(global, overrides)) : base;
    if (names.size) problems.push(...attribute(parsed.problems, names, `MachineDeployment ${md.name}`));
    const kind = kinds?.[md.class];
    sets.push(setOf(parsed.values, md.replicas ?? 1, kind !== METAL_MACHINE_TEMPLATE, gpuApplies(md.class, names, gpuClass)));
  }
  return { sets, values: base.values, problems: [...new Set(problems)] };
}

/** The machine sets of a ValidateTopology request: one per MachineDeployment, from its infrastructure template. */
export function requestMachineSets(globalVars: readonly Variable[] | undefined, items: readonly ValidateTopologyRequestItem[], gpuClass: string): MachineSetAsk[] {
  const sets: MachineSetAsk[] = [];
  for (const item of items) {
    if (item.holderReference.kind !== 'MachineDeployment') continue;
    const kind = item.object.kind;
    if (kind !== KVM_MACHINE_TEMPLATE && kind !== METAL_MACHINE_TEMPLATE) continue;
    const map = variableMap(globalVars, item.variables);
    const md = builtinsOf(map).machineDeployment;
    const { values } = parseValues(map);
    sets.push(setOf(values, md?.replicas ?? 1, kind === KVM_MACHINE_TEMPLATE, gpuApplies(md?.class, overrideNames(item.variables), gpuClass)));
  }
  return sets;
}

/**
 * A request item of a kind the extension handles, with the variables it sees
 * (the request's, overridden by the item's own) parsed. Problems of the
 * item's overrides are added to `problems`, attributed to the item; the
 * request-wide values are parsed once by the caller and reused when the
 * item overrides nothing.
 */
export function itemValues(
  requestVariables: readonly Variable[] | undefined,
  item: ValidateTopologyRequestItem,
  global: { values: Values },
  problems: string[],
): { kind: Kind; values: Values; map: VariableMap; overrides: ReadonlySet<string> } | undefined {
  const known = kindOf(item);
  if (!known) return undefined;
  if ('error' in known) {
    problems.push(known.error);
    return undefined;
  }
  const overrides = overrideNames(item.variables);
  const map = variableMap(requestVariables, item.variables);
  if (!overrides.size) return { kind: known.kind, values: global.values, map, overrides };
  const parsed = parseValues(map);
  problems.push(...attribute(parsed.problems, overrides, describe(item)));
  return { kind: known.kind, values: parsed.values, map, overrides };
}
