// `ironplane manager --role <role>`: one process per provider role, with
// controller-runtime's flags, so Deployments look like every other provider's.
import os from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { createLogger, parseLevel } from '../kit/log.js';
import { Manager } from '../kit/manager.js';
import { parseBindAddress } from '../kit/server.js';
import type { Review } from '../kit/admission.js';
import { metricsOptions, resolveMetricsFlags, type MetricsFlagValues } from './metricsflags.js';
import { setupCloudProvider } from '../cloudprovider/setup.js';
import { setupKairos } from '../kairos/setup.js';
import { kairosWebhooks } from '../kairos/webhooks.js';
import { setupKubevirt } from '../kubevirt/setup.js';
import { kubevirtWebhooks } from '../kubevirt/webhooks.js';
import { setupMetal3 } from '../metal3/setup.js';
import { metal3Webhooks } from '../metal3/webhooks.js';
import { networkSettings, setupNetwork, type NetworkOptions } from '../network/setup.js';

interface RoleSetup {
  describe: string;
  setup(mgr: Manager, opts: { workers: number; instance: string; tenantKubeconfigAccess: boolean; network: NetworkOptions }): void;
  webhooks?: Record<string, Review>;
}

export const ROLES: Record<string, RoleSetup> = {
  kubevirt: {
    describe: 'KvmCluster and KvmMachine → kube-OVN networks and KubeVirt VirtualMachines',
    setup: (mgr, o) => void setupKubevirt(mgr, o),
    webhooks: kubevirtWebhooks,
  },
  metal3: {
    describe: 'MetalCluster and MetalMachine → claimed and provisioned Metal3 BareMetalHosts',
    setup: (mgr, o) => setupMetal3(mgr, o),
    webhooks: metal3Webhooks,
  },
  kairos: {
    describe: 'KairosConfig → bootstrap data Secret: a Kairos cloud-config that joins the hosted control plane with kubeadm',
    setup: (mgr, o) => void setupKairos(mgr, o),
    webhooks: kairosWebhooks,
  },
  network: {
    describe: 'PeeringRequest → kube-OVN Vpc peerings and routes between the VPCs of two KvmCluster-backed Clusters',
    setup: (mgr, o) => setupNetwork(mgr, o.network),
  },
  'cloud-provider': {
    describe: "tenant clusters' LoadBalancer Services → addresses from LoadBalancerPools, as kube-OVN SwitchLBRules in each tenant's own VPC",
    setup: (mgr, o) => void setupCloudProvider(mgr, o),
  },
};

interface Flags extends MetricsFlagValues {
  role: string;
  kubeconfig?: string;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  healthProbeBindAddress: string;
  workers: string;
  logLevel: string;
  webhookHost: string;
  webhookPort: string;
  webhookCertDir: string;
  tenantKubeconfigAccess: string;
  peeringAcceptance: string;
  peeringInterconnectRange: string;
  peeringNamespace?: string;
  peeringNamespaceSelector: string;
}

function bad(message: string): never {
  throw new CommanderError(2, 'ironplane.badFlag', `error: ${message}`);
}

