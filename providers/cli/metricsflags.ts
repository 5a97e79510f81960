// The metrics flags of `ironplane manager` and `ironplane extension`, with
// controller-runtime's names: --metrics-bind-address, --metrics-secure and
// --metrics-cert-dir. The address's default follows --metrics-secure.
import { Option } from 'commander';
import type { Registry } from 'prom-client';
import type { Logger } from '../kit/log.js';
import { connect } from '../kit/manager.js';
import { DEFAULT_INSECURE_METRICS_ADDRESS, DEFAULT_SECURE_METRICS_ADDRESS, parseMetricsFlags, startMetricsServer, type MetricsServing } from '../kit/securemetrics.js';

export interface MetricsFlagValues {
  metricsBindAddress?: string;
  metricsSecure: boolean;
  metricsCertDir?: string;
}

/** --metrics-bind-address, --metrics-secure and --metrics-cert-dir, in that order. */
export function metricsOptions(): [Option, Option, Option] {
  return [
    new Option('--metrics-bind-address <addr>', `where /metrics is served (0 disables; default ${DEFAULT_SECURE_METRICS_ADDRESS} with --metrics-secure, else ${DEFAULT_INSECURE_METRICS_ADDRESS})`),
    new Option('--metrics-secure', 'serve /metrics over HTTPS only to callers whose bearer token passes a TokenReview and who may get /metrics (SubjectAccessReview)').default(false),
    new Option('--metrics-cert-dir <dir>', 'directory holding tls.crt and tls.key for --metrics-secure, reloaded when they change (default: a self-signed certificate made at start)'),
  ];
}

/** The resolved address ("0" when disabled) and serving plan; throws with a message naming the flag. */
export function resolveMetricsFlags(f: MetricsFlagValues, probeAddress: string): { bindAddress: string; serving: MetricsServing; warnings: string[] } {
  const bindAddress = f.metricsBindAddress ?? (f.metricsSecure ? DEFAULT_SECURE_METRICS_ADDRESS : DEFAULT_INSECURE_METRICS_ADDRESS);
  const { serving, warnings } = parseMetricsFlags({ bindAddress, secure: f.metricsSecure, ...(f.metricsCertDir !== undefined ? { certDir: f.metricsCertDir } : {}), probeAddress });
  return { bindAddress, serving, warnings };
}

/**
 * Secure metrics for a process whose metrics server is not the kit
 * Manager's (the runtime extension): its own connection to the apiserver
 * reviews the tokens. Stopping closes both.
 */
export async function serveSecureMetrics(opts: { serving: MetricsServing; registry: Registry; kubeconfig?: string; log: Logger; fieldManager: string }): Promise<{ port?: number; close(): Promise<void> }> {
  if (!opts.serving.secure || !opts.serving.address) return { close: () => Promise.resolve() };
  const { client } = await connect({ kubeconfig: opts.kubeconfig, fieldManager: opts.fieldManager });
  try {
    const server = await startMetricsServer({ serving: opts.serving, registry: opts.registry, log: opts.log, client });
    return {
      ...(server ? { port: server.port } : {}),
      close: async () => {
        await server?.close();
        client.close();
      },
    };
  } catch (e) {
    client.close();
    throw e;
  }
}
