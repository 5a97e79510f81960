// The network planes, proven with packets on the real datapath: the REAL
// kube-ovn-controller programs OVN from what our managers write, VMs are
// network namespaces plugged into a userspace OVS (test/harness/ovn.ts,
// test/sim hypervisor OVN mode), and every check asks both whether a packet
// that should pass does and whether one that must not does not.
//
// 1. Management isolation: tenant VMs reach nothing of kube-OVN's default
//    VPC (ovn-cluster): not its pods on ovn-default, not its routers'
//    addresses, not the join switch (100.64.0.0/16) and not the management
//    host on it.
//
//    The management apiserver, as OVN sees it: the harness's kube-apiserver
//    listens on the host's loopback, and the Node's InternalIP is 127.0.0.1.
//    kube-OVN reroutes traffic for a node's address to the node's port on
//    the join switch (policy `ip4.dst == 127.0.0.1 reroute <join address>`
//    on ovn-cluster), which is kube-ovn-cni's `ovn0` in the host's network
//    stack. From inside OVN the apiserver is therefore reached at
//    <node join address>:<apiserver port>; a packet to 127.0.0.1 from a
//    pod or VM never leaves its own loopback. So the node's join port is
//    plugged here as the host's `ovn0`, and a relay there hands connections
//    to the real kube-apiserver: a default-VPC pod gets the apiserver's
//    /version through it (success), a tenant VM gets nothing (refusal). The
//    `kubernetes` Service's ClusterIP is no OVN path in this world (kube-OVN
//    programs no endpoints for it: the cluster load balancers stay empty).
//
// 2. Peering with packets: tenants A and B on distinct node CIDRs, C on A's.
//    A and B cannot reach each other until both ask (PeeringRequest and its
//    mirror); then the network manager writes both Vpcs, kube-OVN adds the
//    router ports and routes, and pings pass both ways. C's range (A's) is
//    never routed: C's requests to peer with B or A are refused and C stays
//    unreachable. Withdrawing the requests removes ports and routes, and the
//    pings fail again. The same with one request a platform operator approved.
//
// 3. A tenant LoadBalancer Service: the cloud provider gives it an address of
//    a LoadBalancerPool and a SwitchLBRule; kube-OVN makes it an OVN load
//    balancer on A's switch only; an HTTP server on the node port inside A's
//    node VM answers through VIP:port to A's other VM, and to nothing of B,
//    C or the management plane. The time from the Service's creation to its
//    ingress address and to the first answer through the VIP is logged as a
//    JSON line (`"bench":"tenant-lb-datapath"`).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PeeringRequest } from '../../../providers/api/generated/ironplane/v1alpha1/peeringrequest.js';
import type { SwitchLBRule } from '../../../providers/api/generated/kubeovn/v1/switchlbrule.js';
import { EXCLUDE_NODE_LABEL, LoadBalancerPools, ruleName, Services, SwitchLBRules } from '../../../providers/cloudprovider/names.js';
import { Client } from '../../../providers/kit/client.js';
import { getCondition } from '../../../providers/kit/conditions.js';
import type { KubeObject, ResourceType } from '../../../providers/kit/types.js';
import { tenantNetworkName, tenantSubnetName } from '../../../providers/kubevirt/names.js';
import { Vpcs } from '../../../providers/kubevirt/resources.js';
import { PeeringRequests } from '../../../providers/network/names.js';
import { publishTenantSecrets, startControlPlane, startOvn, startTenantApiServer, type ControlPlane, type OvnWorld, type TenantPlane } from '../../harness/index.js';
import { startHypervisor, type Hypervisor } from '../../sim/hypervisor.js';
import { REPO, until, type Proc } from '../processes.js';
import { ensureNamespace, restrictedKubeconfig } from '../roles.js';
import { asSet, defaultVpcPod, httpGet, nbRows, NetnsProcesses, nodeJoinPort } from './packets.js';
import { createTenant, NODE_LABELS, registerNode, startManager, stopManagers, vmUp, type Tenant, type VM } from './tenants.js';

const WAIT_MS = 120_000;

