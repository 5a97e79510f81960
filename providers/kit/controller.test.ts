import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { Controller, TerminalError, type Result } from './controller.js';
import { ApiError } from './client.js';
import { silentLogger, type Fields, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { ExponentialRateLimiter } from './ratelimiter.js';

/** Lets queued promise callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

/** A logger that keeps what it is told, by level. */
function recordingLogger(lines: { level: string; msg: string; fields?: Fields }[]): Logger {
  const at = (level: string) => (msg: string, fields?: Fields) => void lines.push({ level, msg, ...(fields ? { fields } : {}) });
  const l: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), with: () => l };
  return l;
}

function controller(reconcile: (key: string) => Promise<Result | void>, log: Logger = silentLogger) {
  const clock = new FakeClock();
  const metrics = new Metrics({ processMetrics: false });
  const calls: string[] = [];
  const c = new Controller({
    name: 'test',
    log,
    clock,
    metrics,
    rateLimiter: new ExponentialRateLimiter(5, 1000),
    reconcile: async (req) => {
      calls.push(req.key);
      return reconcile(req.key);
    },
  });
  return { c, clock, metrics, calls };
}

async function metric(m: Metrics, name: string): Promise<string[]> {
  return (await m.registry.metrics()).split('\n').filter((l) => l.startsWith(name));
}

describe('Controller', () => {
  it('given a request key, should pass namespace and name split from it', async () => {
    let seen: unknown;
    const c = new Controller({ name: 't', log: silentLogger, reconcile: async (req) => void (seen = req) });
    await c.start();
    c.queue.add('ns/a');
    await settle();
    await c.stop();
    expect(seen).toEqual({ key: 'ns/a', namespace: 'ns', name: 'a' });
  });

  it('given {requeueAfterMs}, should look again after that delay and not before', async () => {
    const { c, clock, calls } = controller(async () => ({ requeueAfterMs: 30_000 }));
    await c.start();
    c.queue.add('a');
    await settle();
    expect(calls).toEqual(['a']);
    clock.advance(29_999);
    await settle();
    expect(calls).toEqual(['a']);
    clock.advance(1);
    await settle();
    expect(calls).toEqual(['a', 'a']);
    await c.stop();
  });

  it('given an error, should retry with growing back-off and count the errors', async () => {
    let fail = true;
    const { c, clock, calls, metrics } = controller(async () => {
      if (fail) throw new Error('boom');
    });
    await c.start();
    c.queue.add('a');
    await settle();
    clock.advance(5);
    await settle();
    clock.advance(10);
    await settle();
    expect(calls).toEqual(['a', 'a', 'a']);
    expect(c.queue.numRequeues('a')).toBe(3);
    fail = false;
    clock.advance(20);
    await settle();
    expect(calls).toHaveLength(4);
    // success forgets the failures
    expect(c.queue.numRequeues('a')).toBe(0);
    expect(await metric(metrics, 'controller_runtime_reconcile_errors_total')).toEqual(['controller_runtime_reconcile_errors_total{controller="test"} 3']);
    expect(await metric(metrics, 'controller_runtime_reconcile_total{controller="test",result="success"}')).toEqual([
      'controller_runtime_reconcile_total{controller="test",result="success"} 1',
    ]);
    await c.stop();
  });

  it('given a conflict (a write over a newer version), should retry with back-off, count it, and log it below error', async () => {
    const lines: { level: string; msg: string }[] = [];
    let conflict = true;
    const { c, clock, calls, metrics } = controller(async () => {
      if (conflict) throw new ApiError(409, 'Conflict', 'Operation cannot be fulfilled on loadbalancerpools "a": the object has been modified; please apply your changes to the latest version and try again');
    }, recordingLogger(lines));
    await c.start();
    c.queue.add('a');
    await settle();
    expect(c.queue.numRequeues('a')).toBe(1);
    conflict = false;
    clock.advance(5);
    await settle();
    expect(calls).toEqual(['a', 'a']);
    expect(await metric(metrics, 'controller_runtime_reconcile_errors_total')).toEqual(['controller_runtime_reconcile_errors_total{controller="test"} 1']);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(lines.filter((l) => l.level === 'info').map((l) => l.msg)).toContain('reconcile wrote over a newer version, will retry');
    await c.stop();
  });

  it('given another error, should log it as an error', async () => {
    const lines: { level: string; msg: string }[] = [];
    const { c } = controller(async () => {
      throw new ApiError(500, 'InternalError', 'etcd timed out');
    }, recordingLogger(lines));
    await c.start();
    c.queue.add('a');
    await settle();
    expect(lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['reconcile failed, will retry']);
    await c.stop();
  });

  it('given a TerminalError, should not retry until the key is added again', async () => {
    const { c, clock, calls } = controller(async () => {
      throw new TerminalError('spec is invalid');
    });
    await c.start();
    c.queue.add('a');
    await settle();
    clock.advance(60_000);
    await settle();
    expect(calls).toEqual(['a']);
    c.queue.add('a');
    await settle();
    expect(calls).toEqual(['a', 'a']);
    await c.stop();
  });

  it('given {requeue: true}, should retry with back-off without counting an error', async () => {
    let n = 0;
    const { c, clock, calls, metrics } = controller(async () => (n++ === 0 ? { requeue: true } : undefined));
    await c.start();
    c.queue.add('a');
    await settle();
    clock.advance(5);
    await settle();
    expect(calls).toEqual(['a', 'a']);
    expect(await metric(metrics, 'controller_runtime_reconcile_errors_total')).toEqual([]);
    await c.stop();
  });

  it('given stop() during a reconcile, should wait for it to finish', async () => {
    let release!: () => void;
    let finished = false;
    const { c } = controller(
      () =>
        new Promise<void>((r) => {
          release = () => {
            finished = true;
            r();
          };
        }),
    );
    await c.start();
    c.queue.add('a');
    await settle();
    const stopped = c.stop();
    await settle();
    expect(finished).toBe(false);
    release();
    await stopped;
    expect(finished).toBe(true);
  });
});
