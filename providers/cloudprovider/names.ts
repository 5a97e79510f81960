// Names, labels and marks of the tenant cloud provider (adr/0011).
import { hashedName, type OwnerLabels } from '../capi/ownership.js';
import type { ResourceType } from '../kit/types.js';
import { LoadBalancerPoolResource } from '../api/generated/ironplane/v1alpha1/loadbalancerpool.js';
import { SwitchLBRuleResource } from '../api/generated/kubeovn/v1/switchlbrule.js';
import { OvnEipResource } from '../api/generated/kubeovn/v1/ovneip.js';
import { OvnDnatRuleResource } from '../api/generated/kubeovn/v1/ovndnatrule.js';

export const LoadBalancerPools: ResourceType = LoadBalancerPoolResource;
export const SwitchLBRules: ResourceType = SwitchLBRuleResource;
export const OvnEips: ResourceType = OvnEipResource;
export const OvnDnatRules: ResourceType = OvnDnatRuleResource;
export const Services: ResourceType = { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true };
export const TenantNodes: ResourceType = { group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false };

const PREFIX = 'cloudprovider.ironplane.dev';

/** On every SwitchLBRule we make; the informer selects on it. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'ironplane-cloud-provider';

/** The LoadBalancerPool an address was taken from. */
export const POOL_LABEL = `${PREFIX}/pool`;

/** The Cluster an address is held for, by namespace, name and uid: all three must match before it is changed or released. */
export const CLUSTER_OWNER_LABELS: OwnerLabels = { name: `${PREFIX}/cluster`, namespace: `${PREFIX}/cluster-namespace`, uid: `${PREFIX}/cluster-uid` };
/** The tenant cluster's Service an address is held for (namespace and name inside the tenant cluster, and its uid there). */
export const SERVICE_OWNER_LABELS: OwnerLabels = { name: `${PREFIX}/service`, namespace: `${PREFIX}/service-namespace`, uid: `${PREFIX}/service-uid` };

/** On tenant Services we serve: held until their address and rule are released. */
export const SERVICE_FINALIZER = `${PREFIX}/load-balancer`;

/**
 * A tenant asks for a specific address with this annotation (or with the
 * deprecated spec.loadBalancerIP); it is granted only from a pool its
 * namespace may use.
 */
export const ADDRESS_ANNOTATION = `${PREFIX}/load-balancer-ip`;

/**
 * Services with spec.loadBalancerClass set to anything else belong to another
 * load-balancer implementation inside the tenant cluster and are left alone;
 * unset or this class is ours.
 */
export const LOAD_BALANCER_CLASS = 'ironplane.dev/switch-lb';

/** The condition on the tenant Service (status.conditions) saying whether it holds an address, and why not. */
export const SERVICE_CONDITION = `${PREFIX}/AddressAssigned`;

/** Tenant Nodes with this label are never targets (Kubernetes' own convention for cloud load balancers). */
export const EXCLUDE_NODE_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';

/**
 * kube-OVN (pinned v1.14) keeps each SwitchLBRule's VIP on a headless Service
 * "slr-<rule name>" in the rule's spec.namespace (generateSvcName), marked
 * with the VIP (SwitchLBRuleVipsAnnotation), and programs the VIP in the VPC
 * its endpoints' pods are in, else the one that Service's VpcAnnotation names
 * (getVpcSubnetName). An existing Service of that name is taken over with its
 * annotations kept (generateSvc), so the provider creates it first, naming
 * the tenant's own Vpc.
 */
export const RULE_SERVICE_PREFIX = 'slr-';
export const KUBEOVN_VPC_ANNOTATION = 'ovn.kubernetes.io/vpc';
export const KUBEOVN_VIP_ANNOTATION = 'ovn.kubernetes.io/switch_lb_vip';

export function ruleServiceName(rule: string): string {
  return `${RULE_SERVICE_PREFIX}${rule}`;
}

/** kube-OVN makes a Service "slr-<rule name>", which must stay a DNS-1035 label of at most 63 characters. */
const RULE_NAME_MAX = 59;

/**
 * The SwitchLBRule holding `address`: derived from the address alone, so
 * there is exactly one name per address and creating it is the allocation
 * (409 AlreadyExists: someone holds it). Starts with a letter, as the
 * Service kube-OVN derives from it must.
 */
export function ruleName(address: string): string {
  return hashedName(`lb-${address.replace(/[.:]/g, '-')}`, `loadbalancer-address/${address}`, { max: RULE_NAME_MAX });
}

/**
 * On a rule taken from a pool with spec.externalSubnet: the external network
 * its address belongs to, recorded when the address is taken, so that the
 * exposure follows the allocation and not later edits of the pool.
 */
export const EXTERNAL_SUBNET_ANNOTATION = `${PREFIX}/external-subnet`;

/** On an OvnEip and OvnDnatRules of an externally exposed address: the SwitchLBRule (the allocation) they belong to. */
export const RULE_LABEL = `${PREFIX}/rule`;

/** The OvnEip of an external address: the rule's own name, one per address, so a second one cannot exist. */
export const eipName = ruleName;

/**
 * The OvnDnatRule of one port of an external address: derived from the
 * address, protocol and port alone (kube-OVN refuses a second rule for one
 * EIP and port, and names its OVN load balancer after the rule).
 */
export function dnatName(address: string, protocol: string, port: number): string {
  const p = protocol.toLowerCase();
  return hashedName(`lb-${address.replace(/[.:]/g, '-')}-${p}-${port}`, `loadbalancer-dnat/${address}/${p}/${port}`, { max: 63 });
}
