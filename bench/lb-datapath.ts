// Tenant LoadBalancer Services on the real datapath (adr/0011 on adr/0012's
// world): how long from a Service created in a tenant apiserver until
// - its status.loadBalancer.ingress is written (`ironplane manager --role
//   cloud-provider`: pool address, SwitchLBRule),
// - kube-ovn-controller has programmed the VIP as an OVN load balancer in
//   Northbound (from the rule's Endpoints, through the EndpointSlice that
//   kube-controller-manager mirrors),
// - the first HTTP answer comes back through VIP:port to the tenant's other
//   VM (OVN Southbound, ovn-controller's flows, the userspace datapath).
// One tenant with two VMs (network namespaces plugged by the hypervisor sim):
// w1 serves the node port (started before each Service, as kube-proxy would
// be), w2 is the client. Each Service asks for its address (the
// cloud-provider's annotation), so the client probes it from before the
// Service exists: a GET every 25 ms, so the answer's time is within 25 ms.
// Ingress and Northbound are polled (every 100 ms, plus the time of a read):
// those two figures are upper bounds, the answer's is not, so the answer can
// come out earlier than either (the cloud provider writes the rule before the
// Service's status). Services are created one after another, after one
// unmeasured warm-up.
//
// Run: node --import tsx bench/lb-datapath.ts [services]
// Needs root, network namespaces, bin/ from `make tools` and dist/ from
// `make build`. Prints one JSON line: {"bench":"lb-datapath",...}, with the
// 1-minute load average before and after.
import os from 'node:os';
import path from 'node:path';
import type { KvmMachine } from '../providers/api/generated/ironplane/v1alpha1/kvmmachine.js';
import { ADDRESS_ANNOTATION, EXCLUDE_NODE_LABEL, LoadBalancerPools, Services, TenantNodes } from '../providers/cloudprovider/names.js';
import { Client } from '../providers/kit/client.js';
import type { KubeObject } from '../providers/kit/types.js';
import { providerIDFor } from '../providers/kubevirt/names.js';
import { KvmClusters, KvmMachines } from '../providers/kubevirt/resources.js';
import { publishTenantSecrets, startControlPlane, startOvn, startTenantApiServer, type ControlPlane, type OvnWorld, type TenantPlane } from '../test/harness/index.js';
import { createCapiCluster, createCapiMachine, ownedBy } from '../test/integration/capi-objects.js';
import { nbRows, NetnsProcesses } from '../test/integration/network/packets.js';
import { REPO, run, until, type Proc } from '../test/integration/processes.js';
import { ensureNamespace, restrictedKubeconfig } from '../test/integration/roles.js';
import { startHypervisor, type Hypervisor } from '../test/sim/hypervisor.js';
import { exitWhenManagerDies } from './lib.js';

const SERVICES = Number(process.argv[2] ?? 5);
const NS = 'bench-lb';
const CLUSTER = 'net';
const NODE_LABELS = { 'ironplane.dev/vm-host': 'true' };
const IMAGE = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';
const nodeArgs = process.env['BENCH_MANAGER_NODE_ARGS']?.split(' ').filter(Boolean) ?? [];

interface Svc extends KubeObject {
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}

const ms = (n: number): number => Math.round(n);
function summary(values: number[]): { median: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = Number.isInteger(mid) ? (sorted[mid - 1]! + sorted[mid]!) / 2 : sorted[Math.floor(mid)]!;
  return { median: ms(median), min: ms(sorted[0]!), max: ms(sorted[sorted.length - 1]!) };
}

