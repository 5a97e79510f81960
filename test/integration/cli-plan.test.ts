// The built `ironplane plan`, run as a user would run it, against files in a
// temporary directory: the render, the diff of a ClusterClass change, and the
// exit codes (0, 1 when validation fails, 2 for bad flags and files).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { REPO, run } from './processes.js';

const CLI = path.join(REPO, 'dist/providers/cli/main.js');
let tmp: string;

async function plan(...args: string[]): Promise<{ code: number | null; out: string }> {
  const p = run([CLI, 'plan', ...args]);
  const code = await p.exited;
  return { code, out: p.output() };
}

const read = (rel: string) => fs.readFileSync(path.join(REPO, rel), 'utf8');
function write(name: string, text: string): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
}

let kvmClass: string;
let kvmCluster: string;

beforeAll(() => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' (make test does)`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ironplane-plan-'));
  kvmClass = write('kvm.yaml', read('clusterclasses/ironplane-kvm.yaml'));
  kvmCluster = write('cluster-kvm.yaml', read('templates/plan-examples/cluster-kvm.yaml'));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('ironplane plan', () => {
  it('should render every object of each Cluster as YAML, patched, with the verdicts', async () => {
    const metalClass = write('metal.yaml', read('clusterclasses/ironplane-metal.yaml'));
    const metalCluster = write('cluster-metal.yaml', read('templates/plan-examples/cluster-metal.yaml'));
    const r = await plan('--class', kvmClass, '--cluster', kvmCluster);
    expect(r.code).toBe(0);
    const [doc] = parseAllDocuments(r.out).map((d) => d.toJS() as { cluster: string; validateTopology: unknown; objects: { object: { kind: string; spec: Record<string, unknown> } }[] });
    expect(doc!.cluster).toBe('team-a/prod');
    expect(doc!.validateTopology).toEqual({ status: 'Success' });
    expect(doc!.objects.map((o) => o.object.kind)).toEqual(['KvmCluster', 'KamajiControlPlane', 'KairosConfigTemplate', 'KvmMachineTemplate', 'KairosConfigTemplate', 'KvmMachineTemplate']);
    expect(r.out).toContain('dataStoreName: etcd-gold');

    const m = await plan('--class', metalClass, '--cluster', metalCluster, '-o', 'json');
    expect(m.code).toBe(0);
    const renders = JSON.parse(m.out) as { cluster: string; objects: { object: { kind: string; spec: Record<string, unknown> } }[] }[];
    expect(renders.map((x) => x.cluster)).toEqual(['team-b/edge']);
    expect(renders[0]!.objects[0]!.object).toMatchObject({ kind: 'MetalCluster', spec: { hostPools: [{ namespace: 'pool-a' }] } });
  });

  it('given a ClusterClass change, should print the diff and what rolls', async () => {
    const next = write('kvm-v2.yaml', read('clusterclasses/ironplane-kvm.yaml').replace('node.ironplane.dev/class: general', 'node.ironplane.dev/class: general-v2'));
    const r = await plan('--class', kvmClass, '--class-new', next, '--cluster', kvmCluster);
    expect(r.code).toBe(0);
    expect(r.out).toContain('--- KairosConfigTemplate prod-md-0 (ironplane-kvm)\n+++ KairosConfigTemplate prod-md-0 (ironplane-kvm)\n');
    expect(r.out).toContain('+        node.ironplane.dev/class: general-v2\n');
    expect(r.out).toContain('team-a/prod: KairosConfigTemplate prod-md-0 change → rollout of MachineDeployment md-0\n');

    const same = await plan('--class', kvmClass, '--class-new', kvmClass, '--cluster', kvmCluster);
    expect(same.code).toBe(0);
    expect(same.out).toContain('team-a/prod: no change\n');
  });

  it('given a Cluster that fails validation, should print the verdict and exit 1', async () => {
    const bad = write('overlap.yaml', read('templates/plan-examples/cluster-kvm.yaml').replace('nodeCIDR: 10.20.0.0/24', 'nodeCIDR: 10.244.0.0/24'));
    const r = await plan('--class', kvmClass, '--cluster', bad);
    expect(r.code).toBe(1);
    expect(r.out).toContain('message: network.nodeCIDR 10.244.0.0/24 overlaps network.podCIDR 10.244.0.0/16');
    expect(r.out).toContain('error: a Cluster fails GeneratePatches or ValidateTopology');
  });

  it('given bad flags or files, should name the problem and exit 2', async () => {
    const notYaml = write('broken.yaml', 'a: [1,\n');
    const noTopology = write('plain.yaml', 'apiVersion: cluster.x-k8s.io/v1beta2\nkind: Cluster\nmetadata: {name: a, namespace: n}\nspec: {}\n');
    const badVar = write('badvar.yaml', read('templates/plan-examples/cluster-kvm.yaml').replace('cpu: 4', 'cpu: 0'));
    const cases: [string[], string][] = [
      [['--cluster', kvmCluster], 'error: --class <file> is required'],
      [['--class', kvmClass], 'error: --cluster <file> is required'],
      [['--class', kvmClass, '--cluster', kvmCluster, '-o', 'xml'], 'error: unknown output format "xml": use yaml or json'],
      [['--class', kvmClass, '--cluster', kvmCluster, '--frobnicate'], "unknown option '--frobnicate'"],
      [['--class', path.join(tmp, 'missing.yaml'), '--cluster', kvmCluster], `error: cannot read ${path.join(tmp, 'missing.yaml')}: no such file`],
      [['--class', notYaml, '--cluster', kvmCluster], `error: ${notYaml} is not YAML: `],
      [['--class', kvmCluster, '--cluster', kvmCluster], `error: ${kvmCluster} holds no ClusterClass`],
      [['--class', kvmClass, '--cluster', noTopology], `error: ${noTopology}: Cluster n/a has no spec.topology`],
      [['--class', kvmClass, '--cluster', badVar], `error: ${badVar}: Cluster team-a/prod: variable workers does not match its schema: /cpu must be >= 1`],
    ];
    for (const [args, message] of cases) {
      const r = await plan(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.out, args.join(' ')).toContain(message);
    }
  });
});
