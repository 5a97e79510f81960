// Tenant LoadBalancer Services on the external plane, with packets: the REAL
// kube-ovn-controller programs what the KubeVirt provider and the cloud
// provider write, on a userspace OVN datapath whose external network
// (startOvn({ external })) has a client outside every VPC.
//
// Two tenants on the SAME node CIDR, each Vpc connected to the external
// network by the KubeVirt provider (IRONPLANE_EXTERNAL_NETWORK=external);
// their VMs may well hold the same addresses. Two pools on that network
// (spec.externalSubnet): `a-only`, which only A may use (first by name, so
// A's Services take from it), and `shared`, one address per tenant.
// 1. A's Service gets an address; the external client reaches the HTTP
//    server on the node port inside A's entry node through address:port,
//    and nothing through another port or B's router port.
// 2. B's Service gets an address of the shared pool and reaches B's node,
//    never A's, though both nodes may share an address. B's second Service
//    is refused (TenantLimitReached), and so is a free address of A's own
//    pool (AddressNotAllowed); neither gets a rule or an OvnEip.
// 3. A's entry node stops being Ready: the entry moves to A's other node and
//    the client is answered there.
// 4. The Services deleted: no OvnEip, OvnDnatRule, NAT row or load balancer
//    of their addresses is left, and the client gets no answer.
// 5. B's Cluster deleted while a Service of it holds an external address:
//    the same, without the Service being deleted.
// The time from a Service's creation to its ingress address and to the first
// answer through it on the external network is logged as a JSON line
// (`"bench":"tenant-lb-external"`).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KvmCluster } from '../../../providers/api/generated/ironplane/v1alpha1/kvmcluster.js';
import type { OvnDnatRule } from '../../../providers/api/generated/kubeovn/v1/ovndnatrule.js';
import { dnatName, eipName, LoadBalancerPools, OvnDnatRules, OvnEips, ruleName, Services, SwitchLBRules } from '../../../providers/cloudprovider/names.js';
import { Client } from '../../../providers/kit/client.js';
import type { KubeObject } from '../../../providers/kit/types.js';
import { Clusters } from '../../../providers/capi/contract.js';
import { tenantNetworkName } from '../../../providers/kubevirt/names.js';
import { KvmClusters } from '../../../providers/kubevirt/resources.js';
import { publishTenantSecrets, startControlPlane, startOvn, startTenantApiServer, type ControlPlane, type OvnWorld, type TenantPlane } from '../../harness/index.js';
import { startHypervisor, type Hypervisor } from '../../sim/hypervisor.js';
import { REPO, until, type Proc } from '../processes.js';
import { restrictedKubeconfig } from '../roles.js';
import { httpGet, nbRows, NetnsProcesses } from './packets.js';
import { createTenant, NODE_LABELS, registerNode, setNodeReady, startManager, stopManagers, vmUp, type Tenant, type VM } from './tenants.js';

const EXTERNAL = { cidr: '172.31.0.0/24', gateway: '172.31.0.1' };
const CLIENT_IP = '172.31.0.200';
// High in the external network: kube-OVN gives the routers' external ports the lowest free addresses.
const SHARED_POOL = '172.31.0.64/31';
const A_POOL = '172.31.0.80/31';
const A: Tenant = { ns: 'lbx-a', cluster: 'net', cidr: '10.77.0.0/24', machines: ['a1', 'a2'] };
const B: Tenant = { ns: 'lbx-b', cluster: 'net', cidr: '10.77.0.0/24', machines: ['b1'] };
const NODE_PORT = 31080;
const WAIT_MS = 180_000;
const CONDITION = 'cloudprovider.ironplane.dev/AddressAssigned';

interface Svc extends KubeObject {
  spec?: { type?: string; ports?: { name?: string; port: number; nodePort?: number; protocol?: string }[] };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] }; conditions?: { type: string; status: string; reason: string; message: string }[] };
}

let cp: ControlPlane;
let ovn: OvnWorld;
let client: Client;
let hypervisor: Hypervisor;
let clientNetns: string;
const procs: Proc[] = [];
const planes: TenantPlane[] = [];
const tenantClients = new Map<string, Client>();
const inNetns = new NetnsProcesses();
const vms = new Map<string, VM>();
const vm = (name: string): VM => {
  const v = vms.get(name);
  if (!v) throw new Error(`VM ${name} is not up`);
  return v;
};
const tenant = (t: Tenant): Client => tenantClients.get(t.ns)!;

