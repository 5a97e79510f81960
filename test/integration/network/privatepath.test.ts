// The private control-plane path, proven with packets on the real OVN
// datapath (adr/0014): each tenant's VMs reach THEIR OWN hosted control plane
// at a VIP inside their own VPC, with no route to the management network.
//
// Real: the kube-apiserver of the management plane with kube-controller-manager
// (Deployment → ReplicaSet → Pod, garbage collection), the KubeVirt manager
// with exactly its RBAC (it writes the Subnet's reserved addresses, the
// SwitchLBRule and the proxy Deployment), kube-ovn-controller and OVN (the
// rule's load balancer, the proxy Pod's address and port), and one tenant
// kube-apiserver per TenantControlPlane (test/sim/kamaji.ts). Stood in for:
// the VMs (network namespaces, test/sim/hypervisor.ts) and the proxy Pod's
// kubelet, CNI and multus (test/sim/cpproxy.ts: its tenant leg is a namespace
// on the tenant switch at the Pod's address running the production
// forwarder, its management leg the same forwarder in this process).
//
// Two tenants use the same node CIDR, so both proxies are 10.70.0.254, and
// the VIP is the platform's one address outside every node network
// (198.18.0.1): which control plane answers is decided by the VPC alone, and
// is checked by the CA that verifies the serving certificate.
//
// A worker joins through it: the Kairos manager (its own RBAC) renders
// bootstrap data with kubeadm file discovery at the VIP and the tenant's CA,
// and the kubelet simulation runs kubeadm's join from inside the VM's network
// namespace (test/sim/netnsdial.ts), so every request of the join crosses the
// datapath, the VPC's load balancer and the proxy. The tenant apiservers'
// certificates name the VIP, as Kamaji makes them from the certSANs the
// topology extension patches into the KamajiControlPlane.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { KvmCluster } from '../../../providers/api/generated/ironplane/v1alpha1/kvmcluster.js';
import { Clusters } from '../../../providers/capi/contract.js';
import { Client } from '../../../providers/kit/client.js';
import type { KubeObject, ResourceType } from '../../../providers/kit/types.js';
import { tenantNetworkName, tenantSubnetName } from '../../../providers/kubevirt/names.js';
import { Deployments, endpointRuleName, proxyDeploymentName, SwitchLBRules, TenantControlPlanes } from '../../../providers/kubevirt/privateendpoint.js';
import { KvmClusters, KvmMachines, Subnets, Vpcs } from '../../../providers/kubevirt/resources.js';
import { installCRDs } from '../../harness/crds.js';
import { startControlPlane, startOvn, type ControlPlane, type OvnWorld } from '../../harness/index.js';
import { startProxyNode, type ProxyNode } from '../../sim/cpproxy.js';
import { parseCloudConfig } from '../../sim/cloudinit.js';
import { startHypervisor, type Hypervisor } from '../../sim/hypervisor.js';
import { checkJoin, findKubeadmJoin, kubeadmJoinValidator } from '../../sim/join.js';
import { startKamaji, type Kamaji } from '../../sim/kamaji.js';
import { startKubelet, type Kubelet } from '../../sim/kubelet.js';
import { Pods, type Pod } from '../../sim/launcher.js';
import { startNetnsDialer, type NetnsDialer } from '../../sim/netnsdial.js';
import { publishTenantSecrets } from '../../harness/index.js';
import type { KairosConfig } from '../../../providers/api/generated/ironplane/v1alpha1/kairosconfig.js';
import { Machines } from '../../../providers/capi/contract.js';
import { KairosConfigs } from '../../../providers/kairos/resources.js';
import { Nodes } from '../../../providers/kubevirt/resources.js';
import { Secrets } from '../../../providers/kit/types.js';
import { createCapiCluster, createCapiMachine, ownedBy } from '../capi-objects.js';
import { REPO, until } from '../processes.js';
import { ensureNamespace, localWebhooks, managerArgs, restrictedKubeconfig, RoleManager } from '../roles.js';

const NODE_LABELS = { 'topology.kubernetes.io/zone': 'zone-a', 'ironplane.dev/vm-host': 'true' };
const CIDR = '10.70.0.0/24';
const VIP = '198.18.0.1';
const PROXY = '10.70.0.254';
const A = { ns: 'tenant-a', cluster: 'cp', excludeIPs: ['10.70.0.128..10.70.0.250'], machines: ['a1'] };
const B = { ns: 'tenant-b', cluster: 'cp', excludeIPs: ['10.70.0.2..10.70.0.127'], machines: ['b1'] };
const IMAGE = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';
const NetworkAttachmentDefinitions: ResourceType = { group: 'k8s.cni.cncf.io', version: 'v1', kind: 'NetworkAttachmentDefinition', plural: 'network-attachment-definitions', namespaced: true };
const KamajiControlPlanes: ResourceType = { group: 'controlplane.cluster.x-k8s.io', version: 'v1alpha1', kind: 'KamajiControlPlane', plural: 'kamajicontrolplanes', namespaced: true };

