// Kairos bootstrap provider: render throughput of a typical KairosConfig (in
// this process, the pure render function), then N Machines bootstrapped
// against the real apiservers: a management plane and a kubeadm-ready tenant
// (bootstrap signer running), the compiled manager as a process. Time from
// the first create until every KairosConfig has its data Secret (each with a
// token created in the tenant), and the manager's peak RSS.
// Run: node --import tsx bench/kairos-bootstrap.ts [machines] [workers]
// Prints one JSON line: {"bench":"kairos-bootstrap",...}
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { publishTenantSecrets, startControlPlane, startTenantApiServer } from '../test/harness/index.js';
import { exitWhenManagerDies, peakRssMiB, seconds } from './lib.js';
import type { KairosConfig, KairosConfigSpec } from '../providers/api/generated/ironplane/v1alpha1/kairosconfig.js';
import { Clusters, Machines } from '../providers/capi/contract.js';
import { Client } from '../providers/kit/client.js';
import { Informer } from '../providers/kit/informer.js';
import { Namespaces, Secrets, type KubeObject } from '../providers/kit/types.js';
import { createRenderer, type RenderInput } from '../providers/kairos/render.js';
import { KairosConfigs } from '../providers/kairos/resources.js';
import { TOKEN_OWNER_LABEL } from '../providers/kairos/names.js';
import { REPO, run, until } from '../test/integration/processes.js';

const COUNT = Number(process.argv[2] ?? 500);
const WORKERS = Number(process.argv[3] ?? 16);
const CONCURRENCY = 16;
const RENDERS = 5000;
const NS = 'bench';

/** A typical worker: a user with a key, NTP, two labels, a taint, a registry mirror file, a pre-join command. */
const typical: KairosConfigSpec = {
  users: [{ name: 'ops', groups: ['admin'], sshAuthorizedKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3bNQ7dQyS8H0a ops@example.com'] }],
  ntp: { servers: ['0.pool.ntp.org', '1.pool.ntp.org'] },
  nodeLabels: { 'node.kubernetes.io/pool': 'md-0', 'example.com/tier': 'gold' },
  taints: [{ key: 'dedicated', value: 'batch', effect: 'NoSchedule' }],
  files: [{ path: '/etc/containerd/certs.d/docker.io/hosts.toml', content: 'server = "https://registry-1.docker.io"\n\n[host."https://mirror.example.com"]\n  capabilities = ["pull", "resolve"]\n' }],
  preJoinCommands: ['modprobe ip_vs'],
};

// 1. Render throughput.
const render = createRenderer();
const input = (i: number): RenderInput => ({
  namespace: NS,
  config: `m${i}`,
  cluster: 'c',
  machine: `m${i}`,
  spec: typical,
  files: [{ path: typical.files![0]!.path, permissions: '0644', owner: 0, group: 0, content: typical.files![0]!.content! }],
  endpoint: { host: 'c.tenants.example.com', port: 6443 },
  token: 'abcdef.0123456789abcdef',
  caCertHashes: [`sha256:${'a'.repeat(64)}`],
});
for (let i = 0; i < 200; i++) render(input(i));
const r0 = performance.now();
let bytes = 0;
for (let i = 0; i < RENDERS; i++) bytes += render(input(i)).value.length;
const renderMs = performance.now() - r0;

// 2. N Machines against the real apiservers.
const cp = await startControlPlane({ name: 'bench-kairos', crds: ['config/external/capi', 'config/crd/bases'].map((p) => path.join(REPO, p)) });
const client = new Client(cp.kubeConfig, { fieldManager: 'bench' });
const tenant = await startTenantApiServer(cp, { name: 'bench-tenant', kubeadm: true });
const nodeArgs = process.env['BENCH_MANAGER_NODE_ARGS']?.split(' ').filter(Boolean) ?? [];
const mgr = run([...nodeArgs, 'dist/providers/cli/main.js', 'manager', '--role', 'kairos', '--kubeconfig', cp.kubeconfigPath, '--workers', String(WORKERS), '--metrics-bind-address', '0', '--health-probe-bind-address', '0', '--webhook-port', '0', '--log-level', 'warn']);
exitWhenManagerDies(mgr);
const tc = new Client(tenant.kubeConfig, { fieldManager: 'bench' });
try {
  await client.create(Namespaces, { metadata: { name: NS } });
  await client.create(Clusters, { metadata: { name: 'c', namespace: NS }, spec: { controlPlaneEndpoint: tenant.endpoint } } as KubeObject);
  await publishTenantSecrets(client, { namespace: NS, cluster: 'c', tenant });
  const configs = new Informer<KairosConfig>(client, KairosConfigs, { namespace: NS });
  await configs.start();

  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < COUNT) {
        const name = `m${next++}`;
        const machine = await client.create<KubeObject>(Machines, {
          metadata: { name, namespace: NS, labels: { 'cluster.x-k8s.io/cluster-name': 'c' } },
          spec: { clusterName: 'c', version: 'v1.35.8', bootstrap: { configRef: { apiGroup: 'bootstrap.ironplane.dev', kind: 'KairosConfig', name } }, infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: 'KvmMachine', name } },
        } as KubeObject);
        await client.create(KairosConfigs, {
          metadata: { name, namespace: NS, labels: { 'cluster.x-k8s.io/cluster-name': 'c' }, ownerReferences: [{ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Machine', name, uid: machine.metadata!.uid!, controller: true }] },
          spec: typical,
        } as KubeObject);
      }
    }),
  );
  const created = performance.now();
  await until('every KairosConfig to have its data Secret', () => configs.list((c) => c.status?.initialization?.dataSecretCreated === true).length >= COUNT, 600_000);
  const done = performance.now();
  const rss = peakRssMiB(mgr.child.pid!);
  await configs.stop();
  const tokens = (await tc.list(Secrets, { namespace: 'kube-system', labelSelector: TOKEN_OWNER_LABEL })).items.length;
  console.log(
    JSON.stringify({
      bench: 'kairos-bootstrap',
      renders: RENDERS,
      renderConfigsPerSecond: Math.round(RENDERS / (renderMs / 1000)),
      renderMeanBytes: Math.round(bytes / RENDERS),
      machines: COUNT,
      workers: WORKERS,
      createSeconds: seconds(created - start),
      firstCreateToAllDataSecretsSeconds: seconds(done - start),
      lastCreateToAllDataSecretsSeconds: seconds(done - created),
      tenantTokens: tokens,
      managerPeakRssMiB: rss,
    }),
  );
} finally {
  mgr.child.kill('SIGTERM');
  await mgr.exited;
  tc.close();
  client.close();
  await cp.stop();
}