beforeAll(async () => {
  cp = await startControlPlane({ name: 'lb-external', crds: ['config/external/capi', 'config/external/kubevirt', 'config/external/kube-ovn', 'config/crd/bases'].map((p) => path.join(REPO, p)) });
  ovn = await startOvn(cp, { nodeLabels: NODE_LABELS, external: EXTERNAL });
  client = new Client(cp.kubeConfig, { fieldManager: 'lb-external-test' });
  clientNetns = await ovn.plugExternal('client', CLIENT_IP);
  procs.push(startManager('kubevirt', await restrictedKubeconfig(cp, client, 'kubevirt'), [], { IRONPLANE_EXTERNAL_NETWORK: 'external' }));
  procs.push(startManager('cloud-provider', await restrictedKubeconfig(cp, client, 'cloud-provider')));
  hypervisor = await startHypervisor({ client, nodes: [{ name: ovn.nodeName, labels: NODE_LABELS }], ovn });
  for (const t of [A, B]) await createTenant(client, t);
  for (const t of [A, B]) for (const m of t.machines) vms.set(m, await vmUp(client, hypervisor, t, m, WAIT_MS));
  for (const t of [A, B]) {
    const plane = await startTenantApiServer(cp, { name: `${t.ns}-${t.cluster}` });
    planes.push(plane);
    tenantClients.set(t.ns, new Client(plane.kubeConfig, { fieldManager: 'tenant-user' }));
    await publishTenantSecrets(client, { namespace: t.ns, cluster: t.cluster, tenant: plane });
    for (const m of t.machines) {
      await registerNode(tenant(t), t.ns, m, vm(m).ip);
      // Each node serves its own name on the node port, as kube-proxy would forward to a pod there.
      await inNetns.httpServer(vm(m).netns, NODE_PORT, `served by ${m}`);
    }
  }
  await client.create(LoadBalancerPools, { metadata: { name: 'shared' }, spec: { addresses: [SHARED_POOL], externalSubnet: 'external', tenants: { namespaces: [A.ns, B.ns] }, limits: { perTenant: 1 } } } as KubeObject);
  await client.create(LoadBalancerPools, { metadata: { name: 'a-only' }, spec: { addresses: [A_POOL], externalSubnet: 'external', tenants: { namespaces: [A.ns] } } } as KubeObject);
}, 420_000);

afterAll(async () => {
  await stopManagers(procs);
  await inNetns.stop();
  await hypervisor?.stop();
  for (const c of tenantClients.values()) c.close();
  for (const p of planes) await p.stop();
  client?.close();
  await ovn?.stop();
  await cp?.stop();
});

/** A LoadBalancer Service on port 80; the first of a tenant on NODE_PORT (where its nodes serve), others on one the apiserver picks. */
function createService(t: Tenant, name: string, opts: { nodePort?: number; annotations?: Record<string, string> } = {}): Promise<Svc> {
  return tenant(t).create<Svc>(Services, {
    metadata: { name, namespace: 'default', ...(opts.annotations ? { annotations: opts.annotations } : {}) },
    spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, ...(opts.nodePort ? { nodePort: opts.nodePort } : {}), protocol: 'TCP' }], selector: { app: name } },
  } as Svc);
}

/** The Service once its condition is `status` (and `reason`, when given). */
function settled(t: Tenant, name: string, status: 'True' | 'False', reason?: string): Promise<Svc> {
  return until(`Service ${t.ns}:default/${name} to have ${CONDITION}=${status}${reason ? ` (${reason})` : ''}`, async () => {
    const s = await tenant(t).get<Svc>(Services, name, 'default');
    const c = s.status?.conditions?.find((x) => x.type === CONDITION);
    return c?.status === status && (!reason || c.reason === reason) ? s : undefined;
  }, WAIT_MS);
}

const conditionOf = (s: Svc) => s.status?.conditions?.find((x) => x.type === CONDITION);
const ingressOf = (s: Svc) => s.status?.loadBalancer?.ingress?.[0]?.ip;
/** The address kube-OVN gave a Vpc's router port on the external network. */
const routerPort = async (t: Tenant): Promise<string> =>
  until(`the external router port of ${t.ns}`, async () => (await client.tryGet<KubeObject & { status?: { v4Ip?: string } }>(OvnEips, `${tenantNetworkName(t.ns, t.cluster)}-external`))?.status?.v4Ip, WAIT_MS);

/** Waits until OVN NB holds no NAT row and no load balancer of `addr`. */
const nothingInNb = (addr: string): Promise<true> =>
  until(`no NAT row or load balancer of ${addr} in OVN NB`, async () => {
    const nat = (await nbRows(ovn, 'NAT', ['external_ip'])).filter((n) => n['external_ip'] === addr);
    const lbs = (await nbRows(ovn, 'Load_Balancer', ['vips'])).filter((l) => Object.keys(l['vips'] as Record<string, string>).some((k) => k.startsWith(`${addr}:`)));
    return nat.length === 0 && lbs.length === 0 ? true : undefined;
  }, WAIT_MS);

