// The harness itself, against the real etcd / kube-apiserver /
// kube-controller-manager from bin/.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ApiException,
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCert, request, startControlPlane, waitFor, type ControlPlane } from '../harness/index.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const WIDGET_CRD = join(ROOT, 'test/fixtures/crds/widgets.test.ironplane.dev.yaml');
const BIN = process.env.IRONPLANE_BIN_DIR ?? join(ROOT, 'bin');

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

interface Widget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; generation?: number };
  spec: { size: number };
  status?: { observedSize?: number; conditions?: Condition[] };
}

function widgetApi(plane: ControlPlane): {
  create: (w: Widget) => Promise<Widget>;
  get: (name: string) => Promise<Widget>;
  replaceStatus: (w: Widget) => Promise<Widget>;
} {
  const api = plane.kubeConfig.makeApiClient(CustomObjectsApi);
  const where = { group: 'test.ironplane.dev', version: 'v1alpha1', namespace: 'default', plural: 'widgets' };
  return {
    create: async (w) => (await api.createNamespacedCustomObject({ ...where, body: w })) as Widget,
    get: async (name) => (await api.getNamespacedCustomObject({ ...where, name })) as Widget,
    replaceStatus: async (w) =>
      (await api.replaceNamespacedCustomObjectStatus({ ...where, name: w.metadata.name, body: w })) as Widget,
  };
}

const widget = (name: string, size: number): Widget => ({
  apiVersion: 'test.ironplane.dev/v1alpha1',
  kind: 'Widget',
  metadata: { name },
  spec: { size },
});

/** Pids of live processes whose command line mentions `dir` (our children pass it in their flags). */
function pidsMentioning(dir: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(dir)) pids.push(Number(e));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