let cp: ControlPlane;
let ovn: OvnWorld;
let client: Client;
let manager: RoleManager;
let hypervisor: Hypervisor;
let kamaji: Kamaji;
let proxies: ProxyNode;
let kairos: RoleManager;
let kubelet: Kubelet;
let dialer: NetnsDialer;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ironplane-privatepath-'));
  cp = await startControlPlane({
    name: 'privatepath',
    controllerManager: true,
    crds: ['config/external/capi', 'config/external/kubevirt', 'config/external/kube-ovn', 'config/crd/bases'].map((p) => path.join(REPO, p)),
  });
  // Kamaji's two CRDs on their own, with room: the TenantControlPlane schema is
  // large and takes a loaded machine a while to establish.
  await installCRDs(
    cp.kubeConfig,
    ['config/external/kamaji/kamaji/kamaji.clastix.io_tenantcontrolplanes.yaml', 'config/external/kamaji/provider/controlplane.cluster.x-k8s.io_kamajicontrolplanes.yaml'].map((p) => path.join(REPO, p)),
    180_000,
  );
  ovn = await startOvn(cp, { nodeLabels: NODE_LABELS });
  client = new Client(cp.kubeConfig, { fieldManager: 'privatepath-test' });
  // The platform's network for the proxies' management leg: a multus
  // attachment kube-OVN serves from a Subnet of the default VPC. kube-OVN
  // allocates the proxy Pod's second address there; the sim plays multus
  // and kube-ovn-cni for that leg (test/sim/cpproxy.ts).
  await installCRDs(cp.kubeConfig, [path.join(REPO, 'config/external/multus')], 120_000);
  await ensureNamespace(client, 'ironplane-system');
  await client.create(NetworkAttachmentDefinitions, {
    metadata: { name: 'cp-proxy', namespace: 'ironplane-system' },
    spec: { config: JSON.stringify({ cniVersion: '0.3.1', type: 'kube-ovn', server_socket: '/run/openvswitch/kube-ovn-daemon.sock', provider: 'cp-proxy.ironplane-system.ovn' }) },
  } as KubeObject);
  await client.create(Subnets, { metadata: { name: 'ironplane-cp-proxy' }, spec: { protocol: 'IPv4', cidrBlock: '100.66.0.0/24', gateway: '100.66.0.1', provider: 'cp-proxy.ironplane-system.ovn' } } as KubeObject);
  const kubeconfig = await restrictedKubeconfig(cp, client, 'kubevirt');
  const webhook = await localWebhooks(cp, client, 'kubevirt');
  // The platform's attachment for the proxies' management leg (the sim plays multus).
  manager = new RoleManager('kubevirt', managerArgs('kubevirt', kubeconfig, webhook), webhook.port, { IRONPLANE_CP_PROXY_NETWORKS: 'ironplane-system/cp-proxy' });
  manager.start();
  hypervisor = await startHypervisor({ client, nodes: [{ name: ovn.nodeName, labels: NODE_LABELS }], ovn });
  kamaji = await startKamaji({ cp, kubeadm: true });
  proxies = await startProxyNode({ client, ovn });
  const kairosKubeconfig = await restrictedKubeconfig(cp, client, 'kairos');
  const kairosWebhook = await localWebhooks(cp, client, 'kairos');
  kairos = new RoleManager('kairos', managerArgs('kairos', kairosKubeconfig, kairosWebhook), kairosWebhook.port);
  kairos.start();
  dialer = startNetnsDialer();
  // The kubelet joins from the VM's own namespace, or not at all.
  kubelet = await startKubelet({
    client,
    validateJoin: kubeadmJoinValidator({
      requireJoin: true,
      dial: ({ vmi }) => {
        const p = hypervisor.vmNetns(vmi?.metadata?.namespace ?? '', vmi?.metadata?.name ?? '');
        return p ? dialer.dial(p.netns) : 'the VM is not plugged into OVN yet';
      },
    }),
  });
}, 300_000);

