// Two manager processes of the sample controller against one apiserver:
// exactly one reconciles; when it is killed the other takes over; a manager
// that loses its lease stops and exits non-zero.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../harness/index.js';
import { Client } from '../../providers/kit/client.js';
import type { Lease } from '../../providers/kit/leaderelection.js';
import { Leases, Namespaces } from '../../providers/kit/types.js';
import { run, until, type Proc } from './processes.js';
import { Widgets, type Widget } from '../sample/widgets/controller.js';

const CRD = path.resolve(import.meta.dirname, '../fixtures/crds/widgets.test.ironplane.dev.yaml');
// The built sample manager (make test builds before testing).
const MANAGER = 'dist/test/sample/widgets/manager-main.js';
const LEASE = 'widget-manager-leader';

let cp: ControlPlane;
let client: Client;
const procs: Proc[] = [];

beforeAll(async () => {
  cp = await startControlPlane({ name: 'leader', crds: [CRD] });
  client = new Client(cp.kubeConfig, { fieldManager: 'le-test' });
  await client.create(Namespaces, { metadata: { name: 'le' } });
});

afterAll(async () => {
  for (const p of procs) p.child.kill('SIGKILL');
  client?.close();
  await cp?.stop();
});

function manager(identity: string): Proc {
  const p = run([MANAGER, '--kubeconfig', cp.kubeconfigPath, '--identity', identity, '--probe', '127.0.0.1:0']);
  procs.push(p);
  return p;
}

const said = (p: Proc, msg: string, extra: (l: Record<string, unknown>) => boolean = () => true) => p.logs().some((l) => l['msg'] === msg && extra(l));
const reconciledKey = (p: Proc, key: string) => said(p, 'reconciled', (l) => l['key'] === key);

async function reconciled(name: string): Promise<void> {
  await until(`${name} to be reconciled`, async () => (await client.tryGet<Widget>(Widgets, name, 'le'))?.status?.observedSize === 1, 60_000);
}

describe('leader election between two manager processes', () => {
  it('given two managers, should let exactly one reconcile, and the other take over when it is killed', async () => {
    const a = manager('a');
    await until('a to lead', () => said(a, 'became leader'), 60_000);
    const b = manager('b');
    await until('b to wait for leadership', () => said(b, 'waiting for leadership'), 60_000);

    await client.create<Widget>(Widgets, { metadata: { name: 'first', namespace: 'le' }, spec: { size: 1 } });
    await reconciled('first');
    expect(reconciledKey(a, 'le/first')).toBe(true);
    expect(said(b, 'reconciled')).toBe(false);
    expect(said(b, 'became leader')).toBe(false);

    // The probe endpoint of the leader serves metrics with controller-runtime names.
    const addr = a.logs().find((l) => l['msg'] === 'serving probes')?.['address'] as string;
    const metrics = await (await fetch(`http://${addr}/metrics`)).text();
    expect(metrics).toContain('leader_election_master_status{name="widget-manager-leader"} 1');
    expect(metrics).toMatch(/controller_runtime_reconcile_total\{controller="widget",result="success"\} [1-9]/);
    expect((await fetch(`http://${addr}/readyz`)).status).toBe(200);

    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await a.exited;
    await client.create<Widget>(Widgets, { metadata: { name: 'second', namespace: 'le' }, spec: { size: 1 } });
    await until('b to take over', () => said(b, 'became leader'), 60_000);
    const takeoverMs = Date.now() - killedAt;
    await reconciled('second');
    expect(reconciledKey(b, 'le/second')).toBe(true);
    const lease = await client.get<Lease>(Leases, LEASE, 'default');
    expect(lease.spec?.holderIdentity).toBe('b');
    expect(lease.spec?.leaseTransitions).toBe(1);
    // Reported, not asserted: timing belongs to benchmarks.
    console.log(JSON.stringify({ measure: 'leader-takeover-after-kill', ms: takeoverMs }));

    // A manager whose lease is taken from it stops at once and exits non-zero.
    await client.mergePatch(Leases, LEASE, 'default', { spec: { holderIdentity: 'intruder', renewTime: new Date().toISOString().replace('Z', '000Z') } });
    expect(await b.exited).toBe(1);
    expect(said(b, 'leadership lost')).toBe(true);
  });

  it('given SIGTERM, should stop gracefully, release the lease and exit 0', async () => {
    // Free the lease the previous test left held by "intruder".
    if (await client.tryGet(Leases, LEASE, 'default')) await client.mergePatch(Leases, LEASE, 'default', { spec: { holderIdentity: '', leaseDurationSeconds: 1 } });
    const c = manager('c');
    await until('c to lead', () => said(c, 'became leader'), 60_000);
    c.child.kill('SIGTERM');
    const code = await Promise.race([c.exited, new Promise((r) => setTimeout(() => r('timeout'), 20_000))]);
    if (code !== 0) console.log(c.output());
    expect(code).toBe(0);
    expect(said(c, 'stopped')).toBe(true);
    expect((await client.get<Lease>(Leases, LEASE, 'default')).spec?.holderIdentity).toBe('');
  });
});
