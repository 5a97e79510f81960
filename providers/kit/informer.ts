// An informer: lists a resource, then watches it from the list's
// resourceVersion, keeping a local cache and calling synchronous handlers.
//
// Recovery rules:
// - a watch that ends (server timeout, apiserver restart, network error) is
//   resumed from the last resourceVersion seen, after a back-off if it failed;
// - 410 Gone (the resourceVersion was compacted away) triggers a full relist,
//   which synthesises add/update/delete events against the cache;
// - a watch that has gone silent longer than the watchdog allows is aborted
//   and resumed: watches are known to stall without closing.
// resourceVersions are opaque strings; they are only passed back, never compared.
import { Watch } from '@kubernetes/client-node';
import { realClock, sleep, type Clock, type Timer } from './clock.js';
import { isGone, type Client } from './client.js';
import type { Logger } from './log.js';
import { keyOf, type KubeObject, type ResourceType } from './types.js';

export interface EventHandlers<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions<T extends KubeObject = KubeObject> {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  clock?: Clock;
  log?: Logger;
  /** Restart a watch after this long without any event or bookmark. */
  watchdogMs?: number;
  /** Server-side watch timeout; the watch is resumed when it ends. */
  watchTimeoutSeconds?: number;
  /** Back-off after a failed list or watch: doubles from min to max. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /**
   * Trims what the cache keeps of each object, e.g. metadata only for kinds
   * a controller only needs to know exist (controller-runtime's cache
   * transform / metadata-only watch). Handlers and the cache see the result.
   */
  transform?: (obj: T) => T;
}

export class Informer<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers: EventHandlers<T>[] = [];
  private readonly clock: Clock;
  private readonly abort = new AbortController();
  private resourceVersion = '';
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private currentWatch?: AbortController;
  private loop?: Promise<void>;
  /** Counters for tests and metrics. */
  readonly stats = { lists: 0, watches: 0, watchdogRestarts: 0, gone: 0, errors: 0 };

  constructor(
    private readonly client: Client,
    readonly resource: ResourceType,
    private readonly opts: InformerOptions<T> = {},
  ) {
    this.clock = opts.clock ?? realClock;
  }

  addHandlers(h: EventHandlers<T>): void {
    this.handlers.push(h);
    // Late handlers see the current state, as with client-go.
    for (const obj of this.store.values()) h.add?.(obj);
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(filter?: (o: T) => boolean): T[] {
    const all = [...this.store.values()];
    return filter ? all.filter(filter) : all;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Starts the list/watch loop; resolves after the first successful list. */
  start(): Promise<void> {
    if (!this.loop) this.loop = this.run();
    return this.waitForSync();
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.currentWatch?.abort();
    await this.loop;
  }

  private get what(): string {
    const r = this.resource;
    return `${r.plural}${r.group ? '.' + r.group : ''}`;
  }

  private async run(): Promise<void> {
    const min = this.opts.retryMinMs ?? 200;
    const max = this.opts.retryMaxMs ?? 30_000;
    let backoff = min;
    let needList = true;
    while (!this.abort.signal.aborted) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        const outcome = await this.watchOnce();
        if (outcome === 'gone') {
          this.stats.gone++;
          this.opts.log?.info('watch expired, relisting', { resource: this.what });
          needList = true;
        }
        backoff = min;
      } catch (e) {
        if (this.abort.signal.aborted) break;
        this.stats.errors++;
        if (isGone(e)) needList = true;
        this.opts.log?.warn('list/watch failed, retrying', { resource: this.what, error: (e as Error).message, retryInMs: backoff });
        await sleep(this.clock, backoff, this.abort.signal);
        backoff = Math.min(max, backoff * 2);
      }
    }
  }

  private async relist(): Promise<void> {
    this.stats.lists++;
    const { items, resourceVersion } = await this.client.list<T>(this.resource, {
      namespace: this.opts.namespace,
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
    });
    const seen = new Set<string>();
    for (const raw of items) {
      const obj = this.slim(raw);
      const key = keyOf(obj);
      seen.add(key);
      const old = this.store.get(key);
      this.store.set(key, obj);
      if (!old) this.emit('add', obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('update', obj, old);
    }
    for (const [key, old] of [...this.store]) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.emit('delete', old);
      }
    }
    this.resourceVersion = resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  /** Runs one watch until it ends. Resolves 'gone' if the resourceVersion expired. */
  private watchOnce(): Promise<'ended' | 'gone'> {
    if (this.abort.signal.aborted) return Promise.resolve('ended');
    this.stats.watches++;
    const watchdogMs = this.opts.watchdogMs ?? 180_000;
    const timeout = this.opts.watchTimeoutSeconds ?? 300;
    return new Promise((resolve, reject) => {
      let finished = false;
      let gone = false;
      let watchdog: Timer | undefined;
      const onStop = () => finish();
      const finish = (err?: unknown) => {
        if (finished) return;
        finished = true;
        watchdog?.cancel();
        this.abort.signal.removeEventListener('abort', onStop);
        this.currentWatch?.abort();
        if (this.abort.signal.aborted) return resolve('ended');
        if (gone) return resolve('gone');
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        resolve('ended');
      };
      const arm = () => {
        watchdog?.cancel();
        watchdog = this.clock.setTimer(watchdogMs, () => {
          this.stats.watchdogRestarts++;
          this.opts.log?.warn('watch silent, restarting', { resource: this.what, silentMs: watchdogMs });
          finish();
        });
      };
      arm();
      // stop() may come while the watch request is still being set up.
      this.abort.signal.addEventListener('abort', onStop, { once: true });
      const w = new Watch(this.client.kubeConfig);
      w.watch(
        this.client.path(this.resource, this.opts.namespace),
        {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: timeout,
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
        },
        (type: string, obj: unknown) => {
          if (finished) return;
          arm();
          this.onEvent(type, obj, () => {
            gone = true;
            finish();
          });
        },
        (err: unknown) => finish(err ?? undefined),
      )
        .then((ctl) => {
          this.currentWatch = ctl;
          if (finished) ctl.abort();
        })
        .catch(finish);
    });
  }

  private onEvent(type: string, raw: unknown, onGone: () => void): void {
    if (type === 'ERROR') {
      const status = raw as { code?: number; message?: string };
      if (status.code === 410) return onGone();
      this.opts.log?.warn('watch error event', { resource: this.what, code: status.code, message: status.message });
      return onGone();
    }
    const obj = this.slim(raw as T);
    const rv = obj.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (rv) this.resourceVersion = rv;
      return;
    }
    const key = keyOf(obj);
    if (type === 'ADDED' || type === 'MODIFIED') {
      const old = this.store.get(key);
      this.store.set(key, obj);
      if (old) this.emit('update', obj, old);
      else this.emit('add', obj);
    } else if (type === 'DELETED') {
      this.store.delete(key);
      this.emit('delete', obj);
    }
    if (rv) this.resourceVersion = rv;
  }

  /**
   * What the cache keeps of an object. managedFields are dropped: they are
   * often larger than the object and no reconciler reads them (the same
   * transform controller-runtime applies).
   */
  private slim(obj: T): T {
    if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
    return this.opts.transform ? this.opts.transform(obj) : obj;
  }

  private emit(kind: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        if (kind === 'add') h.add?.(obj);
        else if (kind === 'update') h.update?.(old as T, obj);
        else h.delete?.(obj);
      } catch (e) {
        // A faulty handler must not stop the informer for every other handler.
        this.opts.log?.error('event handler failed', { resource: this.what, error: (e as Error).message });
      }
    }
  }
}
