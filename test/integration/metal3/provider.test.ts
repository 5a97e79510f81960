// The Metal3 provider against the real baremetal-operator in test mode: a
// MetalMachine claims a host, BMO provisions it with the Kairos OCI image and
// our data Secrets, and deletion walks it back through deprovisioning to
// available with nothing left behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Secret } from '../../../providers/capi/tenant.js';
import { PROVIDER_ID_FILE } from '../../../providers/capi/userdata.js';
import { Secrets } from '../../../providers/kit/types.js';
import type { Host } from '../../../providers/metal3/hosts.js';
import { dataSecretName, NODE_REUSE_LABEL } from '../../../providers/metal3/names.js';
import { BareMetalHosts, MetalClusters, MetalMachineTemplates } from '../../../providers/metal3/resources.js';
import type { MetalCluster } from '../../../providers/api/generated/ironplane/v1alpha1/metalcluster.js';
import { until } from '../processes.js';
import { condition, createCluster, createHost, createMachine, deleteMachine, KAIROS_IMAGE, metalMachine, startWorld, waitHostsAvailable, type World } from './world.js';

let w: World;
const NS = 'tenant-a';
const decode = (s: Secret, key: string) => Buffer.from(s.data?.[key] ?? '', 'base64').toString('utf8');

beforeAll(async () => {
  w = await startWorld('metal3-provider');
  w.startManager();
  await createHost(w, NS, 'host-0', { role: 'worker', 'topology.kubernetes.io/zone': 'rack-1' }, 0);
  await createHost(w, NS, 'host-1', { role: 'storage', 'topology.kubernetes.io/zone': 'rack-2' }, 1);
  await createCluster(w, NS, 'c1');
  await waitHostsAvailable(w, NS, ['host-0', 'host-1']);
});

afterAll(async () => {
  await w?.stop();
});

describe('MetalCluster', () => {
  it('should be provisioned with failure domains from the host zone labels, and wait for the control-plane endpoint in a condition', async () => {
    const mc = await until('MetalCluster c1 to be provisioned', async () => {
      const c = await w.client.get<MetalCluster>(MetalClusters, 'c1', NS);
      return c.status?.initialization?.provisioned && c.status.failureDomains?.length === 2 ? c : undefined;
    }, 60_000);
    expect(mc.status?.failureDomains).toEqual([
      { name: 'rack-1', controlPlane: false },
      { name: 'rack-2', controlPlane: false },
    ]);
    expect(mc.status?.hostNamespaces).toEqual([NS]);
    expect(condition(mc, 'ControlPlaneEndpointReady')).toMatchObject({ status: 'False', reason: 'WaitingForControlPlaneEndpoint' });
    expect(mc.metadata.finalizers).toContain('metalcluster.infrastructure.ironplane.dev');
  });

  it('given the endpoint Kamaji publishes, should report it ready; a change afterwards is refused', async () => {
    // What the Kamaji CP provider's dynamic infrastructure-cluster patch does.
    await w.client.mergePatch(MetalClusters, 'c1', NS, { spec: { controlPlaneEndpoint: { host: '10.20.0.5', port: 6443 } } });
    await until('ControlPlaneEndpointReady', async () => condition(await w.client.get<MetalCluster>(MetalClusters, 'c1', NS), 'ControlPlaneEndpointReady')?.status === 'True' || undefined, 30_000);
    await expect(w.client.mergePatch(MetalClusters, 'c1', NS, { spec: { controlPlaneEndpoint: { host: '10.20.0.6', port: 6443 } } })).rejects.toThrow('controlPlaneEndpoint cannot change once set');
  });
});