// A and B do not overlap; C overlaps A, its addresses kept apart from A's
// (A: .2-.127, C: .128-.254) so that "C is unreachable" is never a duplicate
// address answering on the other side.
const A: Tenant = { ns: 'planes-a', cluster: 'net', cidr: '10.81.0.0/24', excludeIPs: ['10.81.0.128..10.81.0.254'], machines: ['a1', 'a2'] };
const B: Tenant = { ns: 'planes-b', cluster: 'net', cidr: '10.82.0.0/24', machines: ['b1'] };
const C: Tenant = { ns: 'planes-c', cluster: 'net', cidr: '10.81.0.0/24', excludeIPs: ['10.81.0.2..10.81.0.127'], machines: ['c1'] };
const MGMT_NS = 'planes-mgmt';
const EndpointSlices: ResourceType = { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true };

let cp: ControlPlane;
let ovn: OvnWorld;
let client: Client;
let hypervisor: Hypervisor;
let tenantA: TenantPlane | undefined;
let tenantAClient: Client | undefined;
const procs: Proc[] = [];
const inNetns = new NetnsProcesses();

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

const vms = new Map<string, VM>();
const vm = (name: string): VM => {
  const v = vms.get(name);
  if (!v) throw new Error(`VM ${name} is not up`);
  return v;
};

const reaches = (from: string, ip: string, what: string): Promise<boolean> => until(`${what} (ping ${ip})`, async () => ((await ovn.ping(from, ip)) ? true : undefined), 60_000);

beforeAll(async () => {
  cp = await startControlPlane({
    name: 'planes',
    // kube-OVN programs load balancers from the EndpointSlices that the
    // controller manager's mirroring controller makes of a SwitchLBRule's Endpoints.
    controllerManager: true,
    crds: ['config/external/capi', 'config/external/kubevirt', 'config/external/kube-ovn', 'config/crd/bases'].map((p) => path.join(REPO, p)),
  });
  ovn = await startOvn(cp, { nodeLabels: NODE_LABELS });
  client = new Client(cp.kubeConfig, { fieldManager: 'planes-test' });
  procs.push(startManager('kubevirt', await restrictedKubeconfig(cp, client, 'kubevirt')));
  procs.push(startManager('network', await restrictedKubeconfig(cp, client, 'network'), ['--peering-namespace', 'ironplane-system', '--peering-acceptance', 'mirror,platform']));
  procs.push(startManager('cloud-provider', await restrictedKubeconfig(cp, client, 'cloud-provider')));
  hypervisor = await startHypervisor({ client, nodes: [{ name: ovn.nodeName, labels: NODE_LABELS }], ovn });
  for (const t of [A, B, C]) await createTenant(client, t);
  for (const t of [A, B, C]) for (const m of t.machines) vms.set(m, await vmUp(client, hypervisor, t, m, WAIT_MS));
}, 300_000);

afterAll(async () => {
  await stopManagers(procs);
  await inNetns.stop();
  await hypervisor?.stop();
  tenantAClient?.close();
  await tenantA?.stop();
  client?.close();
  await ovn?.stop();
  await cp?.stop();
});

/** Two pods of the default VPC and the management host's join port (set up by the first describe). */
let m1: { netns: string; ip: string };
let m2: { netns: string; ip: string };
let node: { netns: string; ip: string; gateway: string };

