// What a tenant Service becomes in the management cluster, and which tenant
// Nodes it may reach (pure). The SwitchLBRule is kube-OVN's: a VIP that
// kube-ovn-controller programs as an OVN load balancer on the logical switch
// of the VPC its endpoints resolve to (adr/0011).
import type { SwitchLBRule } from '../api/generated/kubeovn/v1/switchlbrule.js';
import type { OvnEip } from '../api/generated/kubeovn/v1/ovneip.js';
import type { OvnDnatRule } from '../api/generated/kubeovn/v1/ovndnatrule.js';
import type { KvmMachine } from '../api/generated/ironplane/v1alpha1/kvmmachine.js';
import { ownerLabels, type Owner } from '../capi/ownership.js';
import { providerIDFor } from '../kubevirt/names.js';
import type { KubeObject } from '../kit/types.js';
import { parseIp } from '../topology/cidr.js';
import { ADDRESS_ANNOTATION, CLUSTER_OWNER_LABELS, dnatName, eipName, EXCLUDE_NODE_LABEL, EXTERNAL_SUBNET_ANNOTATION, KUBEOVN_VIP_ANNOTATION, KUBEOVN_VPC_ANNOTATION, LOAD_BALANCER_CLASS, MANAGED_BY, MANAGED_BY_LABEL, POOL_LABEL, RULE_LABEL, ruleName, ruleServiceName, SERVICE_OWNER_LABELS } from './names.js';
import { canonicalAddress } from './addresses.js';

export interface ServicePort {
  name?: string;
  protocol?: string;
  port: number;
  nodePort?: number;
}

/** A Service of the tenant cluster, as much of it as the cloud provider reads. */
export interface TenantService extends KubeObject {
  spec?: {
    type?: string;
    loadBalancerClass?: string;
    loadBalancerIP?: string;
    sessionAffinity?: string;
    ports?: ServicePort[];
  };
  status?: {
    loadBalancer?: { ingress?: { ip?: string; hostname?: string; ipMode?: string }[] };
    conditions?: { type: string; status: string; reason: string; message: string; lastTransitionTime: string; observedGeneration?: number }[];
  };
}

export interface TenantNode extends KubeObject {
  spec?: { providerID?: string; unschedulable?: boolean };
  status?: { addresses?: { type: string; address: string }[]; conditions?: { type: string; status: string }[] };
}

/** Whether a Service is one the cloud provider serves: type LoadBalancer, and no other implementation's class. */
export function isOurs(svc: TenantService): boolean {
  if (svc.spec?.type !== 'LoadBalancer') return false;
  const cls = svc.spec.loadBalancerClass;
  return cls === undefined || cls === '' || cls === LOAD_BALANCER_CLASS;
}

/** What address the Service asks for, if any: the annotation wins over the deprecated spec.loadBalancerIP. */
export function requestedAddress(svc: TenantService): { field: string; value: string } | undefined {
  const a = svc.metadata?.annotations?.[ADDRESS_ANNOTATION];
  if (a !== undefined && a.trim() !== '') return { field: `metadata.annotations[${ADDRESS_ANNOTATION}]`, value: a.trim() };
  const ip = svc.spec?.loadBalancerIP;
  if (ip !== undefined && ip !== '') return { field: 'spec.loadBalancerIP', value: ip.trim() };
  return undefined;
}

/**
 * The node addresses a Service may be balanced to: for every KvmMachine of
 * the cluster (not being deleted), the tenant Node with its providerID, when
 * that Node is Ready and not excluded, and of that Node's InternalIPs only
 * those the KvmMachine's own status (the management cluster's record of the
 * VM's interfaces) also lists, in `family`. A tenant administers its cluster
 * and could write any address into a Node; an address the management
 * cluster does not hold for this cluster's machines is never a target.
 * Nothing else is ever used: no Node, no endpoint.
 */
