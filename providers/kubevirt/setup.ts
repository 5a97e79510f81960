// Wires the KubeVirt provider into a manager: the caches it reads, the two
// controllers, and which changes wake which objects.
import type { KvmCluster } from '../api/generated/ironplane/v1alpha1/kvmcluster.js';
import type { KvmMachine } from '../api/generated/ironplane/v1alpha1/kvmmachine.js';
import { clusterNameOf, Clusters, Machines, ownerClusterName, type Cluster, type Machine } from '../capi/contract.js';
import { TenantClients } from '../capi/tenant.js';
import { Controller } from '../kit/controller.js';
import { EventRecorder } from '../kit/events.js';
import { Informer } from '../kit/informer.js';
import type { Manager } from '../kit/manager.js';
import { metadataOnly, type KubeObject } from '../kit/types.js';
import { kvmClusterReconciler, vpcExternalStatus, type InfraNode, type NetworkObject } from './kvmcluster.js';
import { kvmMachineReconciler } from './kvmmachine.js';
import { KVM_CLUSTER_LABEL, KVM_CLUSTER_NAMESPACE_LABEL, KVM_MACHINE_LABEL } from './names.js';
import { Deployments, ipv4ToInt, PROXY_APP, type ProxyOptions } from './privateendpoint.js';
import { packageVersion } from '../cli/version.js';
import type { VirtualMachine, VirtualMachineInstance } from './render.js';
import { KvmClusters, KvmMachines, Nodes, Subnets, VirtualMachineInstances, VirtualMachines, Vpcs } from './resources.js';

export interface KubevirtOptions {
  /** Concurrent reconciles per controller. */
  workers: number;
  /** Identifies this replica in Events. */
  instance: string;
  /** The private endpoint's proxy; default from the environment (proxyOptionsFromEnv). */
  proxy?: ProxyOptions;
  /** The external Subnet every tenant Vpc is connected to; default from the environment (externalNetworkFromEnv). */
  externalNetwork?: string;
}

/**
 * The proxy's image and management-side attachment, read once at start-up:
 * IRONPLANE_CP_PROXY_IMAGE (default: this release's image) and
 * IRONPLANE_CP_PROXY_NETWORKS (a multus attachment, e.g.
 * `ironplane-system/cp-proxy`; none when unset), and IRONPLANE_CP_VIP (the
 * address every tenant reaches its own control plane at; an IPv4 address
 * outside every tenant node network, DEFAULT_PRIVATE_ENDPOINT_VIP when unset).
 */
export function proxyOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ProxyOptions {
  const image = env['IRONPLANE_CP_PROXY_IMAGE'] || `ghcr.io/ironplane/ironplane:v${packageVersion().replace(/^v/, '')}`;
  const networks = env['IRONPLANE_CP_PROXY_NETWORKS'] || undefined;
  const vip = env['IRONPLANE_CP_VIP'] || undefined;
  if (vip !== undefined && ipv4ToInt(vip) === undefined) throw new Error(`IRONPLANE_CP_VIP: "${vip}" is not an IPv4 address`);
  return { image, ...(networks ? { networks } : {}), ...(vip ? { vip } : {}) };
}

/** A kube-OVN Subnet's name as IRONPLANE_EXTERNAL_NETWORK may give it: a DNS-1123 label. */
const SUBNET_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The platform's external network, read once at start-up:
 * IRONPLANE_EXTERNAL_NETWORK, the name of a kube-OVN external (underlay)
 * Subnet such as `external`, which every tenant Vpc's router is connected to
 * (Vpc enableExternal, extraExternalSubnets). Unset or empty: tenant Vpcs are
 * connected to no external network, and one connected earlier is
 * disconnected.
 */
export function externalNetworkFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const name = env['IRONPLANE_EXTERNAL_NETWORK'] || undefined;
  if (name !== undefined && !SUBNET_NAME.test(name)) {
    throw new Error(`IRONPLANE_EXTERNAL_NETWORK: "${name}" is not a Subnet name (a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit)`);
  }
  return name;
}

