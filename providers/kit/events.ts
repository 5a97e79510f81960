// Kubernetes Events (events.k8s.io/v1) about our objects, as
// `kubectl describe` and `kubectl events` show them. A repeat of the same
// event for the same object updates the first one's series count instead of
// creating another Event, so a flapping condition cannot flood etcd.
import { randomBytes } from 'node:crypto';
import { microTime } from './clock.js';
import { isNotFound, type Client } from './client.js';
import type { Logger } from './log.js';
import { Events, type KubeObject } from './types.js';

export type EventType = 'Normal' | 'Warning';

interface Seen {
  name: string;
  namespace: string;
  count: number;
}

/** At most this many distinct events are remembered for de-duplication. */
const MAX_REMEMBERED = 4096;
/** The apiserver rejects longer notes. */
const MAX_NOTE = 1024;

export class EventRecorder {
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly client: Client,
    /** e.g. "ironplane.dev/kubevirt-controller" */
    private readonly controller: string,
    /** This replica, e.g. the pod name. */
    private readonly instance: string,
    private readonly log?: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Records an event about obj. Never throws: failing to record an event
   * must not fail a reconcile; the failure is logged instead.
   */
  async event(obj: KubeObject, type: EventType, reason: string, note: string, action = reason): Promise<void> {
    const md = obj.metadata ?? {};
    const namespace = md.namespace || 'default';
    const key = `${md.uid}|${type}|${reason}|${note}`;
    const text = note.length > MAX_NOTE ? note.slice(0, MAX_NOTE - 3) + '...' : note;
    const now = this.now();
    try {
      const prior = this.seen.get(key);
      if (prior) {
        prior.count++;
        try {
          await this.client.mergePatch(Events, prior.name, prior.namespace, { series: { count: prior.count, lastObservedTime: microTime(now.getTime()) } });
          // Refresh its place as most recently used.
          this.seen.delete(key);
          this.seen.set(key, prior);
          return;
        } catch (e) {
          if (!isNotFound(e)) throw e;
          this.seen.delete(key); // expired or deleted: start a new one
        }
      }
      const created = await this.client.create<KubeObject>(Events, {
        // client-go's naming: the object's name and a unique hex suffix.
        metadata: { name: `${md.name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`, namespace },
        eventTime: microTime(now.getTime()),
        reportingController: this.controller,
        reportingInstance: this.instance,
        action,
        reason,
        note: text,
        type,
        regarding: { apiVersion: obj.apiVersion, kind: obj.kind, name: md.name, namespace: md.namespace, uid: md.uid, resourceVersion: md.resourceVersion },
      } as KubeObject);
      this.seen.set(key, { name: created.metadata?.name ?? '', namespace, count: 1 });
      if (this.seen.size > MAX_REMEMBERED) this.seen.delete(this.seen.keys().next().value as string);
    } catch (e) {
      this.log?.warn('cannot record event', { reason, object: `${md.namespace}/${md.name}`, error: (e as Error).message });
    }
  }
}
