// The private control-plane endpoint of a KvmCluster (adr/0014): the
// machines of a tenant reach their own hosted control plane at an address
// inside their own VPC, with no route to the management network.
//
// - The VIP is one platform-wide address outside every tenant's node network
//   (DEFAULT_PRIVATE_ENDPOINT_VIP, IRONPLANE_CP_VIP): a VM sends to it through
//   its gateway, and its own switch's load balancer rewrites it before the
//   packet leaves the switch, so the same address means each tenant's own
//   control plane. A VIP inside the node subnet would be asked for by ARP,
//   and kube-OVN's switch_lb_vip port that answers it shares the router
//   port's MAC, which leaves the switch two MAC bindings for one address.
// - The last usable address of the node Subnet is reserved (added to its
//   excludeIps, so kube-OVN never gives it to a VM): the proxy's tenant leg.
// - A kube-OVN SwitchLBRule (cluster-scoped, hashed name, ownership labels)
//   serves VIP:6443 → proxy leg:6443. kube-OVN programs it into the load
//   balancer of the VPC whose Pod holds the endpoint address, attached to
//   that VPC's switches only: the VIP exists nowhere else.
// - A Deployment in the cluster's namespace (hashed name, controller
//   ownerReference to the KvmCluster) runs `ironplane cp-proxy`: its Pod's
//   primary interface is on the tenant Subnet at the proxy leg address
//   (`ovn.kubernetes.io/logical_switch` + `ovn.kubernetes.io/ip_address`),
//   and it forwards to where Kamaji serves the control plane, the
//   TenantControlPlane's status.controlPlaneEndpoint. That leg is a multus
//   attachment the platform names (IRONPLANE_CP_PROXY_NETWORKS).
//
// The forwarding target is read from the TenantControlPlane, which Kamaji
// writes and tenants cannot, never from the Cluster or KvmCluster spec: a
// tenant must not be able to point its proxy at an address of the management
// network of its choosing.
import type { KvmCluster } from '../api/generated/ironplane/v1alpha1/kvmcluster.js';
import { SwitchLBRuleResource } from '../api/generated/kubeovn/v1/switchlbrule.js';
import type { Cluster } from '../capi/contract.js';
import { formatIp, parseIp } from '../topology/cidr.js';
import { DEFAULT_PRIVATE_ENDPOINT_VIP } from '../topology/privateendpointvip.js';
import { createNew, hashedName, notControlledBy, notMarkedFor, ownerLabels, type Owner } from '../capi/ownership.js';
import type { Client } from '../kit/client.js';
import type { Informer } from '../kit/informer.js';
import { jsonEqual } from '../kit/patch.js';
import type { KubeObject, ResourceType } from '../kit/types.js';
import { API_VERSION, KVM_CLUSTER_OWNER_LABELS, KVM_CLUSTER_UID_LABEL, LOGICAL_SWITCH_ANNOTATION } from './names.js';

export const SwitchLBRules: ResourceType = SwitchLBRuleResource;
export const Deployments: ResourceType = { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true };
export const TenantControlPlanes: ResourceType = { group: 'kamaji.clastix.io', version: 'v1alpha1', kind: 'TenantControlPlane', plural: 'tenantcontrolplanes', namespaced: true };

export const PRIVATE_ENDPOINT_CONDITION = 'PrivateEndpointReady';

export const PrivateEndpointReasons = {
  /** True: the rule exists and the proxy is available. */
  Serving: 'Serving',
  /**
   * The platform names no network for the proxy's management leg
   * (IRONPLANE_CP_PROXY_NETWORKS): a proxy without it reaches nothing, so
   * there is none, and workers join at the Cluster's endpoint.
   */
  Disabled: 'Disabled',
  /** The node network leaves no room for the proxy's address, or holds the VIP (the field is named). */
  AddressUnavailable: 'AddressUnavailable',
  /** Another KvmCluster of the namespace was there first with a node CIDR holding the proxy's address. */
  AddressShared: 'AddressShared',
  /** No KamajiControlPlane, TenantControlPlane or endpoint yet. */
  WaitingForControlPlane: 'WaitingForControlPlane',
  /** The TenantControlPlane of that name is not the KamajiControlPlane's. */
  ControlPlaneNotOwned: 'ControlPlaneNotOwned',
  /** A SwitchLBRule or Deployment of our name is not this KvmCluster's. */
  NameTaken: 'NameTaken',
  /** The proxy Deployment has no available replica yet. */
  WaitingForProxy: 'WaitingForProxy',
  /** The rule and the proxy are being removed (the KvmCluster is deleted, or the endpoint turned off). */
  Deleting: 'Deleting',
} as const;

