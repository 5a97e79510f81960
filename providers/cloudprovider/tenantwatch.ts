// One watch per tenant cluster: its Services and Nodes, through the tenant
// kube-apiserver, feeding the cluster's key into the controller's queue.
// Started when a Cluster is first reconciled with a usable kubeconfig,
// rebuilt when the kubeconfig changes (a new client), stopped when the
// Cluster goes.
import type { Client } from '../kit/client.js';
import { EventRecorder } from '../kit/events.js';
import { Informer } from '../kit/informer.js';
import type { Logger } from '../kit/log.js';
import { Services, TenantNodes } from './names.js';
import type { TenantNode, TenantService } from './render.js';

export interface TenantWatch {
  /** The Cluster's uid this watch was started for. */
  uid: string;
  client: Client;
  services: Informer<TenantService>;
  nodes: Informer<TenantNode>;
  /** Events in the tenant cluster, on its own Services: what its users see with kubectl describe. */
  recorder: EventRecorder;
  synced(): boolean;
}

/** What the caches keep of a tenant Node: enough to pick targets, not every heartbeat's image list. */
const trimNode = (n: TenantNode): TenantNode => ({
  metadata: { name: n.metadata?.name, uid: n.metadata?.uid, resourceVersion: n.metadata?.resourceVersion, labels: n.metadata?.labels },
  spec: { providerID: n.spec?.providerID },
  status: { addresses: n.status?.addresses, conditions: (n.status?.conditions ?? []).filter((c) => c.type === 'Ready').map((c) => ({ type: c.type, status: c.status })) },
});

export class TenantWatches {
  private readonly watches = new Map<string, TenantWatch>();

  constructor(
    private readonly log: Logger,
    private readonly enqueue: (key: string) => void,
    private readonly reportingController: string,
    private readonly instance: string,
  ) {}

  get(key: string): TenantWatch | undefined {
    return this.watches.get(key);
  }

  /** The watch of the cluster `key`, started (or restarted) for this uid and client. */
  async ensure(key: string, uid: string, client: Client): Promise<TenantWatch> {
    const current = this.watches.get(key);
    if (current && current.uid === uid && current.client === client) return current;
    if (current) await this.stop(key);
    const log = this.log.with({ cluster: key });
    const services = new Informer<TenantService>(client, Services, { log });
    // Node heartbeats change only what trimNode drops: the cache keeps the rest, and only real changes enqueue.
    const nodes = new Informer<TenantNode>(client, TenantNodes, { log, transform: trimNode });
    const wake = () => this.enqueue(key);
    services.addHandlers({ add: wake, update: wake, delete: wake });
    nodes.addHandlers({
      add: wake,
      update: (a, b) => {
        if (JSON.stringify([a.metadata?.labels, a.spec, a.status]) !== JSON.stringify([b.metadata?.labels, b.spec, b.status])) wake();
      },
      delete: wake,
    });
    const w: TenantWatch = {
      uid,
      client,
      services,
      nodes,
      recorder: new EventRecorder(client, this.reportingController, this.instance, log),
      synced: () => services.hasSynced() && nodes.hasSynced(),
    };
    this.watches.set(key, w);
    // Resolves after the first lists; the cluster is looked at again then.
    void Promise.all([services.start(), nodes.start()]).then(wake, () => undefined);
    log.info('watching tenant Services and Nodes');
    return w;
  }

  async stop(key: string): Promise<void> {
    const w = this.watches.get(key);
    if (!w) return;
    this.watches.delete(key);
    await Promise.all([w.services.stop(), w.nodes.stop()]);
    this.log.info('stopped watching tenant cluster', { cluster: key });
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.watches.keys()].map((k) => this.stop(k)));
  }

  keys(): string[] {
    return [...this.watches.keys()];
  }
}

