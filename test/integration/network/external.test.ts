// The external (public) plane, with packets: a client on the platform's
// external network, outside every VPC, reaches a tenant's workload through an
// address of that network. The REAL kube-ovn-controller programs it; the
// world's external network (startOvn({ external })) is the underlay Subnet
// `external` on the chassis' bridge br-external, with the gateway ConfigMap
// naming the one Node (see test/harness/ovn.ts).
//
// Two tenant Vpcs with spec.enableExternal, on the same CIDR (ranges kept
// apart by excludeIps), each with one VM (a namespace plugged on its Subnet).
// 1. OvnEip + OvnDnatRule (EIP:80 → A's VM:8080): the external client gets
//    A's HTTP server; B's VM, with no rule, is reachable by no address of the
//    external network.
//    (What is not refused: a client routing A's or B's CIDR via their router
//    port reaches the VMs directly; asserted below as a fact.)
// 2. Deleting the rule, the EIP and the Vpc leaves no NAT row, router port or
//    load balancer of them in OVN NB.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../providers/kit/client.js';
import type { KubeObject, ResourceType } from '../../../providers/kit/types.js';
import { Subnets, Vpcs } from '../../../providers/kubevirt/resources.js';
import { startControlPlane, startOvn, type ControlPlane, type OvnWorld } from '../../harness/index.js';
import { allocationOf, Pods, runningStatus, type Pod } from '../../sim/launcher.js';
import { REPO, until } from '../processes.js';
import { ensureNamespace } from '../roles.js';
import { asSet, httpGet, nbRows, NetnsProcesses } from './packets.js';

const OvnEips: ResourceType = { group: 'kubeovn.io', version: 'v1', kind: 'OvnEip', plural: 'ovn-eips', namespaced: false };
const OvnDnatRules: ResourceType = { group: 'kubeovn.io', version: 'v1', kind: 'OvnDnatRule', plural: 'ovn-dnat-rules', namespaced: false };

const EXTERNAL = { cidr: '172.30.0.0/24', gateway: '172.30.0.1' };
const CLIENT_IP = '172.30.0.200';
const CIDR = '10.90.0.0/24';
const A = { vpc: 'ext-a', subnet: 'ext-a-net', ns: 'ext-a', excludeIps: ['10.90.0.128..10.90.0.254'] };
const B = { vpc: 'ext-b', subnet: 'ext-b-net', ns: 'ext-b', excludeIps: ['10.90.0.2..10.90.0.127'] };
const WAIT_MS = 120_000;

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

let cp: ControlPlane;
let ovn: OvnWorld;
let client: Client;
let clientNetns: string;
const inNetns = new NetnsProcesses();

beforeAll(async () => {
  cp = await startControlPlane({ name: 'external', controllerManager: true, crds: [path.join(REPO, 'config/external/kube-ovn')] });
  ovn = await startOvn(cp, { external: EXTERNAL });
  client = new Client(cp.kubeConfig, { fieldManager: 'external-test' });
  clientNetns = await ovn.plugExternal('client', CLIENT_IP);
}, 240_000);

afterAll(async () => {
  await inNetns.stop();
  client?.close();
  await ovn?.stop();
  await cp?.stop();
});

async function tenant(t: typeof A): Promise<void> {
  await ensureNamespace(client, t.ns);
  await client.create<Obj>(Vpcs, { metadata: { name: t.vpc }, spec: { enableExternal: true, namespaces: [t.ns] } });
  await client.create<Obj>(Subnets, { metadata: { name: t.subnet }, spec: { vpc: t.vpc, protocol: 'IPv4', cidrBlock: CIDR, gateway: '10.90.0.1', excludeIps: t.excludeIps, namespaces: [t.ns] } });
}

/** A VM on a tenant Subnet: kube-OVN allocates its Pod, this plays kube-ovn-cni (plug) and the kubelet (status). */
async function vmOn(t: typeof A, name: string): Promise<{ netns: string; ip: string }> {
  await client.create<Pod>(Pods, {
    metadata: { name, namespace: t.ns, annotations: { 'ovn.kubernetes.io/logical_switch': t.subnet } },
    spec: { nodeName: ovn.nodeName, containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] },
  });
  const pod = await until(`kube-OVN to allocate ${t.ns}/${name}`, async () => {
    const p = await client.get<Pod>(Pods, name, t.ns);
    return allocationOf(p) ? p : undefined;
  }, WAIT_MS);
  const alloc = allocationOf(pod)!;
  const netns = await ovn.plug({ name, pod: name, namespace: t.ns, ip: alloc.ip, mac: alloc.mac, gateway: alloc.gateway, cidr: alloc.cidr });
  await client.patchStatus(Pods, name, t.ns, runningStatus(pod, alloc, '127.0.0.1'));
  return { netns, ip: alloc.ip };
}