describe('the management plane', () => {
  const apiPort = (): number => Number(new URL(cp.url).port);

  beforeAll(async () => {
    await ensureNamespace(client, MGMT_NS);
    const p1 = await defaultVpcPod(ovn, client, MGMT_NS, 'm1');
    const p2 = await defaultVpcPod(ovn, client, MGMT_NS, 'm2');
    m1 = { netns: p1.netns, ip: p1.alloc.ip };
    m2 = { netns: p2.netns, ip: p2.alloc.ip };
    const n = await nodeJoinPort(ovn, client);
    node = { netns: n.netns, ip: n.alloc.ip, gateway: n.alloc.gateway };
    // The apiserver as OVN reaches it: the node's join address, the apiserver's port.
    await inNetns.relay(node.netns, node.ip, apiPort(), { host: '127.0.0.1', port: apiPort() });
    await inNetns.httpServer(m1.netns, 8080, 'm1');
  }, 180_000);

  it('given pods of the default VPC and the node on the join switch, should carry packets among them (the success side)', async () => {
    expect(m1.ip).toMatch(/^10\.16\./);
    expect(node.ip).toMatch(/^100\.64\./);
    // The policy that sends a node's address to its join port, which makes the join port "the host".
    expect(await ovn.nbctl('lr-policy-list', 'ovn-cluster')).toMatch(new RegExp(`ip4\\.dst == 127\\.0\\.0\\.1\\s+reroute\\s+${node.ip.replace(/\./g, '\\.')}`));
    await reaches(m2.netns, m1.ip, 'a default-VPC pod to reach another');
    await reaches(m2.netns, node.ip, 'a default-VPC pod to reach the node on the join switch');
    expect(await until('a default-VPC pod to reach an HTTP server of another', () => httpGet(ovn, m2.netns, m1.ip, 8080), 60_000)).toBe('m1');
    const version = await until('a default-VPC pod to get the management apiserver /version through the node', () => httpGet(ovn, m2.netns, node.ip, apiPort(), { scheme: 'https', path: '/version' }), 60_000);
    expect(JSON.parse(version)).toMatchObject({ major: '1', minor: '35' });
  });

  it("should let no tenant VM reach the default VPC's pods, its routers, the join switch, the node or the apiserver through it (the refusal side)", async () => {
    // The three VMs in parallel: each refusal waits out its timeouts.
    await Promise.all(
      ['a1', 'b1', 'c1'].map(async (name) => {
        const from = vm(name).netns;
        // The VM is up: it reaches its own gateway.
        const gw = (await ovn.exec(from, ['ip', 'route', 'show', 'default'])).stdout.split(' ')[2]!;
        expect(await ovn.ping(from, gw), `${name} pings its gateway ${gw}`).toBe(true);
        for (const [ip, what] of [
          [m1.ip, 'a default-VPC pod'],
          ['10.16.0.1', "ovn-default's gateway"],
          ['100.64.0.1', "the join switch's gateway"],
          [node.ip, "the node's join address"],
        ] as const) {
          expect(await ovn.ping(from, ip, 2), `${name} must not reach ${what} ${ip}`).toBe(false);
        }
        expect(await httpGet(ovn, from, m1.ip, 8080), `${name} must not reach the HTTP server of a default-VPC pod`).toBeUndefined();
        expect(await httpGet(ovn, from, node.ip, apiPort(), { scheme: 'https', path: '/version' }), `${name} must not reach the management apiserver`).toBeUndefined();
      }),
    );
    // And the other way round: the management plane has no path into a tenant VPC.
    expect(await ovn.ping(m1.netns, vm('a1').ip, 2)).toBe(false);
    expect(await ovn.ping(node.netns, vm('b1').ip, 2)).toBe(false);
    // Still up after all that: the refusals were not a broken datapath.
    expect(await ovn.ping(m2.netns, node.ip)).toBe(true);
  });
});

const request = (t: Tenant, name: string, peer: Tenant): PeeringRequest => ({
  apiVersion: 'network.ironplane.dev/v1alpha1',
  kind: 'PeeringRequest',
  metadata: { name, namespace: t.ns },
  spec: { clusterName: t.cluster, peer: { namespace: peer.ns, clusterName: peer.cluster } },
});

async function phase(ns: string, name: string, want: string, reason?: string): Promise<PeeringRequest> {
  return until(`PeeringRequest ${ns}/${name} to be ${want}${reason ? ` (${reason})` : ''}`, async () => {
    const pr = await client.get<PeeringRequest>(PeeringRequests, name, ns);
    return pr.status?.phase === want && (!reason || getCondition(pr.status.conditions, 'Accepted')?.reason === reason) ? pr : undefined;
  }, WAIT_MS);
}

/**
 * Destination → next hop of a router's destination routes (`ovn-nbctl
 * lr-route-list`, policy dst-ip). kube-OVN also gives a custom VPC's router a
 * source route per subnet (`<subnet> <its gateway> src-ip`): not a path to
 * anywhere else, and not counted.
 */
async function routes(router: string): Promise<Map<string, string>> {
  const out = await ovn.nbctl('lr-route-list', router);
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const r = /^\s*(\d+\.\d+\.\d+\.\d+\/\d+)\s+(\d+\.\d+\.\d+\.\d+)\s+dst-ip\b/.exec(line);
    if (r) m.set(r[1]!, r[2]!);
  }
  return m;
}

/** The names of a router's ports (`ovn-nbctl lrp-list`: lines of "<uuid> (<name>)"). */
async function routerPorts(router: string): Promise<string[]> {
  return (await ovn.nbctl('lrp-list', router)).split('\n').map((l) => /\((.*)\)/.exec(l)?.[1]).filter((n): n is string => n !== undefined);
}

