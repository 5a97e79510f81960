// KubeVirt provider throughput: 1,000 KvmMachines (with their Machines and
// bootstrap Secrets) against the real apiserver; time from the first create
// until every VirtualMachine exists, and the manager's peak RSS.
// Run: node --import tsx bench/kubevirt-machines.ts [count] [workers]
// Prints one JSON line: {"bench":"kubevirt-machines",...}
import path from 'node:path';
import { startControlPlane } from '../test/harness/index.js';
import { exitWhenManagerDies, peakRssMiB, seconds } from './lib.js';
import { Client } from '../providers/kit/client.js';
import { Informer } from '../providers/kit/informer.js';
import { Namespaces, Secrets, type KubeObject } from '../providers/kit/types.js';
import { Clusters, Machines } from '../providers/capi/contract.js';
import { KvmClusters, KvmMachines, VirtualMachines } from '../providers/kubevirt/resources.js';
import { REPO, run, until } from '../test/integration/processes.js';

const COUNT = Number(process.argv[2] ?? 1000);
const WORKERS = Number(process.argv[3] ?? 16);
const CONCURRENCY = 16;
const NS = 'bench';

const cp = await startControlPlane({
  name: 'bench-kvm',
  crds: ['config/external/capi', 'config/external/kubevirt', 'config/external/kube-ovn', 'config/crd/bases'].map((p) => path.join(REPO, p)),
});
const client = new Client(cp.kubeConfig, { fieldManager: 'bench' });
const nodeArgs = process.env['BENCH_MANAGER_NODE_ARGS']?.split(' ').filter(Boolean) ?? [];
const mgr = run([...nodeArgs, 'dist/providers/cli/main.js', 'manager', '--role', 'kubevirt', '--kubeconfig', cp.kubeconfigPath, '--workers', String(WORKERS), '--metrics-bind-address', '0', '--health-probe-bind-address', '0', '--webhook-port', '0', '--log-level', 'warn']);
exitWhenManagerDies(mgr);
try {
  await client.create(Namespaces, { metadata: { name: NS } });
  const cluster = await client.create<KubeObject>(Clusters, { metadata: { name: 'c', namespace: NS }, spec: { infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: 'KvmCluster', name: 'c' } } } as KubeObject);
  await client.create(KvmClusters, {
    metadata: { name: 'c', namespace: NS, ownerReferences: [{ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', name: 'c', uid: cluster.metadata!.uid! }] },
    spec: { network: { nodeCIDR: '10.0.0.0/16' } },
  } as KubeObject);
  const vms = new Informer<KubeObject>(client, VirtualMachines, { namespace: NS });
  await vms.start();

  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < COUNT) {
        const name = `m${next++}`;
        await client.create(Secrets, { metadata: { name: `${name}-bootstrap`, namespace: NS }, type: 'cluster.x-k8s.io/secret', data: { value: Buffer.from('#cloud-config\n').toString('base64') } } as KubeObject);
        const machine = await client.create<KubeObject>(Machines, {
          metadata: { name, namespace: NS, labels: { 'cluster.x-k8s.io/cluster-name': 'c' } },
          spec: { clusterName: 'c', bootstrap: { dataSecretName: `${name}-bootstrap` }, infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: 'KvmMachine', name } },
        } as KubeObject);
        await client.create(KvmMachines, {
          metadata: { name, namespace: NS, labels: { 'cluster.x-k8s.io/cluster-name': 'c' }, ownerReferences: [{ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Machine', name, uid: machine.metadata!.uid!, controller: true }] },
          spec: { image: { containerDisk: { image: 'quay.io/kairos/ubuntu:24.04' } } },
        } as KubeObject);
      }
    }),
  );
  const created = performance.now();
  await until('every VirtualMachine to exist', () => vms.list().length >= COUNT, 600_000);
  const done = performance.now();
  const rss = peakRssMiB(mgr.child.pid!);
  await vms.stop();
  console.log(
    JSON.stringify({
      bench: 'kubevirt-machines',
      kvmMachines: COUNT,
      workers: WORKERS,
      createSeconds: seconds(created - start),
      firstCreateToAllVMsSeconds: seconds(done - start),
      lastCreateToAllVMsSeconds: seconds(done - created),
      managerPeakRssMiB: rss,
      targets: { seconds: 60, rssMiB: 200 },
    }),
  );
} finally {
  mgr.child.kill('SIGTERM');
  await mgr.exited;
  client.close();
  await cp.stop();
}
