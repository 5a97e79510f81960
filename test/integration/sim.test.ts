// The simulated parts of the test world (test/sim) against a real management
// apiserver with the KubeVirt and kube-OVN CRDs, and a Kamaji-style tenant
// apiserver on the same etcd: a VirtualMachine becomes a Running VMI with an
// address from its Subnet on a node that fits, the kubelet registers a Node
// in the tenant with the providerID from the userdata, and every way the
// providers' output can be wrong leaves no Node (or no running VMI) with a
// reason to read.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishTenantSecrets, request, startControlPlane, startTenantApiServer, type ControlPlane, type TenantPlane } from '../harness/index.js';
import { Client } from '../../providers/kit/client.js';
import { createLogger } from '../../providers/kit/log.js';
import { Namespaces, Secrets, type KubeObject } from '../../providers/kit/types.js';
import { startHypervisor, type Hypervisor } from '../sim/hypervisor.js';
import { startKubelet, type Kubelet } from '../sim/kubelet.js';
import { Nodes, Subnets, VirtualMachineInstances, VirtualMachines, type Condition, type RunStrategy, type Secret, type VirtualMachine, type VirtualMachineInstance } from '../sim/kinds.js';
import { REPO, until } from './processes.js';

const log = createLogger({ level: process.env['IRONPLANE_TEST_LOG'] ? 'debug' : 'error' });
const NS = 'sim';
const CLUSTER = 'c1';
const SUBNET = 'c1-nodes';
const ZONE = 'topology.kubernetes.io/zone';
const NODES = [
  { name: 'infra-a', labels: { [ZONE]: 'zone-a', 'ironplane.dev/vm-host': 'true' } },
  { name: 'infra-b', labels: { [ZONE]: 'zone-b', 'ironplane.dev/vm-host': 'true' } },
];

let cp: ControlPlane;
let tenantPlane: TenantPlane;
let client: Client;
let tenant: Client;
let hv: Hypervisor;
let kubelet: Kubelet;

beforeAll(async () => {
  cp = await startControlPlane({ name: 'sim', crds: [path.join(REPO, 'config/external/kubevirt'), path.join(REPO, 'config/external/kube-ovn')] });
  client = new Client(cp.kubeConfig, { fieldManager: 'sim-test' });
  tenantPlane = await startTenantApiServer(cp, { name: `${NS}-${CLUSTER}` });
  tenant = new Client(tenantPlane.kubeConfig, { fieldManager: 'sim-test' });
  await client.create(Namespaces, { metadata: { name: NS } });
  await publishTenantSecrets(client, { namespace: NS, cluster: CLUSTER, tenant: tenantPlane });
  // The gateway (.1) and .2-.4 are not allocatable: the first VM gets .5.
  await client.create(Subnets, { metadata: { name: SUBNET }, spec: { vpc: 'c1', cidrBlock: '10.20.0.0/24', gateway: '10.20.0.1', excludeIps: ['10.20.0.2..10.20.0.4'] } } as KubeObject);
  hv = await startHypervisor({ client, log, nodes: NODES });
  kubelet = await startKubelet({ client, log });
});

afterAll(async () => {
  await kubelet?.stop();
  await hv?.stop();
  tenant?.close();
  client?.close();
  // Stops the tenant apiserver too.
  await cp?.stop();
});

const cloudConfig = (providerID?: string): string =>
  ['#cloud-config', 'hostname: ignored-by-the-sim', 'write_files:', '- path: /etc/motd', '  content: hello', ...(providerID ? ['- path: /etc/ironplane/provider-id', `  content: ${providerID}`] : [])].join('\n') + '\n';

async function userdata(name: string, text: string, key = 'userdata'): Promise<void> {
  await client.create(Secrets, { metadata: { name, namespace: NS }, data: { [key]: Buffer.from(text).toString('base64') } } as KubeObject);
}