/** Where the hosted control plane is served, and where the VIP serves it. */
export const CONTROL_PLANE_PORT = 6443;
/** The container's name and the `app.kubernetes.io/name` of the proxy's Pods. */
export const PROXY_APP = 'ironplane-cp-proxy';
const APP_LABEL = 'app.kubernetes.io/name';
/** kube-OVN's static address for a Pod's primary interface. */
export const IP_ADDRESS_ANNOTATION = 'ovn.kubernetes.io/ip_address';
/** Multus: the attachments of a Pod. */
export const NETWORKS_ANNOTATION = 'k8s.v1.cni.cncf.io/networks';
/** Connections the proxy serves at once; more wait in the listen backlog. */
export const PROXY_MAX_CONNECTIONS = 512;

export interface ProxyOptions {
  /** The image holding the `ironplane` command. */
  image: string;
  /** The multus attachment(s) for the proxy's management leg, e.g. `ironplane-system/cp-proxy`; none when unset. */
  networks?: string;
  /** The VIP every tenant reaches its own control plane at; DEFAULT_PRIVATE_ENDPOINT_VIP when unset. */
  vip?: string;
}

export interface TenantControlPlane extends KubeObject {
  status?: { controlPlaneEndpoint?: string };
}

export type Refusal = { reason: string; message: string };

// ---- IPv4 arithmetic (pure; parsing and formatting are topology/cidr.ts's) ----

/** An IPv4 address as a number, or undefined when it is not one. */
export function ipv4ToInt(ip: string): number | undefined {
  const p = parseIp(ip);
  return p?.family === 4 ? Number(p.value) : undefined;
}

export function intToIpv4(n: number): string {
  return formatIp(4, BigInt(n));
}

