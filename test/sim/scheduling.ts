// The part of kube-scheduler a virt-launcher pod meets: spec.nodeSelector and
// required node affinity, with the apiserver's semantics (terms are ORed,
// expressions within a term ANDed, an empty term matches nothing).

export interface SimNode {
  name: string;
  labels: Record<string, string>;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

/** The scheduling-relevant part of a VMI spec (identical to a pod's). */
export interface Placement {
  nodeSelector?: Record<string, string>;
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: NodeSelectorTerm[] };
    };
  };
}

function matchRequirement(value: string | undefined, r: NodeSelectorRequirement): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      const [bound] = values;
      if (value === undefined || bound === undefined || !/^-?\d+$/.test(value) || !/^-?\d+$/.test(bound)) return false;
      return r.operator === 'Gt' ? Number(value) > Number(bound) : Number(value) < Number(bound);
    }
    default:
      return false;
  }
}

function matchTerm(node: SimNode, term: NodeSelectorTerm): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  return (
    exprs.every((r) => matchRequirement(node.labels[r.key], r)) &&
    // metadata.name is the only field a node selector may name.
    fields.every((r) => r.key === 'metadata.name' && matchRequirement(node.name, r))
  );
}

export function fits(node: SimNode, p: Placement): boolean {
  for (const [k, v] of Object.entries(p.nodeSelector ?? {})) if (node.labels[k] !== v) return false;
  const required = p.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (!required) return true;
  return (required.nodeSelectorTerms ?? []).some((t) => matchTerm(node, t));
}

/**
 * Picks a node for `p`: of those that fit, the one running fewest VMIs, then
 * by name, so placement is deterministic. When none fits, the scheduler's
 * message instead.
 */
export function schedule(nodes: SimNode[], p: Placement, load: (node: string) => number): { node: SimNode } | { message: string } {
  const fitting = nodes.filter((n) => fits(n, p));
  if (fitting.length === 0) {
    const n = nodes.length;
    return {
      message: `0/${n} nodes are available: ${n} node(s) didn't match Pod's node affinity/selector. preemption: 0/${n} nodes are available: ${n} Preemption is not helpful for scheduling.`,
    };
  }
  const [best] = [...fitting].sort((a, b) => load(a.name) - load(b.name) || a.name.localeCompare(b.name));
  return { node: best as SimNode };
}
