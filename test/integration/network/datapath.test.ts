// The tenant network end to end, for real: the KubeVirt manager makes each
// KvmCluster's kube-OVN Vpc and Subnet, the REAL kube-ovn-controller programs
// them into OVN and allocates every VM's address on its virt-launcher Pod,
// and the VMs (network namespaces plugged into OVS's userspace datapath by
// the hypervisor sim) reach each other within a tenant and never across.
//
// Two tenants use the same node CIDR. Their address ranges are kept apart by
// excludeIPs (A: .2-.127, B: .128-.254), so that "A cannot reach B's VM" is
// asked about an address A's own switch has no port for: the refusal is the
// VPCs' isolation, not a duplicate address answering locally.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KvmMachine } from '../../../providers/api/generated/ironplane/v1alpha1/kvmmachine.js';
import { Client } from '../../../providers/kit/client.js';
import type { KubeObject } from '../../../providers/kit/types.js';
import { tenantNetworkName, tenantSubnetName } from '../../../providers/kubevirt/names.js';
import { KvmClusters, KvmMachines, Subnets, VirtualMachineInstances, Vpcs } from '../../../providers/kubevirt/resources.js';
import { startControlPlane, startOvn, type ControlPlane, type OvnWorld } from '../../harness/index.js';
import { startHypervisor, type Hypervisor } from '../../sim/hypervisor.js';
import { Pods, type Pod } from '../../sim/launcher.js';
import type { VirtualMachineInstance } from '../../sim/kinds.js';
import { createCapiCluster, createCapiMachine, ownedBy } from '../capi-objects.js';
import { REPO, until } from '../processes.js';
import { ensureNamespace, localWebhooks, managerArgs, restrictedKubeconfig, RoleManager } from '../roles.js';

const NODE_LABELS = { 'topology.kubernetes.io/zone': 'zone-a', 'ironplane.dev/vm-host': 'true' };
const CIDR = '10.70.0.0/24';
const A = { ns: 'tenant-a', cluster: 'net', excludeIPs: ['10.70.0.128..10.70.0.254'], machines: ['a1', 'a2'] };
const B = { ns: 'tenant-b', cluster: 'net', excludeIPs: ['10.70.0.2..10.70.0.127'], machines: ['b1'] };
const IMAGE = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';

let cp: ControlPlane;
let ovn: OvnWorld;
let client: Client;
let manager: RoleManager;
let hypervisor: Hypervisor;

beforeAll(async () => {
  cp = await startControlPlane({
    name: 'datapath',
    controllerManager: true,
    crds: ['config/external/capi', 'config/external/kubevirt', 'config/external/kube-ovn', 'config/crd/bases'].map((p) => path.join(REPO, p)),
  });
  ovn = await startOvn(cp, { nodeLabels: NODE_LABELS });
  client = new Client(cp.kubeConfig, { fieldManager: 'datapath-test' });
  const kubeconfig = await restrictedKubeconfig(cp, client, 'kubevirt');
  const webhook = await localWebhooks(cp, client, 'kubevirt');
  manager = new RoleManager('kubevirt', managerArgs('kubevirt', kubeconfig, webhook), webhook.port);
  manager.start();
  hypervisor = await startHypervisor({ client, nodes: [{ name: ovn.nodeName, labels: NODE_LABELS }], ovn });
}, 240_000);

afterAll(async () => {
  await manager?.stop('SIGKILL');
  await hypervisor?.stop();
  client?.close();
  await ovn?.stop();
  await cp?.stop();
});

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

async function createTenant(t: typeof A): Promise<void> {
  await ensureNamespace(client, t.ns);
  const uid = await createCapiCluster(client, t.ns, t.cluster, 'KvmCluster');
  await client.create<Obj>(KvmClusters, {
    metadata: ownedBy(t.ns, t.cluster, t.cluster, { kind: 'Cluster', name: t.cluster, uid }),
    spec: { network: { nodeCIDR: CIDR, excludeIPs: t.excludeIPs }, failureDomains: { nodeSelector: { 'ironplane.dev/vm-host': 'true' } } },
  });
  for (const m of t.machines) {
    const muid = await createCapiMachine(client, t.ns, t.cluster, m, 'KvmMachine', { bootstrap: '#cloud-config\n' });
    await client.create<Obj>(KvmMachines, { metadata: ownedBy(t.ns, m, t.cluster, { kind: 'Machine', name: m, uid: muid }), spec: { image: { containerDisk: { image: IMAGE } }, memory: '1Gi' } });
  }
}