describe('tenant LoadBalancer Services on the external network', () => {
  let addrA = '';
  let addrB = '';
  let entryA = '';

  it('should connect each tenant Vpc to the external network and report it on the KvmCluster', async () => {
    for (const t of [A, B]) {
      const kc = await until(`KvmCluster ${t.ns}/${t.cluster} to report its external network`, async () => {
        const k = await client.get<KvmCluster>(KvmClusters, t.cluster, t.ns);
        return k.status?.network?.externalSubnet === 'external' ? k : undefined;
      }, WAIT_MS);
      expect(kc.status?.network?.vpc).toBe(tenantNetworkName(t.ns, t.cluster));
      expect(await routerPort(t)).toMatch(/^172\.31\.0\.\d+$/);
    }
  });

  it("should give A's Service an address of the external pool and carry the external client to A's entry node through it, and through nothing else", async () => {
    const t0 = Date.now();
    await createService(A, 'web', { nodePort: NODE_PORT });
    const svc = await settled(A, 'web', 'True', 'Assigned');
    const toIngressMs = Date.now() - t0;
    addrA = ingressOf(svc)!;
    expect(addrA).toBe('172.31.0.80');
    const body = await until(`the external client to get an answer through ${addrA}:80`, () => httpGet(ovn, clientNetns, addrA, 80), WAIT_MS);
    const toFirstAnswerMs = Date.now() - t0;
    console.log(JSON.stringify({ bench: 'tenant-lb-external', serviceToIngressMs: toIngressMs, serviceToFirstAnswerOnExternalNetworkMs: toFirstAnswerMs }));

    // The entry is the first of A's nodes by address; the condition names it.
    entryA = [vm('a1').ip, vm('a2').ip].sort()[0]!;
    const entryName = vm('a1').ip === entryA ? 'a1' : 'a2';
    expect(body).toBe(`served by ${entryName}`);
    expect(conditionOf(svc)?.message).toContain(`on external network external through node ${entryA}`);

    // What was made: the rule (the allocation), the OvnEip of the address, one DNAT rule on A's router.
    const rule = await client.get<KubeObject & { metadata: { annotations?: Record<string, string> } }>(SwitchLBRules, ruleName(addrA));
    expect(rule.metadata.annotations?.['cloudprovider.ironplane.dev/external-subnet']).toBe('external');
    const eip = await client.get<KubeObject & { spec?: Record<string, unknown>; status?: { v4Ip?: string } }>(OvnEips, eipName(addrA));
    expect(eip.spec).toMatchObject({ externalSubnet: 'external', type: 'nat', v4Ip: addrA });
    expect(eip.status?.v4Ip).toBe(addrA);
    const dnat = await client.get<OvnDnatRule>(OvnDnatRules, dnatName(addrA, 'tcp', 80));
    expect(dnat.spec).toMatchObject({ ovnEip: eipName(addrA), vpc: tenantNetworkName(A.ns, A.cluster), v4Ip: entryA, externalPort: '80', internalPort: String(NODE_PORT), protocol: 'tcp' });
    // kube-OVN's program: a load balancer named after the DNAT rule, address:80 → the entry's node port, on A's router only.
    const lb = (await nbRows(ovn, 'Load_Balancer', ['_uuid', 'name', 'vips'])).find((r) => r['name'] === dnat.metadata.name);
    expect(lb?.['vips']).toEqual({ [`${addrA}:80`]: `${entryA}:${NODE_PORT}` });

    // The refusal side: no other port of the address; nothing of B through its router port.
    expect(await httpGet(ovn, clientNetns, addrA, NODE_PORT)).toBeUndefined();
    const bPort = await routerPort(B);
    expect(await httpGet(ovn, clientNetns, bPort, 80)).toBeUndefined();
    expect(await httpGet(ovn, clientNetns, bPort, NODE_PORT)).toBeUndefined();
    expect(await httpGet(ovn, clientNetns, addrA, 80)).toBe(`served by ${entryName}`);
  });

  it("should give B's Service the shared pool's address and carry the client to B's node only, though B's network is A's CIDR; B's second Service and A's pool are refused", async () => {
    await createService(B, 'web', { nodePort: NODE_PORT });
    const svc = await settled(B, 'web', 'True', 'Assigned');
    addrB = ingressOf(svc)!;
    expect(addrB).toBe('172.31.0.64');
    expect(await until(`the external client to get an answer through ${addrB}:80`, () => httpGet(ovn, clientNetns, addrB, 80), WAIT_MS)).toBe('served by b1');
    // Both addresses answer, each for its own tenant.
    expect(await httpGet(ovn, clientNetns, addrA, 80)).toMatch(/^served by a[12]$/);

    // B's limit: one address of the shared pool.
    await createService(B, 'second');
    const limited = await settled(B, 'second', 'False', 'TenantLimitReached');
    expect(conditionOf(limited)?.message).toContain('limit per tenant namespace is 1');
    expect(ingressOf(limited)).toBeUndefined();
    expect(await client.tryGet(SwitchLBRules, ruleName('172.31.0.65'))).toBeUndefined();
    // A free address of the pool only A may use: refused in the words used for an address of no pool.
    await createService(B, 'foreign', { annotations: { 'cloudprovider.ironplane.dev/load-balancer-ip': '172.31.0.81' } });
    const foreign = await settled(B, 'foreign', 'False', 'AddressNotAllowed');
    expect(conditionOf(foreign)?.message).toBe(`metadata.annotations[cloudprovider.ironplane.dev/load-balancer-ip]: 172.31.0.81 is not inside a load-balancer pool namespace ${B.ns} may use`);
    expect(await client.tryGet(SwitchLBRules, ruleName('172.31.0.81'))).toBeUndefined();
    expect(await client.tryGet(OvnEips, eipName('172.31.0.81'))).toBeUndefined();
    expect(await httpGet(ovn, clientNetns, '172.31.0.81', 80)).toBeUndefined();
  });

  it("should move A's external entry to A's other node when the entry stops being Ready, and answer there", async () => {
    const [entryName, otherName] = vm('a1').ip === entryA ? ['a1', 'a2'] : ['a2', 'a1'];
    await setNodeReady(tenant(A), entryName, entryA, false);
    const body = await until(`the external client to be answered by ${otherName} through ${addrA}:80`, async () => {
      const b = await httpGet(ovn, clientNetns, addrA, 80);
      return b === `served by ${otherName}` ? b : undefined;
    }, WAIT_MS);
    expect(body).toBe(`served by ${otherName}`);
    const dnat = await client.get<OvnDnatRule>(OvnDnatRules, dnatName(addrA, 'tcp', 80));
    expect(dnat.spec?.v4Ip).toBe(vm(otherName).ip);
    const svc = await settled(A, 'web', 'True', 'Assigned');
    expect(conditionOf(svc)?.message).toContain(`through node ${vm(otherName).ip}`);
    await setNodeReady(tenant(A), entryName, entryA, true);
  });

  it('should leave no OvnEip, OvnDnatRule, NAT row or load balancer of the addresses once the Services are deleted', async () => {
    for (const [t, name] of [[A, 'web'], [B, 'web'], [B, 'second'], [B, 'foreign']] as const) await tenant(t).delete(Services, name, 'default');
    for (const [t, name] of [[A, 'web'], [B, 'web'], [B, 'second'], [B, 'foreign']] as const) {
      await until(`Service ${t.ns}:default/${name} to be gone`, async () => ((await tenant(t).tryGet(Services, name, 'default')) === undefined ? true : undefined), WAIT_MS);
    }
    await until('our OvnEips and OvnDnatRules to be gone', async () => {
      const eips = (await client.list(OvnEips)).items.filter((e) => e.metadata?.labels?.['app.kubernetes.io/managed-by'] === 'ironplane-cloud-provider');
      const dnats = (await client.list(OvnDnatRules)).items;
      return eips.length === 0 && dnats.length === 0 ? true : undefined;
    }, WAIT_MS);
    for (const addr of [addrA, addrB]) {
      expect(await client.tryGet(SwitchLBRules, ruleName(addr))).toBeUndefined();
      await nothingInNb(addr);
      expect(await httpGet(ovn, clientNetns, addr, 80)).toBeUndefined();
    }
    // The routers' own external ports stay: the Vpcs are still connected.
    expect((await client.list(OvnEips)).items.map((e) => e.metadata?.name).sort()).toEqual([`${tenantNetworkName(A.ns, A.cluster)}-external`, `${tenantNetworkName(B.ns, B.cluster)}-external`, 'ovn-cluster-external'].sort());
  });

  it("should release B's external address when B's Cluster is deleted while a Service holds it, leaving nothing in OVN NB", async () => {
    await createService(B, 'again', { nodePort: NODE_PORT });
    const addr = ingressOf(await settled(B, 'again', 'True', 'Assigned'))!;
    expect(await until(`the external client to get an answer through ${addr}:80`, () => httpGet(ovn, clientNetns, addr, 80), WAIT_MS)).toBe('served by b1');
    await client.delete(Clusters, B.cluster, B.ns);
    await until(`the rule, OvnEip and DNAT rule of ${addr} to be released`, async () => {
      const left = [await client.tryGet(SwitchLBRules, ruleName(addr)), await client.tryGet(OvnEips, eipName(addr)), await client.tryGet(OvnDnatRules, dnatName(addr, 'tcp', 80))];
      return left.every((o) => o === undefined) ? true : undefined;
    }, WAIT_MS);
    await nothingInNb(addr);
    expect(await httpGet(ovn, clientNetns, addr, 80)).toBeUndefined();
  });
});
