// The manager: one process, one connection to the apiserver, many
// controllers. It checks the connection before anything else (a bad
// kubeconfig or an unreachable server is a clear error and a non-zero exit,
// never a hang), serves probes and metrics, runs controllers only while it
// holds the leader lease, and shuts down cleanly on SIGTERM.
import os from 'node:os';
import path from 'node:path';
import { admissionHandler, type Review } from './admission.js';
import type http from 'node:http';
import { ApiError, Client, UnreachableError, loadKubeConfig } from './client.js';
import type { Controller } from './controller.js';
import type { Informer } from './informer.js';
import { LeaderElector } from './leaderelection.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { parseMetricsFlags, startMetricsServer, type MetricsServer } from './securemetrics.js';
import { closeServer, listen, parseBindAddress, probeServer, ReloadingHttpsServer } from './server.js';
import type { KubeObject } from './types.js';

export interface ManagerOptions {
  /** Names the lease, the field manager and log lines, e.g. "ironplane-kubevirt". */
  name: string;
  kubeconfig?: string;
  log: Logger;
  leaderElection?: { enabled: boolean; namespace: string; id?: string; identity?: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** "host:port", ":port" or "0" to disable. */
  probeAddress?: string;
  /** "host:port", ":port" or "0" to disable (the default). Plain HTTP may share the probes' port. */
  metricsAddress?: string;
  /** /metrics over HTTPS, for callers whose token review and access review pass (securemetrics.ts). */
  metricsSecure?: boolean;
  /** Holds tls.crt and tls.key for secure metrics; without it a self-signed certificate is made. */
  metricsCertDir?: string;
  /** How long the initial connection check may take. */
  connectTimeoutMs?: number;
}

/** Explains a failed first contact with the apiserver in operator terms. */
export function describeConnectError(server: string, e: unknown): Error {
  if (e instanceof UnreachableError) return new Error(`${e.message} (check the kubeconfig's server address and that the apiserver is running)`);
  if (e instanceof ApiError && (e.code === 401 || e.code === 403)) {
    return new Error(`the Kubernetes API at ${server} refused our credentials (HTTP ${e.code}: ${e.message})`);
  }
  return new Error(`cannot talk to the Kubernetes API at ${server}: ${(e as Error).message}`);
}

/** Loads the kubeconfig and proves the server answers; returns the client and server version. */
export async function connect(opts: { kubeconfig?: string; fieldManager: string; timeoutMs?: number; metrics?: Metrics }): Promise<{ client: Client; version: string }> {
  let client: Client;
  const m = opts.metrics;
  try {
    client = new Client(loadKubeConfig(opts.kubeconfig), {
      fieldManager: opts.fieldManager,
      ...(m ? { onRequest: (method: string, code: number) => m.restRequests.inc({ method, code: code ? String(code) : '<error>' }) } : {}),
    });
  } catch (e) {
    throw new Error(`cannot load kubeconfig${opts.kubeconfig ? ` ${opts.kubeconfig}` : ''}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const v = await client.version(opts.timeoutMs ?? 10_000);
    return { client, version: v.gitVersion };
  } catch (e) {
    client.close();
    throw describeConnectError(client.server, e);
  }
}

export class Manager {
  readonly metrics = new Metrics();
  readonly log: Logger;
  client!: Client;
  private readonly controllers: Controller[] = [];
  private readonly informers: Informer<KubeObject>[] = [];
  private elector?: LeaderElector;
  private servers: http.Server[] = [];
  private webhookServers: ReloadingHttpsServer[] = [];
  private metricsServer?: MetricsServer;
  private stopping?: Promise<void>;
  private lostLeadership = false;
  private readonly done: Promise<number>;
  private resolveDone!: (code: number) => void;
  started = false;

  constructor(private readonly opts: ManagerOptions) {
    this.log = opts.log.with({ manager: opts.name });
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Connects; must be called before informers are created (they need the client). */
  async connect(): Promise<Client> {
    const { client, version } = await connect({ kubeconfig: this.opts.kubeconfig, fieldManager: this.opts.name, timeoutMs: this.opts.connectTimeoutMs, metrics: this.metrics });
    this.client = client;
    this.log.info('connected to the Kubernetes API', { server: client.server, version });
    return client;
  }

  addInformer<T extends KubeObject>(i: Informer<T>): Informer<T> {
    this.informers.push(i as unknown as Informer<KubeObject>);
    return i;
  }

  addController(c: Controller): Controller {
    this.controllers.push(c);
    return c;
  }

  /**
   * Serves admission webhooks over HTTPS from certDir/tls.crt and tls.key,
   * reloading them when cert-manager rotates the files. Webhooks are served
   * by every replica, leader or not: the apiserver may call any of them.
   */
  async serveWebhooks(routes: Record<string, Review>, opts: { host: string; port: number; certDir: string }): Promise<number> {
    const server = new ReloadingHttpsServer({
      certFile: path.join(opts.certDir, 'tls.crt'),
      keyFile: path.join(opts.certDir, 'tls.key'),
      handler: admissionHandler(routes, this.log),
      log: this.log,
    });
    const port = await server.listen(opts.host, opts.port);
    this.webhookServers.push(server);
    this.log.info('serving webhooks', { address: `${opts.host}:${port}`, paths: Object.keys(routes) });
    return port;
  }

  /** Port of the metrics server, when it runs on its own port. */
  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  /** Starts everything; resolves with the process exit code when the manager stops. */
  async start(): Promise<number> {
    const readyz = {
      informers: () => (this.started && this.informers.some((i) => !i.hasSynced()) ? 'caches not synced' : undefined),
    };
    const healthz = { ping: () => undefined };
    const probe = parseBindAddress(this.opts.probeAddress ?? '0');
    const { serving, warnings } = parseMetricsFlags({
      bindAddress: this.opts.metricsAddress ?? '0',
      secure: this.opts.metricsSecure ?? false,
      ...(this.opts.metricsCertDir ? { certDir: this.opts.metricsCertDir } : {}),
      ...(this.opts.probeAddress ? { probeAddress: this.opts.probeAddress } : {}),
    });
    for (const w of warnings) this.log.warn(w);
    // Plain HTTP metrics on the probes' port are served by the probe server.
    const shared = !serving.secure && serving.address && probe && serving.address.port === probe.port;
    if (probe) {
      const s = probeServer({ healthz, readyz, log: this.log, ...(shared ? { metrics: this.metrics } : {}) });
      const port = await listen(s, probe.host, probe.port);
      this.servers.push(s);
      this.log.info('serving probes', { address: `${probe.host}:${port}` });
    }
    if (!shared) {
      this.metricsServer = await startMetricsServer({ serving, registry: this.metrics.registry, log: this.log, client: this.client });
    }

    const le = this.opts.leaderElection;
    if (le?.enabled) {
      const id = le.id ?? `${this.opts.name}-leader`;
      this.elector = new LeaderElector({
        client: this.client,
        namespace: le.namespace,
        name: id,
        identity: le.identity ?? `${os.hostname()}_${process.pid}`,
        log: this.log,
        ...(le.leaseDurationMs ? { leaseDurationMs: le.leaseDurationMs } : {}),
        ...(le.renewDeadlineMs ? { renewDeadlineMs: le.renewDeadlineMs } : {}),
        ...(le.retryPeriodMs ? { retryPeriodMs: le.retryPeriodMs } : {}),
        onStartedLeading: () => {
          this.metrics.leader.set({ name: id }, 1);
          void this.runControllers();
        },
        onStoppedLeading: () => {
          this.metrics.leader.set({ name: id }, 0);
          if (!this.stopping) {
            // Another replica may already be acting: stop at once and exit non-zero.
            this.lostLeadership = true;
            void this.stop();
          }
        },
      });
      this.log.info('waiting for leadership', { lease: `${le.namespace}/${id}` });
      void this.elector.run();
    } else {
      await this.runControllers();
    }
    return this.done;
  }

  private async runControllers(): Promise<void> {
    this.started = true;
    await Promise.all(this.informers.map((i) => i.start()));
    if (this.stopping) return;
    await Promise.all(this.controllers.map((c) => c.start()));
    this.log.info('controllers started', { controllers: this.controllers.map((c) => c.name) });
  }

  /** Graceful stop: no new work, in-flight reconciles finish, the lease is released. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('shutting down');
      await Promise.all(this.controllers.map((c) => c.stop()));
      await Promise.all(this.informers.map((i) => i.stop()));
      await this.elector?.stop();
      await Promise.all(this.servers.map((s) => closeServer(s)));
      await this.metricsServer?.close();
      await Promise.all(this.webhookServers.map((s) => s.close()));
      this.client?.close();
      this.log.info('stopped');
      this.resolveDone(this.lostLeadership ? 1 : 0);
    })();
    return this.stopping;
  }

  /** Stops on SIGTERM/SIGINT. Returns a function removing the handlers. */
  handleSignals(): () => void {
    const onSignal = (sig: string) => {
      this.log.info('signal received', { signal: sig });
      void this.stop();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    return () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    };
  }
}