/** The KvmMachine's InternalIP, once the provider reports one. */
const machineIP = (ns: string, name: string): Promise<string> =>
  until(`${ns}/${name} to report an address`, async () => {
    const m = await client.get<KvmMachine>(KvmMachines, name, ns);
    return m.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  }, 120_000);

/** The launcher Pod of the VM and what kube-OVN wrote on it. */
async function launcher(ns: string, vm: string): Promise<Pod> {
  const pods = await client.list<Pod>(Pods, { namespace: ns, labelSelector: `vm.kubevirt.io/name=${vm}` });
  expect(pods.items).toHaveLength(1);
  return pods.items[0]!;
}

const names = (out: string): string[] => out.split('\n').map((l) => l.trim()).filter(Boolean);

describe('tenant network datapath', () => {
  const ips = new Map<string, string>();

  it('given two tenants on the same node CIDR, should give every VM the address kube-OVN allocated on its launcher Pod, in a VPC of its own', async () => {
    await createTenant(A);
    await createTenant(B);

    for (const t of [A, B]) {
      for (const m of t.machines) {
        const ip = await machineIP(t.ns, m);
        const pod = await launcher(t.ns, m);
        const ann = pod.metadata?.annotations ?? {};
        expect(pod.metadata?.name).toMatch(new RegExp(`^virt-launcher-${m}-[a-z0-9]{5}$`));
        expect(pod.spec?.nodeName).toBe(ovn.nodeName);
        expect(ann['ovn.kubernetes.io/allocated']).toBe('true');
        expect(ann['ovn.kubernetes.io/logical_switch']).toBe(tenantSubnetName(t.ns, t.cluster));
        expect(ip).toBe(ann['ovn.kubernetes.io/ip_address']);
        expect(pod.status?.podIP).toBe(ip);
        const vmi = await client.get<VirtualMachineInstance>(VirtualMachineInstances, m, t.ns);
        expect(vmi.status?.interfaces?.[0]).toMatchObject({ ipAddress: ip, mac: ann['ovn.kubernetes.io/mac_address'] });
        // The logical switch port kube-OVN made for the VM carries the same MAC and address.
        expect((await ovn.nbctl('lsp-get-addresses', `${m}.${t.ns}`)).trim()).toBe(`${ann['ovn.kubernetes.io/mac_address']} ${ip}`);
        ips.set(`${t.ns}/${m}`, ip);
      }
    }
    expect(ips.get('tenant-a/a1')).toMatch(/^10\.70\.0\.([2-9]|[1-9]\d|1[01]\d|12[0-7])$/);
    expect(ips.get('tenant-b/b1')).toMatch(/^10\.70\.0\.(12[89]|1[3-9]\d|2\d\d)$/);

    // One router and one switch per tenant, each router with a port on its own switch only.
    const routers = names(await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Router'));
    const switches = names(await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch'));
    for (const t of [A, B]) {
      expect(routers).toContain(tenantNetworkName(t.ns, t.cluster));
      expect(switches).toContain(tenantSubnetName(t.ns, t.cluster));
    }
    for (const [t, other] of [
      [A, B],
      [B, A],
    ] as const) {
      // Lines of "<uuid> (<port name>)"; kube-OVN names a router's port on a switch "<router>-<switch>".
      const ports = names(await ovn.nbctl('lrp-list', tenantNetworkName(t.ns, t.cluster)));
      expect(ports.some((p) => p.includes(tenantSubnetName(t.ns, t.cluster)))).toBe(true);
      expect(ports.some((p) => p.includes(tenantSubnetName(other.ns, other.cluster)))).toBe(false);
    }
  });

  it("should let a tenant's VMs reach each other and never another tenant's VM on the same CIDR", async () => {
    const vm = (ns: string, name: string): string => {
      const p = hypervisor.vmNetns(ns, name);
      if (!p) throw new Error(`${ns}/${name} is not plugged`);
      return p.netns;
    };
    const a1 = vm(A.ns, 'a1');
    const b1 = vm(B.ns, 'b1');
    const a2ip = ips.get('tenant-a/a2')!;
    const b1ip = ips.get('tenant-b/b1')!;

    // Success side: within tenant A, and each VM to its own gateway.
    await until('a1 to ping a2', async () => ((await ovn.ping(a1, a2ip)) ? true : undefined), 60_000);
    await until('b1 to ping its gateway', async () => ((await ovn.ping(b1, '10.70.0.1')) ? true : undefined), 60_000);
    expect(await ovn.ping(vm(A.ns, 'a2'), ips.get('tenant-a/a1')!)).toBe(true);

    // Refusal side: B's VM is up (above), yet A cannot reach it, nor B reach A.
    expect(await ovn.ping(a1, b1ip, 3)).toBe(false);
    expect(await ovn.ping(b1, a2ip, 3)).toBe(false);
    // Not even ARP: A's switch has no port with B's address, B's none with A's.
    const neigh = await ovn.exec(a1, ['ip', 'neigh', 'show', b1ip]);
    expect(neigh.stdout).not.toMatch(/lladdr/);
  });

  it('should leave no router, switch, port, load balancer or NAT row of a tenant once its KvmCluster is deleted', async () => {
    const vpc = tenantNetworkName(A.ns, A.cluster);
    const subnet = tenantSubnetName(A.ns, A.cluster);
    // What CAPI does when the Cluster goes: machines first, then the infrastructure cluster.
    for (const m of A.machines) await client.delete(KvmMachines, m, A.ns);
    await client.delete(KvmClusters, A.cluster, A.ns);
    await until('tenant A KvmCluster, Vpc and Subnet to be gone', async () => {
      const left = [await client.tryGet(KvmClusters, A.cluster, A.ns), await client.tryGet(Subnets, subnet), await client.tryGet(Vpcs, vpc)];
      return left.every((o) => o === undefined) ? true : undefined;
    }, 120_000);

    await until('OVN to drop tenant A', async () => {
      const routers = names(await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Router'));
      const switches = names(await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch'));
      return !routers.includes(vpc) && !switches.includes(subnet) ? true : undefined;
    }, 60_000);
    const ports = names(await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch_Port'));
    expect(ports.filter((p) => p.endsWith(`.${A.ns}`) || p.includes(subnet))).toEqual([]);
    expect(names(await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Router_Port')).filter((p) => p.includes(vpc) || p.includes(subnet))).toEqual([]);
    // kube-OVN deletes a Vpc's six load balancers only in the garbage collection
    // it runs at start-up: until then they stay in NB, attached to nothing.
    const lbs = async (): Promise<string[]> => names(await ovn.nbctl('--bare', '--columns=name', 'list', 'Load_Balancer')).filter((n) => n.includes(vpc));
    const attached = [
      ...names(await ovn.nbctl('--bare', '--columns=load_balancer', 'list', 'Logical_Switch')),
      ...names(await ovn.nbctl('--bare', '--columns=load_balancer', 'list', 'Logical_Router')),
    ].join(' ');
    for (const lb of await lbs()) expect(attached).not.toContain((await ovn.nbctl('--bare', '--columns=_uuid', 'find', 'Load_Balancer', `name=${lb}`)).trim());
    await ovn.restartController();
    await until("kube-OVN's start-up garbage collection to drop tenant A's load balancers", async () => ((await lbs()).length === 0 ? true : undefined), 60_000);
    const nat = await ovn.nbctl('--bare', '--columns=external_ids,logical_ip', 'list', 'NAT');
    expect(nat).not.toContain(vpc);
    expect(nat).not.toContain(subnet);
    // The launcher Pods and the VMs' namespaces went with them.
    expect((await client.list(Pods, { namespace: A.ns })).items).toEqual([]);
    expect(hypervisor.vmNetns(A.ns, 'a1')).toBeUndefined();

    // Tenant B is untouched and still on its network.
    expect(names(await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Router'))).toContain(tenantNetworkName(B.ns, B.cluster));
    expect(await ovn.ping(hypervisor.vmNetns(B.ns, 'b1')!.netns, '10.70.0.1')).toBe(true);
  });
});