export function nodeEndpoints(namespace: string, machines: readonly KvmMachine[], nodes: readonly TenantNode[], family: 4 | 6): string[] {
  const byProvider = new Map<string, TenantNode>();
  for (const n of nodes) if (n.spec?.providerID) byProvider.set(n.spec.providerID, n);
  const out = new Set<string>();
  for (const m of machines) {
    if (m.metadata.deletionTimestamp) continue;
    const node = byProvider.get(providerIDFor(namespace, m.metadata.name!));
    if (!node) continue;
    if (node.metadata?.labels?.[EXCLUDE_NODE_LABEL] !== undefined) continue;
    if (node.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True') continue;
    const held = new Set((m.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => canonicalAddress(a.address)));
    for (const a of node.status?.addresses ?? []) {
      if (a.type !== 'InternalIP') continue;
      const ip = canonicalAddress(a.address);
      if (ip && held.has(ip) && parseIp(ip)?.family === family) out.add(ip);
    }
  }
  return [...out].sort();
}

/** The rule's ports: the Service's ports, each to its node port on the nodes. Ports without a node port cannot reach a node and are left out. */
export function rulePorts(svc: TenantService): { name: string; port: number; targetPort: number; protocol: string }[] {
  return (svc.spec?.ports ?? [])
    .filter((p) => typeof p.nodePort === 'number' && p.nodePort > 0)
    .map((p) => {
      const protocol = p.protocol ?? 'TCP';
      return { name: p.name || `${protocol.toLowerCase()}-${p.port}`, port: p.port, targetPort: p.nodePort!, protocol };
    });
}

export interface RuleInput {
  address: string;
  pool: string;
  cluster: Owner;
  service: Owner;
  /** The Service's ports and session affinity. */
  svc: TenantService;
  endpoints: string[];
  /** The pool's spec.externalSubnet, recorded on the rule when the address is taken. */
  externalSubnet?: string;
}

/**
 * The SwitchLBRule for one address of one Service. spec.namespace is the
 * Cluster's namespace, where its VMs' virt-launcher pods live: kube-OVN
 * makes the rule's Service and Endpoints there and finds the VPC through
 * the pods whose IPs the endpoints are (the tenant's own Vpc, which only
 * its own VMs are attached to).
 */
const marks = (i: Pick<RuleInput, 'pool' | 'cluster' | 'service'>): Record<string, string> => ({
  [MANAGED_BY_LABEL]: MANAGED_BY,
  [POOL_LABEL]: i.pool,
  ...ownerLabels(CLUSTER_OWNER_LABELS, i.cluster),
  ...ownerLabels(SERVICE_OWNER_LABELS, i.service),
});

/**
 * The Service kube-OVN keeps a rule's VIP on, made before the rule so that
 * kube-OVN finds the tenant's Vpc named on it from the start: should no pod
 * match an endpoint, kube-OVN falls back to this annotation instead of its
 * default VPC. Headless and without a selector, as kube-OVN makes it; kube-OVN
 * sets its ports and keeps its annotations and labels.
 */
export function renderRuleService(i: Pick<RuleInput, 'address' | 'pool' | 'cluster' | 'service'> & { vpc: string }): KubeObject & { spec: Record<string, unknown> } {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: ruleServiceName(ruleName(i.address)),
      namespace: i.cluster.namespace,
      labels: marks(i),
      annotations: { [KUBEOVN_VPC_ANNOTATION]: i.vpc, [KUBEOVN_VIP_ANNOTATION]: i.address },
    },
    spec: { type: 'ClusterIP', clusterIP: 'None' },
  };
}

export function renderRule(i: RuleInput): SwitchLBRule {
  return {
    apiVersion: 'kubeovn.io/v1',
    kind: 'SwitchLBRule',
    metadata: {
      name: ruleName(i.address),
      labels: marks(i),
      ...(i.externalSubnet ? { annotations: { [EXTERNAL_SUBNET_ANNOTATION]: i.externalSubnet } } : {}),
    },
    spec: {
      vip: i.address,
      namespace: i.cluster.namespace,
      ...(i.svc.spec?.sessionAffinity === 'ClientIP' ? { sessionAffinity: 'ClientIP' } : {}),
      ports: rulePorts(i.svc),
      endpoints: i.endpoints,
    },
  };
}

/** The tenant Service as the owner its rule is marked for. */
export function serviceOwner(svc: TenantService): Owner {
  return { kind: 'Service', namespace: svc.metadata!.namespace!, name: svc.metadata!.name!, uid: svc.metadata!.uid! };
}

export interface ExternalInput {
  /** The rule (the allocation) the address is held by: its name and marks are copied. */
  rule: SwitchLBRule;
  /** The external network's kube-OVN Subnet (the rule's EXTERNAL_SUBNET_ANNOTATION). */
  subnet: string;
}

/** The rule's marks (pool, Cluster, Service) and the rule itself, for what belongs to it. */
function externalMarks(rule: SwitchLBRule): Record<string, string> {
  const labels = rule.metadata.labels ?? {};
  const keep = [MANAGED_BY_LABEL, POOL_LABEL, ...Object.values(CLUSTER_OWNER_LABELS), ...Object.values(SERVICE_OWNER_LABELS)];
  return { ...Object.fromEntries(keep.filter((k) => labels[k] !== undefined).map((k) => [k, labels[k]!])), [RULE_LABEL]: rule.metadata.name! };
}

/**
 * The address on the external network: an OvnEip of type nat with exactly
 * that address, which kube-OVN allocates in the external Subnet and answers
 * for on the tenant router's external port once a NAT rule uses it.
 */
export function renderEip(i: ExternalInput): OvnEip {
  const address = i.rule.spec!.vip!;
  const v6 = parseIp(address)?.family === 6;
  return {
    apiVersion: 'kubeovn.io/v1',
    kind: 'OvnEip',
    metadata: { name: eipName(address), labels: externalMarks(i.rule) },
    spec: { externalSubnet: i.subnet, type: 'nat', ...(v6 ? { v6Ip: address } : { v4Ip: address }) },
  };
}

/**
 * One OvnDnatRule per Service port: EIP:port to the entry node's node port,
 * on the tenant's own router (spec.vpc: the rule names the Vpc; no IP object
 * lookup, which would resolve in whichever VPC holds that address).
 * kube-proxy on the entry node spreads connections over the Service's
 * endpoints. Ports without a node port are left out, as for the rule.
 */
export function renderDnats(i: ExternalInput & { vpc: string; entry: string; svc: TenantService }): OvnDnatRule[] {
  const address = i.rule.spec!.vip!;
  const v6 = parseIp(address)?.family === 6;
  return rulePorts(i.svc).map((p) => {
    const protocol = p.protocol.toLowerCase();
    return {
      apiVersion: 'kubeovn.io/v1',
      kind: 'OvnDnatRule',
      metadata: { name: dnatName(address, protocol, p.port), labels: externalMarks(i.rule) },
      spec: { ovnEip: eipName(address), vpc: i.vpc, ...(v6 ? { v6Ip: i.entry } : { v4Ip: i.entry }), externalPort: String(p.port), internalPort: String(p.targetPort), protocol },
    };
  });
}