/** [first, last] address of an IPv4 CIDR, or undefined. */
export function ipv4Cidr(cidr: string): { first: number; last: number; bits: number } | undefined {
  const [ip, len] = cidr.split('/');
  const base = ip ? ipv4ToInt(ip) : undefined;
  const bits = Number(len);
  if (base === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return undefined;
  const size = 2 ** (32 - bits);
  const first = base - (base % size);
  return { first, last: first + size - 1, bits };
}

/** An excludeIps entry ("a" or "a..b") as [start, end]; undefined when not IPv4. */
export function ipv4Range(entry: string): [number, number] | undefined {
  const [a, b] = entry.split('..');
  const s = a ? ipv4ToInt(a.trim()) : undefined;
  const e = b === undefined ? s : ipv4ToInt(b.trim());
  if (s === undefined || e === undefined) return undefined;
  return [Math.min(s, e), Math.max(s, e)];
}

/**
 * The excludeIps list as kube-OVN normalises it: merged ranges. Undefined
 * when an entry is not IPv4 (then lists are compared as they are).
 */
export function mergedRanges(entries: readonly string[]): [number, number][] | undefined {
  const ranges: [number, number][] = [];
  for (const e of entries) {
    const r = ipv4Range(e);
    if (!r) return undefined;
    ranges.push(r);
  }
  ranges.sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const r of ranges) {
    const top = out[out.length - 1];
    if (top && r[0] <= top[1] + 1) top[1] = Math.max(top[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/**
 * True when a live Subnet's excludeIps hold exactly what we asked for. kube-OVN
 * rewrites the list (merges and sorts ranges, adds the gateway), so a literal
 * comparison would never settle and every pass would apply it again.
 */
export function excludeIpsEqual(live: unknown, want: unknown, liveGateway: unknown): boolean {
  const l = Array.isArray(live) ? (live as string[]) : [];
  const w = Array.isArray(want) ? (want as string[]) : [];
  const gw = typeof liveGateway === 'string' ? liveGateway.split(',').filter((g) => g.includes('.')) : [];
  const a = mergedRanges(l);
  const b = mergedRanges(w);
  const bg = mergedRanges([...w, ...gw]);
  if (!a || !b || !bg) return JSON.stringify(l) === JSON.stringify(w);
  // With the gateway once kube-OVN has added it, without it before.
  return JSON.stringify(a) === JSON.stringify(bg) || JSON.stringify(a) === JSON.stringify(b);
}

export interface NodeNetwork {
  nodeCIDR: string;
  gateway?: string;
  excludeIPs?: string[];
}

/**
 * The VIP and the address this cluster reserves in its node Subnet for the
 * proxy's leg (the last usable one). Refused, naming the field, when the
 * network leaves no room for it or holds the VIP.
 */
export function reservedAddresses(net: NodeNetwork, vipAddress: string = DEFAULT_PRIVATE_ENDPOINT_VIP): { vip: string; proxy: string } | Refusal {
  const c = ipv4Cidr(net.nodeCIDR);
  if (!c) {
    return {
      reason: PrivateEndpointReasons.AddressUnavailable,
      message: `spec.network.nodeCIDR ${net.nodeCIDR} is not an IPv4 CIDR; the private control-plane endpoint needs an IPv4 node network`,
    };
  }
  // Network, gateway, at least one machine, proxy, broadcast.
  if (c.bits > 29) {
    return { reason: PrivateEndpointReasons.AddressUnavailable, message: `spec.network.nodeCIDR ${net.nodeCIDR} is too small: the private control-plane endpoint reserves its last usable address, which needs a /29 or larger` };
  }
  const vip = ipv4ToInt(vipAddress);
  if (vip !== undefined && c.first <= vip && vip <= c.last) {
    return {
      reason: PrivateEndpointReasons.AddressUnavailable,
      message: `spec.network.nodeCIDR ${net.nodeCIDR} holds ${vipAddress}, the address at which every tenant reaches its own control plane; choose a node network without it`,
    };
  }
  const proxy = c.last - 1;
  const what = `the control-plane proxy's address ${intToIpv4(proxy)}`;
  if (net.gateway && ipv4ToInt(net.gateway) === proxy) {
    return { reason: PrivateEndpointReasons.AddressUnavailable, message: `spec.network.gateway ${net.gateway} is ${what}, which the private control-plane endpoint reserves (the last usable address of ${net.nodeCIDR}); choose another gateway` };
  }
  for (const [i, e] of (net.excludeIPs ?? []).entries()) {
    const r = ipv4Range(e);
    if (r && r[0] <= proxy && proxy <= r[1]) {
      return {
        reason: PrivateEndpointReasons.AddressUnavailable,
        message: `spec.network.excludeIPs[${i}] ${e} holds ${what}, which the private control-plane endpoint reserves (the last usable address of ${net.nodeCIDR}); excluded addresses are left to whatever else uses them, so leave it out of excludeIPs`,
      };
    }
  }
  return { vip: vipAddress, proxy: intToIpv4(proxy) };
}

/** The node Subnet's excludeIps: the user's, and the proxy's reserved address when there is room for it. */
export function subnetExcludeIps(net: NodeNetwork, vipAddress: string = DEFAULT_PRIVATE_ENDPOINT_VIP): string[] {
  const user = net.excludeIPs ?? [];
  const r = reservedAddresses(net, vipAddress);
  return 'vip' in r ? [...user, r.proxy] : [...user];
}

/**
 * The one KvmCluster of `kc`'s namespace whose proxy address may be the
 * endpoint of a rule: kube-OVN finds a rule's VPC by the first Pod of the
 * rule's namespace whose address is the endpoint. Another KvmCluster there,
 * created earlier, whose node CIDR holds our proxy's address wins.
 */
export function sharedAddressRefusal(kc: KvmCluster, proxy: string, others: readonly KvmCluster[]): Refusal | undefined {
  const p = ipv4ToInt(proxy)!;
  const key = (o: KvmCluster) => `${o.metadata.creationTimestamp ?? ''}/${o.metadata.name}`;
  for (const o of others) {
    if (o.metadata.uid === kc.metadata.uid || o.metadata.namespace !== kc.metadata.namespace || o.metadata.deletionTimestamp) continue;
    const c = o.spec?.network?.nodeCIDR ? ipv4Cidr(o.spec.network.nodeCIDR) : undefined;
    if (!c || p < c.first || p > c.last) continue;
    if (key(o) < key(kc)) {
      return {
        reason: PrivateEndpointReasons.AddressShared,
        message: `KvmCluster ${o.metadata.name} in this namespace, created earlier, has node CIDR ${o.spec!.network.nodeCIDR}, which holds this cluster's proxy address ${proxy} (spec.network.nodeCIDR); kube-OVN finds a load balancer's VPC by the namespace's Pod at that address, so only one of them gets a private endpoint: give this cluster a node CIDR of its own`,
      };
    }
  }
  return undefined;
}

/** "host:port" (IPv6 in brackets) → parts, or undefined. */
export function parseEndpoint(s: string | undefined): { host: string; port: number } | undefined {
  if (!s) return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(s.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

/**
 * Where Kamaji serves this cluster's control plane: the TenantControlPlane of
 * the Cluster's KamajiControlPlane (same name, controlled by it). Undefined
 * with a refusal while there is none to forward to.
 */
export function controlPlaneTarget(cluster: Cluster, tcp: TenantControlPlane | undefined): { target: { host: string; port: number } } | Refusal {
  const ref = cluster.spec?.controlPlaneRef;
  if (!ref?.name || ref.kind !== 'KamajiControlPlane') {
    return { reason: PrivateEndpointReasons.WaitingForControlPlane, message: `Cluster ${cluster.metadata.name} has no KamajiControlPlane as its spec.controlPlaneRef; the private endpoint forwards only to a Kamaji-hosted control plane` };
  }
  if (!tcp) return { reason: PrivateEndpointReasons.WaitingForControlPlane, message: `waiting for TenantControlPlane ${ref.name} of KamajiControlPlane ${ref.name}` };
  const owned = tcp.metadata?.ownerReferences?.some((r) => r.controller === true && r.kind === 'KamajiControlPlane' && r.name === ref.name);
  if (!owned) {
    return { reason: PrivateEndpointReasons.ControlPlaneNotOwned, message: `TenantControlPlane ${ref.name} is not controlled by KamajiControlPlane ${ref.name}; nothing is forwarded to it` };
  }
  const target = parseEndpoint(tcp.status?.controlPlaneEndpoint);
  if (!target) return { reason: PrivateEndpointReasons.WaitingForControlPlane, message: `waiting for TenantControlPlane ${ref.name} to report status.controlPlaneEndpoint` };
  return { target };
}

// ---- Names and objects (pure) ----

/** The proxy Deployment: namespaced, hashed over "<namespace>/<name>/cp-proxy". */
export function proxyDeploymentName(namespace: string, cluster: string): string {
  return hashedName(`${cluster}-cp-proxy`, `${namespace}/${cluster}/cp-proxy`);
}

/** The SwitchLBRule: cluster-scoped, hashed over "<namespace>/<name>/cp-endpoint". */
export function endpointRuleName(namespace: string, cluster: string): string {
  return hashedName(`${namespace}-${cluster}-cp`, `${namespace}/${cluster}/cp-endpoint`);
}

/** What the proxy's Pods are selected by: the KvmCluster's uid and the app. */
export function proxySelector(kc: KvmCluster): Record<string, string> {
  return { [APP_LABEL]: PROXY_APP, [KVM_CLUSTER_UID_LABEL]: kc.metadata.uid! };
}

export function renderEndpointRule(kc: KvmCluster, owner: Owner, addrs: { vip: string; proxy: string }): KubeObject & { spec: Record<string, unknown> } {
  const ns = kc.metadata.namespace!;
  return {
    apiVersion: 'kubeovn.io/v1',
    kind: 'SwitchLBRule',
    metadata: { name: endpointRuleName(ns, kc.metadata.name!), labels: ownerLabels(KVM_CLUSTER_OWNER_LABELS, owner) },
    spec: {
      vip: addrs.vip,
      // kube-OVN finds the VPC by the Pod of this namespace at the endpoint address.
      namespace: ns,
      // Endpoints, not a selector: a selector turns on kube-OVN's health
      // checks, which allocate another address of the Subnet for the checker.
      endpoints: [addrs.proxy],
      sessionAffinity: 'None',
      ports: [{ name: 'kube-apiserver', port: CONTROL_PLANE_PORT, targetPort: CONTROL_PLANE_PORT, protocol: 'TCP' }],
    },
  };
}

export function renderProxyDeployment(
  kc: KvmCluster,
  owner: Owner,
  subnet: string,
  proxyAddress: string,
  target: { host: string; port: number },
  opts: ProxyOptions,
): KubeObject & { spec: Record<string, unknown> } {
  const ns = kc.metadata.namespace!;
  const labels = { ...ownerLabels(KVM_CLUSTER_OWNER_LABELS, owner), ...proxySelector(kc) };
  const to = target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: proxyDeploymentName(ns, kc.metadata.name!),
      namespace: ns,
      labels,
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'KvmCluster', name: kc.metadata.name!, uid: kc.metadata.uid!, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      replicas: 1,
      // One static address: the old Pod must release it before the new one asks for it.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: proxySelector(kc) },
      template: {
        metadata: {
          labels,
          annotations: {
            [LOGICAL_SWITCH_ANNOTATION]: subnet,
            [IP_ADDRESS_ANNOTATION]: proxyAddress,
            ...(opts.networks ? { [NETWORKS_ANNOTATION]: opts.networks } : {}),
          },
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: PROXY_APP,
              image: opts.image,
              args: ['cp-proxy', '--listen', `0.0.0.0:${CONTROL_PLANE_PORT}`, '--to', to, '--max-connections', String(PROXY_MAX_CONNECTIONS)],
              ports: [{ name: 'https', containerPort: CONTROL_PLANE_PORT, protocol: 'TCP' }],
              // The Pod's primary interface is in the tenant VPC, which the
              // kubelet cannot reach: no HTTP or TCP probes from the node.
              resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            },
          ],
        },
      },
    },
  };
}

/** True when the Deployment has an available replica of its current spec. */
export function proxyAvailable(d: (KubeObject & { status?: { availableReplicas?: number; observedGeneration?: number } }) | undefined): boolean {
  if (!d?.status) return false;
  return (d.status.availableReplicas ?? 0) >= 1 && (d.status.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
}

// ---- Reconcile (against the apiserver) ----

export interface PrivateEndpointDeps {
  client: Client;
  /** Our proxy Deployments (label-selected). */
  deployments: Informer<KubeObject>;
  kvmClusters: Informer<KvmCluster>;
  proxy: ProxyOptions;
}

export interface PrivateEndpointOutcome {
  condition: { status: boolean; reason: string; message: string };
  endpoint?: { host: string; port: number };
  requeueAfterMs?: number;
}

/** While waiting on what is not watched (the TenantControlPlane), look again this often. */
export const PRIVATE_ENDPOINT_RETRY_MS = 15_000;

type Obj = KubeObject & { spec?: unknown; status?: Record<string, unknown> };

/**
 * Converges the SwitchLBRule and the proxy Deployment of `kc`, whose node
 * Subnet `subnet` exists. Never writes to an object of our name that is not
 * this KvmCluster's.
 */
export async function reconcilePrivateEndpoint(deps: PrivateEndpointDeps, kc: KvmCluster, cluster: Cluster, subnet: string, owner: Owner): Promise<PrivateEndpointOutcome> {
  const { client } = deps;
  const ns = kc.metadata.namespace!;
  const refuse = (r: Refusal, requeueAfterMs?: number): PrivateEndpointOutcome => ({ condition: { status: false, ...r }, requeueAfterMs });

  if (!deps.proxy.networks) {
    // What an earlier configuration made goes; nothing is looked up again
    // once it is gone and the condition says so.
    const before = kc.status?.conditions?.find((c) => c.type === PRIVATE_ENDPOINT_CONDITION)?.reason;
    const hasProxy = deps.deployments.get(`${ns}/${proxyDeploymentName(ns, kc.metadata.name!)}`) !== undefined;
    const waiting = before !== PrivateEndpointReasons.Disabled || hasProxy ? await deletePrivateEndpoint(client, kc, owner) : undefined;
    if (waiting) return refuse({ reason: PrivateEndpointReasons.Deleting, message: `private endpoint turned off: ${waiting}` }, PRIVATE_ENDPOINT_RETRY_MS);
    return refuse({ reason: PrivateEndpointReasons.Disabled, message: "the platform names no network for the proxy's management leg (IRONPLANE_CP_PROXY_NETWORKS on the kubevirt manager): workers join at the Cluster's controlPlaneEndpoint" });
  }

  const addrs = reservedAddresses(kc.spec!.network, deps.proxy.vip);
  if (!('vip' in addrs)) return refuse(addrs);
  const shared = sharedAddressRefusal(kc, addrs.proxy, deps.kvmClusters.list((o) => o.metadata.namespace === ns));
  if (shared) return refuse(shared);

  const ref = cluster.spec?.controlPlaneRef;
  const tcp = ref?.kind === 'KamajiControlPlane' && ref.name ? await client.tryGet<TenantControlPlane>(TenantControlPlanes, ref.name, ns).catch(() => undefined) : undefined;
  const t = controlPlaneTarget(cluster, tcp);
  if (!('target' in t)) return refuse(t, PRIVATE_ENDPOINT_RETRY_MS);

  // The proxy: namespaced, proven ours by its controller reference.
  const dep = renderProxyDeployment(kc, owner, subnet, addrs.proxy, t.target, deps.proxy);
  const depName = dep.metadata!.name!;
  const waitingForProxy = { reason: PrivateEndpointReasons.WaitingForProxy, message: `waiting for Deployment ${depName} to have an available replica` };
  const liveDep = deps.deployments.get(`${ns}/${depName}`) ?? (await client.tryGet<Obj>(Deployments, depName, ns));
  let available = false;
  if (!liveDep) {
    await createNew(client, Deployments, dep);
  } else {
    const notOurs = notControlledBy(liveDep, owner);
    if (notOurs) return refuse({ reason: PrivateEndpointReasons.NameTaken, message: `Deployment ${depName} exists and does not belong to this KvmCluster: ${notOurs}; it is left untouched` }, PRIVATE_ENDPOINT_RETRY_MS);
    // Server-side apply of what we own: a no-op when nothing changed.
    const applied = await client.apply<Obj>(Deployments, { ...dep, metadata: { ...dep.metadata, resourceVersion: liveDep.metadata!.resourceVersion! } }, { force: true });
    available = proxyAvailable(applied as never);
  }

  // Then the rule: cluster-scoped, proven ours by its labels. Created only
  // once the proxy's Pod is up at its address: kube-OVN picks the VPC of a
  // rule's load balancer when it first programs it, by the namespace's Pod
  // whose podIP is the endpoint, and without one it programs the VIP into
  // the default VPC's balancer (and remembers that VPC on the rule's Service).
  const rule = renderEndpointRule(kc, owner, addrs);
  const ruleName = rule.metadata!.name!;
  const liveRule = await client.tryGet<Obj>(SwitchLBRules, ruleName);
  if (!liveRule) {
    if (!available) return refuse(waitingForProxy);
    await createNew(client, SwitchLBRules, rule);
  } else {
    const why = notMarkedFor(liveRule, KVM_CLUSTER_OWNER_LABELS, owner);
    if (why) return refuse({ reason: PrivateEndpointReasons.NameTaken, message: `SwitchLBRule ${ruleName} exists and does not belong to this KvmCluster: ${why}; it is left untouched` }, PRIVATE_ENDPOINT_RETRY_MS);
    const spec = (liveRule.spec ?? {}) as Record<string, unknown>;
    if (!Object.entries(rule.spec).every(([k, v]) => jsonEqual(spec[k], v))) {
      await client.apply(SwitchLBRules, { ...rule, metadata: { ...rule.metadata, resourceVersion: liveRule.metadata!.resourceVersion! } }, { force: true });
    }
  }
  if (!available) return refuse(waitingForProxy);
  return {
    condition: { status: true, reason: PrivateEndpointReasons.Serving, message: `${addrs.vip}:${CONTROL_PLANE_PORT} in the tenant VPC (SwitchLBRule ${ruleName}) → proxy ${addrs.proxy}:${CONTROL_PLANE_PORT} (Deployment ${depName}) → ${t.target.host}:${t.target.port}` },
    endpoint: { host: addrs.vip, port: CONTROL_PLANE_PORT },
  };
}

/**
 * Removes the rule and the proxy before the Subnet goes: kube-OVN keeps a
 * Subnet while an address of it is in use, and the proxy's Pod holds one.
 * Returns what is still being waited for, or undefined once both are gone.
 */
export async function deletePrivateEndpoint(client: Client, kc: KvmCluster, owner: Owner): Promise<string | undefined> {
  const ns = kc.metadata.namespace!;
  const ruleName = endpointRuleName(ns, kc.metadata.name!);
  const rule = await client.tryGet<Obj>(SwitchLBRules, ruleName).catch(() => undefined);
  if (rule && !notMarkedFor(rule, KVM_CLUSTER_OWNER_LABELS, owner)) {
    if (!rule.metadata?.deletionTimestamp) await client.delete(SwitchLBRules, ruleName, undefined, { uid: rule.metadata!.uid! });
    return `waiting for SwitchLBRule ${ruleName} to be deleted`;
  }
  const depName = proxyDeploymentName(ns, kc.metadata.name!);
  const dep = await client.tryGet<Obj>(Deployments, depName, ns);
  if (dep && !notControlledBy(dep, owner)) {
    // Foreground: the Deployment stays until its Pods (and their address) are gone.
    if (!dep.metadata?.deletionTimestamp) await client.delete(Deployments, depName, ns, { uid: dep.metadata!.uid!, propagationPolicy: 'Foreground' });
    return `waiting for Deployment ${depName} and its Pods to be deleted`;
  }
  return undefined;
}
