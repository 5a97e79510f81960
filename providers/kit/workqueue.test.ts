import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { BucketRateLimiter, ExponentialRateLimiter, MaxOfRateLimiter } from './ratelimiter.js';
import { WorkQueue } from './workqueue.js';

function queue(clock = new FakeClock()) {
  return { clock, q: new WorkQueue({ clock, rateLimiter: new ExponentialRateLimiter(5, 1_000_000) }) };
}

describe('WorkQueue', () => {
  it('given the same key added three times, should hand it out once', async () => {
    const { q } = queue();
    q.add('a');
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('given a key being processed, should not hand it to a second worker until done', async () => {
    const { q } = queue();
    q.add('a');
    const first = await q.get();
    q.add('a'); // dirty while processing
    expect(q.len()).toBe(0);
    let second: string | undefined;
    const p = q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done(first!);
    await p;
    expect(second).toBe('a');
  });

  it('given a key added while processing, should queue it exactly once after done', async () => {
    const { q } = queue();
    q.add('a');
    const k = await q.get();
    q.add('a');
    q.add('a');
    q.done(k!);
    expect(q.len()).toBe(1);
    await q.get();
    q.done('a');
    expect(q.len()).toBe(0);
  });

  it('given a key not added while processing, should not requeue it on done', async () => {
    const { q } = queue();
    q.add('a');
    q.done((await q.get())!);
    expect(q.len()).toBe(0);
  });

  it('given addAfter twice, should keep the earliest time', () => {
    const { q, clock } = queue();
    q.addAfter('a', 1000);
    q.addAfter('a', 100);
    q.addAfter('a', 5000);
    clock.advance(99);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);
    clock.advance(10_000);
    expect(q.len()).toBe(1);
  });

  it('given addAfter with zero delay, should add immediately', () => {
    const { q } = queue();
    q.addAfter('a', 0);
    expect(q.len()).toBe(1);
  });

  it('given repeated failures, should back off exponentially and reset on forget', async () => {
    const { q, clock } = queue();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const start = clock.now();
      q.addRateLimited('a');
      while (q.len() === 0) clock.advance(1);
      delays.push(clock.now() - start);
      q.done((await q.get())!);
    }
    expect(delays).toEqual([5, 10, 20, 40]);
    expect(q.numRequeues('a')).toBe(4);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
  });

  it('given shutDown, should release waiting getters with undefined and refuse new keys', async () => {
    const { q } = queue();
    const p = q.get();
    q.shutDown();
    expect(await p).toBeUndefined();
    q.add('a');
    expect(q.len()).toBe(0);
    expect(await q.get()).toBeUndefined();
  });

  it('given shutDown, should cancel delayed keys', () => {
    const { q, clock } = queue();
    q.addAfter('a', 10);
    q.shutDown();
    clock.advance(100);
    expect(q.len()).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it('given concurrent workers, should never run one key twice at once', async () => {
    const q = new WorkQueue();
    let running = 0;
    let maxConcurrentSameKey = 0;
    const active = new Map<string, number>();
    let processed = 0;
    const worker = async () => {
      for (;;) {
        const key = await q.get();
        if (key === undefined) return;
        running++;
        active.set(key, (active.get(key) ?? 0) + 1);
        maxConcurrentSameKey = Math.max(maxConcurrentSameKey, active.get(key)!);
        await new Promise((r) => setTimeout(r, 1));
        // re-adding while processing must defer, not duplicate
        if (processed < 200) q.add(key);
        processed++;
        active.set(key, active.get(key)! - 1);
        running--;
        q.done(key);
      }
    };
    for (const k of ['a', 'b', 'c']) q.add(k);
    const workers = Array.from({ length: 4 }, worker);
    while (processed < 200) await new Promise((r) => setTimeout(r, 5));
    q.shutDown();
    await Promise.all(workers);
    expect(maxConcurrentSameKey).toBe(1);
    expect(running).toBe(0);
  });
});

describe('rate limiters', () => {
  it('should cap exponential back-off at the maximum', () => {
    const l = new ExponentialRateLimiter(5, 1_000_000);
    let last = 0;
    for (let i = 0; i < 40; i++) last = l.when('k');
    expect(last).toBe(1_000_000);
    // 5 ms * 2^17 = 655 s is the last step below the cap
    const l2 = new ExponentialRateLimiter(5, 1_000_000);
    const seq = Array.from({ length: 19 }, () => l2.when('k'));
    expect(seq[17]).toBe(655_360);
    expect(seq[18]).toBe(1_000_000);
  });

  it('should track keys independently', () => {
    const l = new ExponentialRateLimiter(5, 1000);
    l.when('a');
    l.when('a');
    expect(l.when('b')).toBe(5);
    expect(l.when('a')).toBe(20);
  });

  it('given a burst exhausted, the bucket should delay by its qps', () => {
    const clock = new FakeClock();
    const b = new BucketRateLimiter(clock, 10, 2);
    expect(b.when()).toBe(0);
    expect(b.when()).toBe(0);
    expect(b.when()).toBe(100);
    expect(b.when()).toBe(200);
    clock.advance(1000);
    expect(b.when()).toBe(0);
  });

  it('MaxOf should take the longest delay', () => {
    const clock = new FakeClock();
    const m = new MaxOfRateLimiter(new ExponentialRateLimiter(5, 1000), new BucketRateLimiter(clock, 10, 1));
    expect(m.when('a')).toBe(5);
    expect(m.when('a')).toBe(100);
    expect(m.retries('a')).toBe(2);
  });
});
