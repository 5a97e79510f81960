// Metal3 provider throughput: N BareMetalHosts registered by the real
// baremetal-operator, then N MetalMachines (with Machines and bootstrap
// Secrets) claiming them against the real apiserver; time from the first
// create until every machine has claimed a host and until every host is
// provisioned, and the manager's peak RSS.
// Run: node --import tsx bench/metal3-machines.ts [count] [workers] [fixture|demo]
// Prints one JSON line: {"bench":"metal3-machines",...}
import type { MetalMachine } from '../providers/api/generated/ironplane/v1alpha1/metalmachine.js';
import { Informer } from '../providers/kit/informer.js';
import { MetalMachines } from '../providers/metal3/resources.js';
import { createCluster, createHost, createMachine, startWorld, waitHostsAvailable, type Provisioner } from '../test/integration/metal3/world.js';
import { freePorts } from '../test/harness/index.js';
import { until } from '../test/integration/processes.js';
import { exitWhenManagerDies, peakRssMiB, seconds } from './lib.js';

const COUNT = Number(process.argv[2] ?? 200);
const WORKERS = Number(process.argv[3] ?? 16);
const PROVISIONER = (process.argv[4] ?? 'fixture') as Provisioner;
const CONCURRENCY = 16;
const NS = 'bench';

const w = await startWorld('bench-metal3', { provisioner: PROVISIONER, bmoConcurrency: 16 });
try {
  const hosts = Array.from({ length: COUNT }, (_, i) => `h${i}`);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < COUNT) {
        const i = next++;
        await createHost(w, NS, hosts[i]!, { pool: 'bench' }, i);
      }
    }),
  );
  await waitHostsAvailable(w, NS, hosts, 900_000);
  const hostsReady = performance.now();
  await createCluster(w, NS, 'c');
  const [metricsPort] = (await freePorts(1)) as [number];
  const mgr = w.startManager(['--workers', String(WORKERS), '--log-level', 'warn', '--metrics-bind-address', `127.0.0.1:${metricsPort}`]);
  exitWhenManagerDies(mgr);
  const machines = new Informer<MetalMachine>(w.client, MetalMachines, { namespace: NS });
  await machines.start();

  const start = performance.now();
  next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < COUNT) {
        const name = `m${next++}`;
        await createMachine(w, NS, 'c', name, { spec: { hostSelector: { matchLabels: { pool: 'bench' } } } });
      }
    }),
  );
  const created = performance.now();
  await until('every MetalMachine to claim a host', () => machines.list((m) => Boolean(m.status?.host)).length >= COUNT, 900_000);
  const claimed = performance.now();
  await until('every MetalMachine to be provisioned', () => machines.list((m) => Boolean(m.status?.initialization?.provisioned)).length >= COUNT, 900_000);
  const done = performance.now();
  const distinct = new Set(machines.list().map((m) => `${m.status?.host?.namespace}/${m.status?.host?.name}`)).size;
  const rss = peakRssMiB(mgr.child.pid!);
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const attempts = (result: string) => Number(new RegExp(`^ironplane_metal3_host_claim_attempts_total\\{result="${result}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
  await machines.stop();
  console.log(
    JSON.stringify({
      bench: 'metal3-machines',
      hosts: COUNT,
      metalMachines: COUNT,
      distinctHostsClaimed: distinct,
      workers: WORKERS,
      bmoProvisioner: PROVISIONER,
      hostsRegisteredToAvailableSeconds: seconds(hostsReady - t0),
      createSeconds: seconds(created - start),
      firstCreateToAllClaimedSeconds: seconds(claimed - start),
      firstCreateToAllProvisionedSeconds: seconds(done - start),
      claimConflicts: attempts('conflict'),
      managerPeakRssMiB: rss,
    }),
  );
} finally {
  await w.stop();
}