afterAll(async () => {
  await kubelet?.stop();
  await dialer?.stop();
  await kairos?.stop('SIGKILL');
  await manager?.stop('SIGKILL');
  await proxies?.stop();
  await hypervisor?.stop();
  await kamaji?.stop();
  client?.close();
  await ovn?.stop();
  await cp?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

/**
 * The KamajiControlPlane's (and its TenantControlPlane's) name: apart from
 * the Cluster's, as a ClusterClass names it, so Kamaji's `<tcp>-ca` Secret
 * and CAPI's `<cluster>-ca` are two Secrets.
 */
const kcpName = (t: typeof A): string => `${t.cluster}-kcp`;
/** The tenant apiserver the Kamaji sim runs for `t`. */
const tenantOf = (t: typeof A) => kamaji.tenant(t.ns, kcpName(t))!;

/** A Cluster whose control plane is a KamajiControlPlane, with the TenantControlPlane Kamaji's provider makes for it. */
async function createTenant(t: typeof A): Promise<void> {
  await ensureNamespace(client, t.ns);
  // The topology extension's patch: the VIP among the apiserver's SANs.
  const kcp = await client.create<Obj>(KamajiControlPlanes, { metadata: { name: kcpName(t), namespace: t.ns }, spec: { version: 'v1.35.0', network: { certSANs: [VIP] } } });
  const cluster = await client.create<Obj>(Clusters, {
    metadata: { name: t.cluster, namespace: t.ns },
    spec: {
      infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: 'KvmCluster', name: t.cluster },
      controlPlaneRef: { apiGroup: 'controlplane.cluster.x-k8s.io', kind: 'KamajiControlPlane', name: kcpName(t) },
    },
  });
  await client.create<Obj>(TenantControlPlanes, {
    metadata: {
      name: kcpName(t),
      namespace: t.ns,
      ownerReferences: [{ apiVersion: 'controlplane.cluster.x-k8s.io/v1alpha1', kind: 'KamajiControlPlane', name: kcpName(t), uid: kcp.metadata!.uid!, controller: true, blockOwnerDeletion: true }],
    },
    // As Kamaji's provider copies it from the KamajiControlPlane.
    spec: { controlPlane: { service: { serviceType: 'ClusterIP' } }, networkProfile: { certSANs: [VIP] }, kubernetes: { version: 'v1.35.0', kubelet: {} } },
  });
  await client.create<Obj>(KvmClusters, {
    metadata: ownedBy(t.ns, t.cluster, t.cluster, { kind: 'Cluster', name: t.cluster, uid: cluster.metadata!.uid! }),
    spec: { network: { nodeCIDR: CIDR, excludeIPs: t.excludeIPs }, failureDomains: { nodeSelector: { 'ironplane.dev/vm-host': 'true' } } },
  });
  for (const m of t.machines) {
    const muid = await createCapiMachine(client, t.ns, t.cluster, m, 'KvmMachine', { bootstrap: '#cloud-config\n' });
    await client.create<Obj>(KvmMachines, { metadata: ownedBy(t.ns, m, t.cluster, { kind: 'Machine', name: m, uid: muid }), spec: { image: { containerDisk: { image: IMAGE } }, memory: '1Gi' } });
  }
}

const condition = (kc: KvmCluster | undefined, type: string) => kc?.status?.conditions?.find((c) => c.type === type);

/** The VM's network namespace, once the hypervisor plugged it. */
function vmNetns(ns: string, name: string): Promise<string> {
  return until(`${ns}/${name} to be plugged into OVN`, () => hypervisor.vmNetns(ns, name)?.netns, 180_000);
}

interface Probe {
  status?: number;
  body?: string;
  issuer?: Record<string, string>;
  error?: string;
}

/**
 * From inside `netns`: HTTPS GET /version at host:port, trusting only `caPem`
 * (the host name is not checked: some probes ask the proxy's leg address,
 * which no certificate names; the join test checks the VIP's). A served certificate that `caPem` did not sign is an
 * error, so success names whose control plane answered.
 */
async function probe(netns: string, host: string, caPem: string): Promise<Probe> {
  const caFile = path.join(dir, `ca-${Buffer.from(caPem).toString('base64url').slice(-16)}.pem`);
  writeFileSync(caFile, caPem);
  const code = `
const [host, port, caFile] = process.argv.slice(-3);
const https = require('node:https');
const fs = require('node:fs');
const out = (o) => { process.stdout.write(JSON.stringify(o)); process.exit(0); };
const req = https.get({ host, port: Number(port), path: '/version', ca: fs.readFileSync(caFile), checkServerIdentity: () => undefined, timeout: 5000 }, (res) => {
  const issuer = res.socket.getPeerCertificate().issuer;
  let body = '';
  res.on('data', (d) => (body += d));
  res.on('end', () => out({ status: res.statusCode, body, issuer }));
});
req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
req.on('error', (e) => out({ error: e.code || e.message }));
`;
  const r = await ovn.exec(netns, [process.execPath, '-e', code, host, '6443', caFile]);
  try {
    return JSON.parse(r.stdout) as Probe;
  } catch {
    return { error: `probe failed (exit ${r.code}): ${r.stderr.slice(0, 500)}` };
  }
}

/** kube-ovn-controller's lines about a namespace, for a failure's message. */
function controllerLog(ns: string): string {
  try {
    return readFileSync(ovn.controllerLogPath, 'utf8').split('\n').filter((l) => l.includes(ns) && !l.includes('virt-launcher')).slice(-25).join('\n');
  } catch (e) {
    return (e as Error).message;
  }
}

/** What a failed probe through the VIP needs looked at: the proxy Pods, the VM's neighbours, the VPC's balancer, the direct path. */
async function diagnose(t: typeof A, vm: string): Promise<string> {
  const pods = (await client.list<Pod>(Pods, { namespace: t.ns, labelSelector: 'app.kubernetes.io/name=ironplane-cp-proxy' })).items;
  const lb = ((await client.get<Obj>(Vpcs, tenantNetworkName(t.ns, t.cluster))).status?.['tcpLoadBalancer'] as string) ?? '';
  return [
    `proxy pods: ${JSON.stringify(pods.map((p) => ({ name: p.metadata?.name, deleting: !!p.metadata?.deletionTimestamp, ip: p.status?.podIP, mac: p.metadata?.annotations?.['ovn.kubernetes.io/mac_address'] })))}`,
    `proxy node: ${JSON.stringify(proxies.pods())}`,
    `neighbours of the VM: ${(await ovn.exec(vm, ['ip', 'neigh'])).stdout.trim()}`,
    `${lb}: ${(await ovn.nbctl('--bare', '--columns=vips', 'find', 'Load_Balancer', `name=${lb}`)).trim()}`,
    `switch ports: ${names(await ovn.nbctl('lsp-list', tenantSubnetName(t.ns, t.cluster))).join(', ')}`,
    `direct to the proxy: ${JSON.stringify(await probe(vm, PROXY, tenantOf(t).ca.certPem))}`,
    `kube-ovn-controller:\n${controllerLog(t.ns)}`,
  ].join('\n');
}

const names = (out: string): string[] => out.split('\n').map((l) => l.trim()).filter(Boolean);

describe('private control-plane path', () => {
  it("given two tenants on one node CIDR, should serve the VIP by a SwitchLBRule in each one's own VPC to its proxy at the last usable address, and report it", async () => {
    await createTenant(A);
    await createTenant(B);

    for (const t of [A, B]) {
      const kc = await until(`${t.ns}/${t.cluster} to report its private endpoint`, async () => {
        const o = await client.get<KvmCluster>(KvmClusters, t.cluster, t.ns);
        return condition(o, 'PrivateEndpointReady')?.status === 'True' ? o : undefined;
      }, 240_000);
      expect(kc.status?.privateControlPlaneEndpoint).toEqual({ host: VIP, port: 6443 });
      expect(condition(kc, 'PrivateEndpointReady')).toMatchObject({ reason: 'Serving' });
      expect(condition(kc, 'PrivateEndpointReady')?.message).toContain(`${VIP}:6443 in the tenant VPC`);
      expect(condition(kc, 'Ready')?.status).toBe('True');

      // kube-OVN never hands the proxy's reserved address to a VM.
      const subnet = await client.get<Obj>(Subnets, tenantSubnetName(t.ns, t.cluster));
      expect((subnet.spec?.['excludeIps'] as string[]).some((e) => e === PROXY || e.endsWith(`..${PROXY}`))).toBe(true);

      const rule = await client.get<Obj>(SwitchLBRules, endpointRuleName(t.ns, t.cluster));
      expect(rule.spec).toMatchObject({ vip: VIP, namespace: t.ns, endpoints: [PROXY] });

      // The proxy: a real Pod of the real Deployment, given its address by kube-OVN on the tenant switch.
      const dep = await client.get<Obj>(Deployments, proxyDeploymentName(t.ns, t.cluster), t.ns);
      expect(dep.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'KvmCluster', name: t.cluster, uid: kc.metadata.uid, controller: true });
      const pods = (await client.list<Pod>(Pods, { namespace: t.ns, labelSelector: 'app.kubernetes.io/name=ironplane-cp-proxy' })).items;
      expect(pods).toHaveLength(1);
      const ann = pods[0]!.metadata?.annotations ?? {};
      expect(ann['ovn.kubernetes.io/logical_switch']).toBe(tenantSubnetName(t.ns, t.cluster));
      expect(ann['ovn.kubernetes.io/ip_address']).toBe(PROXY);
      expect(ann['ovn.kubernetes.io/logical_router']).toBe(tenantNetworkName(t.ns, t.cluster));
      expect(pods[0]!.status?.podIP).toBe(PROXY);
      // And its management leg: the platform's attachment, an address of the attachment Subnet.
      expect(ann['k8s.v1.cni.cncf.io/networks']).toBe('ironplane-system/cp-proxy');
      expect(ann['cp-proxy.ironplane-system.ovn.kubernetes.io/ip_address']).toMatch(/^100\.66\.0\.\d+$/);

      // In OVN: the VIP is in this tenant's VPC load balancer, to its proxy, and that balancer sits on its switch.
      const vpc = await client.get<Obj>(Vpcs, tenantNetworkName(t.ns, t.cluster));
      const lb = vpc.status?.['tcpLoadBalancer'] as string;
      const vipRow = new RegExp(`"?${VIP.replace(/\./g, '\\.')}:6443"?="?${PROXY.replace(/\./g, '\\.')}:6443"?`);
      await until(`the VIP in ${lb}`, async () => (vipRow.test(await ovn.nbctl('--bare', '--columns=vips', 'find', 'Load_Balancer', `name=${lb}`)) ? true : undefined), 60_000).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\n--- kube-ovn-controller on ${t.ns} ---\n${controllerLog(t.ns)}`);
      });
      const lbUuid = (await ovn.nbctl('--bare', '--columns=_uuid', 'find', 'Load_Balancer', `name=${lb}`)).trim();
      expect(await ovn.nbctl('--bare', '--columns=load_balancer', 'find', 'Logical_Switch', `name=${tenantSubnetName(t.ns, t.cluster)}`)).toContain(lbUuid);
    }
    // Each VPC's balancer is attached to its own switch only.
    const lbA = ((await client.get<Obj>(Vpcs, tenantNetworkName(A.ns, A.cluster))).status?.['tcpLoadBalancer'] as string);
    const lbAUuid = (await ovn.nbctl('--bare', '--columns=_uuid', 'find', 'Load_Balancer', `name=${lbA}`)).trim();
    expect(await ovn.nbctl('--bare', '--columns=load_balancer', 'find', 'Logical_Switch', `name=${tenantSubnetName(B.ns, B.cluster)}`)).not.toContain(lbAUuid);
  });

  it("should bring A's VM to A's own control plane through the VIP, and B's VM, at the same address, to B's and never A's", async () => {
    const caA = tenantOf(A).ca.certPem;
    const caB = tenantOf(B).ca.certPem;
    const a1 = await vmNetns(A.ns, 'a1');
    const b1 = await vmNetns(B.ns, 'b1');

    // Success side: A's VM, trusting A's CA, gets A's apiserver's /version through its VIP.
    const okA = await until("a1 to reach its control plane through the VIP", async () => {
      const r = await probe(a1, VIP, caA);
      if (!r.status) throw new Error(r.error);
      return r;
    }, 120_000).catch(async (e: unknown) => {
      throw new Error(`${(e as Error).message}\n${await diagnose(A, a1)}`);
    });
    expect(okA.status).toBe(200);
    expect(JSON.parse(okA.body!)).toMatchObject({ gitVersion: expect.stringMatching(/^v1\./) as string });
    // The same answer is not signed by B's CA: it was A's control plane.
    expect((await probe(a1, VIP, caB)).error).toMatch(/UNABLE_TO_VERIFY|SELF_SIGNED|unable to verify|CERT/i);

    // B's VM: the same VIP in B's own VPC reaches B's control plane, never A's.
    const okB = await until('b1 to reach its control plane through the VIP', async () => {
      const r = await probe(b1, VIP, caB);
      if (!r.status) throw new Error(r.error);
      return r;
    }, 120_000).catch(async (e: unknown) => {
      throw new Error(`${(e as Error).message}\n${await diagnose(B, b1)}`);
    });
    expect(okB.status).toBe(200);
    expect((await probe(b1, VIP, caA)).error).toMatch(/UNABLE_TO_VERIFY|SELF_SIGNED|unable to verify|CERT/i);
  });

  it("should keep B off A's proxy leg and every VM off the management network", async () => {
    const caA = tenantOf(A).ca.certPem;
    const caB = tenantOf(B).ca.certPem;
    const a1 = await vmNetns(A.ns, 'a1');
    const b1 = await vmNetns(B.ns, 'b1');

    // A's proxy leg address, asked from B, is B's own proxy: A's control plane never answers there.
    expect((await probe(b1, PROXY, caA)).error).toBeDefined();
    expect(await probe(b1, PROXY, caB)).toMatchObject({ status: 200 });
    // And B's switch has no port of A's proxy, nor A's of B's.
    const proxyPort = async (t: typeof A) => {
      const pod = (await client.list<Pod>(Pods, { namespace: t.ns, labelSelector: 'app.kubernetes.io/name=ironplane-cp-proxy' })).items[0]!;
      return `${pod.metadata!.name}.${t.ns}`;
    };
    const portsOf = async (t: typeof A) => names(await ovn.nbctl('lsp-list', tenantSubnetName(t.ns, t.cluster))).join('\n');
    expect(await portsOf(A)).toContain(await proxyPort(A));
    expect(await portsOf(B)).not.toContain(await proxyPort(A));
    expect(await portsOf(A)).not.toContain(await proxyPort(B));

    // No route to the management network: only the tenant subnet and the default via the tenant's own router.
    for (const vm of [a1, b1]) {
      const routes = names((await ovn.exec(vm, ['ip', '-4', 'route', 'show'])).stdout);
      expect(routes.map((r) => r.replace(/\s+proto \S+|\s+scope \S+|\s+src \S+|\s+metric \S+/g, '').trim()).sort()).toEqual(['10.70.0.0/24 dev eth0', 'default via 10.70.0.1 dev eth0']);
      const addrs = names((await ovn.exec(vm, ['ip', '-4', '-o', 'addr', 'show'])).stdout).map((l) => l.split(/\s+/)[3]);
      expect(addrs.every((a) => a === '127.0.0.1/8' || a!.startsWith('10.70.0.'))).toBe(true);
    }
    // The management plane's addresses (this host's) answer no VM, by ping or on the control planes' ports.
    const hostAddrs = Object.values(networkInterfaces()).flat().filter((i) => i && i.family === 'IPv4' && !i.internal).map((i) => i!.address);
    for (const addr of hostAddrs.slice(0, 2)) {
      expect(await ovn.ping(a1, addr, 2)).toBe(false);
      const port = tenantOf(A).endpoint.port;
      const r = await ovn.exec(a1, [process.execPath, '-e', `require('node:net').connect(${port}, '${addr}').on('connect', () => { console.log('connected'); process.exit(0); }).on('error', () => process.exit(0)).setTimeout(3000, () => process.exit(0))`]);
      expect(r.stdout).not.toContain('connected');
    }
    // The VM's own loopback is not the management plane's: the tenant apiserver's port is closed there.
    const port = tenantOf(A).endpoint.port;
    const lo = await ovn.exec(a1, [process.execPath, '-e', `require('node:net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('connected'); process.exit(0); }).on('error', () => process.exit(0))`]);
    expect(lo.stdout).not.toContain('connected');
  });

  it("should join A's Kairos worker through the VIP: file discovery at the VIP with A's CA, kubeadm's requests from the VM's namespace, the Node in A's control plane only", async () => {
    const tenantA = tenantOf(A);
    const tenantB = tenantOf(B);
    // The Kamaji CP provider's part: the Cluster's endpoint and the <cluster>-kubeconfig and -ca Secrets.
    await client.mergePatch(Clusters, A.cluster, A.ns, { spec: { controlPlaneEndpoint: tenantA.endpoint } });
    await publishTenantSecrets(client, { namespace: A.ns, cluster: A.cluster, tenant: tenantA });
    await until("A's KvmCluster to report its private endpoint", async () => {
      const pe = (await client.get<KvmCluster>(KvmClusters, A.cluster, A.ns)).status?.privateControlPlaneEndpoint;
      return pe?.host === VIP && pe.port === 6443 ? pe : undefined;
    }, 180_000);

    // A Machine with a KairosConfig and a KvmMachine, as a MachineSet makes them.
    const machine = await client.create<Obj>(Machines, {
      metadata: { name: 'a2', namespace: A.ns, labels: { 'cluster.x-k8s.io/cluster-name': A.cluster } },
      spec: { clusterName: A.cluster, version: 'v1.35.0', bootstrap: { configRef: { apiGroup: 'bootstrap.ironplane.dev', kind: 'KairosConfig', name: 'a2' } }, infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: 'KvmMachine', name: 'a2' } },
    });
    const owner = [{ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Machine', name: 'a2', uid: machine.metadata!.uid!, controller: true }];
    await client.create<KairosConfig>(KairosConfigs, { apiVersion: 'bootstrap.ironplane.dev/v1alpha1', kind: 'KairosConfig', metadata: { name: 'a2', namespace: A.ns, labels: { 'cluster.x-k8s.io/cluster-name': A.cluster }, ownerReferences: owner }, spec: {} });
    await client.create<Obj>(KvmMachines, { metadata: { name: 'a2', namespace: A.ns, labels: { 'cluster.x-k8s.io/cluster-name': A.cluster }, ownerReferences: owner }, spec: { image: { containerDisk: { image: IMAGE } }, memory: '1Gi' } });
    // CAPI core's part: the Machine names the bootstrap data once the KairosConfig reports it.
    const dataSecret = await until('a2 to report its bootstrap data', async () => (await client.get<KairosConfig>(KairosConfigs, 'a2', A.ns)).status?.dataSecretName, 120_000).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${kairos.output().split('\n').slice(-20).join('\n')}`);
    });
    await client.mergePatch(Machines, 'a2', A.ns, { spec: { bootstrap: { dataSecretName: dataSecret } } });

    // The bootstrap data: kubeadm file discovery at the VIP, trusting A's CA.
    const secret = await client.get<KubeObject & { data?: Record<string, string> }>(Secrets, dataSecret, A.ns);
    const cc = parseCloudConfig(Buffer.from(secret.data!['value']!, 'base64').toString('utf8'));
    if (typeof cc === 'string') throw new Error(cc);
    const join = findKubeadmJoin(cc)!;
    expect(join.config?.discovery?.bootstrapToken).toBeUndefined();
    const discovery = parse(join.discoveryFile!.content!) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[] };
    expect(discovery.clusters[0]!.cluster.server).toBe(`https://${VIP}:6443`);
    expect(Buffer.from(discovery.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString('utf8').trim()).toBe(tenantA.ca.certPem.trim());

    // Refusal side: the same join from B's VM meets B's control plane at the VIP, which A's CA does not sign.
    const b1 = await vmNetns(B.ns, 'b1');
    await expect(checkJoin(join, { timeoutMs: 10_000, dial: dialer.dial(b1) })).rejects.toThrow(/^cannot reach the control plane at https:\/\/198\.18\.0\.1:6443 .* with a certificate its CA signed for that address: .*(unable to verify|self.signed|certificate)/i);

    // Success side: the kubelet in a2's namespace joins A through the VIP, and the Node has the providerID.
    const node = await until('a2 to join A as a Node', () => kubelet.nodeOf(A.ns, 'a2'), 300_000).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}: ${kubelet.why(A.ns, 'a2') ?? 'no answer from the kubelet'}`);
    });
    expect(node).toEqual({ cluster: A.cluster, node: 'a2', providerID: `kubevirt://${A.ns}/a2` });
    // The join's connections came from a2's own namespace.
    expect(dialer.dialled()).toContain(hypervisor.vmNetns(A.ns, 'a2')?.netns);
    const [ca, cb] = [new Client(tenantA.kubeConfig, { fieldManager: 't' }), new Client(tenantB.kubeConfig, { fieldManager: 't' })];
    try {
      expect((await ca.get<KubeObject & { spec?: { providerID?: string } }>(Nodes, 'a2')).spec?.providerID).toBe(`kubevirt://${A.ns}/a2`);
      expect(await cb.tryGet(Nodes, 'a2')).toBeUndefined();
    } finally {
      ca.close();
      cb.close();
    }
    // The VMs without a join in their userdata registered nowhere.
    expect(kubelet.why(A.ns, 'a1')).toContain('the userdata runs no kubeadm join');
  });

  it('should refuse a private endpoint, naming the field, where the node network leaves no room for it or another cluster of the namespace has its address', async () => {
    const cases = [
      { ns: A.ns, name: 'late', network: { nodeCIDR: CIDR }, reason: 'AddressShared', message: 'KvmCluster cp in this namespace, created earlier, has node CIDR 10.70.0.0/24' },
      { ns: 'tenant-c', name: 'gw', network: { nodeCIDR: '10.80.0.0/24', gateway: '10.80.0.254' }, reason: 'AddressUnavailable', message: "spec.network.gateway 10.80.0.254 is the control-plane proxy's address 10.80.0.254" },
      { ns: 'tenant-c', name: 'excl', network: { nodeCIDR: '10.81.0.0/24', excludeIPs: ['10.81.0.250..10.81.0.254'] }, reason: 'AddressUnavailable', message: "spec.network.excludeIPs[0] 10.81.0.250..10.81.0.254 holds the control-plane proxy's address 10.81.0.254" },
      { ns: 'tenant-c', name: 'vip', network: { nodeCIDR: '198.18.0.0/24' }, reason: 'AddressUnavailable', message: 'spec.network.nodeCIDR 198.18.0.0/24 holds 198.18.0.1, the address at which every tenant reaches its own control plane' },
      { ns: 'tenant-c', name: 'tiny', network: { nodeCIDR: '10.82.0.0/30' }, reason: 'AddressUnavailable', message: 'spec.network.nodeCIDR 10.82.0.0/30 is too small' },
    ];
    for (const c of cases) {
      await ensureNamespace(client, c.ns);
      const uid = await createCapiCluster(client, c.ns, c.name, 'KvmCluster');
      await client.create<Obj>(KvmClusters, { metadata: ownedBy(c.ns, c.name, c.name, { kind: 'Cluster', name: c.name, uid }), spec: { network: c.network } });
    }
    for (const c of cases) {
      const kc = await until(`${c.ns}/${c.name} to be refused a private endpoint`, async () => {
        const o = await client.get<KvmCluster>(KvmClusters, c.name, c.ns);
        return condition(o, 'PrivateEndpointReady')?.status === 'False' ? o : undefined;
      }, 120_000);
      expect(condition(kc, 'PrivateEndpointReady')).toMatchObject({ reason: c.reason });
      expect(condition(kc, 'PrivateEndpointReady')?.message).toContain(c.message);
      // The network itself is there; nothing of a private endpoint is.
      expect(condition(kc, 'NetworkReady')?.status).toBe('True');
      expect(kc.status?.privateControlPlaneEndpoint).toBeUndefined();
      expect(await client.tryGet(SwitchLBRules, endpointRuleName(c.ns, c.name))).toBeUndefined();
      expect(await client.tryGet(Deployments, proxyDeploymentName(c.ns, c.name), c.ns)).toBeUndefined();
    }
  });

  it("should remove the rule, the proxy and its address before the tenant's Subnet when the KvmCluster is deleted, leaving B serving", async () => {
    // Every machine of A (its Kairos worker too): the KvmCluster waits for them.
    for (const m of (await client.list(KvmMachines, { namespace: A.ns })).items) await client.delete(KvmMachines, m.metadata!.name!, A.ns);
    await client.delete(KvmClusters, A.cluster, A.ns);
    await until('tenant A KvmCluster, rule, proxy, Subnet and Vpc to be gone', async () => {
      const left = [
        await client.tryGet(KvmClusters, A.cluster, A.ns),
        await client.tryGet(SwitchLBRules, endpointRuleName(A.ns, A.cluster)),
        await client.tryGet(Deployments, proxyDeploymentName(A.ns, A.cluster), A.ns),
        await client.tryGet(Subnets, tenantSubnetName(A.ns, A.cluster)),
        await client.tryGet(Vpcs, tenantNetworkName(A.ns, A.cluster)),
      ];
      if (left.every((o) => o === undefined)) return true;
      throw new Error(`still there: ${left.filter((o) => o !== undefined).map((o) => `${o!.kind}/${o!.metadata?.name}`).join(', ')}`);
    }, 180_000);
    expect((await client.list(Pods, { namespace: A.ns, labelSelector: 'app.kubernetes.io/name=ironplane-cp-proxy' })).items).toEqual([]);
    expect(proxies.pods()).toEqual([`${B.ns}/${(await client.list<Pod>(Pods, { namespace: B.ns, labelSelector: 'app.kubernetes.io/name=ironplane-cp-proxy' })).items[0]!.metadata!.name}`]);
    const b1 = await vmNetns(B.ns, 'b1');
    // OVN recomputes its flows as A's router and switch go: B's path settles within the bound.
    await until('b1 to reach its control plane through the VIP after A is gone', async () => {
      const r = await probe(b1, VIP, tenantOf(B).ca.certPem);
      if (r.status !== 200) throw new Error(r.error ?? `HTTP ${r.status}`);
      return r;
    }, 120_000).catch(async (e: unknown) => {
      throw new Error(`${(e as Error).message}\n${await diagnose(B, b1)}`);
    });
    // Nothing of A is left in OVN: its router, its switch, its proxy's port.
    await until("A's router, switch and proxy port to leave OVN", async () => {
      const left = [
        ...names(await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Router')).filter((n) => n === tenantNetworkName(A.ns, A.cluster)),
        ...names(await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch')).filter((n) => n === tenantSubnetName(A.ns, A.cluster)),
        ...names(await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch_Port')).filter((n) => n.includes(`.${A.ns}`) && n.includes('cp-proxy')),
      ];
      if (left.length === 0) return true;
      throw new Error(`still in OVN NB: ${left.join(', ')}`);
    }, 120_000);
  });
});
