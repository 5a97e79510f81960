// Checks shared by the topology hooks: the tenant's address ranges, the
// platform's allowlists, and what a topology asks of its Capsule Tenant's
// quota. Pure functions; every message is deterministic (sorted, no clock).
import { allowlistProblems, type Allowlists } from './allowlists.js';
import type { ValidateTopologyRequestItem } from './api.js';
import { overlaps, parseCidr, type Cidr } from './cidr.js';
import { attribute } from './machinesets.js';
import { formatBytes, formatCores, parseQuantity } from './quantity.js';
import { describe } from './templates.js';
import { DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR, type Config, type Values, type VariableMap } from './variables.js';

interface Limits {
  v4: [number, number];
  v6: [number, number];
  why: string;
}

// Prefix lengths a range may have, [shortest, longest].
const SIZES: Record<'nodeCIDR' | 'podCIDR' | 'serviceCIDR', Limits> = {
  // At least 8 addresses: gateway, broadcast and a few nodes.
  nodeCIDR: { v4: [8, 29], v6: [48, 120], why: 'a node range' },
  // The controller manager carves a /24 (IPv4) or /64 (IPv6) per node.
  podCIDR: { v4: [8, 24], v6: [32, 64], why: 'a pod range' },
  // kube-apiserver refuses service ranges above /12 (IPv4) or /108 (IPv6);
  // the kubernetes and DNS Services need the first addresses.
  serviceCIDR: { v4: [12, 28], v6: [108, 124], why: 'a service range' },
};

/** Problems with the tenant's ranges, sorted. clusterNetwork is the Cluster's spec.clusterNetwork (builtin.cluster.network). */
export function networkProblems(values: Values, config: Pick<Config, 'reservedCIDRs'>, clusterNetwork?: { pods?: string[]; services?: string[] }): string[] {
  const problems: string[] = [];
  const ranges = [
    ['nodeCIDR', values.network.nodeCIDR],
    ['podCIDR', values.network.podCIDR],
    ['serviceCIDR', values.network.serviceCIDR],
  ] as const;

  const families = new Set(ranges.map(([, c]) => c.family));
  if (families.size > 1) problems.push(`network: nodeCIDR ${values.network.nodeCIDR.text}, podCIDR ${values.network.podCIDR.text} and serviceCIDR ${values.network.serviceCIDR.text} must be of one IP family`);

  for (const [name, c] of ranges) {
    const [shortest, longest] = SIZES[name][c.family === 4 ? 'v4' : 'v6'];
    if (c.prefix < shortest) problems.push(`network.${name} ${c.text} is too large for ${SIZES[name].why}: use /${shortest} or smaller for IPv${c.family}`);
    if (c.prefix > longest) problems.push(`network.${name} ${c.text} is too small for ${SIZES[name].why}: use /${longest} or larger for IPv${c.family}`);
  }
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      const [an, a] = ranges[i]!;
      const [bn, b] = ranges[j]!;
      if (overlaps(a, b)) problems.push(`network.${an} ${a.text} overlaps network.${bn} ${b.text}`);
    }
  }
  for (const [name, c] of ranges) {
    for (const r of config.reservedCIDRs) {
      if (overlaps(c, r)) problems.push(`network.${name} ${c.text} overlaps the platform's reserved range ${r.text}`);
    }
  }
  problems.push(...clusterNetworkProblem('podCIDR', 'pods', values.network.podCIDR, DEFAULT_POD_CIDR, clusterNetwork?.pods));
  problems.push(...clusterNetworkProblem('serviceCIDR', 'services', values.network.serviceCIDR, DEFAULT_SERVICE_CIDR, clusterNetwork?.services));
  return problems.sort();
}

/**
 * Kamaji takes the pod and service ranges from the Cluster's
 * spec.clusterNetwork (first block), else its own defaults: the variable must
 * say what will be in effect, or the checks above checked the wrong range.
 */
function clusterNetworkProblem(variable: string, field: 'pods' | 'services', value: Cidr, kamajiDefault: string, blocks: string[] | undefined): string[] {
  const first = blocks?.[0];
  if (first === undefined) {
    if (value.text === kamajiDefault) return [];
    return [`network.${variable} ${value.text} is not in effect: the Cluster sets no spec.clusterNetwork.${field}.cidrBlocks, so Kamaji uses ${kamajiDefault}; set spec.clusterNetwork.${field}.cidrBlocks to ["${value.text}"]`];
  }
  const parsed = parseCidr(first);
  const text = typeof parsed === 'string' ? first : parsed.text;
  if (text === value.text) return [];
  return [`network.${variable} ${value.text} differs from the Cluster's spec.clusterNetwork.${field}.cidrBlocks[0] ${first}, which Kamaji uses: make them equal`];
}