interface VMOptions {
  zone?: string;
  secret?: string;
  subnet?: string | null;
  runStrategy?: RunStrategy;
  hostname?: string;
  /** The cluster-name label on the VM and its template (default c1). */
  cluster?: string;
  /** Replaces the cloudInitNoCloud source (default: secretRef to <name>-userdata or `secret`). */
  cloudInit?: Record<string, unknown>;
}

/** A VM shaped like our KubeVirt provider's: containerDisk, cloud-init from a Secret, kube-OVN subnet, zone affinity. */
async function createVM(name: string, o: VMOptions = {}): Promise<VirtualMachine> {
  const annotations: Record<string, string> = o.subnet === null ? {} : { 'ovn.kubernetes.io/logical_switch': o.subnet ?? SUBNET };
  return client.create<VirtualMachine>(VirtualMachines, {
    metadata: { name, namespace: NS, labels: { 'cluster.x-k8s.io/cluster-name': o.cluster ?? CLUSTER } },
    spec: {
      runStrategy: o.runStrategy ?? 'Always',
      template: {
        metadata: { labels: { 'cluster.x-k8s.io/cluster-name': o.cluster ?? CLUSTER, 'kubevirt.io/vm': name }, annotations },
        spec: {
          ...(o.hostname ? { hostname: o.hostname } : {}),
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: ZONE, operator: 'In', values: [o.zone ?? 'zone-a'] }] }] },
            },
          },
          domain: {
            cpu: { cores: 2 },
            memory: { guest: '2Gi' },
            devices: {
              disks: [
                { name: 'root', disk: { bus: 'virtio' } },
                { name: 'cloudinit', disk: { bus: 'virtio' } },
              ],
              interfaces: [{ name: 'default', bridge: {} }],
            },
          },
          networks: [{ name: 'default', pod: {} }],
          volumes: [
            { name: 'root', containerDisk: { image: 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic' } },
            { name: 'cloudinit', cloudInitNoCloud: o.cloudInit ?? { secretRef: { name: o.secret ?? `${name}-userdata` } } },
          ],
        },
      },
    },
  });
}

const getVMI = (name: string): Promise<VirtualMachineInstance | undefined> => client.tryGet<VirtualMachineInstance>(VirtualMachineInstances, name, NS);
const getVM = (name: string): Promise<VirtualMachine | undefined> => client.tryGet<VirtualMachine>(VirtualMachines, name, NS);
const cond = (list: Condition[] | undefined, type: string): Condition | undefined => list?.find((c) => c.type === type);

interface TenantNode extends KubeObject {
  spec?: { providerID?: string };
  status?: { addresses?: { type: string; address: string }[]; conditions?: { type: string; status: string }[]; nodeInfo?: { kubeletVersion?: string } };
}
const tenantNode = (name: string): Promise<TenantNode | undefined> => tenant.tryGet<TenantNode>(Nodes, name);
/** A Node once the kubelet has also posted its status (registration and status are two writes, as with a real kubelet). */
const reportedNode = async (name: string): Promise<TenantNode | undefined> => {
  const n = await tenantNode(name);
  return n?.status?.addresses?.length ? n : undefined;
};

function running(name: string, timeoutMs = 30_000): Promise<VirtualMachineInstance> {
  return until(
    `VMI ${name} Running`,
    async () => {
      const vmi = await getVMI(name);
      return vmi?.status?.phase === 'Running' ? vmi : undefined;
    },
    timeoutMs,
  );
}

