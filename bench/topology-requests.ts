// How long one hostile hook request holds the extension's only thread:
// requests with a 40,000-entry variable (the Kairos image list, a host-pool
// list, a Cluster's topology variable) and a variable nested 5,000 levels
// deep, each sent over HTTP to the extension's request handler in this
// process, timed from the first byte sent to the last byte of the answer.
// Before requests were validated whole (issue #13) the handlers walked such
// variables: 0.2 to 0.5 s per request on two loaded cores. Now the schema
// refuses them by size or depth before a handler runs.
//
// Run: node --import tsx bench/topology-requests.ts [rounds]
// Needs nothing built. Prints one JSON line: {"bench":"topology-requests",...}
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../providers/kit/log.js';
import { hookPath } from '../providers/topology/api.js';
import { ExtensionMetrics } from '../providers/topology/metrics.js';
import { extensionHandler } from '../providers/topology/server.js';
import { fixture, NO_RESERVED } from '../providers/topology/testdata/fixtures.js';
import { memoryState } from '../providers/topology/testdata/state.js';

const ROUNDS = Number(process.argv[2] ?? 9);
const ENTRIES = 40_000;
const DEPTH = 5_000;

interface Case {
  name: string;
  path: string;
  body: string;
}

type Body = Record<string, unknown> & { variables: { name: string; value: unknown }[]; items: Record<string, unknown>[] };
type ClusterBody = Record<string, unknown> & { cluster: { spec: { topology: { variables: { name: string; value: unknown }[] } } } };

const images = Array.from({ length: ENTRIES }, (_, i) => `quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.${i}`);

function withVariable(kind: 'GeneratePatchesRequest' | 'ValidateTopologyRequest', name: string, value: unknown, base = 'generatepatches-kvm'): string {
  const r = fixture<Body>(base);
  r['kind'] = kind;
  if (kind === 'ValidateTopologyRequest') for (const it of r.items) delete it['uid'];
  r.variables = [...r.variables.filter((v) => v.name !== name), { name, value }];
  return JSON.stringify(r);
}

const cases: Case[] = [
  { name: 'generatepatches-40k-images', path: hookPath('GeneratePatches', 'generate-patches'), body: withVariable('GeneratePatchesRequest', 'kairosImages', images) },
  { name: 'validatetopology-40k-images', path: hookPath('ValidateTopology', 'validate-topology'), body: withVariable('ValidateTopologyRequest', 'kairosImages', images) },
  {
    name: 'validatetopology-40k-hostpools',
    path: hookPath('ValidateTopology', 'validate-topology'),
    body: withVariable('ValidateTopologyRequest', 'metal', { hostPools: Array.from({ length: ENTRIES }, (_, i) => `pool-${i}`) }, 'generatepatches-metal'),
  },
  {
    name: 'beforeclustercreate-40k-variable',
    path: hookPath('BeforeClusterCreate', 'before-cluster-create'),
    body: (() => {
      const r = fixture<ClusterBody>('beforeclustercreate');
      r.cluster.spec.topology.variables.push({ name: 'kairosImages', value: images });
      return JSON.stringify(r);
    })(),
  },
  {
    name: 'generatepatches-5000-deep',
    path: hookPath('GeneratePatches', 'generate-patches'),
    body: withVariable('GeneratePatchesRequest', 'deep', '__deep__').replace('"__deep__"', `${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`),
  },
];

const server = http.createServer(extensionHandler({ base: NO_RESERVED, state: memoryState(), log: createLogger({ level: 'error' }), metrics: new ExtensionMetrics({ processMetrics: false }) }));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function post(path: string, body: string): Promise<{ ms: number; status: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'Content-Type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ ms: performance.now() - t0, status: String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { status?: string }).status) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const results: Record<string, { bytes: number; status: string; medianMs: number; maxMs: number }> = {};
for (const c of cases) {
  await post(c.path, c.body); // warm-up
  const times: number[] = [];
  let status = '';
  for (let i = 0; i < ROUNDS; i++) {
    const r = await post(c.path, c.body);
    times.push(r.ms);
    status = r.status;
  }
  times.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  results[c.name] = { bytes: Buffer.byteLength(c.body), status, medianMs: round(times[Math.floor(times.length / 2)]!), maxMs: round(times[times.length - 1]!) };
}
agent.destroy();
server.close();
console.log(JSON.stringify({ bench: 'topology-requests', rounds: ROUNDS, ...results }));