async function main(): Promise<Record<string, unknown>> {
  let cp: ControlPlane | undefined;
  let ovn: OvnWorld | undefined;
  let client: Client | undefined;
  let hypervisor: Hypervisor | undefined;
  let tenant: TenantPlane | undefined;
  let tenantClient: Client | undefined;
  const managers: Proc[] = [];
  const inNetns = new NetnsProcesses();
  try {
    cp = await startControlPlane({
      name: 'bench-lb-datapath',
      controllerManager: true,
      crds: ['config/external/capi', 'config/external/kubevirt', 'config/external/kube-ovn', 'config/crd/bases'].map((p) => path.join(REPO, p)),
    });
    ovn = await startOvn(cp, { nodeLabels: NODE_LABELS });
    client = new Client(cp.kubeConfig, { fieldManager: 'bench' });
    for (const role of ['kubevirt', 'cloud-provider']) {
      const kubeconfig = await restrictedKubeconfig(cp, client, role);
      const m = run([...nodeArgs, 'dist/providers/cli/main.js', 'manager', '--role', role, '--kubeconfig', kubeconfig, '--metrics-bind-address', '0', '--health-probe-bind-address', '0', '--webhook-port', '0', '--log-level', 'warn']);
      exitWhenManagerDies(m);
      managers.push(m);
    }
    hypervisor = await startHypervisor({ client, nodes: [{ name: ovn.nodeName, labels: NODE_LABELS }], ovn });

    await ensureNamespace(client, NS);
    const uid = await createCapiCluster(client, NS, CLUSTER, 'KvmCluster');
    await client.create(KvmClusters, {
      metadata: ownedBy(NS, CLUSTER, CLUSTER, { kind: 'Cluster', name: CLUSTER, uid }),
      spec: { network: { nodeCIDR: '10.90.0.0/24' }, failureDomains: { nodeSelector: NODE_LABELS } },
    } as KubeObject);
    const vms: Record<string, { ip: string; netns: string }> = {};
    for (const m of ['w1', 'w2']) {
      const muid = await createCapiMachine(client, NS, CLUSTER, m, 'KvmMachine', { bootstrap: '#cloud-config\n' });
      await client.create(KvmMachines, { metadata: ownedBy(NS, m, CLUSTER, { kind: 'Machine', name: m, uid: muid }), spec: { image: { containerDisk: { image: IMAGE } }, memory: '1Gi' } } as KubeObject);
    }
    for (const m of ['w1', 'w2']) {
      const ip = await until(`${m} to report an address`, async () => (await client!.get<KvmMachine>(KvmMachines, m, NS)).status?.addresses?.find((a) => a.type === 'InternalIP')?.address, 180_000);
      const netns = await until(`${m} to be plugged`, () => hypervisor!.vmNetns(NS, m)?.netns, 180_000);
      vms[m] = { ip, netns };
    }

    tenant = await startTenantApiServer(cp, { name: `${NS}-${CLUSTER}` });
    tenantClient = new Client(tenant.kubeConfig, { fieldManager: 'bench-tenant' });
    await publishTenantSecrets(client, { namespace: NS, cluster: CLUSTER, tenant });
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    for (const [m, labels] of [
      ['w1', {}],
      ['w2', { [EXCLUDE_NODE_LABEL]: '' }],
    ] as const) {
      await tenantClient.create(TenantNodes, { metadata: { name: m, labels }, spec: { providerID: providerIDFor(NS, m) } } as KubeObject);
      await tenantClient.patchStatus(TenantNodes, m, undefined, {
        addresses: [{ type: 'InternalIP', address: vms[m]!.ip }],
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ready', lastHeartbeatTime: now, lastTransitionTime: now }],
      });
    }
    await client.create(LoadBalancerPools, { metadata: { name: 'bench' }, spec: { addresses: ['192.0.2.0/26'], tenants: { namespaces: [NS] } } } as KubeObject);

    const one = async (i: number): Promise<{ ingress: number; nb: number; answer: number }> => {
      const vip = `192.0.2.${10 + i}`;
      const nodePort = 31000 + i;
      const name = `svc-${i}`;
      await inNetns.httpServer(vms['w1']!.netns, nodePort, name);
      const { answer } = await inNetns.firstAnswer(vms['w2']!.netns, vip, 80);
      const t0 = Date.now();
      await tenantClient!.create(Services, {
        metadata: { name, namespace: 'default', annotations: { [ADDRESS_ANNOTATION]: vip } },
        spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, nodePort, protocol: 'TCP' }], selector: { app: name } },
      } as KubeObject);
      let ingress: number | undefined;
      let nb: number | undefined;
      await until(`${name}: ingress and the OVN load balancer`, async () => {
        if (ingress === undefined && (await tenantClient!.get<Svc>(Services, name, 'default')).status?.loadBalancer?.ingress?.some((x) => x.ip === vip)) ingress = Date.now();
        if (nb === undefined && (await nbRows(ovn!, 'Load_Balancer', ['vips'])).some((r) => (r['vips'] as Record<string, string>)[`${vip}:80`] !== undefined)) nb = Date.now();
        return ingress !== undefined && nb !== undefined;
      }, 120_000);
      const first = await answer;
      if (first.body !== name) throw new Error(`${vip}:80 answered ${first.body}, not ${name}`);
      return { ingress: ingress! - t0, nb: nb! - t0, answer: first.at - t0 };
    };

    const warmUp = await one(0);
    const runs: { ingress: number; nb: number; answer: number }[] = [];
    for (let i = 1; i <= SERVICES; i++) runs.push(await one(i));
    return {
      services: SERVICES,
      warmUpMs: warmUp,
      createToIngressMs: summary(runs.map((r) => r.ingress)),
      createToOvnLoadBalancerMs: summary(runs.map((r) => r.nb)),
      createToFirstAnswerThroughVipMs: summary(runs.map((r) => r.answer)),
      probeIntervalMs: 25,
    };
  } finally {
    await inNetns.stop();
    for (const m of managers) {
      m.child.kill('SIGTERM');
      await m.exited;
    }
    await hypervisor?.stop();
    tenantClient?.close();
    await tenant?.stop();
    client?.close();
    await ovn?.stop();
    await cp?.stop();
  }
}

const load1m = (): number => Math.round(os.loadavg()[0]! * 100) / 100;
const result: Record<string, unknown> = { bench: 'lb-datapath', load1mBefore: load1m() };
let failed = false;
try {
  Object.assign(result, await main());
} catch (err) {
  failed = true;
  console.error(`lb-datapath bench: ${(err as Error).stack ?? String(err)}`);
  result['error'] = (err as Error).message.split('\n')[0];
}
result['load1mAfter'] = load1m();
console.log(JSON.stringify(result));
process.exit(failed ? 1 : 0);