describe('MetalMachine lifecycle with the real baremetal-operator', () => {
  it('should claim a matching host, provision it with the OCI image and the data Secrets, and report addresses', async () => {
    await createMachine(w, NS, 'c1', 'm1', { spec: { hostSelector: { matchLabels: { role: 'worker' } } } });
    const m = await until('m1 to be provisioned', async () => {
      const mm = await metalMachine(w, NS, 'm1');
      return mm.status?.initialization?.provisioned ? mm : undefined;
    }, 90_000);
    expect(m.status?.host).toEqual({ name: 'host-0', namespace: NS });
    expect(m.spec?.providerID).toBe(`metal3://${NS}/host-0/m1`);
    expect(m.status?.failureDomain).toBe('rack-1');
    expect(m.status?.addresses).toContainEqual({ type: 'InternalIP', address: '192.168.100.1' });
    expect(m.status?.addresses).toContainEqual({ type: 'Hostname', address: 'm1' });
    expect(condition(m, 'HostClaimed')).toMatchObject({ status: 'True', reason: 'Claimed' });
    expect(condition(m, 'HostProvisioned')).toMatchObject({ status: 'True', reason: 'Provisioned' });
    expect(condition(m, 'Ready')?.status).toBe('True');

    const host = await w.client.get<Host>(BareMetalHosts, 'host-0', NS);
    expect(host.status?.provisioning?.state).toBe('provisioned');
    expect(host.spec?.consumerRef).toMatchObject({ kind: 'MetalMachine', name: 'm1', namespace: NS });
    expect(host.spec?.image).toEqual({ url: KAIROS_IMAGE });
    expect(host.spec?.online).toBe(true);
    expect(host.spec?.userData).toEqual({ name: dataSecretName(NS, 'm1', 'userdata'), namespace: NS });
    expect(host.spec?.metaData).toEqual({ name: dataSecretName(NS, 'm1', 'metadata'), namespace: NS });

    const userdata = await w.client.get<Secret>(Secrets, dataSecretName(NS, 'm1', 'userdata'), NS);
    const cloudConfig = decode(userdata, 'userData');
    expect(cloudConfig.startsWith('#cloud-config\n')).toBe(true);
    expect((parse(cloudConfig) as { write_files: { path: string; content: string }[] }).write_files).toContainEqual(expect.objectContaining({ path: PROVIDER_ID_FILE, content: `metal3://${NS}/host-0/m1` }));
    expect(userdata.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'BareMetalHost', name: 'host-0' })]);
    // Marked for this MetalMachine by name, namespace and uid: only it may change or delete them.
    expect(userdata.metadata?.labels).toMatchObject({
      'infrastructure.ironplane.dev/metal-machine': 'm1',
      'infrastructure.ironplane.dev/metal-machine-namespace': NS,
      'infrastructure.ironplane.dev/metal-machine-uid': m.metadata.uid,
    });
    const meta = JSON.parse(decode(await w.client.get<Secret>(Secrets, dataSecretName(NS, 'm1', 'metadata'), NS), 'metaData')) as Record<string, string>;
    expect(meta).toMatchObject({ 'local-hostname': 'm1', providerid: `metal3://${NS}/host-0/m1` });
  });

  it('should deprovision on delete, wait for available, release the host and remove the Secrets', async () => {
    const seen = new Set<string>();
    const watcher = setInterval(() => {
      void w.client
        .tryGet<Host>(BareMetalHosts, 'host-0', NS)
        .then((h) => h?.status?.provisioning?.state && seen.add(h.status.provisioning.state))
        .catch(() => undefined);
    }, 200);
    try {
      await deleteMachine(w, NS, 'm1');
    } finally {
      clearInterval(watcher);
    }
    const host = await w.client.get<Host>(BareMetalHosts, 'host-0', NS);
    expect(host.status?.provisioning?.state).toBe('available');
    expect(host.spec?.consumerRef).toBeUndefined();
    expect(host.spec?.image).toBeUndefined();
    expect(host.spec?.userData).toBeUndefined();
    expect(host.spec?.automatedCleaningMode).toBe('metadata');
    expect(seen.has('deprovisioning')).toBe(true);
    for (const kind of ['userdata', 'metadata', 'networkdata'] as const) expect(await w.client.tryGet(Secrets, dataSecretName(NS, 'm1', kind), NS)).toBeUndefined();
  });

  it('given node reuse on the template, should label the released host and prefer it for the next machine of that template', async () => {
    await w.client.create(MetalMachineTemplates, {
      metadata: { name: 'workers-v1', namespace: NS },
      spec: { nodeReuse: true, template: { spec: { image: { url: KAIROS_IMAGE } } } },
    });
    const cloned = { 'cluster.x-k8s.io/cloned-from-name': 'workers-v1', 'cluster.x-k8s.io/cloned-from-groupkind': 'MetalMachineTemplate.infrastructure.ironplane.dev' };
    await createMachine(w, NS, 'c1', 'r1', { annotations: cloned, spec: { automatedCleaningMode: 'disabled' } });
    const first = await until('r1 to be provisioned', async () => {
      const mm = await metalMachine(w, NS, 'r1');
      return mm.status?.initialization?.provisioned ? mm : undefined;
    }, 90_000);
    const used = first.status!.host!.name;
    await deleteMachine(w, NS, 'r1');
    const released = await w.client.get<Host>(BareMetalHosts, used, NS);
    expect(released.metadata?.labels?.[NODE_REUSE_LABEL]).toBe(`${NS}.workers-v1`);
    expect(released.spec?.automatedCleaningMode).toBe('disabled');
    // Reuse is a preference among claimable hosts: BMO may still be finishing
    // with the released one, and a machine never waits for it.
    await until(`${used} to be available again`, async () => ((await w.client.get<Host>(BareMetalHosts, used, NS)).status?.provisioning?.state === 'available' ? true : undefined), 60_000);

    await createMachine(w, NS, 'c1', 'r2', { annotations: cloned });
    const second = await until('r2 to claim a host', async () => {
      const mm = await metalMachine(w, NS, 'r2');
      return mm.status?.host ? mm : undefined;
    }, 60_000);
    if (second.status?.host?.name !== used) {
      const hosts = (await w.client.list<Host>(BareMetalHosts, { namespace: NS })).items.map((h) => ({ name: h.metadata?.name, state: h.status?.provisioning?.state, labels: h.metadata?.labels, consumer: h.spec?.consumerRef?.name }));
      throw new Error(`r2 claimed ${second.status?.host?.name}, not the released ${used}; hosts now: ${JSON.stringify(hosts)}`);
    }
    const claimed = await w.client.get<Host>(BareMetalHosts, used, NS);
    expect(claimed.metadata?.labels?.[NODE_REUSE_LABEL]).toBeUndefined();
    await deleteMachine(w, NS, 'r2');
  });
});

describe('MetalCluster deletion', () => {
  it('should wait for its machines to release their hosts, then go', async () => {
    await createMachine(w, NS, 'c1', 'last', { spec: { hostSelector: { matchLabels: { role: 'storage' } } } });
    await until('last to claim host-1', async () => (await metalMachine(w, NS, 'last')).status?.host?.name === 'host-1' || undefined, 60_000);
    await w.client.delete(MetalClusters, 'c1', NS);
    const waiting = await until('the MetalCluster to wait for its machine', async () => {
      const mc = await w.client.get<MetalCluster>(MetalClusters, 'c1', NS);
      return condition(mc, 'HostPoolsGranted')?.reason === 'Deleting' ? mc : undefined;
    }, 30_000);
    expect(condition(waiting, 'HostPoolsGranted')?.message).toBe('waiting for 1 MetalMachine(s) to release their hosts: last');
    await deleteMachine(w, NS, 'last');
    await until('the MetalCluster to be gone', async () => !(await w.client.tryGet(MetalClusters, 'c1', NS)) || undefined, 30_000);
    expect((await w.client.get<Host>(BareMetalHosts, 'host-1', NS)).spec?.consumerRef).toBeUndefined();
  });
});