export function setupKubevirt(mgr: Manager, opts: KubevirtOptions): { tenants: TenantClients } {
  const client = mgr.client;
  const log = mgr.log;
  const informer = <T extends KubeObject>(i: Informer<T>) => mgr.addInformer(i);

  const kvmMachines = informer(new Informer<KvmMachine>(client, KvmMachines, { log }));
  const kvmClusters = informer(new Informer<KvmCluster>(client, KvmClusters, { log }));
  const machines = informer(new Informer<Machine>(client, Machines, { log }));
  const clusters = informer(new Informer<Cluster>(client, Clusters, { log }));
  // Only what we own, by label: never every VM of the management cluster.
  // Secrets are not cached at all: reading them needs only `get`, not list/watch.
  const vms = informer(new Informer<VirtualMachine>(client, VirtualMachines, { log, labelSelector: KVM_MACHINE_LABEL }));
  const vmis = informer(new Informer<VirtualMachineInstance>(client, VirtualMachineInstances, { log, labelSelector: KVM_MACHINE_LABEL }));
  // Vpcs and Subnets keep their spec: the KvmCluster controller applies only when it differs.
  const keepSpec = (o: KubeObject & { spec?: unknown }) => ({ ...metadataOnly(o), spec: o.spec });
  // Vpcs keep also what kube-OVN reports of their external connection, which
  // the KvmCluster reports on (status.network.externalSubnet).
  const keepVpc = (o: NetworkObject) => ({ ...keepSpec(o), status: vpcExternalStatus(o) });
  const vpcs = informer(new Informer<NetworkObject>(client, Vpcs, { log, labelSelector: KVM_CLUSTER_LABEL, transform: keepVpc }));
  const subnets = informer(new Informer<KubeObject & { spec?: unknown }>(client, Subnets, { log, labelSelector: KVM_CLUSTER_LABEL, transform: keepSpec }));
  // Only our private-endpoint proxies, with the status that says they serve.
  const deployments = informer(
    new Informer<KubeObject & { status?: unknown }>(client, Deployments, { log, labelSelector: `app.kubernetes.io/name=${PROXY_APP},${KVM_CLUSTER_LABEL}`, transform: (d) => ({ ...metadataOnly(d), status: d.status }) }),
  );
  const nodes = informer(new Informer<InfraNode>(client, Nodes, { log, transform: (n) => ({ ...metadataOnly(n), spec: { unschedulable: n.spec?.unschedulable } }) }));

  const tenants = new TenantClients(client, 'ironplane-kubevirt');
  const recorder = new EventRecorder(client, 'infrastructure.ironplane.dev/kubevirt', opts.instance, log);
  const common = { log, metrics: mgr.metrics, workers: opts.workers };

  // KvmMachine controller.
  const machineCtl = new Controller({
    name: 'kvmmachine',
    reconcile: kvmMachineReconciler({ client, caches: { kvmMachines, machines, clusters, kvmClusters, vms, vmis }, tenants, recorder }),
    ...common,
  });
  const byMachineLabel = (o: KubeObject) => {
    const owner = o.metadata?.labels?.[KVM_MACHINE_LABEL];
    return owner ? [`${o.metadata?.namespace}/${owner}`] : [];
  };
  const machinesOfCluster = (ns: string | undefined, cluster: string | undefined) =>
    cluster ? kvmMachines.list((m) => m.metadata.namespace === ns && clusterNameOf(m) === cluster).map((m) => `${ns}/${m.metadata.name}`) : [];
  machineCtl
    .watch(kvmMachines)
    .watch(machines, (m) => (m.spec.infrastructureRef.kind === 'KvmMachine' ? [`${m.metadata.namespace}/${m.spec.infrastructureRef.name}`] : []))
    .watch(clusters, (c) => machinesOfCluster(c.metadata.namespace, c.metadata.name))
    .watch(kvmClusters, (kc) => machinesOfCluster(kc.metadata.namespace, clusterNameOf(kc) ?? ownerClusterName(kc)))
    .watch(vms, byMachineLabel)
    .watch(vmis, byMachineLabel);

  // KvmCluster controller.
  const externalNetwork = opts.externalNetwork ?? externalNetworkFromEnv();
  const clusterCtl = new Controller({
    name: 'kvmcluster',
    reconcile: kvmClusterReconciler({ client, caches: { kvmClusters, clusters, kvmMachines, vpcs, subnets, nodes, deployments }, recorder, proxy: opts.proxy ?? proxyOptionsFromEnv(), ...(externalNetwork ? { externalNetwork } : {}) }),
    ...common,
  });
  const byClusterLabel = (o: KubeObject) => {
    const name = o.metadata?.labels?.[KVM_CLUSTER_LABEL];
    const ns = o.metadata?.labels?.[KVM_CLUSTER_NAMESPACE_LABEL];
    return name && ns ? [`${ns}/${name}`] : [];
  };
  const kvmClusterOf = (ns: string | undefined, cluster: string | undefined) =>
    kvmClusters.list((kc) => kc.metadata.namespace === ns && (ownerClusterName(kc) === cluster || clusterNameOf(kc) === cluster)).map((kc) => `${ns}/${kc.metadata.name}`);
  clusterCtl
    .watch(kvmClusters)
    .watch(clusters, (c) => (c.spec?.infrastructureRef?.kind === 'KvmCluster' ? [`${c.metadata.namespace}/${c.spec.infrastructureRef.name}`] : []))
    // A KvmCluster only waits for its machines to go: their updates do not concern it.
    .watch(kvmMachines, (m) => kvmClusterOf(m.metadata.namespace, clusterNameOf(m)), () => false)
    // Every Vpc change, status included: kube-OVN reporting the external connection is one.
    .watch(vpcs, byClusterLabel)
    .watch(subnets, byClusterLabel)
    .watch(deployments, byClusterLabel)
    .watch(
      nodes,
      () => kvmClusters.list().map((kc) => `${kc.metadata.namespace}/${kc.metadata.name}`),
      // Only a change of labels or schedulability can change failure domains, not heartbeats.
      (a, b) => JSON.stringify([a.metadata?.labels, a.spec?.unschedulable]) !== JSON.stringify([b.metadata?.labels, b.spec?.unschedulable]),
    );

  mgr.addController(machineCtl);
  mgr.addController(clusterCtl);
  return { tenants };
}
