// The Kairos bootstrap provider on the local management plane: the manager
// runs as `ironplane manager --role kairos` with exactly config/rbac/kairos
// and its webhooks; each tenant is a real kube-apiserver with the bootstrap
// signer, as Kamaji hosts it. The tests play CAPI core (Machines, nodeRef).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { KairosConfig } from '../../../providers/api/generated/ironplane/v1alpha1/kairosconfig.js';
import { Clusters, Machines } from '../../../providers/capi/contract.js';
import type { Secret } from '../../../providers/capi/tenant.js';
import { getCondition } from '../../../providers/kit/conditions.js';
import { ApiError } from '../../../providers/kit/client.js';
import { Events, Secrets, type KubeObject, type ResourceType } from '../../../providers/kit/types.js';
import { KairosConfigs } from '../../../providers/kairos/resources.js';
import { NODE_PATHS, TOKEN_OWNER_LABEL } from '../../../providers/kairos/names.js';
import { caCertHashes, tokenSecretName } from '../../../providers/kairos/token.js';
import { KvmClusters } from '../../../providers/kubevirt/resources.js';
import { parseCloudConfig, type CloudConfig } from '../../sim/cloudinit.js';
import { checkJoin, findKubeadmJoin } from '../../sim/join.js';
import { until } from '../processes.js';
import { bootstrapValue, createCluster, createMachine, joinConfigurationOf, joinFilesOf, kubeadmValidate, reconcileCount, startWorld, tenantClient, type World } from './world.js';

const NS = 'team-a';
let w: World;

beforeAll(async () => {
  w = await startWorld('kairos');
  w.startManager();
  await w.webhooksUp();
  await createCluster(w, NS, 'alpha');
}, 180_000);

afterAll(async () => {
  if (w && process.env['IRONPLANE_TEST_LOG']) console.log(w.output());
  await w?.stop();
});

const config = (name: string, ns = NS) => w.client.get<KairosConfig>(KairosConfigs, name, ns);
const condition = async (name: string, type: string, ns = NS) => getCondition((await config(name, ns)).status?.conditions, type);
const waitReason = (name: string, type: string, reason: string, ns = NS, timeoutMs = 30_000) =>
  until(`${name} ${type} reason ${reason}`, async () => {
    const c = await condition(name, type, ns);
    return c?.reason === reason ? c : undefined;
  }, timeoutMs);
const created = (name: string, ns = NS, timeoutMs = 30_000) =>
  until(`${name} to have its bootstrap data`, async () => {
    const c = await config(name, ns);
    return c.status?.initialization?.dataSecretCreated ? c : undefined;
  }, timeoutMs);
const tokensOf = async (cluster: string, uid: string) => {
  const tc = tenantClient(w, cluster);
  try {
    return (await tc.list<Secret>(Secrets, { namespace: 'kube-system', labelSelector: `${TOKEN_OWNER_LABEL}=${uid}` })).items;
  } finally {
    tc.close();
  }
};
const cloudConfigOf = async (name: string): Promise<CloudConfig> => {
  const cc = parseCloudConfig(await bootstrapValue(w, NS, name));
  if (typeof cc === 'string') throw new Error(cc);
  return cc;
};
/** Wakes a KairosConfig now instead of waiting for its requeue (annotations are watched). */
const poke = (name: string, ns = NS) => w.client.mergePatch(KairosConfigs, name, ns, { metadata: { annotations: { 'test.ironplane.dev/poke': String(Date.now()) } } });
const decoded = (s: Secret, k: string) => Buffer.from(s.data![k]!, 'base64').toString('utf8');
const ClusterRoles: ResourceType = { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false };
const seenTokens: string[] = [];