/**
 * Values outside the platform's allowlists: those of the request's variables
 * (`item` undefined), or those a template's per-MachineDeployment overrides
 * set (attributed to the template; values it does not override are the
 * request's and reported once, without it).
 */
export function allowlistCheck(map: VariableMap, allow: Allowlists, item?: { item: ValidateTopologyRequestItem; overrides: ReadonlySet<string> }): string[] {
  const problems = allowlistProblems(map, allow);
  if (!item) return problems;
  if (item.overrides.size === 0) return [];
  return attribute(problems, item.overrides, describe(item.item));
}

/** What a cluster's workers take from a tenant's quota. */
export interface Ask {
  machines: number;
  /** Cores. */
  cpu: number;
  /** Bytes. */
  memory: number;
  /** Devices by resource name, e.g. nvidia.com/GA102GL_A10. */
  gpus: Record<string, number>;
}

export const emptyAsk = (): Ask => ({ machines: 0, cpu: 0, memory: 0, gpus: {} });

export function addAsk(a: Ask, b: Ask): Ask {
  const gpus = { ...a.gpus };
  for (const [k, v] of Object.entries(b.gpus)) gpus[k] = (gpus[k] ?? 0) + v;
  return { machines: a.machines + b.machines, cpu: a.cpu + b.cpu, memory: a.memory + b.memory, gpus };
}

/** One machine set of a topology, sized from its variables. */
export interface MachineSetAsk {
  replicas: number;
  /** KubeVirt VMs take CPU and memory from the namespace's quota (their virt-launcher pods); bare-metal hosts do not. */
  virtual: boolean;
  cpu: number;
  memoryBytes: number;
  gpu?: { model: string; count: number };
}

export function askOf(sets: readonly MachineSetAsk[]): Ask {
  let ask = emptyAsk();
  for (const s of sets) {
    ask = addAsk(ask, {
      machines: s.replicas,
      cpu: s.virtual ? s.replicas * s.cpu : 0,
      memory: s.virtual ? s.replicas * s.memoryBytes : 0,
      gpus: s.gpu ? { [s.gpu.model]: s.replicas * s.gpu.count } : {},
    });
  }
  return ask;
}

/** The quota a Capsule Tenant sets and what the tenant's other clusters already ask of it. */
export interface Tenancy {
  namespace: string;
  /** Why the namespace cannot be placed in a tenant; set instead of the rest. */
  problem?: string;
  tenant?: string;
  /** Hard limits by ResourceQuota resource name; the lowest where several quota items set one. */
  hard: Record<string, string>;
  /** "Tenant" counts every namespace of the tenant, "Namespace" only this one (Capsule's resourceQuotas.scope). */
  scope: 'Tenant' | 'Namespace';
  /** What the tenant's other clusters ask, within the scope. */
  used: Ask;
}

const CPU_KEYS = ['requests.cpu', 'cpu', 'limits.cpu'];
const MEMORY_KEYS = ['requests.memory', 'memory', 'limits.memory'];
export const MACHINES_KEY = 'count/machines.cluster.x-k8s.io';

interface Line {
  key: string;
  need: number;
  used: number;
  hard: number;
  format: (n: number) => string;
}

/**
 * Quota lines the ask does not fit in, sorted by resource name, e.g.
 * "requests.cpu needs 16, 8 of 24 left". gpusOnly limits the check to GPUs.
 */
export function quotaShortfalls(ask: Ask, tenancy: Tenancy, opts: { gpusOnly?: boolean } = {}): string[] {
  const lines: Line[] = [];
  const plain = (n: number) => String(n);
  for (const [key, raw] of Object.entries(tenancy.hard)) {
    const hard = parseQuantity(raw);
    if (hard === undefined) continue;
    if (!opts.gpusOnly && CPU_KEYS.includes(key)) lines.push({ key, need: ask.cpu, used: tenancy.used.cpu, hard, format: formatCores });
    else if (!opts.gpusOnly && MEMORY_KEYS.includes(key)) lines.push({ key, need: ask.memory, used: tenancy.used.memory, hard, format: formatBytes });
    else if (!opts.gpusOnly && key === MACHINES_KEY) lines.push({ key, need: ask.machines, used: tenancy.used.machines, hard, format: plain });
    else if (key.startsWith('requests.')) {
      const model = key.slice('requests.'.length);
      const need = ask.gpus[model];
      if (need) lines.push({ key, need, used: tenancy.used.gpus[model] ?? 0, hard, format: plain });
    }
  }
  return lines
    .filter((l) => l.need > 0 && l.used + l.need > l.hard)
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((l) => `${l.key} needs ${l.format(l.need)}, ${l.format(Math.max(0, l.hard - l.used))} of ${l.format(l.hard)} left`);
}
