// `ironplane plan`: renders offline what the topology would build for
// Clusters of an Ironplane ClusterClass (with the extension's own patch and
// validation code), or the diff a ClusterClass change makes to each Cluster.
// Exit codes: 0, 1 when a render fails GeneratePatches or ValidateTopology,
// 2 for bad flags or files.
import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { parseCidrList } from '../topology/cidr.js';
import { diffRenders, loadClass, loadClusters, PlanInputError, renderCluster, renderOk, toYaml, type LoadedClass, type LoadedCluster, type Source } from '../topology/plan.js';
import type { BaseConfig } from '../topology/variables.js';

interface Flags {
  class?: string;
  classNew?: string;
  cluster: string[];
  output: string;
  reservedCidrs: string;
}

function bad(message: string): never {
  throw new CommanderError(2, 'ironplane.badInput', `error: ${message}`);
}

function read(path: string): Source {
  try {
    return { path, text: fs.readFileSync(path, 'utf8') };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.code === 'EACCES' ? 'permission denied' : err.message;
    return bad(`cannot read ${path}: ${why}`);
  }
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function planCommand(out: (s: string) => void = (s) => process.stdout.write(s)): Command {
  return new Command('plan')
    .description('render offline what the topology builds for Clusters of an Ironplane ClusterClass (patched by the extension, then validated), or diff a ClusterClass change per Cluster')
    .option('--class <file>', 'YAML file with the ClusterClass and its templates')
    .option('--class-new <file>', 'the changed ClusterClass: print per Cluster the diff of every generated object and what rolls')
    .option('--cluster <file>', 'YAML file with one or more Clusters with spec.topology (repeatable)', collect, [] as string[])
    .option('-o, --output <format>', 'yaml or json', 'yaml')
    .option('--reserved-cidrs <cidrs>', "comma-separated ranges of the platform that tenant networks must not overlap (as the extension's --reserved-cidrs)", '')
    .exitOverride((err) => {
      // Bad flags exit 2, like bad files; help and version keep their 0.
      throw err.exitCode === 0 ? err : new CommanderError(2, err.code, err.message);
    })
    .action((f: Flags) => {
      if (!f.class) bad('--class <file> is required');
      if (f.cluster.length === 0) bad('--cluster <file> is required (repeat it for more files)');
      if (f.output !== 'yaml' && f.output !== 'json') bad(`unknown output format "${f.output}": use yaml or json`);
      const { cidrs, problems } = parseCidrList(f.reservedCidrs);
      if (problems.length) bad(`--reserved-cidrs: ${problems.join('; ')}`);
      const base: BaseConfig = { reservedCIDRs: cidrs, upgradeConcurrency: 0 };

      let ok = true;
      try {
        const classSrc = read(f.class);
        const newSrc = f.classNew ? read(f.classNew) : undefined;
        const clusters: LoadedCluster[] = f.cluster.flatMap((p) => loadClusters(read(p)));
        // A file holding several classes: the one the first Cluster names.
        const want = clusters[0]?.topology.classRef.name;
        const cls: LoadedClass = loadClass(classSrc, want);
        if (!newSrc) {
          const renders = clusters.map((c) => renderCluster(cls, c, base));
          ok = renders.every(renderOk);
          if (f.output === 'json') out(JSON.stringify(renders, null, 2) + '\n');
          else out(renders.map((r) => toYaml(r)).join('---\n'));
        } else {
          const next = loadClass(newSrc, cls.name);
          const diffs = clusters.map((c) => diffRenders(renderCluster(cls, c, base), renderCluster(next, c, base, { moving: next.name !== cls.name })));
          ok = diffs.every((d) => d.ok);
          if (f.output === 'json') out(JSON.stringify(diffs, null, 2) + '\n');
          else {
            for (const d of diffs) {
              out(`# Cluster ${d.cluster}: ${d.old.class} (${f.class}) → ${d.new.class} (${f.classNew})\n`);
              for (const [side, v] of [
                ['old', d.old],
                ['new', d.new],
              ] as const) {
                if (v.generatePatches.status === 'Failure') out(`# ${side}: GeneratePatches failed: ${v.generatePatches.message}\n`);
                else if (v.validateTopology.status === 'Failure') out(`# ${side}: ValidateTopology failed: ${v.validateTopology.message}\n`);
              }
              for (const c of d.changes) out(c.diff);
            }
            out(diffs.map((d) => d.summary + '\n').join(''));
          }
        }
      } catch (e) {
        if (e instanceof PlanInputError) bad(e.message);
        throw e;
      }
      if (!ok) throw new CommanderError(1, 'ironplane.planInvalid', 'error: a Cluster fails GeneratePatches or ValidateTopology (see its verdict)');
    });
}