describe('control plane with a CRD', () => {
  let plane: ControlPlane;

  beforeAll(async () => {
    plane = await startControlPlane({ name: 'harness-test', crds: [WIDGET_CRD] });
  });
  afterAll(async () => {
    await plane?.stop();
  });

  it('serves the API on loopback with an admin kubeconfig', async () => {
    expect(plane.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(plane.etcdUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(plane.kubeConfig.getCurrentContext()).toBe('harness-test');
    expect(plane.kubeConfig.getCurrentCluster()?.server).toBe(plane.url);
    const ns = await plane.kubeConfig.makeApiClient(CoreV1Api).listNamespace();
    expect(ns.items.map((n) => n.metadata?.name)).toEqual(expect.arrayContaining(['default', 'kube-system', 'kube-public']));
  });

  it('stores Widgets and enforces the CRD schema', async () => {
    const api = widgetApi(plane);
    const created = await api.create(widget('w1', 3));
    expect(created.metadata.resourceVersion).toBeTruthy();
    expect((await api.get('w1')).spec.size).toBe(3);

    // minimum: 0 in the schema proves our YAML reached the server intact.
    const rejected = await api.create(widget('w-negative', -1)).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(ApiException);
    expect((rejected as ApiException<unknown>).code).toBe(422);
  });

  it('serves the status subresource with typed conditions', async () => {
    const api = widgetApi(plane);
    const w = await api.create(widget('w-status', 5));
    const updated = await api.replaceStatus({
      ...w,
      status: {
        observedSize: 5,
        conditions: [
          { type: 'Ready', status: 'True', reason: 'Done', message: '', lastTransitionTime: '2024-01-01T00:00:00Z', observedGeneration: 1 },
        ],
      },
    });
    expect(updated.status?.observedSize).toBe(5);
    expect(updated.status?.conditions?.[0]?.status).toBe('True');
    // A status outside the enum is rejected by the schema.
    const bad = await api
      .replaceStatus({ ...updated, status: { conditions: [{ type: 'Ready', status: 'Maybe', lastTransitionTime: '2024-01-01T00:00:00Z' }] } })
      .catch((e: unknown) => e);
    expect((bad as ApiException<unknown>).code).toBe(422);
  });

  it('has RBAC on: a CA-signed user outside system:masters is forbidden', async () => {
    const nobody = await issueCert({ ca: plane.ca, commonName: 'nobody', usages: 'client' });
    const res = await request(`${plane.url}/api/v1/namespaces`, { ca: plane.ca.certPem, cert: nobody.certPem, key: nobody.keyPem });
    expect(res.status).toBe(403);
    expect(res.body).toContain('User \\"nobody\\" cannot list resource \\"namespaces\\"');
  });

  it('re-installs CRDs idempotently and rejects a path without CRDs', async () => {
    await plane.installCRDs([join(ROOT, 'test/fixtures/crds')]);
    const empty = mkdtempSync(join(tmpdir(), 'no-crds-'));
    try {
      await expect(plane.installCRDs([empty])).rejects.toThrow(/no CustomResourceDefinition found/);
    } finally {
      rmSync(empty, { recursive: true });
    }
  });

  it('keeps data across an apiserver restart on the same URL', async () => {
    const url = plane.url;
    await plane.stopApiServer();
    await expect(request(`${url}/readyz`, { ca: plane.ca.certPem })).rejects.toThrow(/ECONNREFUSED/);
    // etcd is still up meanwhile.
    expect((await request(`${plane.etcdUrl}/health`, undefined)).status).toBe(200);

    await plane.startApiServer();
    expect(plane.url).toBe(url);
    expect((await widgetApi(plane).get('w1')).spec.size).toBe(3);
  });
});

describe('teardown', () => {
  it('stop() ends every process and removes the temp dir, and is idempotent', async () => {
    const plane = await startControlPlane({ name: 'harness-stop' });
    const pids = pidsMentioning(plane.dir);
    expect(pids.length).toBe(2); // etcd and kube-apiserver
    await plane.stop();
    for (const pid of pids) expect(isGone(pid), `pid ${pid}`).toBe(true);
    expect(existsSync(plane.dir)).toBe(false);
    await plane.stop();
  });

  // A child Node process starts a control plane and ends without calling
  // stop(). On exit or a signal its hooks must take the children and the dir
  // with it; after SIGKILL (no hooks run) the next startControlPlane reaps them.
  it.each([
    ['process.exit()', 'exit'],
    ['SIGTERM', 'SIGTERM'],
    ['SIGKILL', 'SIGKILL'],
  ] as const)('cleans up when the owning process ends by %s', async (_label, mode) => {
    const script = `
      const { startControlPlane } = await import(${JSON.stringify(join(ROOT, 'test/harness/index.ts'))});
      const p = await startControlPlane({ name: 'harness-orphan' });
      console.log(JSON.stringify({ dir: p.dir }));
      // Exit (without stop()) when the test says so on stdin.
      process.stdin.once('data', () => process.exit(0));
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const dir = await waitFor('the child to report its control plane', 60_000, async (note) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) return (JSON.parse(line) as { dir: string }).dir;
      if (child.exitCode !== null) throw new Error(`child exited with ${child.exitCode}`);
      return note(out || 'no output yet');
    });
    const pids = pidsMentioning(dir);
    expect(pids.length).toBe(2);

    if (mode === 'exit') child.stdin.write('exit\n');
    else child.kill(mode);
    await exited;
    if (mode === 'SIGKILL') {
      // Nothing could run in the child: its etcd and apiserver are orphans now.
      expect(pids.some((pid) => !isGone(pid))).toBe(true);
      const next = await startControlPlane({ name: 'harness-reaper' });
      await next.stop();
    }
    await waitFor('orphans to disappear', 5000, async () => (pids.every(isGone) ? true : undefined));
    expect(existsSync(dir)).toBe(false);
  });

  it('says how to get a missing binary, before creating anything', async () => {
    const binDir = mkdtempSync(join(tmpdir(), 'ironplane-bin-'));
    try {
      symlinkSync(join(BIN, 'etcd'), join(binDir, 'etcd'));
      const before = readdirSync(tmpdir()).filter((e) => e.startsWith('ironplane-harness-missing-'));
      await expect(startControlPlane({ binDir, name: 'missing' })).rejects.toThrow(
        `kube-apiserver not found at ${join(binDir, 'kube-apiserver')}: run 'make tools'`,
      );
      expect(readdirSync(tmpdir()).filter((e) => e.startsWith('ironplane-harness-missing-'))).toEqual(before);
    } finally {
      rmSync(binDir, { recursive: true });
    }
  });
});

describe('with kube-controller-manager', () => {
  let plane: ControlPlane;
  let core: CoreV1Api;

  beforeAll(async () => {
    plane = await startControlPlane({ name: 'harness-kcm', controllerManager: true });
    core = plane.kubeConfig.makeApiClient(CoreV1Api);
  });
  afterAll(async () => {
    await plane?.stop();
  });

  it('runs the serviceaccount controller', async () => {
    const sa = await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
    expect(sa.metadata?.name).toBe('default');
  });

  it('signs cluster-info with a bootstrap token, which also authenticates', async () => {
    const tokenId = 'abcdef';
    const tokenSecret = '0123456789abcdef';
    const kubeconfig = `apiVersion: v1\nkind: Config\nclusters:\n- name: ''\n  cluster:\n    server: ${plane.url}\n    certificate-authority-data: ${Buffer.from(plane.ca.certPem).toString('base64')}\n`;
    await core.createNamespacedConfigMap({
      namespace: 'kube-public',
      body: { metadata: { name: 'cluster-info' }, data: { kubeconfig } },
    });
    await core.createNamespacedSecret({
      namespace: 'kube-system',
      body: {
        metadata: { name: `bootstrap-token-${tokenId}` },
        type: 'bootstrap.kubernetes.io/token',
        stringData: {
          'token-id': tokenId,
          'token-secret': tokenSecret,
          'usage-bootstrap-signing': 'true',
          'usage-bootstrap-authentication': 'true',
          'auth-extra-groups': 'system:bootstrappers:kubeadm:default-node-token',
        },
      },
    });

    const cm = await waitFor<V1ConfigMap>('the bootstrapsigner to sign cluster-info', 30_000, async () => {
      const got = await core.readNamespacedConfigMap({ name: 'cluster-info', namespace: 'kube-public' });
      return got.data?.[`jws-kubeconfig-${tokenId}`] ? got : undefined;
    });
    // Detached JWS "header..signature": HS256 over header.base64url(kubeconfig), keyed by the token secret.
    const [header, empty, signature] = (cm.data?.[`jws-kubeconfig-${tokenId}`] ?? '').split('.');
    expect(empty).toBe('');
    expect(JSON.parse(Buffer.from(header ?? '', 'base64url').toString())).toMatchObject({ alg: 'HS256', kid: tokenId });
    const expected = createHmac('sha256', tokenSecret)
      .update(`${header}.${Buffer.from(kubeconfig).toString('base64url')}`)
      .digest('base64url');
    expect(signature).toBe(expected);

    // The same token logs in as the bootstrap user, as a joining kubelet would.
    const tokenKc = new KubeConfig();
    tokenKc.loadFromOptions({
      clusters: [{ name: 'c', server: plane.url, caData: Buffer.from(plane.ca.certPem).toString('base64') }],
      users: [{ name: 'u', token: `${tokenId}.${tokenSecret}` }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const review = await tokenKc
      .makeApiClient(AuthenticationV1Api)
      .createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
    expect(review.status?.userInfo?.username).toBe(`system:bootstrap:${tokenId}`);
    expect(review.status?.userInfo?.groups).toEqual(
      expect.arrayContaining(['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token']),
    );
  });

  it('garbage-collects dependents of a deleted owner', async () => {
    const owner = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'gc-owner' } } });
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: {
        metadata: {
          name: 'gc-dependent',
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'gc-owner', uid: owner.metadata?.uid ?? '' }],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ name: 'gc-owner', namespace: 'default' });
    await waitFor('the garbage collector to delete gc-dependent', 30_000, async () => {
      try {
        await core.readNamespacedConfigMap({ name: 'gc-dependent', namespace: 'default' });
        return undefined;
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return true;
        throw err;
      }
    });
  });
});
