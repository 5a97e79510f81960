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
// --external: the same on the platform's external network (adr/0011
// "External pools"). The OVN world gets an external network
// (startOvn({ external })) with a client namespace on it, outside every VPC;
// the KubeVirt manager runs with IRONPLANE_EXTERNAL_NETWORK=external, so the
// tenant's Vpc gets a router port there (waited for: the KvmCluster's
// status.network.externalSubnet); the pool has spec.externalSubnet, its
// addresses high in the external CIDR (kube-OVN gives routers' external ports
// the lowest free ones). Per Service: to its ingress, to its condition
// AddressAssigned=True (the cloud provider writes the ingress as soon as the
// address answers inside the VPC, and says Assigned once kube-OVN reports
// the external side), to its OvnDnatRule being status.ready (one per port,
// to the one entry node: w1, the only VM, the tenant's sole target), and to
// the first HTTP answer through address:port from the external client,
// probed as above. Those three are polled like ingress above (upper bounds),
// so the answer can come out before the rule's ready. The address is on the
// client's link, so the client resolves it by ARP first, and while it is
// unresolved Linux asks again only every retrans_time_ms (1 s by default):
// with the default, the answer comes about a second after creation whatever
// the platform does. So the probing client asks every 25 ms (a sysctl of its
// own network namespace, gone with it, not the host's), and a second client
// with the kernel's default gives what an ordinary client waits
// (...DefaultArpMs).
// A separate run with its own world, not a second line of the first: the
// first line's world stays the one its earlier figures were taken in (no
// external network, Vpc not connected), and `make bench` reads one line per
// run. The price is one more world's start-up (the whole run takes about a
// minute).
//
// Run: node --import tsx bench/lb-datapath.ts [services] [--external]
// Needs root, network namespaces, bin/ from `make tools` and dist/ from
// `make build`. Prints one JSON line: {"bench":"lb-datapath",...} or
// {"bench":"lb-datapath-external",...}, with the 1-minute load average before
// and after. Each figure: median, p95 (nearest rank: the maximum below 20
// Services), min, max, in ms.
import os from 'node:os';
import path from 'node:path';
import type { KvmCluster } from '../providers/api/generated/ironplane/v1alpha1/kvmcluster.js';
import type { OvnDnatRule } from '../providers/api/generated/kubeovn/v1/ovndnatrule.js';
import { ADDRESS_ANNOTATION, dnatName, EXCLUDE_NODE_LABEL, LoadBalancerPools, OvnDnatRules, SERVICE_CONDITION, Services } from '../providers/cloudprovider/names.js';
import { Client } from '../providers/kit/client.js';
import type { KubeObject } from '../providers/kit/types.js';
import { KvmClusters } from '../providers/kubevirt/resources.js';
import { publishTenantSecrets, startControlPlane, startOvn, startTenantApiServer, type ControlPlane, type OvnWorld, type TenantPlane } from '../test/harness/index.js';
import { nbRows, NetnsProcesses } from '../test/integration/network/packets.js';
import { createTenant, NODE_LABELS, registerNode, vmUp, type Tenant, type VM } from '../test/integration/network/tenants.js';
import { REPO, run, until, type Proc } from '../test/integration/processes.js';
import { restrictedKubeconfig } from '../test/integration/roles.js';
import { startHypervisor, type Hypervisor } from '../test/sim/hypervisor.js';
import { exitWhenManagerDies } from './lib.js';

const EXTERNAL = process.argv.includes('--external');
const SERVICES = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 5);
const BENCH = EXTERNAL ? 'lb-datapath-external' : 'lb-datapath';
const TENANT: Tenant = { ns: 'bench-lb', cluster: 'net', cidr: '10.90.0.0/24', machines: EXTERNAL ? ['w1'] : ['w1', 'w2'] };
const EXTERNAL_NET = { cidr: '172.31.0.0/24', gateway: '172.31.0.1' };
// Two clients: ARP requests every probe interval, and the kernel's default (one a second).
const EXTERNAL_CLIENTS = { probe: '172.31.0.250', defaultArp: '172.31.0.251' };
const PROBE_MS = 25;
// Pools: inside (a VIP of the tenant's VPC only) and on the external network, high in its CIDR.
const POOL = EXTERNAL ? { cidr: '172.31.0.128/26', base: '172.31.0.', first: 130 } : { cidr: '192.0.2.0/26', base: '192.0.2.', first: 10 };
const PORT = 80;
const WAIT_MS = 180_000;
const nodeArgs = process.env['BENCH_MANAGER_NODE_ARGS']?.split(' ').filter(Boolean) ?? [];