export function managerCommand(): Command {
  const [metricsBindAddress, metricsSecure, metricsCertDir] = metricsOptions();
  return new Command('manager')
    .description('run a provider manager (controllers for one role)')
    .addOption(new Option('--role <role>', `which provider to run: ${Object.keys(ROLES).join(', ')}`).makeOptionMandatory())
    .option('--kubeconfig <path>', 'kubeconfig of the management cluster (default: in-cluster, KUBECONFIG or ~/.kube/config)')
    .option('--leader-elect', 'elect a leader among replicas through a Lease', false)
    .option('--leader-election-namespace <ns>', 'namespace of the leader Lease', 'ironplane-system')
    .addOption(metricsBindAddress)
    .addOption(metricsSecure)
    .addOption(metricsCertDir)
    .option('--health-probe-bind-address <addr>', 'where /healthz and /readyz are served (0 disables)', ':8081')
    .option('--workers <n>', 'concurrent reconciles per controller', '4')
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .option('--webhook-host <host>', 'address the webhook server binds (all interfaces when empty)', '')
    .option('--webhook-port <port>', 'port of the webhook server (0 disables it)', '9443')
    .option('--webhook-cert-dir <dir>', 'directory holding tls.crt and tls.key for the webhook server', '/tmp/k8s-webhook-server/serving-certs')
    .addOption(
      new Option('--tenant-kubeconfig-access <bool>', "kairos: grant each Cluster's tenant get on its <cluster>-kubeconfig Secret (a Role and RoleBinding per Cluster)")
        .choices(['true', 'false'])
        .default('true'),
    )
    .option('--peering-acceptance <ways>', 'network: what accepts a PeeringRequest: mirror (the peer\'s owner asks too), platform (an operator\'s spec.approval), or mirror,platform', 'mirror')
    .option('--peering-interconnect-range <cidr>', 'network: the IPv4 range the /30 links between peered VPC routers are allocated from', '169.254.0.0/16')
    .option('--peering-namespace <ns>', "network: the namespace of the link records (default: the manager's own, POD_NAMESPACE, else the leader election namespace)")
    .option('--peering-namespace-selector <selector>', 'network: label selector of the namespaces whose Clusters may peer (both sides), e.g. network.ironplane.dev/peering=allowed; all when empty', '')
    .action(async (f: Flags) => {
      const role = ROLES[f.role];
      if (!role) bad(`unknown role "${f.role}": use one of ${Object.keys(ROLES).join(', ')}`);
      const workers = Number(f.workers);
      if (!Number.isInteger(workers) || workers < 1 || workers > 64) bad(`--workers must be an integer from 1 to 64, got "${f.workers}"`);
      let level;
      let metricsAddress = '0';
      try {
        level = parseLevel(f.logLevel);
        parseBindAddress(f.healthProbeBindAddress);
        // A bad combination is a usage error (exit 2); the manager logs the warnings.
        metricsAddress = resolveMetricsFlags(f, f.healthProbeBindAddress).bindAddress;
      } catch (e) {
        bad((e as Error).message);
      }
      const webhookPort = Number(f.webhookPort);
      if (!Number.isInteger(webhookPort) || webhookPort < 0 || webhookPort > 65535) bad(`--webhook-port must be a port number (0 disables), got "${f.webhookPort}"`);
      const instance = process.env['POD_NAME'] ?? `${os.hostname()}_${process.pid}`;
      const network: NetworkOptions = {
        instance,
        acceptance: f.peeringAcceptance,
        interconnectRange: f.peeringInterconnectRange,
        namespace: f.peeringNamespace ?? process.env['POD_NAMESPACE'] ?? f.leaderElectionNamespace,
        namespaceSelector: f.peeringNamespaceSelector,
      };
      if (f.role === 'network') {
        try {
          networkSettings(network);
        } catch (e) {
          bad((e as Error).message);
        }
      }
      const mgr = new Manager({
        name: `ironplane-${f.role}`,
        kubeconfig: f.kubeconfig,
        log: createLogger({ level }),
        probeAddress: f.healthProbeBindAddress,
        metricsAddress,
        metricsSecure: f.metricsSecure,
        ...(f.metricsCertDir ? { metricsCertDir: f.metricsCertDir } : {}),
        leaderElection: { enabled: f.leaderElect, namespace: f.leaderElectionNamespace, identity: instance },
      });
      await mgr.connect();
      role.setup(mgr, { workers, instance, tenantKubeconfigAccess: f.tenantKubeconfigAccess === 'true', network });
      if (role.webhooks && webhookPort !== 0) await mgr.serveWebhooks(role.webhooks, { host: f.webhookHost || '0.0.0.0', port: webhookPort, certDir: f.webhookCertDir });
      mgr.handleSignals();
      const code = await mgr.start();
      if (code !== 0) throw new CommanderError(code, 'ironplane.managerStopped', 'error: the manager stopped after losing leadership');
    });
}
