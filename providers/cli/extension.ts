// `ironplane extension`: the Cluster API runtime extension (Runtime SDK
// hooks for the Ironplane ClusterClasses), served over HTTPS.
import { Command, CommanderError } from 'commander';
import { createLogger, parseLevel, type Level } from '../kit/log.js';
import { parseBindAddress } from '../kit/server.js';
import { parseCidrList } from '../topology/cidr.js';
import { Extension } from '../topology/extension.js';
import { DEFAULT_EXTENSION_CONFIG, DEFAULT_NAMESPACE } from '../topology/state.js';
import { CONCURRENCY_RETRY_SECONDS } from '../topology/handlers/beforeclusterupgrade.js';
import { DEFAULT_MAX_REQUEST_BYTES } from '../topology/server.js';
import { metricsOptions, resolveMetricsFlags, serveSecureMetrics, type MetricsFlagValues } from './metricsflags.js';

interface Flags extends MetricsFlagValues {
  host: string;
  port: string;
  certDir: string;
  kubeconfig?: string;
  reservedCidrs: string;
  upgradeConcurrency: string;
  upgradeRetrySeconds: string;
  healthProbeBindAddress: string;
  maxRequestBytes: string;
  logLevel: string;
  namespace: string;
  extensionConfig: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function bad(message: string): never {
  throw new CommanderError(2, 'ironplane.badFlag', `error: ${message}`);
}

function integer(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) bad(`${flag} must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
}

export function extensionCommand(): Command {
  const [metricsBindAddress, metricsSecure, metricsCertDir] = metricsOptions();
  return new Command('extension')
    .description('serve the Cluster API runtime extension (discovery, variables, patches, topology validation, lifecycle hooks) over HTTPS')
    .option('--host <host>', 'address the HTTPS server binds', '0.0.0.0')
    .option('--port <port>', 'port of the HTTPS server (0 picks a free one)', '9443')
    .option('--cert-dir <dir>', 'directory holding tls.crt and tls.key, reloaded when they change', '/tmp/k8s-webhook-server/serving-certs')
    .option('--kubeconfig <path>', 'kubeconfig of the management cluster (default: in-cluster, KUBECONFIG or ~/.kube/config)')
    .option('--reserved-cidrs <cidrs>', "comma-separated ranges of the platform that tenant networks must not overlap (added to the reservedCIDRs setting)", '')
    .option('--upgrade-concurrency <n>', 'how many Clusters of one ClusterClass may upgrade at once (0: no limit; the upgradeConcurrency setting overrides it)', '3')
    .option('--upgrade-retry-seconds <n>', 'when a Cluster held back by --upgrade-concurrency asks again (the retryAfterSeconds of BeforeClusterUpgrade)', String(CONCURRENCY_RETRY_SECONDS))
    .addOption(metricsBindAddress)
    .addOption(metricsSecure)
    .addOption(metricsCertDir)
    .option('--health-probe-bind-address <addr>', 'where /healthz and /readyz are served (0 disables)', ':8081')
    .option('--max-request-bytes <n>', 'largest request body accepted; larger ones get HTTP 413', String(DEFAULT_MAX_REQUEST_BYTES))
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .option('--namespace <ns>', "the extension's own namespace, where the Leases holding each ClusterClass's upgrade slots live", process.env['POD_NAMESPACE'] || DEFAULT_NAMESPACE)
    .option('--extension-config <name>', 'the ExtensionConfig registering this extension, whose settings the lifecycle hooks read from the apiserver', DEFAULT_EXTENSION_CONFIG)
    .action(async (f: Flags) => {
      const port = integer(f.port, '--port', 0, 65535);
      const upgradeConcurrency = integer(f.upgradeConcurrency, '--upgrade-concurrency', 0, 10_000);
      const upgradeRetrySeconds = integer(f.upgradeRetrySeconds, '--upgrade-retry-seconds', 1, 3600);
      const maxRequestBytes = integer(f.maxRequestBytes, '--max-request-bytes', 1024, 1024 ** 3);
      if (!DNS_LABEL.test(f.namespace)) bad(`--namespace must be a namespace name (a DNS-1123 label), got "${f.namespace}"`);
      if (!DNS_LABEL.test(f.extensionConfig)) bad(`--extension-config must be an ExtensionConfig name (a DNS-1123 label), got "${f.extensionConfig}"`);
      const { cidrs, problems } = parseCidrList(f.reservedCidrs);
      if (problems.length) bad(`--reserved-cidrs: ${problems.join('; ')}`);
      let level: Level = 'info';
      let metrics: ReturnType<typeof resolveMetricsFlags>;
      try {
        level = parseLevel(f.logLevel);
        parseBindAddress(f.healthProbeBindAddress);
        metrics = resolveMetricsFlags(f, f.healthProbeBindAddress);
      } catch (e) {
        bad((e as Error).message);
      }
      const log = createLogger({ level }).with({ component: 'ironplane-extension' });
      const ext = await Extension.start({
        host: f.host,
        port,
        certDir: f.certDir,
        kubeconfig: f.kubeconfig,
        base: { reservedCIDRs: cidrs, upgradeConcurrency, upgradeRetrySeconds },
        log,
        // Plain HTTP metrics are the extension's own; secure ones are served below.
        metricsAddress: metrics.serving.secure ? '0' : metrics.bindAddress,
        probeAddress: f.healthProbeBindAddress,
        maxRequestBytes,
        namespace: f.namespace,
        extensionConfig: f.extensionConfig,
      });
      for (const w of metrics.warnings) log.warn(w);
      const secureMetrics = await serveSecureMetrics({ serving: metrics.serving, registry: ext.metrics.registry, kubeconfig: f.kubeconfig, log, fieldManager: 'ironplane-extension' });
      await new Promise<void>((resolve) => {
        const onSignal = (signal: string) => {
          log.info('signal received', { signal });
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          void Promise.all([ext.stop(), secureMetrics.close()]).then(() => resolve());
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
    });
}
