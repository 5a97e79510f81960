// A controller: informers feed keys into one workqueue; N workers take keys
// and call reconcile(). Reconcile is level-triggered: it is given only a key
// and reads current state from the cache, so a missed or repeated event never
// matters, only the latest state does.
//
// Outcomes of reconcile():
// - returns {requeueAfterMs}: forget the failures, look again after that delay;
// - returns {requeue: true}: retry with rate-limited back-off;
// - returns nothing: done (forget failures);
// - throws: logged, counted as an error, retried with back-off;
// - throws TerminalError: logged and counted, not retried until the next event.
import { realClock, type Clock } from './clock.js';
import { isConflict } from './client.js';
import type { Informer } from './informer.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { keyOf, splitKey, type KubeObject } from './types.js';
import { WorkQueue } from './workqueue.js';
import type { RateLimiter } from './ratelimiter.js';

export interface Request {
  key: string;
  namespace?: string;
  name: string;
}

export interface Result {
  requeue?: boolean;
  requeueAfterMs?: number;
}

/** An error that retrying cannot fix; the key waits for the next change. */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

export type ReconcileFn = (req: Request, log: Logger) => Promise<Result | void>;

export interface ControllerOptions {
  name: string;
  reconcile: ReconcileFn;
  workers?: number;
  log: Logger;
  metrics?: Metrics;
  clock?: Clock;
  rateLimiter?: RateLimiter;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly informers: Informer<KubeObject>[] = [];
  private readonly workers: number;
  private readonly log: Logger;
  private running: Promise<void>[] = [];

  constructor(private readonly opts: ControllerOptions) {
    this.name = opts.name;
    this.workers = opts.workers ?? 1;
    this.log = opts.log.with({ controller: opts.name });
    this.queue = new WorkQueue({
      clock: opts.clock ?? realClock,
      ...(opts.rateLimiter ? { rateLimiter: opts.rateLimiter } : {}),
      ...(opts.metrics ? { metrics: opts.metrics.queueMetrics(opts.name) } : {}),
    });
  }

  /**
   * Enqueues keys for every change of an informer's objects. Without a map
   * function the object's own key is used (the "For" watch); with one, the
   * related keys it returns (e.g. Machine → its InfraMachine).
   */
  watch<T extends KubeObject>(
    informer: Informer<T>,
    map: (obj: T) => string[] = (o) => [keyOf(o)],
    /** Filters updates, e.g. to ignore Node heartbeats when only labels matter. */
    updated: (oldObj: T, newObj: T) => boolean = () => true,
  ): this {
    const enqueue = (o: T) => {
      for (const k of map(o)) this.queue.add(k);
    };
    informer.addHandlers({
      add: enqueue,
      // Relists replay objects unchanged; enqueueing them is harmless because
      // reconcile is idempotent, and it is how a resync heals drift.
      update: (oldObj, newObj) => {
        if (!updated(oldObj, newObj)) return;
        // Keys mapped from the old object matter too: a changed label or
        // owner can move an object from one reconciled key to another.
        enqueue(oldObj);
        enqueue(newObj);
      },
      delete: enqueue,
    });
    this.informers.push(informer as unknown as Informer<KubeObject>);
    return this;
  }

  /** Waits for every watched informer to sync, then starts the workers. */
  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.waitForSync()));
    this.opts.metrics?.maxConcurrent.set({ controller: this.name }, this.workers);
    this.log.info('starting workers', { workers: this.workers });
    for (let i = 0; i < this.workers; i++) this.running.push(this.worker());
  }

  /** Stops taking keys and waits for in-flight reconciles to finish. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.running);
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.process(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async process(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const log = this.log.with({ key });
    const m = this.opts.metrics;
    const labels = { controller: this.name };
    m?.activeWorkers.inc(labels);
    const end = m?.reconcileTime.startTimer(labels);
    try {
      const res = (await this.opts.reconcile({ key, name, ...(namespace ? { namespace } : {}) }, log)) ?? {};
      if (res.requeueAfterMs !== undefined && res.requeueAfterMs > 0) {
        this.queue.forget(key);
        this.queue.addAfter(key, res.requeueAfterMs);
        m?.reconcileTotal.inc({ ...labels, result: 'requeue_after' });
      } else if (res.requeue) {
        this.queue.addRateLimited(key);
        m?.reconcileTotal.inc({ ...labels, result: 'requeue' });
      } else {
        this.queue.forget(key);
        m?.reconcileTotal.inc({ ...labels, result: 'success' });
      }
      log.debug('reconciled', { ...res });
    } catch (e) {
      const err = e as Error;
      m?.reconcileErrors.inc(labels);
      m?.reconcileTotal.inc({ ...labels, result: 'error' });
      if (err instanceof TerminalError) {
        this.queue.forget(key);
        log.error('reconcile failed permanently', { error: err.message });
      } else if (isConflict(err)) {
        // A write based on a version someone (often this controller's own last write) has since
        // replaced: expected with caches, retried with back-off like any error, not an error to a reader.
        this.queue.addRateLimited(key);
        log.info('reconcile wrote over a newer version, will retry', { error: err.message, retries: this.queue.numRequeues(key) });
      } else {
        this.queue.addRateLimited(key);
        log.error('reconcile failed, will retry', { error: err.message, retries: this.queue.numRequeues(key) });
      }
    } finally {
      end?.();
      m?.activeWorkers.dec(labels);
    }
  }
}
