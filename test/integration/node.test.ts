// A real node in the test world (test/harness/node.ts): kubelet, containerd,
// runc, the bridge CNI plugin and kube-proxy in one private set of
// namespaces, joined to a harness control plane. The Node becomes Ready, the
// scheduler places a Pod on it, the Pod runs and reaches the apiserver
// through the `kubernetes` Service's ClusterIP with its service-account
// token; after stop() nothing of the node is left on the host.
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../providers/kit/client.js';
import type { KubeObject, ResourceType } from '../../providers/kit/types.js';
import { startControlPlane, startNode, type ControlPlane, type RealNode } from '../harness/index.js';
import { REPO, until } from './processes.js';

const Pods: ResourceType = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };
type Pod = KubeObject & {
  spec?: { nodeName?: string };
  status?: { phase?: string; containerStatuses?: { state?: { terminated?: { exitCode: number; message?: string } } }[] };
};

let cp: ControlPlane;
let node: RealNode | undefined;
let client: Client;

beforeAll(async () => {
  cp = await startControlPlane({ name: 'node', nodes: true, log: (l) => console.log(l) });
  client = new Client(cp.kubeConfig, { fieldManager: 'node-test' });
}, 120_000);

afterAll(async () => {
  client?.close();
  await node?.stop();
  await cp?.stop();
});

/** Pids of every process whose namespace (of `kind`) is `ns`. */
function processesIn(kind: 'mnt' | 'net' | 'pid' | 'uts', ns: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/${kind}`) === ns) pids.push(Number(e));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}

/** The host-wide sysctls the kubelet would rewrite, were they not masked inside the node. */
function tunables(): string[] {
  return ['vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops'].map((k) => readFileSync(`/proc/sys/${k}`, 'utf8').trim());
}

function cgroupDirs(root: string): string[] {
  const base = '/sys/fs/cgroup';
  const hs = existsSync(`${base}/cgroup.controllers`) ? [base] : readdirSync(base).map((h) => `${base}/${h}`);
  return hs.map((h) => `${h}${root}`).filter((d) => existsSync(d));
}

describe('a real node', () => {
  it('given bin/ without kubelet, should refuse in one line naming what is missing and how to get it', async () => {
    const err = (await startNode(cp, { binDir: '/nonexistent-bin' }).catch((e: Error) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe("startNode: kubelet not found at /nonexistent-bin/kubelet: run 'make tools'");
    expect(err.message).not.toContain('\n');
  });

  it('given a kubelet that exits at start, should stop the node and say so in one line, without waiting for Ready', async () => {
    // A bin dir of the real pieces but a kubelet that fails at once.
    const bin = mkdtempSync(path.join(os.tmpdir(), 'ironplane-node-bin-'));
    try {
      for (const f of ['node', 'kube-proxy']) symlinkSync(path.join(REPO, 'bin', f), path.join(bin, f));
      writeFileSync(path.join(bin, 'kubelet'), '#!/bin/sh\necho "E0101 kubelet: no container runtime here" >&2\nexit 1\n', { mode: 0o755 });
      const t0 = Date.now();
      const err = (await startNode(cp, { name: 'broken', binDir: bin }).catch((e: Error) => e)) as Error;
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toMatch(/^startNode\(broken\): kubelet exited with code 1 \(last line of \S+\/kubelet\.log: E0101 kubelet: no container runtime here\)$/);
      expect(Date.now() - t0).toBeLessThan(60_000);
      const leftovers = readdirSync(os.tmpdir()).filter((e) => e.startsWith(`ironplane-node-${process.pid}-`));
      expect(leftovers).toEqual([]);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  }, 120_000);

  it('should become Ready, run a Pod that reaches the apiserver through the kubernetes Service, and leave nothing behind', async () => {
    const hostLinks = readdirSync('/sys/class/net').sort();
    const hostTunables = tunables();
    const t0 = Date.now();
    node = await startNode(cp, { log: (l) => console.log(l) });
    console.log(`node start → Ready: ${node.readyMs} ms (startNode ${Date.now() - t0} ms)`);
    const n = node;

    await client.create(Pods, {
      metadata: { name: 'probe', namespace: 'default' },
      spec: {
        restartPolicy: 'Never',
        containers: [{ name: 'probe', image: n.image, imagePullPolicy: 'Never', command: ['/node-util', 'apiserver-check'] }],
      },
    } as KubeObject);

    const done = await until(
      'the probe Pod to finish',
      async () => {
        const p = await client.get<Pod>(Pods, 'probe', 'default');
        return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p : undefined;
      },
      120_000,
    );
    const terminated = done.status?.containerStatuses?.[0]?.state?.terminated;
    expect(done.spec?.nodeName).toBe(n.name);
    expect({ phase: done.status?.phase, message: terminated?.message }).toMatchObject({ phase: 'Succeeded' });
    const result = JSON.parse(terminated?.message ?? '{}') as { server?: string; gitVersion?: string; username?: string };
    expect(result.server).toBe('https://10.0.0.1:443');
    expect(result.gitVersion).toMatch(/^v1\.\d+\.\d+/);
    expect(result.username).toBe('system:serviceaccount:default:default');

    const mem = n.memory();
    console.log(`node memory (RSS): kubelet ${(mem.kubelet / 2 ** 20).toFixed(0)} MiB, containerd ${(mem.containerd / 2 ** 20).toFixed(0)} MiB, kube-proxy ${(mem['kube-proxy'] / 2 ** 20).toFixed(0)} MiB`);
    expect(mem.kubelet).toBeGreaterThan(0);
    expect(mem.containerd).toBeGreaterThan(0);
    expect(mem['kube-proxy']).toBeGreaterThan(0);

    // The host keeps its own network, sysctls and mounts.
    expect(readlinkSync('/proc/self/ns/net')).not.toBe(n.namespaces.net);
    expect(readdirSync('/sys/class/net').sort()).toEqual(hostLinks);
    expect(tunables()).toEqual(hostTunables);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(n.dir);
    expect(cgroupDirs(n.cgroupRoot).length).toBeGreaterThan(0);

    await n.stop();
    node = undefined;
    for (const kind of ['mnt', 'net', 'pid', 'uts'] as const) expect(processesIn(kind, n.namespaces[kind])).toEqual([]);
    expect(cgroupDirs(n.cgroupRoot)).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(n.dir);
    expect(existsSync(n.dir)).toBe(false);
  }, 300_000);
});
