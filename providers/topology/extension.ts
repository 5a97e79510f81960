// The runtime extension process: a connection to the management cluster,
// the caches behind the lifecycle hooks, the HTTPS server (reloading its
// certificate when cert-manager rotates it) and the probe and metrics
// endpoints. `ironplane extension` starts one; tests start one in-process.
import path from 'node:path';
import type http from 'node:http';
import type { Client } from '../kit/client.js';
import type { Logger } from '../kit/log.js';
import { connect } from '../kit/manager.js';
import { Metrics } from '../kit/metrics.js';
import { closeServer, listen, parseBindAddress, probeServer, ReloadingHttpsServer } from '../kit/server.js';
import { ExtensionMetrics } from './metrics.js';
import { extensionHandler } from './server.js';
import { ClusterState, type StateSource } from './state.js';
import type { BaseConfig } from './variables.js';

/** Longer than Go's default idle-connection timeout (90 s): CAPI's client closes idle connections first, so it never writes to one we just closed. */
const KEEP_ALIVE_MS = 120_000;
/** A request body must arrive within this; CAPI sends it at once. */
const REQUEST_TIMEOUT_MS = 30_000;
const HEADERS_TIMEOUT_MS = 10_000;

export interface ExtensionOptions {
  host: string;
  port: number;
  /** Holds tls.crt and tls.key. */
  certDir: string;
  kubeconfig?: string;
  base: BaseConfig;
  log: Logger;
  /** "host:port", ":port" or "0" to disable. */
  metricsAddress?: string;
  probeAddress?: string;
  maxRequestBytes?: number;
  /** Tests may bring their own state instead of the cluster's. */
  state?: StateSource;
  /** The extension's own namespace, where the upgrade-slot Leases live (default POD_NAMESPACE's value, read by the CLI, or ironplane-extension-system). */
  namespace?: string;
  /** The ExtensionConfig whose settings the lifecycle hooks use (default ironplane). */
  extensionConfig?: string;
  now?: () => Date;
  /** How often the certificate files are checked. */
  certPollMs?: number;
}

export class Extension {
  private constructor(
    readonly port: number,
    readonly metrics: ExtensionMetrics,
    private readonly https: ReloadingHttpsServer,
    private readonly servers: { server: http.Server; port: number; what: string }[],
    private readonly state: StateSource,
    private readonly client: Client | undefined,
    private readonly log: Logger,
  ) {}

  /** Port of the probe or metrics server, when it runs. */
  portOf(what: 'metrics' | 'probes'): number | undefined {
    return this.servers.find((s) => s.what.includes(what))?.port;
  }

  static async start(opts: ExtensionOptions): Promise<Extension> {
    const log = opts.log;
    const kit = new Metrics();
    const metrics = new ExtensionMetrics({ registry: kit.registry, processMetrics: false });
    let client: Client | undefined;
    let state = opts.state;
    if (!state) {
      const connected = await connect({ kubeconfig: opts.kubeconfig, fieldManager: 'ironplane-extension', metrics: kit });
      client = connected.client;
      log.info('connected to the Kubernetes API', { server: client.server, version: connected.version });
      state = new ClusterState(client, log, { namespace: opts.namespace, extensionConfig: opts.extensionConfig });
    }
    // The caches fill in the background: discovery and patches need none,
    // and hooks that need them answer "not read yet" until then.
    const st = state;
    st.start().then(
      () => log.info('caches synced'),
      (e: Error) => log.error('caches failed to start', { error: e.message }),
    );

    const https = new ReloadingHttpsServer({
      certFile: path.join(opts.certDir, 'tls.crt'),
      keyFile: path.join(opts.certDir, 'tls.key'),
      handler: extensionHandler({ base: opts.base, state: st, log, metrics, maxRequestBytes: opts.maxRequestBytes, now: opts.now }),
      log,
      pollMs: opts.certPollMs,
    });
    https.server.keepAliveTimeout = KEEP_ALIVE_MS;
    https.server.requestTimeout = REQUEST_TIMEOUT_MS;
    https.server.headersTimeout = HEADERS_TIMEOUT_MS;
    const port = await https.listen(opts.host, opts.port);
    log.info('serving runtime hooks', { address: `${opts.host}:${port}` });

    const servers: { server: http.Server; port: number; what: string }[] = [];
    const probe = parseBindAddress(opts.probeAddress ?? '0');
    const metricsAddr = parseBindAddress(opts.metricsAddress ?? '0');
    const readyz = { caches: () => st.notReady() };
    const healthz = { ping: () => undefined };
    const shared = probe && metricsAddr && probe.port === metricsAddr.port && probe.port !== 0;
    if (probe) {
      const s = probeServer({ healthz, readyz, ...(shared ? { metrics: kit } : {}) });
      servers.push({ server: s, port: await listen(s, probe.host, probe.port), what: shared ? 'probes+metrics' : 'probes' });
    }
    if (metricsAddr && !shared) {
      const s = probeServer({ healthz: {}, readyz: {}, metrics: kit });
      servers.push({ server: s, port: await listen(s, metricsAddr.host, metricsAddr.port), what: 'metrics' });
    }
    for (const s of servers) log.info(`serving ${s.what}`, { port: s.port });
    return new Extension(port, metrics, https, servers, st, client, log);
  }

  async stop(): Promise<void> {
    this.log.info('shutting down');
    await this.https.close();
    await Promise.all(this.servers.map((s) => closeServer(s.server)));
    await this.state.stop();
    this.client?.close();
    this.log.info('stopped');
  }

  /** Re-reads the certificate now instead of at the next poll. */
  reloadCertificate(): boolean {
    return this.https.reload();
  }
}
