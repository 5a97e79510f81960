// The built `ironplane` command, run as a user would run it. Bad input must
// give a clear message and a non-zero exit, never a hang.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts, startControlPlane, type ControlPlane } from '../harness/index.js';
import { REPO, run } from './processes.js';

const CLI = path.join(REPO, 'dist/providers/cli/main.js');
const CAPI_CRDS = path.join(REPO, 'config/external/capi');

let cp: ControlPlane;
let tmp: string;
let silent: net.Server;
let silentPort: number;

function kubeconfig(name: string, server: string): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(
    p,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
  );
  return p;
}

async function ironplane(...args: string[]): Promise<{ code: number | null; out: string }> {
  const p = run([CLI, ...args]);
  const code = await p.exited;
  return { code, out: p.output() };
}

beforeAll(async () => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' (make test does)`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ironplane-cli-'));
  cp = await startControlPlane({ name: 'cli', crds: [CAPI_CRDS] });
  // Accepts connections and never answers: the worst kind of unreachable.
  silent = net.createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentPort = (silent.address() as net.AddressInfo).port;
});

afterAll(async () => {
  silent?.close();
  await cp?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('ironplane', () => {
  it('--help should list the commands and exit 0', async () => {
    const r = await ironplane('--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: ironplane');
    expect(r.out).toContain('version');
    expect(r.out).toContain('preflight');
  });

  it('version should print the version and the contract', async () => {
    const r = await ironplane('version', '-o', 'json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ version: '0.1.0', contract: 'v1beta2', node: process.version });
  });

  it('given an unknown output format, should say which formats exist', async () => {
    const r = await ironplane('version', '-o', 'yaml');
    expect(r.code).toBe(2);
    expect(r.out).toContain('unknown output format "yaml": use text or json');
  });

  it('given an unknown command, should fail with usage', async () => {
    const r = await ironplane('frobnicate');
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("unknown command 'frobnicate'");
  });

  it('preflight against the real management plane should report the server and the CAPI contract', async () => {
    const r = await ironplane('preflight', '--kubeconfig', cp.kubeconfigPath);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`apiserver ${cp.url} v1.35.8`);
    expect(r.out).toContain('cluster-api: installed, serves v1beta1, v1beta2 (contract v1beta2)');
  });

  it('given a missing kubeconfig file, should name it and exit 1', async () => {
    const r = await ironplane('preflight', '--kubeconfig', path.join(tmp, 'nope.yaml'));
    expect(r.code).toBe(1);
    expect(r.out).toContain(`cannot load kubeconfig ${path.join(tmp, 'nope.yaml')}`);
  });

  it('given a kubeconfig that is not YAML, should say it cannot be loaded and exit 1', async () => {
    const bad = path.join(tmp, 'garbage.yaml');
    fs.writeFileSync(bad, 'this: is: not: [a kubeconfig');
    const r = await ironplane('preflight', '--kubeconfig', bad);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`cannot load kubeconfig ${bad}`);
  });

  it('given a kubeconfig without a current context, should say so', async () => {
    const p = path.join(tmp, 'nocontext.yaml');
    fs.writeFileSync(p, 'apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n');
    const r = await ironplane('preflight', '--kubeconfig', p);
    expect(r.code).toBe(1);
    expect(r.out).toContain('has no current cluster: set current-context');
  });

  it('given a server nobody listens on, should say it cannot reach it and exit 1', async () => {
    // freePorts closes its listeners before answering: nobody listens there now.
    const [port] = await freePorts(1);
    const r = await ironplane('preflight', '--kubeconfig', kubeconfig('refused.yaml', `https://127.0.0.1:${port}`));
    expect(r.code).toBe(1);
    expect(r.out).toContain(`cannot reach the Kubernetes API at https://127.0.0.1:${port}`);
    expect(r.out).toContain('ECONNREFUSED');
  });

  it('given a server that never answers, should give up after --timeout and exit 1', async () => {
    const r = await ironplane('preflight', '--timeout', '1', '--kubeconfig', kubeconfig('silent.yaml', `https://127.0.0.1:${silentPort}`));
    expect(r.code).toBe(1);
    expect(r.out).toContain(`cannot reach the Kubernetes API at https://127.0.0.1:${silentPort}: no response within 1000 ms`);
  });

  it('given credentials the apiserver rejects, should say they were refused', async () => {
    const r = await ironplane('preflight', '--kubeconfig', kubeconfig('badtoken.yaml', cp.url));
    expect(r.code).toBe(1);
    expect(r.out).toContain(`the Kubernetes API at ${cp.url} refused our credentials (HTTP 401`);
  });

  it('given a bad --timeout, should refuse it', async () => {
    const r = await ironplane('preflight', '--timeout', 'soon', '--kubeconfig', cp.kubeconfigPath);
    expect(r.code).toBe(2);
    expect(r.out).toContain('--timeout must be a positive number of seconds, got "soon"');
  });
});