const names = (out: string): string[] => out.split('\n').map((l) => l.trim()).filter(Boolean);
/** The address kube-OVN gave a Vpc's router port on the external network (its OvnEip `<vpc>-external`). */
const routerPortIP = async (vpc: string): Promise<string> =>
  until(`the router port of ${vpc} on the external network`, async () => (await client.tryGet<Obj>(OvnEips, `${vpc}-external`))?.status?.['v4Ip'] as string | undefined, WAIT_MS);

describe('the external plane: a client outside every VPC, an OvnEip and an OvnDnatRule', () => {
  let a1: { netns: string; ip: string };
  let b1: { netns: string; ip: string };
  let eip = '';

  it('should refuse an external network the harness cannot build, naming the field', async () => {
    await expect(startOvn(cp, { external: { cidr: '172.30.0.1/33', gateway: '172.30.0.1' } })).rejects.toThrow(/external\.cidr/);
    await expect(startOvn(cp, { external: { cidr: '172.30.0.0/24', gateway: '172.31.0.1' } })).rejects.toThrow(/external\.gateway/);
    await expect(ovn.plugExternal('outside', '10.0.0.5')).rejects.toThrow(/ip "10\.0\.0\.5" is not an address of the external network 172\.30\.0\.0\/24/);
  });

  it('should give each enableExternal Vpc a router port on the external network, bound to the gateway chassis', async () => {
    await tenant(A);
    await tenant(B);
    [a1, b1] = [await vmOn(A, 'a1'), await vmOn(B, 'b1')];
    expect(a1.ip).toMatch(/^10\.90\.0\.([2-9]|[1-9]\d|1[01]\d|12[0-7])$/);
    expect(b1.ip).toMatch(/^10\.90\.0\.(12[89]|1[3-9]\d|2\d\d)$/);

    for (const t of [A, B]) {
      const ip = await routerPortIP(t.vpc);
      expect(ip).toMatch(/^172\.30\.0\.\d+$/);
      const lrp = await until(`router port ${t.vpc}-external in NB`, async () => (await nbRows(ovn, 'Logical_Router_Port', ['name', 'networks'])).find((r) => r['name'] === `${t.vpc}-external`), WAIT_MS);
      expect(asSet(lrp['networks'])).toEqual([`${ip}/24`]);
      expect((await ovn.nbctl('lrp-get-gateway-chassis', `${t.vpc}-external`)).trim()).toMatch(new RegExp(`${t.vpc}-external-${ovn.nodeName}\\s+\\d+`));
    }
    // The Node is the gateway node by the ConfigMap; the localnet port of `external` maps onto br-external.
    const node = await client.get<Obj>({ group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false }, ovn.nodeName);
    expect(node.metadata?.labels?.['ovn.kubernetes.io/external-gw']).toBe('true');
    const localnet = (await nbRows(ovn, 'Logical_Switch_Port', ['name', 'type', 'options'])).filter((p) => p['type'] === 'localnet');
    expect(localnet.map((p) => [p['name'], (p['options'] as Record<string, string>)['network_name']])).toEqual([['localnet.external', 'external']]);
  });

  it("should let the external client reach A's VM through EIP:80 → VM:8080, and nothing of B through an address of the external network", async () => {
    await inNetns.httpServer(a1.netns, 8080, 'served by a1');
    await inNetns.httpServer(b1.netns, 8080, 'served by b1');
    await client.create<Obj>(OvnEips, { metadata: { name: 'eip-a' }, spec: { externalSubnet: 'external', type: 'nat' } });
    await client.create<Obj>(OvnDnatRules, {
      metadata: { name: 'dnat-a' },
      spec: { ovnEip: 'eip-a', ipType: 'ip', ipName: `a1.${A.ns}`, externalPort: '80', internalPort: '8080', protocol: 'tcp' },
    });
    const rule = await until('dnat-a to be ready', async () => {
      const r = await client.get<Obj>(OvnDnatRules, 'dnat-a');
      return r.status?.['ready'] === true ? r : undefined;
    }, WAIT_MS);
    eip = (await client.get<Obj>(OvnEips, 'eip-a')).status?.['v4Ip'] as string;
    expect(eip).toMatch(/^172\.30\.0\.\d+$/);
    expect(rule.status).toMatchObject({ vpc: A.vpc, v4Eip: eip, v4Ip: a1.ip, externalPort: '80', internalPort: '8080' });

    const body = await until(`the external client to get an answer through ${eip}:80`, () => httpGet(ovn, clientNetns, eip, 80), WAIT_MS);
    expect(body).toBe('served by a1');

    // kube-OVN's program: a load balancer named after the rule, EIP:80 → a1:8080, on A's router only.
    const lb = (await nbRows(ovn, 'Load_Balancer', ['_uuid', 'name', 'vips'])).find((r) => r['name'] === 'dnat-a');
    expect(lb?.['vips']).toEqual({ [`${eip}:80`]: `${a1.ip}:8080` });
    const routers = await nbRows(ovn, 'Logical_Router', ['name', 'load_balancer']);
    expect(routers.filter((r) => asSet(r['load_balancer']).includes(lb!['_uuid'] as string)).map((r) => r['name'])).toEqual([A.vpc]);

    // Refusal: no other port of the EIP; nothing of B through its router port, nor (with
    // a route a client could add) A's or B's VM addresses through their router ports.
    expect(await httpGet(ovn, clientNetns, eip, 8080)).toBeUndefined();
    const bPort = await routerPortIP(B.vpc);
    expect(await httpGet(ovn, clientNetns, bPort, 80)).toBeUndefined();
    expect(await httpGet(ovn, clientNetns, bPort, 8080)).toBeUndefined();
    // What kube-OVN does NOT refuse, kept as a fact: the router port routes the Vpc's own
    // CIDR to anyone on the external segment who routes it there (no NAT, no ACL in the
    // way). Whoever sits on the external network's L2 reaches every VM of an enableExternal
    // Vpc; the external network's upstream router must never route tenant CIDRs.
    expect(await httpGet(ovn, clientNetns, b1.ip, 8080)).toBeUndefined();
    expect((await ovn.exec(clientNetns, ['ip', 'route', 'add', `${b1.ip}/32`, 'via', bPort])).code).toBe(0);
    expect(await httpGet(ovn, clientNetns, b1.ip, 8080)).toBe('served by b1');
    expect((await ovn.exec(clientNetns, ['ip', 'route', 'del', `${b1.ip}/32`])).code).toBe(0);
    // Still answering through the EIP after the refusals.
    expect(await httpGet(ovn, clientNetns, eip, 80)).toBe('served by a1');
  });

  it('should leave no NAT row, router port or load balancer of the rules, the EIP or the Vpc once they are deleted', async () => {
    await client.delete(OvnDnatRules, 'dnat-a');
    await until('the OvnDnatRules to be gone', async () => ((await client.list(OvnDnatRules)).items.length === 0 ? true : undefined), WAIT_MS);
    await client.delete(OvnEips, 'eip-a');
    await until('eip-a to be gone', async () => ((await client.tryGet(OvnEips, 'eip-a')) === undefined ? true : undefined), WAIT_MS);
    // As the kubelet confirms a Pod's deletion once its sandbox is gone: grace period 0.
    await client.request({ method: 'DELETE', path: client.path(Pods, A.ns, 'a1'), body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 } });
    await client.delete(Subnets, A.subnet);
    await until(`${A.subnet} to be gone`, async () => ((await client.tryGet(Subnets, A.subnet)) === undefined ? true : undefined), WAIT_MS);
    await client.delete(Vpcs, A.vpc);
    await until(`${A.vpc} and its router to be gone`, async () => {
      const routers = names(await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Router'));
      return (await client.tryGet(Vpcs, A.vpc)) === undefined && !routers.includes(A.vpc) ? true : undefined;
    }, WAIT_MS);

    const nat = await nbRows(ovn, 'NAT', ['external_ip', 'logical_ip']);
    expect(nat.filter((n) => n['external_ip'] === eip || String(n['logical_ip']).startsWith('10.90.'))).toEqual([]);
    const lrps = names(await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Router_Port'));
    expect(lrps.filter((p) => p.includes(A.vpc))).toEqual([]);
    expect(lrps).toContain(`${B.vpc}-external`);
    const lsps = names(await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch_Port'));
    expect(lsps.filter((p) => p.includes(A.vpc) || p.endsWith(`.${A.ns}`))).toEqual([]);
    // The router port's own OvnEip goes with the Vpc; the external network keeps B's and ovn-cluster's.
    expect((await client.list(OvnEips)).items.map((e) => e.metadata?.name).sort()).toEqual([`${B.vpc}-external`, 'ovn-cluster-external']);
    // No load balancer maps the EIP any more. kube-OVN empties the rule's load balancer and
    // detaches it but leaves the row (and the Vpc's six until its start-up garbage collection).
    const lbs = await nbRows(ovn, 'Load_Balancer', ['_uuid', 'name', 'vips']);
    expect(lbs.filter((l) => Object.keys(l['vips'] as Record<string, string>).some((k) => k.startsWith(`${eip}:`)))).toEqual([]);
    const dnatLb = lbs.find((l) => l['name'] === 'dnat-a');
    if (dnatLb) {
      expect(dnatLb['vips']).toEqual({});
      const attached = [...(await nbRows(ovn, 'Logical_Router', ['load_balancer'])), ...(await nbRows(ovn, 'Logical_Switch', ['load_balancer']))].flatMap((r) => asSet(r['load_balancer']));
      expect(attached).not.toContain(dnatLb['_uuid']);
    }
  });
});
