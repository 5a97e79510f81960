// Kit throughput against the real apiserver: a manager process runs the
// sample Widget controller (finalizer, owned ConfigMap, status, conditions);
// this process creates N Widgets and measures the time from the last create
// until every Widget is reconciled, plus the manager's peak RSS (VmHWM).
// Run: node --import tsx bench/kit-throughput.ts [count] [workers]
// Prints one JSON line: {"bench":"kit-throughput",...}
import path from 'node:path';
import { startControlPlane } from '../test/harness/index.js';
import { exitWhenManagerDies, peakRssMiB, seconds } from './lib.js';
import { Client } from '../providers/kit/client.js';
import { Informer } from '../providers/kit/informer.js';
import { Namespaces } from '../providers/kit/types.js';
import { run, until } from '../test/integration/processes.js';
import { Widgets, type Widget } from '../test/sample/widgets/controller.js';

const COUNT = Number(process.argv[2] ?? 5000);
const WORKERS = Number(process.argv[3] ?? 4);
const CREATE_CONCURRENCY = 16;
const CRD = path.resolve(import.meta.dirname, '../test/fixtures/crds/widgets.test.ironplane.dev.yaml');

function gauge(text: string, name: string): number {
  const v = Number(new RegExp(`^${name} ([0-9.e+]+)`, 'm').exec(text)?.[1] ?? NaN);
  return Math.round((v / 1048576) * 10) / 10;
}

const cp = await startControlPlane({ name: 'bench-kit', crds: [CRD] });
const client = new Client(cp.kubeConfig, { fieldManager: 'bench' });
// The compiled manager: what runs in production is JavaScript, not tsx.
const mgr = run([...(process.env['BENCH_MANAGER_NODE_ARGS']?.split(' ').filter(Boolean) ?? []), 'dist/test/sample/widgets/manager-main.js', '--kubeconfig', cp.kubeconfigPath, '--leader-elect', 'false', '--workers', String(WORKERS), '--log-level', 'info', '--probe', '127.0.0.1:0']);
exitWhenManagerDies(mgr);
const probeAddress = () => mgr.logs().find((l) => l['msg'] === 'serving probes')?.['address'] as string;
try {
  await client.create(Namespaces, { metadata: { name: 'bench' } });
  const done = new Set<string>();
  const watcher = new Informer<Widget>(client, Widgets, { namespace: 'bench' });
  const check = (w: Widget) => {
    if (w.status?.observedSize === w.spec?.size) done.add(w.metadata!.name!);
  };
  watcher.addHandlers({ add: check, update: (_o, n) => check(n) });
  await watcher.start();
  await until('the manager to start its controllers', () => mgr.logs().some((l) => l['msg'] === 'controllers started'), 30_000);

  const createStart = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CREATE_CONCURRENCY }, async () => {
      while (next < COUNT) {
        const i = next++;
        await client.create<Widget>(Widgets, { metadata: { name: `w-${i}`, namespace: 'bench' }, spec: { size: i % 7 } });
      }
    }),
  );
  const lastCreate = performance.now();
  await until('every Widget to be reconciled', () => done.size >= COUNT, 600_000);
  const allDone = performance.now();
  const rss = peakRssMiB(mgr.child.pid!);
  const metrics = await (await fetch(`http://${probeAddress()}/metrics`)).text();
  const requests: Record<string, number> = {};
  for (const m of metrics.matchAll(/^rest_client_requests_total\{method="([^"]+)",code="([^"]+)"\} (\d+)/gm)) requests[`${m[1]} ${m[2]}`] = Number(m[3]);
  await watcher.stop();
  console.log(
    JSON.stringify({
      bench: 'kit-throughput',
      widgets: COUNT,
      workers: WORKERS,
      createSeconds: seconds(lastCreate - createStart),
      lastCreateToAllReconciledSeconds: seconds(allDone - lastCreate),
      firstCreateToAllReconciledSeconds: seconds(allDone - createStart),
      managerPeakRssMiB: rss,
      managerRequests: requests,
      managerHeapUsedMiB: gauge(metrics, 'nodejs_heap_size_used_bytes'),
      managerHeapTotalMiB: gauge(metrics, 'nodejs_heap_size_total_bytes'),
      managerExternalMiB: gauge(metrics, 'nodejs_external_memory_bytes'),
      targets: { seconds: 30, rssMiB: 150 },
    }),
  );
} finally {
  mgr.child.kill('SIGTERM');
  await mgr.exited;
  client.close();
  await cp.stop();
}
