import { describe, expect, it } from 'vitest';
import { ApiError, type Client } from './client.js';
import { FakeClock } from './clock.js';
import { LeaderElector, type Lease } from './leaderelection.js';
import type { KubeObject, ResourceType } from './types.js';

/**
 * An in-memory Lease store with the apiserver's optimistic concurrency:
 * a replace whose resourceVersion is stale fails with 409 Conflict.
 */
class LeaseStore {
  lease?: Lease;
  rv = 0;
  failing = false;
  client(): Pick<Client, 'get' | 'create' | 'replace'> {
    const check = () => {
      if (this.failing) throw new Error('connection refused');
    };
    return {
      get: async <T extends KubeObject>(_rt: ResourceType, _name: string) => {
        check();
        if (!this.lease) throw new ApiError(404, 'NotFound', 'not found');
        return structuredClone(this.lease) as T;
      },
      create: async <T extends KubeObject>(_rt: ResourceType, obj: T) => {
        check();
        if (this.lease) throw new ApiError(409, 'AlreadyExists', 'exists');
        this.lease = { ...structuredClone(obj), metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } } as Lease;
        return structuredClone(this.lease) as T;
      },
      replace: async <T extends KubeObject>(_rt: ResourceType, obj: T) => {
        check();
        if (obj.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) throw new ApiError(409, 'Conflict', 'conflict');
        this.lease = { ...structuredClone(obj), metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } } as Lease;
        return structuredClone(this.lease) as T;
      },
    };
  }
}

function elector(store: LeaseStore, clock: FakeClock, identity: string) {
  return new LeaderElector({ client: store.client(), namespace: 'ns', name: 'lock', identity, clock });
}

describe('LeaderElector.tryAcquireOrRenew', () => {
  it('given no lease, should create it and lead', async () => {
    const store = new LeaseStore();
    const a = elector(store, new FakeClock(1000), 'a');
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(store.lease?.spec?.holderIdentity).toBe('a');
    expect(store.lease?.spec?.leaseDurationSeconds).toBe(15);
  });

  it('given a lease renewed by another, should not take it before 15 s of observed silence', async () => {
    const store = new LeaseStore();
    const clock = new FakeClock(0);
    const a = elector(store, clock, 'a');
    const b = elector(store, clock, 'b');
    await a.tryAcquireOrRenew();
    expect(await b.tryAcquireOrRenew()).toBe(false); // b first observes the record at t=0
    clock.advance(14_999);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    clock.advance(1);
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(store.lease?.spec?.holderIdentity).toBe('b');
    expect(store.lease?.spec?.leaseTransitions).toBe(1);
  });

  it('given the holder keeps renewing, should measure expiry from the last observed change', async () => {
    const store = new LeaseStore();
    const clock = new FakeClock(0);
    const a = elector(store, clock, 'a');
    const b = elector(store, clock, 'b');
    await a.tryAcquireOrRenew();
    await b.tryAcquireOrRenew();
    clock.advance(10_000);
    await a.tryAcquireOrRenew(); // renewal changes the record
    clock.advance(6_000);
    expect(await b.tryAcquireOrRenew()).toBe(false); // 16 s since start but only 6 s since the change
    clock.advance(15_000);
    expect(await b.tryAcquireOrRenew()).toBe(true);
  });

  it('given a holder clock far in the future, should still wait a full lease duration (skew-proof)', async () => {
    const store = new LeaseStore();
    const skewed = elector(store, new FakeClock(10 ** 12), 'a');
    await skewed.tryAcquireOrRenew();
    const clock = new FakeClock(0);
    const b = elector(store, clock, 'b');
    expect(await b.tryAcquireOrRenew()).toBe(false);
    clock.advance(15_000);
    expect(await b.tryAcquireOrRenew()).toBe(true);
  });

  it('given two candidates racing on the same record, should let exactly one win', async () => {
    const store = new LeaseStore();
    const clock = new FakeClock(0);
    const results = await Promise.all([elector(store, clock, 'a').tryAcquireOrRenew(), elector(store, clock, 'b').tryAcquireOrRenew()]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('should refuse timings that cannot work', () => {
    expect(() => new LeaderElector({ client: new LeaseStore().client(), namespace: 'n', name: 'l', identity: 'a', leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(
      'lease duration must be greater than the renew deadline',
    );
  });
});

describe('LeaderElector.run', () => {
  it('given renewals fail past the renew deadline, should stop leading', async () => {
    const store = new LeaseStore();
    const clock = new FakeClock(0);
    let started = 0;
    let stopped = 0;
    const a = new LeaderElector({
      client: store.client(),
      namespace: 'ns',
      name: 'lock',
      identity: 'a',
      clock,
      onStartedLeading: () => started++,
      onStoppedLeading: () => stopped++,
    });
    const done = a.run();
    const flush = async () => {
      for (let i = 0; i < 20; i++) await Promise.resolve();
    };
    await flush();
    expect(started).toBe(1);
    expect(a.isLeader()).toBe(true);
    store.failing = true;
    for (let t = 0; t < 8 && stopped === 0; t++) {
      clock.advance(2_000);
      await flush();
    }
    await done;
    expect(stopped).toBe(1);
    // lost after the 10 s renew deadline, not before
    expect(clock.now()).toBeGreaterThanOrEqual(10_000);
    expect(clock.now()).toBeLessThanOrEqual(12_000);
    expect(a.isLeader()).toBe(false);
  });

  it('given stop() while leading, should release the lease for an immediate successor', async () => {
    const store = new LeaseStore();
    const clock = new FakeClock(0);
    const a = elector(store, clock, 'a');
    const done = a.run();
    for (let i = 0; i < 20; i++) await Promise.resolve();
    expect(a.isLeader()).toBe(true);
    await a.stop();
    await done;
    expect(store.lease?.spec?.holderIdentity).toBe('');
    expect(await elector(store, clock, 'b').tryAcquireOrRenew()).toBe(true);
  });
});