describe('VPC peering', () => {
  const vpcA = tenantNetworkName(A.ns, A.cluster);
  const vpcB = tenantNetworkName(B.ns, B.cluster);
  const vpcC = tenantNetworkName(C.ns, C.cluster);

  it('given A and B on distinct CIDRs, should carry no packet between them before both ask', async () => {
    // Both are up (each reaches its own), yet neither reaches the other.
    await reaches(vm('a1').netns, vm('a2').ip, 'a1 to reach a2');
    await reaches(vm('b1').netns, '10.82.0.1', 'b1 to reach its gateway');
    expect(await ovn.ping(vm('a1').netns, vm('b1').ip, 2)).toBe(false);
    expect(await ovn.ping(vm('b1').netns, vm('a1').ip, 2)).toBe(false);
    // A request alone changes nothing.
    await client.create(PeeringRequests, request(A, 'to-b', B));
    await phase(A.ns, 'to-b', 'Pending', 'WaitingForAcceptance');
    expect((await routes(vpcA)).has(B.cidr)).toBe(false);
    expect(await ovn.ping(vm('a1').netns, vm('b1').ip, 2)).toBe(false);
  });

  it("given the mirror request, should make kube-OVN add the router ports and routes, and carry pings both ways", async () => {
    await client.create(PeeringRequests, request(B, 'to-a', A));
    const pa = await phase(A.ns, 'to-b', 'Active');
    const pb = await phase(B.ns, 'to-a', 'Active');
    const aLink = pa.status!.interconnect!;
    const bLink = pb.status!.interconnect!;
    expect(aLink.remoteConnectIP).toBe(bLink.localConnectIP?.split('/')[0]);

    // What the real kube-ovn-controller made of the Vpcs.
    await until('kube-OVN to route B from A and A from B', async () => {
      const [ra, rb] = [await routes(vpcA), await routes(vpcB)];
      return ra.get(B.cidr) === aLink.remoteConnectIP && rb.get(A.cidr) === bLink.remoteConnectIP ? true : undefined;
    }, 60_000);
    expect(await routerPorts(vpcA)).toContain(`${vpcA}-${vpcB}`);
    expect(await routerPorts(vpcB)).toContain(`${vpcB}-${vpcA}`);

    await reaches(vm('a1').netns, vm('b1').ip, 'a1 to reach b1 over the peering');
    await reaches(vm('b1').netns, vm('a1').ip, 'b1 to reach a1 over the peering');
    expect(await ovn.ping(vm('a2').netns, vm('b1').ip)).toBe(true);
  });

  it("given C on A's CIDR asking to peer with B and with A (both sides asking), should refuse both and never route C's range to C", async () => {
    await client.create(PeeringRequests, request(C, 'to-b', B));
    await client.create(PeeringRequests, request(B, 'to-c', C));
    await client.create(PeeringRequests, request(C, 'to-a', A));
    await client.create(PeeringRequests, request(A, 'to-c', C));
    for (const [t, name, reason] of [
      [C, 'to-b', 'RouteOverlap'],
      [B, 'to-c', 'RouteOverlap'],
      [C, 'to-a', 'CIDROverlap'],
      [A, 'to-c', 'CIDROverlap'],
    ] as const) {
      await phase(t.ns, name, 'Refused', reason);
    }
    // B's one route for 10.81.0.0/24 still goes to A; C's router routes nowhere.
    expect((await routes(vpcB)).get(C.cidr)).toBe((await client.get<PeeringRequest>(PeeringRequests, 'to-a', B.ns)).status?.interconnect?.remoteConnectIP);
    expect([...(await routes(vpcC)).keys()]).toEqual([]);
    expect((await client.get<Obj>(Vpcs, vpcC)).spec).toEqual({});
    expect((await routerPorts(vpcC)).filter((p) => p.includes(vpcA) || p.includes(vpcB))).toEqual([]);
    // Packets: B's traffic for C's address goes to A's router, where no such VM is.
    expect(await ovn.ping(vm('b1').netns, vm('c1').ip, 2)).toBe(false);
    expect(await ovn.ping(vm('c1').netns, vm('b1').ip, 2)).toBe(false);
    expect(await ovn.ping(vm('c1').netns, vm('a1').ip, 2)).toBe(false);
    expect(await ovn.ping(vm('a1').netns, vm('c1').ip, 2)).toBe(false);
    // C is up all along.
    expect(await ovn.ping(vm('c1').netns, '10.81.0.1')).toBe(true);

    for (const [t, name] of [
      [C, 'to-b'],
      [B, 'to-c'],
      [C, 'to-a'],
      [A, 'to-c'],
    ] as const) {
      await client.delete(PeeringRequests, name, t.ns);
      await until(`${t.ns}/${name} to be gone`, async () => !(await client.tryGet(PeeringRequests, name, t.ns)), WAIT_MS);
    }
  });

  it('given the requests withdrawn, should remove the ports and routes and carry no packet between A and B again', async () => {
    await client.delete(PeeringRequests, 'to-b', A.ns);
    await client.delete(PeeringRequests, 'to-a', B.ns);
    for (const [t, name] of [
      [A, 'to-b'],
      [B, 'to-a'],
    ] as const) {
      await until(`${t.ns}/${name} to be gone`, async () => !(await client.tryGet(PeeringRequests, name, t.ns)), WAIT_MS);
    }
    await until('kube-OVN to drop the routes and ports', async () => {
      const [ra, rb, pa, pb] = [await routes(vpcA), await routes(vpcB), await routerPorts(vpcA), await routerPorts(vpcB)];
      return ra.size === 0 && rb.size === 0 && !pa.some((p) => p.includes(vpcB)) && !pb.some((p) => p.includes(vpcA)) ? true : undefined;
    }, 60_000);
    await until('a1 to stop reaching b1', async () => ((await ovn.ping(vm('a1').netns, vm('b1').ip)) ? undefined : true), 60_000);
    expect(await ovn.ping(vm('a1').netns, vm('b1').ip, 2)).toBe(false);
    expect(await ovn.ping(vm('b1').netns, vm('a1').ip, 2)).toBe(false);
    // Each still reaches its own.
    expect(await ovn.ping(vm('a1').netns, vm('a2').ip)).toBe(true);
    expect(await ovn.ping(vm('b1').netns, '10.82.0.1')).toBe(true);
  });

  it("given one request approved by a platform operator instead of the mirror, should carry packets until it is withdrawn", async () => {
    // Who may set spec.approval is the admission policy's business (config/tenant/peering.yaml, proven
    // in peering.test.ts); here the operator is the plane's admin.
    await client.create(PeeringRequests, { ...request(A, 'approved', B), spec: { ...request(A, 'approved', B).spec, approval: { approvedBy: 'olga', reason: 'shared build cache' } } });
    const pr = await phase(A.ns, 'approved', 'Active');
    expect(pr.status).toMatchObject({ acceptedBy: 'Platform', approvedBy: 'olga' });
    await reaches(vm('a1').netns, vm('b1').ip, 'a1 to reach b1 over the approved peering');
    await reaches(vm('b1').netns, vm('a1').ip, 'b1 to reach a1 over the approved peering');
    // C is still nobody's peer.
    expect(await ovn.ping(vm('b1').netns, vm('c1').ip, 2)).toBe(false);

    await client.delete(PeeringRequests, 'approved', A.ns);
    await until('the approved request to be gone', async () => !(await client.tryGet(PeeringRequests, 'approved', A.ns)), WAIT_MS);
    await until('kube-OVN to drop the routes', async () => ((await routes(vpcA)).size === 0 && (await routes(vpcB)).size === 0 ? true : undefined), 60_000);
    await until('a1 to stop reaching b1', async () => ((await ovn.ping(vm('a1').netns, vm('b1').ip)) ? undefined : true), 60_000);
    expect(await ovn.ping(vm('b1').netns, vm('a1').ip, 2)).toBe(false);
  });
});