describe('the hypervisor and the kubelet', () => {
  it('given a VM for zone-a, should run its VMI on the zone-a node with the Subnet\'s first free address, and register its Node in the tenant', async () => {
    await userdata('vm-a-userdata', cloudConfig('kubevirt://sim/vm-a'));
    const vm = await createVM('vm-a', { hostname: 'c1-md-0-vm-a' });

    const vmi = await running('vm-a');
    expect(vmi.status?.nodeName).toBe('infra-a');
    expect(vmi.metadata?.labels).toMatchObject({ 'kubevirt.io/nodeName': 'infra-a', 'kubevirt.io/vm': 'vm-a', 'cluster.x-k8s.io/cluster-name': CLUSTER });
    expect(vmi.metadata?.annotations).toMatchObject({ 'ovn.kubernetes.io/logical_switch': SUBNET });
    expect(vmi.metadata?.ownerReferences).toEqual([
      { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'vm-a', uid: vm.metadata?.uid, controller: true, blockOwnerDeletion: true },
    ]);
    // The spec is the template's.
    expect(vmi.spec?.volumes).toEqual(vm.spec?.template?.spec?.volumes);
    expect(vmi.spec?.hostname).toBe('c1-md-0-vm-a');
    expect(vmi.status?.interfaces).toEqual([
      expect.objectContaining({ name: 'default', interfaceName: 'eth0', ipAddress: '10.20.0.5', ipAddresses: ['10.20.0.5'], mac: expect.stringMatching(/^00:00:00(:[0-9a-f]{2}){3}$/) }),
    ]);
    expect(cond(vmi.status?.conditions, 'Ready')?.status).toBe('True');

    const vmStatus = await until('VM vm-a status Running', async () => {
      const v = await getVM('vm-a');
      return v?.status?.printableStatus === 'Running' ? v : undefined;
    });
    expect(vmStatus.status).toMatchObject({ created: true, ready: true, runStrategy: 'Always' });
    expect(cond(vmStatus.status?.conditions, 'Ready')?.status).toBe('True');
    expect(vmStatus.metadata?.finalizers).toContain('kubevirt.io/virtualMachineControllerFinalize');

    const node = await until('tenant Node c1-md-0-vm-a with its status', () => reportedNode('c1-md-0-vm-a'));
    expect(node.spec?.providerID).toBe('kubevirt://sim/vm-a');
    expect(node.status?.addresses).toEqual([
      { type: 'InternalIP', address: '10.20.0.5' },
      { type: 'Hostname', address: 'c1-md-0-vm-a' },
    ]);
    expect(cond(node.status?.conditions as Condition[], 'Ready')?.status).toBe('True');
    expect(node.status?.nodeInfo?.kubeletVersion).toMatch(/^v1\.\d+\.\d+/);
    expect(kubelet.why(NS, 'vm-a')).toBeUndefined();
    expect(kubelet.nodeOf(NS, 'vm-a')).toEqual({ cluster: CLUSTER, node: 'c1-md-0-vm-a', providerID: 'kubevirt://sim/vm-a' });
    // The Node exists only in the tenant: it shares etcd with the management plane, not its objects.
    expect(await client.tryGet(Nodes, 'c1-md-0-vm-a')).toBeUndefined();
  });

  it('given a second VM in zone-b, should place it on the zone-b node with the next address, named after the VMI when no hostname is set', async () => {
    // The CAPI bootstrap Secret's own key, `value`, works as well as `userdata`.
    await userdata('vm-b-userdata', cloudConfig('kubevirt://sim/vm-b'), 'value');
    await createVM('vm-b', { zone: 'zone-b' });
    const vmi = await running('vm-b');
    expect(vmi.status?.nodeName).toBe('infra-b');
    expect(vmi.status?.interfaces?.[0]?.ipAddress).toBe('10.20.0.6');
    const node = await until('tenant Node vm-b with its status', () => reportedNode('vm-b'));
    expect(node.spec?.providerID).toBe('kubevirt://sim/vm-b');
  });

  it('given userdata without the provider-id file, should run the VMI but register no Node, and say why', async () => {
    await userdata('vm-noid-userdata', cloudConfig());
    await createVM('vm-noid');
    await running('vm-noid');
    const why = await until('kubelet to give up on vm-noid', () => kubelet.why(NS, 'vm-noid')?.includes('provider-id') && kubelet.why(NS, 'vm-noid'));
    expect(why).toBe('userdata has no write_files entry for /etc/ironplane/provider-id: no providerID, so no Node');
    expect(await tenantNode('vm-noid')).toBeUndefined();
  });

  it('given userdata that is not cloud-config, should register no Node, and say why', async () => {
    await userdata('vm-shell-userdata', '#!/bin/sh\necho /etc/ironplane/provider-id\n');
    await createVM('vm-shell');
    await running('vm-shell');
    const why = await until('kubelet to give up on vm-shell', () => kubelet.why(NS, 'vm-shell')?.includes('cloud-config') && kubelet.why(NS, 'vm-shell'));
    expect(why).toContain("first line is '#!/bin/sh'");
    expect(await tenantNode('vm-shell')).toBeUndefined();
  });

  it('given cloud-init naming its Secret in userDataSecretRef (not a KubeVirt field), should register no Node, and say why', async () => {
    await userdata('vm-badref-userdata', cloudConfig('kubevirt://sim/vm-badref'));
    const vm = await createVM('vm-badref', { cloudInit: { userDataSecretRef: { name: 'vm-badref-userdata' } } });
    // The apiserver prunes the unknown field: the volume is left empty.
    expect(vm.spec?.template?.spec?.volumes?.[1]).toEqual({ name: 'cloudinit', cloudInitNoCloud: {} });
    await running('vm-badref');
    const why = await until('kubelet to give up on vm-badref', () => kubelet.why(NS, 'vm-badref')?.includes('cloud-init') && kubelet.why(NS, 'vm-badref'));
    expect(why).toContain('VMI has no cloud-init volume with userdata');
    expect(await tenantNode('vm-badref')).toBeUndefined();
  });

  it('given a VMI of a cluster whose kubeconfig Secret is missing, should register no Node, and say why', async () => {
    await userdata('vm-other-userdata', cloudConfig('kubevirt://sim/vm-other'));
    await createVM('vm-other', { cluster: 'no-such-cluster' });
    const vmi = await running('vm-other');
    expect(vmi.metadata?.labels?.['cluster.x-k8s.io/cluster-name']).toBe('no-such-cluster');
    const why = await until('kubelet to give up on vm-other', () => kubelet.why(NS, 'vm-other')?.includes('kubeconfig') && kubelet.why(NS, 'vm-other'));
    expect(why).toBe(`kubeconfig Secret ${NS}/no-such-cluster-kubeconfig not found: no tenant control plane to join`);
    expect(await tenantNode('vm-other')).toBeUndefined();
  });

  it('given a missing userdata Secret, should keep the VMI from running with a condition naming the Secret, and start it once the Secret exists', async () => {
    await createVM('vm-nosecret', { secret: 'vm-nosecret-late' });
    const vmi = await until('VMI vm-nosecret waiting for its Secret', async () => {
      const v = await getVMI('vm-nosecret');
      return cond(v?.status?.conditions, 'Synchronized')?.reason === 'FailedMount' ? v : undefined;
    });
    expect(vmi.status?.phase).toBe('Scheduling');
    expect(vmi.status?.nodeName).toBeUndefined();
    expect(cond(vmi.status?.conditions, 'Synchronized')).toMatchObject({
      status: 'False',
      message: 'MountVolume.SetUp failed for volume "cloudinit" : secret "vm-nosecret-late" not found',
    });
    expect(cond(vmi.status?.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'GuestNotRunning' });
    const vm = await until('VM vm-nosecret Starting', async () => {
      const v = await getVM('vm-nosecret');
      return v?.status?.printableStatus === 'Starting' ? v : undefined;
    });
    // VMI conditions are mirrored onto the VM, as KubeVirt does.
    expect(cond(vm.status?.conditions, 'Synchronized')?.reason).toBe('FailedMount');
    expect(vm.status?.ready).toBe(false);

    await userdata('vm-nosecret-late', cloudConfig('kubevirt://sim/vm-nosecret'));
    const started = await running('vm-nosecret');
    expect(cond(started.status?.conditions, 'Synchronized')).toBeUndefined();
    await until('tenant Node vm-nosecret', () => tenantNode('vm-nosecret'));
  });

  it('given a zone no node is in, should leave the VMI unschedulable and the VM ErrorUnschedulable', async () => {
    await userdata('vm-zonec-userdata', cloudConfig('kubevirt://sim/vm-zonec'));
    await createVM('vm-zonec', { zone: 'zone-c' });
    const vmi = await until('VMI vm-zonec Unschedulable', async () => {
      const v = await getVMI('vm-zonec');
      return cond(v?.status?.conditions, 'PodScheduled')?.status === 'False' ? v : undefined;
    });
    expect(vmi.status?.phase).toBe('Scheduling');
    expect(cond(vmi.status?.conditions, 'PodScheduled')).toMatchObject({
      reason: 'Unschedulable',
      message: "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
    });
    await until('VM vm-zonec ErrorUnschedulable', async () => (await getVM('vm-zonec'))?.status?.printableStatus === 'ErrorUnschedulable');
    expect(kubelet.why(NS, 'vm-zonec')).toMatch(/not running/);
  });

  it('given a Subnet that does not exist yet, should keep the VMI from running until it does', async () => {
    await userdata('vm-late-net-userdata', cloudConfig('kubevirt://sim/vm-late-net'));
    await createVM('vm-late-net', { subnet: 'late-subnet' });
    const vmi = await until('VMI vm-late-net waiting for its Subnet', async () => {
      const v = await getVMI('vm-late-net');
      return cond(v?.status?.conditions, 'Synchronized')?.reason === 'FailedCreatePodSandBox' ? v : undefined;
    });
    expect(cond(vmi.status?.conditions, 'Synchronized')?.message).toBe('kube-OVN: subnet late-subnet not found');
    expect(vmi.status?.phase).toBe('Scheduling');
    await client.create(Subnets, { metadata: { name: 'late-subnet' }, spec: { cidrBlock: '10.30.0.0/29' } } as KubeObject);
    // Default gateway .1: the first address is .2.
    expect((await running('vm-late-net')).status?.interfaces?.[0]?.ipAddress).toBe('10.30.0.2');
  });

  it('given a VM without the logical_switch annotation, should not give it an address', async () => {
    await userdata('vm-nonet-userdata', cloudConfig('kubevirt://sim/vm-nonet'));
    await createVM('vm-nonet', { subnet: null });
    const vmi = await until('VMI vm-nonet refused an address', async () => {
      const v = await getVMI('vm-nonet');
      return cond(v?.status?.conditions, 'Synchronized')?.reason === 'FailedCreatePodSandBox' ? v : undefined;
    });
    expect(cond(vmi.status?.conditions, 'Synchronized')?.message).toContain('no ovn.kubernetes.io/logical_switch annotation');
  });

  it('given a Subnet with no free address, should keep the VMI from running and say so', async () => {
    // A /30 has two host addresses: the gateway and one more.
    await client.create(Subnets, { metadata: { name: 'tiny' }, spec: { cidrBlock: '10.40.0.0/30' } } as KubeObject);
    await userdata('vm-tiny1-userdata', cloudConfig('kubevirt://sim/vm-tiny1'));
    await userdata('vm-tiny2-userdata', cloudConfig('kubevirt://sim/vm-tiny2'));
    await createVM('vm-tiny1', { subnet: 'tiny' });
    expect((await running('vm-tiny1')).status?.interfaces?.[0]?.ipAddress).toBe('10.40.0.2');
    await createVM('vm-tiny2', { subnet: 'tiny' });
    const vmi = await until('VMI vm-tiny2 without an address', async () => {
      const v = await getVMI('vm-tiny2');
      return cond(v?.status?.conditions, 'Synchronized')?.reason === 'FailedCreatePodSandBox' ? v : undefined;
    });
    expect(cond(vmi.status?.conditions, 'Synchronized')?.message).toBe('kube-OVN: subnet tiny has no free address left in 10.40.0.0/30');

    // Deleting the first VM frees its address (never before), and the waiting one takes it.
    await client.delete(VirtualMachines, 'vm-tiny1', NS);
    await until('VM vm-tiny1 gone', async () => (await getVM('vm-tiny1')) === undefined);
    expect(await getVMI('vm-tiny1')).toBeUndefined();
    expect((await running('vm-tiny2')).status?.interfaces?.[0]?.ipAddress).toBe('10.40.0.2');
  });

  it('given runStrategy Halted, should delete the VMI and the tenant Node, and bring both back with the same address on Always', async () => {
    const before = await running('vm-a');
    await until('tenant Node c1-md-0-vm-a', () => tenantNode('c1-md-0-vm-a'));
    await client.mergePatch(VirtualMachines, 'vm-a', NS, { spec: { runStrategy: 'Halted' } });
    await until('VMI vm-a gone', async () => (await getVMI('vm-a')) === undefined);
    await until('tenant Node c1-md-0-vm-a gone', async () => (await tenantNode('c1-md-0-vm-a')) === undefined);
    const stopped = await until('VM vm-a Stopped', async () => {
      const v = await getVM('vm-a');
      return v?.status?.printableStatus === 'Stopped' ? v : undefined;
    });
    expect(stopped.status).toMatchObject({ created: false, ready: false, runStrategy: 'Halted' });
    expect(cond(stopped.status?.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'VMINotExists' });

    await client.mergePatch(VirtualMachines, 'vm-a', NS, { spec: { runStrategy: 'Always' } });
    const after = await running('vm-a');
    expect(after.metadata?.uid).not.toBe(before.metadata?.uid);
    // kube-OVN keeps a VM's address while the VM exists.
    expect(after.status?.interfaces?.[0]?.ipAddress).toBe('10.20.0.5');
    await until('tenant Node c1-md-0-vm-a back', () => tenantNode('c1-md-0-vm-a'));
  });

  it('given hv.fail on a runStrategy Once VM, should leave the VMI Failed, its Node not ready and the VM Stopped', async () => {
    await userdata('vm-once-userdata', cloudConfig('kubevirt://sim/vm-once'));
    await createVM('vm-once', { runStrategy: 'Once' });
    await running('vm-once');
    await until('tenant Node vm-once', () => tenantNode('vm-once'));

    const failed = await hv.fail(NS, 'vm-once', 'GuestCrashed', 'kernel panic (simulated)');
    expect(failed.status?.phase).toBe('Failed');
    expect(failed.status?.reason).toBe('GuestCrashed');
    expect(cond(failed.status?.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'GuestCrashed', message: 'kernel panic (simulated)' });
    await until('VM vm-once Stopped', async () => (await getVM('vm-once'))?.status?.printableStatus === 'Stopped');
    await until('tenant Node vm-once not ready', async () => cond((await tenantNode('vm-once'))?.status?.conditions as Condition[], 'Ready')?.status === 'Unknown');
    // Once means once: still Failed a moment later, not replaced.
    const vmi = await getVMI('vm-once');
    expect(vmi?.metadata?.uid).toBe(failed.metadata?.uid);
    expect(vmi?.status?.phase).toBe('Failed');
    await expect(hv.fail(NS, 'vm-once', 'Again', 'not running')).rejects.toThrow(/not running/);
  });

  it('given hv.fail on a runStrategy Always VM, should show it Failed, then replace it with a new VMI as KubeVirt does', async () => {
    const before = await running('vm-b');
    const failed = await hv.fail(NS, 'vm-b', 'GuestCrashed', 'kernel panic (simulated)');
    expect(failed.metadata?.uid).toBe(before.metadata?.uid);
    expect(failed.status?.phase).toBe('Failed');
    const after = await until('VMI vm-b replaced and Running', async () => {
      const v = await getVMI('vm-b');
      return v?.status?.phase === 'Running' && v.metadata?.uid !== before.metadata?.uid ? v : undefined;
    });
    expect(after.status?.interfaces?.[0]?.ipAddress).toBe(before.status?.interfaces?.[0]?.ipAddress);
    await until('tenant Node vm-b ready again', async () => cond((await tenantNode('vm-b'))?.status?.conditions as Condition[], 'Ready')?.status === 'True');
  });

  it('given a deleted VM, should delete its VMI and tenant Node, and let the VM go', async () => {
    await running('vm-nosecret');
    await client.delete(VirtualMachines, 'vm-nosecret', NS);
    await until('VM vm-nosecret gone', async () => (await getVM('vm-nosecret')) === undefined);
    expect(await getVMI('vm-nosecret')).toBeUndefined();
    await until('tenant Node vm-nosecret gone', async () => (await tenantNode('vm-nosecret')) === undefined);
    expect(kubelet.nodeOf(NS, 'vm-nosecret')).toBeUndefined();
  });

  it('given a VM deleted in the foreground, should let it go once its VMI is gone (the GC\'s part included)', async () => {
    await running('vm-b');
    await client.delete(VirtualMachines, 'vm-b', NS, { propagationPolicy: 'Foreground' });
    await until('VM vm-b gone', async () => (await getVM('vm-b')) === undefined);
    expect(await getVMI('vm-b')).toBeUndefined();
    await until('tenant Node vm-b gone', async () => (await tenantNode('vm-b')) === undefined);
  });

  it('writes VMI status on the object itself, as the KubeVirt VMI CRD has no status subresource (the VM CRD has one)', () => {
    expect(hv.statusSubresource).toEqual({ vm: true, vmi: false });
  });
});