interface Svc extends KubeObject {
  status?: { loadBalancer?: { ingress?: { ip?: string }[] }; conditions?: { type: string; status: string }[] };
}

const ms = (n: number): number => Math.round(n);
function summary(values: number[]): { median: number; p95: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = Number.isInteger(mid) ? (sorted[mid - 1]! + sorted[mid]!) / 2 : sorted[Math.floor(mid)]!;
  const p95 = sorted[Math.ceil(sorted.length * 0.95) - 1]!;
  return { median: ms(median), p95: ms(p95), min: ms(sorted[0]!), max: ms(sorted[sorted.length - 1]!) };
}

/** Milliseconds from t0 to each named event, polled together until all have happened. */
async function timeEvents(what: string, t0: number, events: Record<string, () => Promise<boolean>>): Promise<Record<string, number>> {
  const at: Record<string, number> = {};
  await until(what, async () => {
    for (const [name, happened] of Object.entries(events)) if (at[name] === undefined && (await happened())) at[name] = Date.now() - t0;
    return Object.keys(at).length === Object.keys(events).length;
  }, WAIT_MS);
  return at;
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
      name: `bench-${BENCH}`,
      controllerManager: true,
      crds: ['config/external/capi', 'config/external/kubevirt', 'config/external/kube-ovn', 'config/crd/bases'].map((p) => path.join(REPO, p)),
    });
    ovn = await startOvn(cp, { nodeLabels: NODE_LABELS, ...(EXTERNAL ? { external: EXTERNAL_NET } : {}) });
    client = new Client(cp.kubeConfig, { fieldManager: 'bench' });
    const clientNetns = EXTERNAL ? await ovn.plugExternal('client', EXTERNAL_CLIENTS.probe) : undefined;
    const defaultArpNetns = EXTERNAL ? await ovn.plugExternal('client-arp', EXTERNAL_CLIENTS.defaultArp) : undefined;
    if (clientNetns) {
      // The namespace's own setting (gone with it), not the host's.
      const r = await ovn.exec(clientNetns, ['sysctl', '-w', `net.ipv4.neigh.eth0.retrans_time_ms=${PROBE_MS}`]);
      if (r.code !== 0) throw new Error(`sysctl in ${clientNetns}: ${r.stderr}`);
    }
    for (const role of ['kubevirt', 'cloud-provider']) {
      const kubeconfig = await restrictedKubeconfig(cp, client, role);
      const env = role === 'kubevirt' && EXTERNAL ? { IRONPLANE_EXTERNAL_NETWORK: 'external' } : {};
      const m = run([...nodeArgs, 'dist/providers/cli/main.js', 'manager', '--role', role, '--kubeconfig', kubeconfig, '--metrics-bind-address', '0', '--health-probe-bind-address', '0', '--webhook-port', '0', '--log-level', 'warn'], { env });
      exitWhenManagerDies(m);
      managers.push(m);
    }
    hypervisor = await startHypervisor({ client, nodes: [{ name: ovn.nodeName, labels: NODE_LABELS }], ovn });

    await createTenant(client, TENANT);
    const vms: Record<string, VM> = {};
    for (const m of TENANT.machines) vms[m] = await vmUp(client, hypervisor, TENANT, m, WAIT_MS);
    if (EXTERNAL) {
      await until(`KvmCluster ${TENANT.ns}/${TENANT.cluster} to report external network external`, async () => (await client!.get<KvmCluster>(KvmClusters, TENANT.cluster, TENANT.ns)).status?.network?.externalSubnet === 'external', WAIT_MS);
    }

    tenant = await startTenantApiServer(cp, { name: `${TENANT.ns}-${TENANT.cluster}` });
    tenantClient = new Client(tenant.kubeConfig, { fieldManager: 'bench-tenant' });
    await publishTenantSecrets(client, { namespace: TENANT.ns, cluster: TENANT.cluster, tenant });
    // w1 takes the traffic; w2, where there is one, is the client inside the VPC and no target.
    await registerNode(tenantClient, TENANT.ns, 'w1', vms['w1']!.ip);
    if (vms['w2']) await registerNode(tenantClient, TENANT.ns, 'w2', vms['w2'].ip, { [EXCLUDE_NODE_LABEL]: '' });
    await client.create(LoadBalancerPools, {
      metadata: { name: 'bench' },
      spec: { addresses: [POOL.cidr], tenants: { namespaces: [TENANT.ns] }, ...(EXTERNAL ? { externalSubnet: 'external' } : {}) },
    } as KubeObject);

    const one = async (i: number): Promise<Record<string, number>> => {
      const address = `${POOL.base}${POOL.first + i}`;
      const nodePort = 31000 + i;
      const name = `svc-${i}`;
      await inNetns.httpServer(vms['w1']!.netns, nodePort, name);
      const { answer } = await inNetns.firstAnswer(clientNetns ?? vms['w2']!.netns, address, PORT, { intervalMs: PROBE_MS });
      const defaultArp = defaultArpNetns ? (await inNetns.firstAnswer(defaultArpNetns, address, PORT, { intervalMs: PROBE_MS })).answer : undefined;
      const t0 = Date.now();
      await tenantClient!.create(Services, {
        metadata: { name, namespace: 'default', annotations: { [ADDRESS_ANNOTATION]: address } },
        spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: PORT, nodePort, protocol: 'TCP' }], selector: { app: name } },
      } as KubeObject);
      const svc = () => tenantClient!.get<Svc>(Services, name, 'default');
      const events: Record<string, () => Promise<boolean>> = EXTERNAL
        ? {
            ingress: async () => (await svc()).status?.loadBalancer?.ingress?.some((x) => x.ip === address) ?? false,
            assigned: async () => (await svc()).status?.conditions?.some((c) => c.type === SERVICE_CONDITION && c.status === 'True') ?? false,
            dnatReady: async () => (await client!.tryGet<OvnDnatRule>(OvnDnatRules, dnatName(address, 'tcp', PORT)))?.status?.ready === true,
          }
        : {
            ingress: async () => (await svc()).status?.loadBalancer?.ingress?.some((x) => x.ip === address) ?? false,
            nb: async () => (await nbRows(ovn!, 'Load_Balancer', ['vips'])).some((r) => (r['vips'] as Record<string, string>)[`${address}:${PORT}`] !== undefined),
          };
      const at = await timeEvents(`${name}: ${Object.keys(events).join(', ')}`, t0, events);
      const answered: Record<string, number> = {};
      for (const [k, a] of [['answer', answer], ['answerDefaultArp', defaultArp]] as const) {
        if (!a) continue;
        const first = await a;
        if (first.body !== name) throw new Error(`${address}:${PORT} answered ${first.body}, not ${name}`);
        answered[k] = first.at - t0;
      }
      return { ...at, ...answered };
    };

    const warmUp = await one(0);
    const runs: Record<string, number>[] = [];
    for (let i = 1; i <= SERVICES; i++) runs.push(await one(i));
    const of = (k: string) => summary(runs.map((r) => r[k]!));
    return EXTERNAL
      ? {
          services: SERVICES,
          warmUpMs: warmUp,
          createToIngressMs: of('ingress'),
          createToAssignedMs: of('assigned'),
          createToDnatReadyMs: of('dnatReady'),
          createToFirstAnswerOnExternalNetworkMs: of('answer'),
          createToFirstAnswerOnExternalNetworkDefaultArpMs: of('answerDefaultArp'),
          probeIntervalMs: PROBE_MS,
        }
      : {
          services: SERVICES,
          warmUpMs: warmUp,
          createToIngressMs: of('ingress'),
          createToOvnLoadBalancerMs: of('nb'),
          createToFirstAnswerThroughVipMs: of('answer'),
          probeIntervalMs: PROBE_MS,
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
const result: Record<string, unknown> = { bench: BENCH, load1mBefore: load1m() };
let failed = false;
try {
  Object.assign(result, await main());
} catch (err) {
  failed = true;
  console.error(`${BENCH} bench: ${(err as Error).stack ?? String(err)}`);
  result['error'] = (err as Error).message.split('\n')[0];
}
result['load1mAfter'] = load1m();
console.log(JSON.stringify(result));
process.exit(failed ? 1 : 0);
