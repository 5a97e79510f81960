#!/usr/bin/env node
// The ironplane command. Every process of the product starts here: managers,
// the runtime extension and the local development plane are subcommands.
import { Command, CommanderError } from 'commander';
import { connect } from '../kit/manager.js';
import { CustomResourceDefinitions, type KubeObject } from '../kit/types.js';
import { managerCommand } from './manager.js';
import { extensionCommand } from './extension.js';
import { planCommand } from './plan.js';
import { cpProxyCommand } from '../kubevirt/cpproxy.js';
import { CONTRACT, packageVersion } from './version.js';

export function buildProgram(out: (s: string) => void = (s) => process.stdout.write(s)): Command {
  const program = new Command()
    .name('ironplane')
    .description('Cluster API providers for Kamaji-hosted tenant clusters on KubeVirt VMs and Metal3 bare metal, booting Kairos images.')
    .version(packageVersion(), '--version', 'print the version')
    .showHelpAfterError()
    .configureOutput({ writeOut: out });

  program
    .command('version')
    .description('print the version, the Cluster API contract and the Node.js runtime')
    .option('-o, --output <format>', 'text or json', 'text')
    .action((o: { output: string }) => {
      const v = { version: packageVersion(), contract: CONTRACT, node: process.version };
      if (o.output === 'json') out(JSON.stringify(v) + '\n');
      else if (o.output === 'text') out(`ironplane ${v.version} (Cluster API contract ${v.contract}, Node.js ${v.node})\n`);
      else throw new CommanderError(2, 'ironplane.badOutput', `error: unknown output format "${o.output}": use text or json`);
    });

  program
    .command('preflight')
    .description('check that a management cluster is reachable and has the Cluster API CRDs installed')
    .option('--kubeconfig <path>', 'kubeconfig file (default: KUBECONFIG, ~/.kube/config or in-cluster)')
    .option('--timeout <seconds>', 'how long to wait for the apiserver', '10')
    .action(async (o: { kubeconfig?: string; timeout: string }) => {
      const timeoutMs = Number(o.timeout) * 1000;
      if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new CommanderError(2, 'ironplane.badTimeout', `error: --timeout must be a positive number of seconds, got "${o.timeout}"`);
      const { client, version } = await connect({ kubeconfig: o.kubeconfig, fieldManager: 'ironplane-preflight', timeoutMs });
      try {
        out(`apiserver ${client.server} ${version}\n`);
        const crd = await client.tryGet<KubeObject & { spec?: { versions?: { name: string; served?: boolean }[] } }>(CustomResourceDefinitions, 'clusters.cluster.x-k8s.io');
        if (!crd) {
          out('cluster-api: not installed (clusters.cluster.x-k8s.io missing): run clusterctl init\n');
        } else {
          const served = (crd.spec?.versions ?? []).filter((v) => v.served).map((v) => v.name);
          // The v1beta2 contract comes with the v1beta2 API (CAPI >= v1.11).
          if (served.includes(CONTRACT)) out(`cluster-api: installed, serves ${served.join(', ')} (contract ${CONTRACT})\n`);
          else out(`cluster-api: installed but too old: serves ${served.join(', ')}, Ironplane needs ${CONTRACT} (Cluster API >= v1.11)\n`);
        }
      } finally {
        client.close();
      }
    });

  program.addCommand(managerCommand());
  program.addCommand(extensionCommand());
  program.addCommand(planCommand(out));
  program.addCommand(cpProxyCommand());

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end with a CommanderError of exit code 0.
      if (e.exitCode !== 0 && !['commander.help', 'commander.helpDisplayed', 'commander.version'].includes(e.code)) {
        if (e.code.startsWith('ironplane.')) process.stderr.write(e.message + '\n');
      }
      return e.exitCode;
    }
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  }
}

main(process.argv).then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(1);
  },
);
