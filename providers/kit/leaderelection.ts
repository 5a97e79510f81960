// Leader election on a coordination.k8s.io Lease, with client-go's rules:
// - a candidate takes the lease only when the holder has not renewed it for
//   leaseDuration, measured on OUR clock from the moment we last saw the
//   lease record change (never by comparing the holder's timestamps with our
//   clock, so clock skew between machines cannot cause two leaders);
// - the leader renews every retryPeriod and gives up if it could not renew
//   within renewDeadline;
// - every write carries the resourceVersion read, so racing candidates
//   conflict instead of both winning.
// On loss the manager stops and the process exits, as controller-runtime does.
import { microTime, realClock, sleep, type Clock } from './clock.js';
import { isAlreadyExists, isConflict, isNotFound, type Client } from './client.js';
import type { Logger } from './log.js';
import { Leases, type KubeObject } from './types.js';

export interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElectionConfig {
  client: Pick<Client, 'get' | 'create' | 'replace'>;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock?: Clock;
  log?: Logger;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  onNewLeader?: (identity: string) => void;
}

export class LeaderElector {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  private readonly clock: Clock;
  private observedRecord = '';
  private observedTime = 0;
  private observedHolder = '';
  private leading = false;
  private stopped = new AbortController();

  constructor(private readonly cfg: LeaderElectionConfig) {
    this.leaseDurationMs = cfg.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = cfg.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = cfg.retryPeriodMs ?? 2_000;
    this.clock = cfg.clock ?? realClock;
    if (this.leaseDurationMs <= this.renewDeadlineMs) throw new Error('leader election: lease duration must be greater than the renew deadline');
    if (this.renewDeadlineMs <= this.retryPeriodMs) throw new Error('leader election: renew deadline must be greater than the retry period');
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until elected, then renews until the lease is lost or stop() is
   * called. Resolves when leadership ends (or stop() was called before winning).
   */
  async run(): Promise<void> {
    while (!this.stopped.signal.aborted) {
      if (await this.tryAcquireOrRenew()) break;
      await sleep(this.clock, this.retryPeriodMs, this.stopped.signal);
    }
    if (this.stopped.signal.aborted) return;
    this.leading = true;
    this.cfg.log?.info('became leader', { lease: `${this.cfg.namespace}/${this.cfg.name}`, identity: this.cfg.identity });
    this.cfg.onStartedLeading?.();
    let lastRenew = this.clock.now();
    while (!this.stopped.signal.aborted) {
      await sleep(this.clock, this.retryPeriodMs, this.stopped.signal);
      if (this.stopped.signal.aborted) break;
      if (await this.tryAcquireOrRenew()) {
        lastRenew = this.clock.now();
      } else if (this.clock.now() - lastRenew >= this.renewDeadlineMs || this.observedHolder !== this.cfg.identity) {
        break;
      }
    }
    this.leading = false;
    this.cfg.log?.warn('leadership lost', { lease: `${this.cfg.namespace}/${this.cfg.name}`, identity: this.cfg.identity });
    this.cfg.onStoppedLeading?.();
  }

  /** Stops campaigning; if leading, releases the lease so a successor need not wait. */
  async stop(): Promise<void> {
    const wasLeading = this.leading;
    this.stopped.abort();
    if (wasLeading) await this.release();
  }

  private async release(): Promise<void> {
    try {
      const lease = await this.cfg.client.get<Lease>(Leases, this.cfg.name, this.cfg.namespace);
      if (lease.spec?.holderIdentity !== this.cfg.identity) return;
      await this.cfg.client.replace<Lease>(Leases, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(this.clock.now()) },
      });
    } catch (e) {
      this.cfg.log?.warn('could not release lease', { error: (e as Error).message });
    }
  }

  /** One election step. Returns true if we hold the lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity } = this.cfg;
    const now = this.clock.now();
    const desired = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.round(this.leaseDurationMs / 1000),
      renewTime: microTime(now),
    };
    let lease: Lease | undefined;
    try {
      lease = await client.get<Lease>(Leases, name, namespace);
    } catch (e) {
      if (!isNotFound(e)) {
        this.cfg.log?.warn('cannot read lease', { error: (e as Error).message });
        return false;
      }
    }
    if (!lease) {
      try {
        await client.create<Lease>(Leases, {
          metadata: { name, namespace },
          spec: { ...desired, acquireTime: microTime(now), leaseTransitions: 0 },
        });
        this.observe(identity, 'created', now);
        return true;
      } catch (e) {
        if (!isAlreadyExists(e)) this.cfg.log?.warn('cannot create lease', { error: (e as Error).message });
        return false;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = JSON.stringify([holder, spec.renewTime, spec.leaseDurationSeconds, spec.leaseTransitions]);
    if (record !== this.observedRecord) this.observe(holder, record, now);
    const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    const heldByOther = holder !== '' && holder !== identity;
    if (heldByOther && now < this.observedTime + durationMs) return false;

    const transitions = (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
    try {
      const updated = await client.replace<Lease>(Leases, {
        ...lease,
        spec: {
          ...desired,
          acquireTime: holder === identity && spec.acquireTime ? spec.acquireTime : microTime(now),
          leaseTransitions: transitions,
        },
      });
      const u = updated.spec ?? {};
      this.observe(identity, JSON.stringify([identity, u.renewTime, u.leaseDurationSeconds, u.leaseTransitions]), now);
      return true;
    } catch (e) {
      if (!isConflict(e)) this.cfg.log?.warn('cannot update lease', { error: (e as Error).message });
      return false;
    }
  }

  private observe(holder: string, record: string, now: number): void {
    if (holder !== this.observedHolder && holder !== '') this.cfg.onNewLeader?.(holder);
    this.observedHolder = holder;
    this.observedRecord = record;
    this.observedTime = now;
  }
}