describe('the tenant apiserver', () => {
  it('has its own CA and etcd prefix: management credentials are refused, management objects invisible', async () => {
    expect(tenantPlane.etcdPrefix).toBe(`/tenants/${NS}-${CLUSTER}`);
    expect(tenantPlane.ca.certPem).not.toBe(cp.ca.certPem);
    const nss = await tenant.request<{ items: KubeObject[] }>({ method: 'GET', path: '/api/v1/namespaces' });
    expect(nss.items.map((n) => n.metadata?.name)).not.toContain(NS);
    // The management plane's admin cert is not trusted by the tenant.
    const adminCert = Buffer.from(cp.kubeConfig.getCurrentUser()?.certData ?? '', 'base64').toString();
    const adminKey = Buffer.from(cp.kubeConfig.getCurrentUser()?.keyData ?? '', 'base64').toString();
    const res = await request(`${tenantPlane.url}/api/v1/namespaces`, { ca: tenantPlane.ca.certPem, cert: adminCert, key: adminKey });
    expect(res.status).toBe(401);
  });

  it('publishes what Kamaji\'s CAPI provider publishes: <cluster>-kubeconfig and <cluster>-ca', async () => {
    const kc = await client.get<Secret>(Secrets, `${CLUSTER}-kubeconfig`, NS);
    expect(kc.type).toBe('cluster.x-k8s.io/secret');
    expect(kc.metadata?.labels).toMatchObject({ 'cluster.x-k8s.io/cluster-name': CLUSTER, 'kamaji.clastix.io/secret': 'kubeconfig' });
    expect(Buffer.from(kc.data?.['value'] ?? '', 'base64').toString()).toBe(tenantPlane.adminKubeconfig);
    const ca = await client.get<Secret>(Secrets, `${CLUSTER}-ca`, NS);
    expect(ca.type).toBe('cluster.x-k8s.io/secret');
    expect(Buffer.from(ca.data?.['tls.crt'] ?? '', 'base64').toString()).toBe(tenantPlane.ca.certPem);
    expect(Buffer.from(ca.data?.['tls.key'] ?? '', 'base64').toString()).toBe(tenantPlane.ca.keyPem);
  });

  it('is stopped by the control plane it runs on, and stop() stays idempotent', async () => {
    const other = await startControlPlane({ name: 'sim-owner' });
    const t = await startTenantApiServer(other, { name: 'doomed' });
    const ok = await request(`${t.url}/readyz`, { ca: t.ca.certPem });
    expect([200, 401, 403]).toContain(ok.status);
    await other.stop();
    await expect(request(`${t.url}/readyz`, { ca: t.ca.certPem }, { timeoutMs: 1000 })).rejects.toThrow();
    await t.stop();
    await t.stop();
  });
});