interface Svc extends KubeObject {
  spec?: { type?: string; ports?: { name?: string; port: number; nodePort?: number; protocol?: string }[] };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}

/** A tenant Node as its kubelet registers it: providerID, address, Ready. */
describe('a tenant LoadBalancer Service', () => {
  const POOL = '192.0.2.64/30';

  beforeAll(async () => {
    tenantA = await startTenantApiServer(cp, { name: `${A.ns}-${A.cluster}` });
    tenantAClient = new Client(tenantA.kubeConfig, { fieldManager: 'tenant-user' });
    await publishTenantSecrets(client, { namespace: A.ns, cluster: A.cluster, tenant: tenantA });
    // a1 serves; a2 is a node kept out of load balancers, the client inside A.
    await registerNode(tenantAClient, A.ns, 'a1', vm('a1').ip);
    await registerNode(tenantAClient, A.ns, 'a2', vm('a2').ip, { [EXCLUDE_NODE_LABEL]: '' });
    await client.create(LoadBalancerPools, { metadata: { name: 'planes' }, spec: { addresses: [POOL], tenants: { namespaces: [A.ns] } } } as KubeObject);
  }, 180_000);

  it("should get an address from the pool, become an OVN load balancer on A's switch only, and answer through VIP:port inside A and nowhere else", async () => {
    // The node port is chosen, and served inside a1 (as kube-proxy would)
    // before the Service exists, so the clock measures the platform alone.
    const nodePort = 31080;
    await inNetns.httpServer(vm('a1').netns, nodePort, 'served by a1');
    const t0 = Date.now();
    await tenantAClient!.create<Svc>(Services, {
      metadata: { name: 'web', namespace: 'default' },
      spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, nodePort, protocol: 'TCP' }], selector: { app: 'web' } },
    } as Svc);
    const svc = await until('the Service to get an ingress address', async () => {
      const s = await tenantAClient!.get<Svc>(Services, 'web', 'default');
      return s.status?.loadBalancer?.ingress?.[0]?.ip ? s : undefined;
    }, WAIT_MS);
    const toIngressMs = Date.now() - t0;
    const vip = svc.status!.loadBalancer!.ingress![0]!.ip!;
    expect(vip).toBe('192.0.2.64');

    // Packets through VIP:port from A's other VM reach a1's node port.
    const body = await until(`a2 to get an answer through ${vip}:80`, () => httpGet(ovn, vm('a2').netns, vip, 80), WAIT_MS);
    const toFirstAnswerMs = Date.now() - t0;
    expect(body).toBe('served by a1');
    console.log(JSON.stringify({ bench: 'tenant-lb-datapath', serviceToIngressMs: toIngressMs, serviceToFirstAnswerThroughVipMs: toFirstAnswerMs }));

    // The allocation: one rule to a1's node port only (a2 is excluded).
    const rule = await client.get<SwitchLBRule>(SwitchLBRules, ruleName(vip));
    expect(rule.spec).toMatchObject({ vip, namespace: A.ns, endpoints: [vm('a1').ip], ports: [{ port: 80, targetPort: nodePort, protocol: 'TCP' }] });

    // kube-OVN writes Endpoints for the rule's Service (slr-<rule>); what it programs is read from
    // the EndpointSlice that kube-controller-manager's mirroring controller makes of them.
    const slices = await client.list<KubeObject & { endpoints?: { addresses: string[] }[] }>(EndpointSlices, { namespace: A.ns, labelSelector: `kubernetes.io/service-name=slr-${rule.metadata?.name}` });
    expect(slices.items.map((e) => e.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'])).toEqual(['endpointslicemirroring-controller.k8s.io']);
    expect(slices.items[0]?.endpoints?.flatMap((e) => e.addresses)).toEqual([vm('a1').ip]);

    // kube-OVN's program: a load balancer with VIP:80 → a1:nodePort, on A's switch and no other.
    const key = `${vip}:80`;
    const lbs = (await nbRows(ovn, 'Load_Balancer', ['_uuid', 'name', 'vips'])).filter((r) => (r['vips'] as Record<string, string>)[key] !== undefined);
    expect(lbs).toHaveLength(1);
    const lb = lbs[0]!;
    expect((lb['vips'] as Record<string, string>)[key]).toBe(`${vm('a1').ip}:${nodePort}`);
    const switches = await nbRows(ovn, 'Logical_Switch', ['name', 'load_balancer']);
    expect(switches.filter((s) => asSet(s['load_balancer']).includes(lb['_uuid'] as string)).map((s) => s['name'])).toEqual([tenantSubnetName(A.ns, A.cluster)]);
    const routers = await nbRows(ovn, 'Logical_Router', ['name', 'load_balancer']);
    expect(routers.filter((r) => asSet(r['load_balancer']).includes(lb['_uuid'] as string)).map((r) => r['name'])).toEqual([]);

    // The refusal side: the same VIP:port from B, C, a default-VPC pod and the management host.
    for (const name of ['b1', 'c1']) {
      expect(await httpGet(ovn, vm(name).netns, vip, 80), `${name} must not reach A's VIP`).toBeUndefined();
    }
    expect(await httpGet(ovn, m1.netns, vip, 80), "a default-VPC pod must not reach A's VIP").toBeUndefined();
    expect(await httpGet(ovn, node.netns, vip, 80), "the management host must not reach A's VIP").toBeUndefined();
    // Still answering inside A after the refusals.
    expect(await httpGet(ovn, vm('a2').netns, vip, 80)).toBe('served by a1');
  });
});