describe('Kairos bootstrap provider', () => {
  it('given a Machine and its KairosConfig, should write the bootstrap Secret the contract asks for, with a join the tenant accepts', async () => {
    const { machine } = await createMachine(w, NS, 'alpha', 'alpha-w1', {
      spec: { nodeLabels: { 'node.kubernetes.io/pool': 'md-0' }, taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }], users: [{ name: 'ops', sshAuthorizedKeys: ['ssh-ed25519 AAAAC3Nza ops@example.com'] }] },
    });
    const kc = await created('alpha-w1');
    expect(kc.status?.dataSecretName).toBe('alpha-w1');
    expect(kc.metadata.finalizers).toEqual(['kairosconfig.bootstrap.ironplane.dev']);
    expect(getCondition(kc.status?.conditions, 'Ready')).toMatchObject({ status: 'True', reason: 'Ready' });
    expect(getCondition(kc.status?.conditions, 'DataSecretAvailable')).toMatchObject({ status: 'True', reason: 'Available' });
    expect(getCondition(kc.status?.conditions, 'BootstrapTokenReady')).toMatchObject({ status: 'True', reason: 'TokenValid' });

    const secret = await w.client.get<Secret>(Secrets, 'alpha-w1', NS);
    expect(secret.type).toBe('cluster.x-k8s.io/secret');
    expect(Object.keys(secret.data!).sort()).toEqual(['format', 'value']);
    expect(decoded(secret, 'format')).toBe('cloud-config');
    expect(secret.metadata?.labels).toEqual({ 'cluster.x-k8s.io/cluster-name': 'alpha' });
    expect(secret.metadata?.ownerReferences).toEqual([{ apiVersion: 'bootstrap.ironplane.dev/v1alpha1', kind: 'KairosConfig', name: 'alpha-w1', uid: kc.metadata.uid, controller: true }]);
    const value = decoded(secret, 'value');
    expect(value.split('\n', 1)[0]).toBe('#cloud-config');
    expect(machine.metadata?.uid).toBeDefined();

    // The token in the tenant, in kubeadm's format, is the one in the data.
    const [token, ...more] = await tokensOf(`${NS}/alpha`, kc.metadata.uid!);
    expect(more).toEqual([]);
    expect(token!.metadata?.name).toBe(tokenSecretName(kc.status!.bootstrapToken!.id!));
    expect(token!.type).toBe('bootstrap.kubernetes.io/token');
    expect(decoded(token!, 'auth-extra-groups')).toBe('system:bootstrappers:kubeadm:default-node-token');
    expect(decoded(token!, 'expiration')).toBe(kc.status!.bootstrapToken!.expires);
    const join = findKubeadmJoin(await cloudConfigOf('alpha-w1'))!;
    expect(join.token).toBe(`${decoded(token!, 'token-id')}.${decoded(token!, 'token-secret')}`);
    seenTokens.push(join.token!);

    // kubeadm's discovery and token authentication succeed; the real kubeadm accepts the JoinConfiguration.
    await expect(checkJoin(join)).resolves.toMatchObject({ user: `system:bootstrap:${kc.status!.bootstrapToken!.id}` });
    expect(kubeadmValidate(joinConfigurationOf(value))).toEqual({ code: 0, out: 'ok\n' });
  });

  it('given nothing changed, should not rewrite the Secret or the token', async () => {
    const before = await w.client.get<Secret>(Secrets, 'alpha-w1', NS);
    const kc = await config('alpha-w1');
    const tokenBefore = (await tokensOf(`${NS}/alpha`, kc.metadata.uid!))[0]!;
    const reconciles = await reconcileCount(w);
    await poke('alpha-w1');
    await until('the poke to be reconciled', async () => (await reconcileCount(w)) > reconciles);
    await poke('alpha-w1');
    await until('the second poke to be reconciled', async () => (await reconcileCount(w)) > reconciles + 1);
    expect((await w.client.get<Secret>(Secrets, 'alpha-w1', NS)).metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect((await tokensOf(`${NS}/alpha`, kc.metadata.uid!))[0]!.metadata?.resourceVersion).toBe(tokenBefore.metadata?.resourceVersion);
  });

  it('given a short TTL, should extend the token while the Machine has no Node, then delete it once it has one and never make another', async () => {
    await createMachine(w, NS, 'alpha', 'alpha-ttl', { spec: { join: { tokenTTL: '12s' } } });
    const kc = await created('alpha-ttl');
    const first = kc.status!.bootstrapToken!;
    const dataRV = (await w.client.get<Secret>(Secrets, 'alpha-ttl', NS)).metadata?.resourceVersion;
    seenTokens.push(findKubeadmJoin(await cloudConfigOf('alpha-ttl'))!.token!);
    // Checked every TTL/3 (4 s), extended when less than 2/3 (8 s) is left.
    const refreshed = await until('the token to be extended', async () => {
      const now = (await config('alpha-ttl')).status?.bootstrapToken;
      return now?.expires && Date.parse(now.expires) > Date.parse(first.expires!) ? now : undefined;
    }, 20_000);
    expect(refreshed.id).toBe(first.id);
    const [token] = await tokensOf(`${NS}/alpha`, kc.metadata.uid!);
    expect(decoded(token!, 'expiration')).toBe(refreshed.expires);
    // Same token, so the same bootstrap data: nothing downstream churns.
    expect((await w.client.get<Secret>(Secrets, 'alpha-ttl', NS)).metadata?.resourceVersion).toBe(dataRV);
    await expect(checkJoin(findKubeadmJoin(await cloudConfigOf('alpha-ttl'))!)).resolves.toBeDefined();

    // CAPI core links the Node: the token has done its job.
    await w.client.mergePatch(Machines, 'alpha-ttl', NS, { status: { nodeRef: { name: 'alpha-ttl' } } }, { subresource: 'status' });
    const c = await waitReason('alpha-ttl', 'BootstrapTokenReady', 'NodeJoined');
    expect(c.message).toBe(`the Machine joined as Node alpha-ttl; token ${first.id} deleted`);
    expect(await tokensOf(`${NS}/alpha`, kc.metadata.uid!)).toEqual([]);
    expect((await config('alpha-ttl')).status?.bootstrapToken).toMatchObject({ id: first.id, removed: true });
    // Longer than a TTL: no refresh, no new token.
    await new Promise((r) => setTimeout(r, 13_000));
    expect(await tokensOf(`${NS}/alpha`, kc.metadata.uid!)).toEqual([]);
    expect((await w.client.get<Secret>(Secrets, 'alpha-ttl', NS)).metadata?.resourceVersion).toBe(dataRV);
  }, 60_000);

  it('given a Cluster without an endpoint, CA or kubeconfig yet, should wait in a condition for each, then go on', async () => {
    const tenant = await createCluster(w, NS, 'beta', { endpoint: false, publish: false });
    await createMachine(w, NS, 'beta', 'beta-w1');
    const c1 = await waitReason('beta-w1', 'DataSecretAvailable', 'WaitingForControlPlaneEndpoint');
    expect(c1).toMatchObject({ status: 'False', message: 'waiting for Cluster beta spec.controlPlaneEndpoint (the control-plane provider sets it)' });
    expect(getCondition((await config('beta-w1')).status?.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'WaitingForControlPlaneEndpoint' });

    await w.client.mergePatch(Clusters, 'beta', NS, { spec: { controlPlaneEndpoint: tenant.endpoint } });
    const c2 = await waitReason('beta-w1', 'DataSecretAvailable', 'WaitingForClusterCA');
    expect(c2.message).toBe(`Secret ${NS}/beta-ca not found: the control plane has not published the tenant CA yet`);

    // The CA alone: now the kubeconfig is what is missing.
    await w.client.create(Secrets, { metadata: { name: 'beta-ca', namespace: NS }, type: 'cluster.x-k8s.io/secret', data: { 'tls.crt': Buffer.from(tenant.ca.certPem).toString('base64') } } as KubeObject);
    await poke('beta-w1');
    const c3 = await waitReason('beta-w1', 'DataSecretAvailable', 'KubeconfigNotFound');
    expect(c3.message).toBe(`Secret ${NS}/beta-kubeconfig not found: the control plane has not published the tenant kubeconfig yet`);
    expect(getCondition((await config('beta-w1')).status?.conditions, 'BootstrapTokenReady')).toMatchObject({ status: 'Unknown', reason: 'KubeconfigNotFound' });

    await w.client.create(Secrets, { metadata: { name: 'beta-kubeconfig', namespace: NS }, type: 'cluster.x-k8s.io/secret', data: { value: Buffer.from(tenant.adminKubeconfig).toString('base64') } } as KubeObject);
    // No poke: the requeue finds it.
    await created('beta-w1', NS, 40_000);
  }, 90_000);

  it('given a Cluster on a KvmCluster, should wait for it, name a refused read, and join through its private control-plane endpoint once it reports one', async () => {
    const tenant = await createCluster(w, NS, 'delta', { infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: 'KvmCluster', name: 'delta' } });
    const publicEndpoint = `${tenant.endpoint.host}:${tenant.endpoint.port}`;

    // The read refused: the manager's ClusterRole without its kvmclusters rule for a while.
    const role = await w.client.get<KubeObject & { rules: { resources?: string[] }[] }>(ClusterRoles, 'ironplane-kairos-manager');
    await w.client.mergePatch(ClusterRoles, 'ironplane-kairos-manager', undefined, { rules: role.rules.filter((r) => !r.resources?.includes('kvmclusters')) });
    try {
      await createMachine(w, NS, 'delta', 'delta-w0');
      const refused = await waitReason('delta-w0', 'DataSecretAvailable', 'InfrastructureClusterUnreadable');
      expect(refused.status).toBe('False');
      expect(refused.message).toMatch(/^cannot read KvmCluster team-a\/delta \(Cluster delta spec\.infrastructureRef\) to learn whether its workers join through a private control-plane endpoint: .*forbidden/);
    } finally {
      await w.client.mergePatch(ClusterRoles, 'ironplane-kairos-manager', undefined, { rules: role.rules });
    }
    // Readable but not there yet: a wait, not the public endpoint, which the KvmCluster's VPC may not reach.
    const waiting = await waitReason('delta-w0', 'DataSecretAvailable', 'WaitingForClusterInfrastructure');
    expect(waiting).toMatchObject({ status: 'False', message: 'waiting for KvmCluster delta (Cluster delta spec.infrastructureRef): it says whether its workers join through a private control-plane endpoint' });
    expect(await w.client.tryGet(Secrets, 'delta-w0', NS)).toBeUndefined();

    // A KvmCluster that has not said yet, or whose private endpoint is on its way: still a wait.
    await w.client.create(KvmClusters, { metadata: { name: 'delta', namespace: NS }, spec: { network: { nodeCIDR: '10.70.0.0/24' } } } as KubeObject);
    const privateEndpoint = (status: 'True' | 'False', reason: string, message: string, extra: Record<string, unknown> = {}) =>
      w.client.mergePatch(KvmClusters, 'delta', NS, { status: { ...extra, conditions: [{ type: 'PrivateEndpointReady', status, reason, message, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] } }, { subresource: 'status' });
    await poke('delta-w0');
    expect(await waitReason('delta-w0', 'DataSecretAvailable', 'WaitingForPrivateEndpoint')).toMatchObject({ status: 'False', message: 'waiting for the private control-plane endpoint of KvmCluster delta (no PrivateEndpointReady yet)' });
    await privateEndpoint('False', 'WaitingForProxy', 'waiting for Deployment p to have an available replica');
    await poke('delta-w0');
    await until('the wait to name the proxy', async () => {
      const c = await condition('delta-w0', 'DataSecretAvailable');
      if (c?.message?.includes('PrivateEndpointReady WaitingForProxy: waiting for Deployment p')) return true;
      throw new Error(`${c?.reason}: ${c?.message}; KvmCluster status ${JSON.stringify((await w.client.get<KubeObject & { status?: unknown }>(KvmClusters, "delta", NS)).status)}`);
    });
    expect(await w.client.tryGet(Secrets, 'delta-w0', NS)).toBeUndefined();

    // Turned off by the platform: the Cluster's endpoint and token discovery, as for any infrastructure.
    await privateEndpoint('False', 'Disabled', 'no proxy network');
    await poke('delta-w0');
    await created('delta-w0');
    const publicJoin = findKubeadmJoin(await cloudConfigOf('delta-w0'))!;
    seenTokens.push(publicJoin.token!);
    expect(publicJoin.config?.discovery).toEqual({ bootstrapToken: { apiServerEndpoint: publicEndpoint, token: publicJoin.token, caCertHashes: caCertHashes(tenant.ca.certPem) } });
    expect(joinFilesOf(await bootstrapValue(w, NS, 'delta-w0'))).toEqual({});
    expect(await condition('delta-w0', 'DataSecretAvailable')).toMatchObject({ status: 'True', message: `Secret delta-w0: Kairos cloud-config joining ${publicEndpoint}, the Cluster's spec.controlPlaneEndpoint (KvmCluster delta has no private endpoint: Disabled), with kubeadm` });
    await expect(checkJoin(publicJoin)).resolves.toMatchObject({ server: tenant.url });
    // delta-w0 joins: its data is left as it is, whatever the KvmCluster reports later.
    await w.client.mergePatch(Machines, 'delta-w0', NS, { status: { nodeRef: { name: 'delta-w0' } } }, { subresource: 'status' });
    await waitReason('delta-w0', 'BootstrapTokenReady', 'NodeJoined');
    const joinedRV = (await w.client.get<Secret>(Secrets, 'delta-w0', NS)).metadata?.resourceVersion;

    // The KvmCluster reports its private endpoint (status subresource, as the KubeVirt provider writes it).
    await privateEndpoint('True', 'Serving', '198.18.0.1:6443 in the tenant VPC', { privateControlPlaneEndpoint: { host: '198.18.0.1', port: 6443 } });
    const { config: kc } = await createMachine(w, NS, 'delta', 'delta-w1');
    await created('delta-w1');
    const value = await bootstrapValue(w, NS, 'delta-w1');
    const [token] = await tokensOf(`${NS}/delta`, kc.metadata.uid!);
    const tokenValue = `${decoded(token!, 'token-id')}.${decoded(token!, 'token-secret')}`;
    seenTokens.push(tokenValue);
    expect((parse(joinConfigurationOf(value)) as { discovery: unknown }).discovery).toEqual({ file: { kubeConfigPath: NODE_PATHS.discoveryKubeconfig }, tlsBootstrapToken: tokenValue });
    const files = joinFilesOf(value);
    expect(Object.keys(files)).toEqual([NODE_PATHS.discoveryKubeconfig]);
    const kubeconfig = parse(files[NODE_PATHS.discoveryKubeconfig]!) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[] };
    expect(kubeconfig).toEqual({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'kubernetes', cluster: { server: 'https://198.18.0.1:6443', 'certificate-authority-data': expect.any(String) } }],
      users: [{ name: 'kubernetes', user: {} }],
      contexts: [{ name: 'kubernetes', context: { cluster: 'kubernetes', user: 'kubernetes' } }],
      'current-context': 'kubernetes',
    });
    // The tenant CA's certificate from <cluster>-ca, and nothing else of that Secret (it holds the CA key too).
    const caData = Buffer.from(kubeconfig.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString('utf8');
    expect(caData).toBe(`${tenant.ca.certPem.trim()}\n`);
    expect(value).not.toContain('PRIVATE KEY');
    expect(kubeadmValidate(joinConfigurationOf(value), files)).toEqual({ code: 0, out: 'ok\n' });
    const message = `Secret delta-w1: Kairos cloud-config joining 198.18.0.1:6443, the private control-plane endpoint of KvmCluster delta, with kubeadm`;
    expect(await condition('delta-w1', 'DataSecretAvailable')).toMatchObject({ status: 'True', reason: 'Available', message });
    const note = await until('the DataSecretCreated event of delta-w1', async () =>
      (await w.client.list<KubeObject & { reason?: string; note?: string; regarding?: { name?: string } }>(Events, { namespace: NS })).items.find((e) => e.reason === 'DataSecretCreated' && e.regarding?.name === 'delta-w1')?.note,
    );
    expect(note).toBe('bootstrap data Secret delta-w1 created: kubeadm join to 198.18.0.1:6443, the private control-plane endpoint of KvmCluster delta');

    // Data out, then the proxy restarts (the endpoint goes away for a while): the data stays as it
    // is, still Available, and its token keeps being extended for when the endpoint is back.
    await createMachine(w, NS, 'delta', 'delta-w2', { spec: { join: { tokenTTL: '12s' } } });
    await created('delta-w2');
    const outRV = (await w.client.get<Secret>(Secrets, 'delta-w2', NS)).metadata?.resourceVersion;
    const firstExpiry = (await config('delta-w2')).status?.bootstrapToken?.expires;
    await privateEndpoint('False', 'WaitingForProxy', 'waiting for Deployment p to have an available replica');
    await until('the token of delta-w2 to be extended while the endpoint is away', async () => ((await config('delta-w2')).status?.bootstrapToken?.expires !== firstExpiry ? true : undefined), 60_000);
    expect(await condition('delta-w2', 'DataSecretAvailable')).toMatchObject({ status: 'True', reason: 'Available' });
    expect(await condition('delta-w2', 'BootstrapTokenReady')).toMatchObject({ status: 'True', reason: 'TokenValid' });
    expect((await w.client.get<Secret>(Secrets, 'delta-w2', NS)).metadata?.resourceVersion).toBe(outRV);

    const reconciles = await reconcileCount(w);
    await poke('delta-w0');
    await until('the poke of the joined delta-w0 to be reconciled', async () => (await reconcileCount(w)) > reconciles);
    expect((await w.client.get<Secret>(Secrets, 'delta-w0', NS)).metadata?.resourceVersion).toBe(joinedRV);
  }, 90_000);

  it('given an unreachable tenant, should say so in a condition and keep running', async () => {
    const tenant = await createCluster(w, NS, 'gamma');
    await tenant.stop();
    await createMachine(w, NS, 'gamma', 'gamma-w1');
    const c = await waitReason('gamma-w1', 'DataSecretAvailable', 'TenantUnreachable');
    expect(c.message).toMatch(/^cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:\d+: /);
    expect(w.manager?.child.exitCode).toBeNull();
    expect(await w.client.tryGet(Secrets, 'gamma-w1', NS)).toBeUndefined();
  });

  it('given a Kubernetes version older than kubeadm v1beta4, should refuse it in a condition', async () => {
    await createMachine(w, NS, 'alpha', 'alpha-old', { version: 'v1.30.4' });
    const c = await waitReason('alpha-old', 'DataSecretAvailable', 'InvalidSpec');
    expect(c.message).toContain('Machine spec.version v1.30.4: kubeadm reads JoinConfiguration kubeadm.k8s.io/v1beta4 from v1.31 on');
  });

  it('given a file from a Secret that does not exist yet, should name it, then embed it once it exists', async () => {
    await createMachine(w, NS, 'alpha', 'alpha-ref', { spec: { files: [{ path: '/etc/registry/auth.json', permissions: '0600', contentFrom: { secretKeyRef: { name: 'registry-auth', key: 'auth.json' } } }] } });
    const c = await waitReason('alpha-ref', 'DataSecretAvailable', 'MissingReference');
    expect(c.message).toBe(`spec.files[0] (/etc/registry/auth.json): Secret ${NS}/registry-auth not found`);
    await w.client.create(Secrets, { metadata: { name: 'registry-auth', namespace: NS }, data: { 'other.json': Buffer.from('{}').toString('base64') } } as KubeObject);
    await poke('alpha-ref');
    await until('the missing key to be named', async () => (await condition('alpha-ref', 'DataSecretAvailable'))?.message === `spec.files[0] (/etc/registry/auth.json): Secret ${NS}/registry-auth has no key "auth.json"`);
    await w.client.mergePatch(Secrets, 'registry-auth', NS, { data: { 'auth.json': Buffer.from('{"auths":{}}').toString('base64') } });
    await poke('alpha-ref');
    await created('alpha-ref');
    const file = ((await cloudConfigOf('alpha-ref'))['stages'] as Record<string, { files?: { path: string; content: string; encoding?: string }[] }[]>)['boot']!.flatMap((s) => s.files ?? []).find((f) => f.path === '/etc/registry/auth.json');
    expect(file).toMatchObject({ encoding: 'b64', content: Buffer.from('{"auths":{}}').toString('base64') });
  });

  it('given files too large for the datasource, should refuse with the sizes and make no token', async () => {
    const big = (p: string) => ({ path: p, content: 'x'.repeat(32_000) });
    const { config: kc } = await createMachine(w, NS, 'alpha', 'alpha-big', { spec: { files: [big('/opt/a'), big('/opt/b')] } });
    const c = await waitReason('alpha-big', 'DataSecretAvailable', 'DataSecretTooLarge');
    expect(c.message).toMatch(/^bootstrap data is \d+ bytes, over the 64512-byte limit for the target datasource/);
    expect(await tokensOf(`${NS}/alpha`, kc.metadata.uid!)).toEqual([]);
    expect(await w.client.tryGet(Secrets, 'alpha-big', NS)).toBeUndefined();
  });

  it('given unknown fields, invalid labels or a bad extraConfig, should refuse the object with the path named', async () => {
    const body = (name: string, spec: unknown) => ({ apiVersion: 'bootstrap.ironplane.dev/v1alpha1', kind: 'KairosConfig', metadata: { name, namespace: NS }, spec });
    const strict = (name: string, spec: unknown) =>
      w.client.request({ method: 'POST', path: w.client.path(KairosConfigs, NS), query: { fieldValidation: 'Strict', fieldManager: 'kairos-test' }, body: body(name, spec) });
    const failure = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        return e as ApiError;
      }
      throw new Error('accepted');
    };
    expect((await failure(strict('bad-1', { instal: { device: 'auto' } }))).message).toContain('unknown field "spec.instal"');
    expect((await failure(strict('bad-2', { files: [{ path: '/etc/x', content: 'y', mode: '0600' }] }))).message).toContain('unknown field "spec.files[0].mode"');
    expect((await failure(strict('bad-3', { nodeLabels: { 'node-role.kubernetes.io/worker': '' } }))).message).toContain('spec.nodeLabels: Invalid value: the kubelet may not set labels in the kubernetes.io and k8s.io namespaces');
    expect((await failure(strict('bad-4', { install: { reboot: true, poweroff: true } }))).message).toContain('spec.install: Invalid value: install.reboot and install.poweroff are mutually exclusive');
    const hook = await failure(strict('bad-5', { extraConfig: 'stages:\n  network:\n    - comands: [echo]\n' }));
    expect(hook.message).toContain('admission webhook "kairosconfig.bootstrap.ironplane.dev" denied the request: KairosConfig team-a/bad-5 is invalid: spec.extraConfig.stages.network[0].comands: unknown step key');
    const tpl = await failure(
      w.client.create({ group: 'bootstrap.ironplane.dev', version: 'v1alpha1', kind: 'KairosConfigTemplate', plural: 'kairosconfigtemplates', namespaced: true }, {
        metadata: { name: 'bad-tpl', namespace: NS },
        spec: { template: { spec: { extraConfig: 'k3s:\n  enabled: true\n' } } },
      } as KubeObject),
    );
    expect(tpl.message).toContain('spec.template.spec.extraConfig.k3s: selects another Kubernetes distribution or cluster provider');
  });

  it('should never write a token into a log line or an event', async () => {
    expect(seenTokens.length).toBeGreaterThanOrEqual(2);
    const out = w.output();
    expect(out).toContain('"controller":"kairosconfig"');
    const events = (await w.client.list<KubeObject & { note?: string }>(Events, { namespace: NS })).items;
    expect(events.some((e) => e.note?.startsWith('bootstrap data Secret alpha-w1 created'))).toBe(true);
    for (const t of seenTokens) {
      const secretHalf = t.split('.')[1]!;
      expect(out).not.toContain(secretHalf);
      for (const e of events) expect(JSON.stringify(e)).not.toContain(secretHalf);
    }
  });

  it('given the KairosConfig is deleted, should delete its Secret and its token', async () => {
    const kc = await config('alpha-w1');
    await w.client.delete(KairosConfigs, 'alpha-w1', NS);
    await until('the KairosConfig to be gone', async () => (await w.client.tryGet(KairosConfigs, 'alpha-w1', NS)) === undefined);
    expect(await w.client.tryGet(Secrets, 'alpha-w1', NS)).toBeUndefined();
    expect(await tokensOf(`${NS}/alpha`, kc.metadata.uid!)).toEqual([]);
  });

  it('given a Secret of the data Secret name that the KairosConfig does not control, should neither overwrite nor delete it', async () => {
    const name = 'alpha-taken';
    const foreign = { metadata: { name, namespace: NS, labels: { 'cluster.x-k8s.io/cluster-name': 'alpha' } }, type: 'cluster.x-k8s.io/secret', data: { value: Buffer.from('#cloud-config\n# not yours\n').toString('base64'), format: Buffer.from('cloud-config').toString('base64') } };
    const before = await w.client.create<Secret>(Secrets, foreign as Secret);
    await createMachine(w, NS, 'alpha', name);
    const c = await waitReason(name, 'DataSecretAvailable', 'DataSecretNotOwned');
    const message = `Secret ${NS}/${name} exists and does not belong to this KairosConfig: it has no controller ownerReference; it is left untouched`;
    expect(c).toMatchObject({ status: 'False', message });
    const kc = await config(name);
    expect(kc.status?.dataSecretName).toBeUndefined();
    expect(kc.status?.initialization?.dataSecretCreated).toBeUndefined();
    const notes = await until('a DataSecretNotOwned event', async () => {
      const n = (await w.client.list<KubeObject & { type?: string; reason?: string; note?: string; regarding?: { name?: string } }>(Events, { namespace: NS })).items.filter(
        (e) => e.type === 'Warning' && e.reason === 'DataSecretNotOwned' && e.regarding?.name === name,
      );
      return n.length ? n.map((e) => e.note) : undefined;
    });
    expect(notes).toEqual([message]);
    expect((await w.client.get<Secret>(Secrets, name, NS)).metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);

    await w.client.delete(KairosConfigs, name, NS);
    await until('the KairosConfig to be gone', async () => (await w.client.tryGet(KairosConfigs, name, NS)) === undefined);
    const after = await w.client.get<Secret>(Secrets, name, NS);
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(after.data).toEqual(foreign.data);
    const onDelete = (await w.client.list<KubeObject & { reason?: string; note?: string; regarding?: { name?: string } }>(Events, { namespace: NS })).items.filter(
      (e) => e.reason === 'DataSecretNotOwned' && e.regarding?.name === name,
    );
    expect(onDelete.map((e) => e.note)).toContain(`Secret ${NS}/${name} does not belong to this KairosConfig: it has no controller ownerReference; it is left in place`);
  });
});
