// The simulated kubelet on bare metal (test/sim/kubelet.ts with `hosts`):
// against a real management apiserver with the CAPI, Metal3 and Ironplane
// CRDs and a kubeadm-ready tenant apiserver, a BareMetalHost written by hand
// as BMO leaves it provisioned for a MetalMachine boots the userdata our
// Metal3 provider writes, passes the join checker and registers its Node with
// the providerID; a host that leaves provisioned loses its Node; userdata
// without the providerID file or with a wrong token leaves no Node, with a
// reason to read. No BMO runs: the test plays it.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishTenantSecrets, startControlPlane, startTenantApiServer, type ControlPlane, type TenantPlane } from '../harness/index.js';
import { renderUserData } from '../../providers/capi/userdata.js';
import { createRenderer } from '../../providers/kairos/render.js';
import { bootstrapTokenSecret, caCertHashes } from '../../providers/kairos/token.js';
import { Client } from '../../providers/kit/client.js';
import { createLogger } from '../../providers/kit/log.js';
import { Namespaces, Secrets, type KubeObject } from '../../providers/kit/types.js';
import { dataSecretName, providerIDFor } from '../../providers/metal3/names.js';
import { renderMetaData } from '../../providers/metal3/render.js';
import { startKubelet, type Kubelet } from '../sim/kubelet.js';
import { BareMetalHosts, MetalMachines, Nodes, type BareMetalHost } from '../sim/kinds.js';
import { REPO, until } from './processes.js';

const log = createLogger({ level: process.env['IRONPLANE_TEST_LOG'] ? 'debug' : 'error' });
const POOL = 'pool';
const NS = 'team-a';
const CLUSTER = 'c1';
const TOKEN = 'abcdef.0123456789abcdef';

let cp: ControlPlane;
let tenantPlane: TenantPlane;
let client: Client;
let tenant: Client;
let kubelet: Kubelet;
const render = createRenderer();

beforeAll(async () => {
  cp = await startControlPlane({ name: 'sim-metal', crds: ['config/external/capi', 'config/external/metal3', 'config/crd/bases'].map((p) => path.join(REPO, p)) });
  client = new Client(cp.kubeConfig, { fieldManager: 'sim-metal-test' });
  tenantPlane = await startTenantApiServer(cp, { name: `${NS}-${CLUSTER}`, kubeadm: true });
  tenant = new Client(tenantPlane.kubeConfig, { fieldManager: 'sim-metal-test' });
  await tenant.create(Secrets, bootstrapTokenSecret('abcdef', '0123456789abcdef', Date.now() + 60 * 60_000, { namespace: NS, name: 'w', uid: 'sim-metal' }));
  for (const name of [POOL, NS]) await client.create(Namespaces, { metadata: { name } });
  await publishTenantSecrets(client, { namespace: NS, cluster: CLUSTER, tenant: tenantPlane });
  kubelet = await startKubelet({ client, log, hosts: true, vmis: false, requireJoin: true });
}, 120_000);

afterAll(async () => {
  await kubelet?.stop();
  tenant?.close();
  client?.close();
  // Stops the tenant apiserver too.
  await cp?.stop();
});

/** The Kairos cloud-config the bootstrap provider renders for machine `name`. */
const bootstrap = (name: string, token = TOKEN): string =>
  render({ namespace: NS, config: name, cluster: CLUSTER, machine: name, spec: {}, files: [], endpoint: tenantPlane.endpoint, token, caCertHashes: caCertHashes(tenantPlane.ca.certPem) }).value;

interface HostOptions {
  /** The userdata as the host boots it (default: the bootstrap data with the providerID file, as our provider renders it). */
  userdata?: string;
  /** The MetalMachine's cluster-name label (default c1; null for none). */
  cluster?: string | null;
  nics?: { name: string; mac: string; ip?: string }[];
}

/**
 * What our Metal3 provider and BMO leave for MetalMachine team-a/<machine> on
 * host pool/<host>: the MetalMachine, the userdata and metadata Secrets next
 * to the host, and the host provisioned with its image, data and consumerRef.
 */
async function provisioned(host: string, machine: string, o: HostOptions = {}): Promise<void> {
  const providerID = providerIDFor(POOL, host, machine);
  const cluster = o.cluster === undefined ? CLUSTER : o.cluster;
  const mm = await client.create<KubeObject>(MetalMachines, {
    apiVersion: 'infrastructure.ironplane.dev/v1alpha1',
    kind: 'MetalMachine',
    metadata: { name: machine, namespace: NS, ...(cluster ? { labels: { 'cluster.x-k8s.io/cluster-name': cluster } } : {}) },
    spec: { image: { url: 'oci://quay.io/kairos/ubuntu:24.04-standard-amd64-generic' }, providerID },
  } as KubeObject);
  const secret = async (kind: 'userdata' | 'metadata', key: string, text: string): Promise<string> => {
    const name = dataSecretName(NS, machine, kind);
    await client.create(Secrets, { metadata: { name, namespace: POOL }, type: 'cluster.x-k8s.io/secret', data: { [key]: Buffer.from(text).toString('base64') } } as KubeObject);
    return name;
  };
  const userData = await secret('userdata', 'userData', o.userdata ?? renderUserData({ value: bootstrap(machine) }, providerID));
  const metaData = await secret('metadata', 'metaData', renderMetaData({ hostname: machine, providerID, machine, machineNamespace: NS, cluster: cluster ?? '' }));
  await client.create<BareMetalHost>(BareMetalHosts, {
    apiVersion: 'metal3.io/v1alpha1',
    kind: 'BareMetalHost',
    metadata: { name: host, namespace: POOL },
    spec: {
      online: true,
      bootMACAddress: '02:00:00:00:00:10',
      image: { url: 'oci://quay.io/kairos/ubuntu:24.04-standard-amd64-generic' },
      consumerRef: { apiVersion: 'infrastructure.ironplane.dev/v1alpha1', kind: 'MetalMachine', name: machine, namespace: NS, uid: mm.metadata!.uid! },
      userData: { name: userData, namespace: POOL },
      metaData: { name: metaData, namespace: POOL },
    },
  } as BareMetalHost);
  await setState(host, 'provisioned', o.nics);
}

/** BMO's status write for a host in `state` (the status subresource; the fields its CRD requires). */
async function setState(host: string, state: string, nics?: { name: string; mac: string; ip?: string }[]): Promise<void> {
  await client.mergePatch(BareMetalHosts, host, POOL, {
    status: {
      errorCount: 0,
      errorMessage: '',
      operationalStatus: 'OK',
      poweredOn: state === 'provisioned',
      provisioning: { ID: `ironic-${host}`, state },
      ...(nics ? { hardware: { hostname: host, nics } } : {}),
    },
  }, { subresource: 'status' });
}

interface TenantNode extends KubeObject {
  spec?: { providerID?: string };
  status?: { addresses?: { type: string; address: string }[]; conditions?: { type: string; status: string }[] };
}
const tenantNode = (name: string): Promise<TenantNode | undefined> => tenant.tryGet<TenantNode>(Nodes, name);
const reportedNode = async (name: string): Promise<TenantNode | undefined> => {
  const n = await tenantNode(name);
  return n?.status?.addresses?.length ? n : undefined;
};
const gone = (name: string) => until(`Node ${name} to be deleted`, async () => !(await tenantNode(name)) || undefined, 30_000);
const why = (host: string, part: string) => until(`a reason for host ${host} with '${part}'`, () => kubelet.why(POOL, host)?.includes(part) && kubelet.why(POOL, host), 30_000);

describe('the kubelet on a BareMetalHost', () => {
  it('given a host provisioned for a MetalMachine with our userdata, should join and register the Node with the providerID and the inspected addresses', async () => {
    await provisioned('h1', 'w-1', { nics: [{ name: 'eth0', mac: '02:00:00:00:00:10', ip: '192.168.111.21' }, { name: 'eth1', mac: '02:00:00:00:00:11' }] });

    const node = await until('Node w-1 with its status', () => reportedNode('w-1'), 30_000);
    expect(node.spec?.providerID).toBe('metal3://pool/h1/w-1');
    expect(node.status?.addresses).toEqual([
      { type: 'InternalIP', address: '192.168.111.21' },
      { type: 'Hostname', address: 'w-1' },
    ]);
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(kubelet.nodeOf(POOL, 'h1')).toEqual({ cluster: CLUSTER, node: 'w-1', providerID: 'metal3://pool/h1/w-1' });
    expect(kubelet.why(POOL, 'h1')).toBeUndefined();
  });

  it('given the host powered off, should keep the Node not ready; powered on, ready again', async () => {
    await client.mergePatch(BareMetalHosts, 'h1', POOL, { spec: { online: false } });
    await until('Node w-1 not ready', async () => (await tenantNode('w-1'))?.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'Unknown'), 30_000);
    expect(await why('h1', 'powered off')).toBe('host is powered off (spec.online is not true)');
    await client.mergePatch(BareMetalHosts, 'h1', POOL, { spec: { online: true } });
    await until('Node w-1 ready', async () => (await tenantNode('w-1'))?.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True'), 30_000);
  });

  it('given the image taken away, deprovisioning, or the consumerRef cleared, should delete the Node and say why', async () => {
    await client.mergePatch(BareMetalHosts, 'h1', POOL, { spec: { image: null } });
    await gone('w-1');
    expect(await why('h1', 'image')).toBe('host has no image (spec.image cleared): it is about to deprovision');
    expect(kubelet.nodeOf(POOL, 'h1')).toBeUndefined();

    // Given back: the OS boots again and the Node returns.
    await client.mergePatch(BareMetalHosts, 'h1', POOL, { spec: { image: { url: 'oci://quay.io/kairos/ubuntu:24.04-standard-amd64-generic' } } });
    await until('Node w-1 again', () => reportedNode('w-1'), 30_000);

    await setState('h1', 'deprovisioning');
    await gone('w-1');
    expect(await why('h1', 'deprovisioning')).toBe('host is deprovisioning, not provisioned');

    await setState('h1', 'provisioned');
    await until('Node w-1 again', () => reportedNode('w-1'), 30_000);
    await client.mergePatch(BareMetalHosts, 'h1', POOL, { spec: { consumerRef: null, userData: null, metaData: null, online: false } });
    await gone('w-1');
    expect(await why('h1', 'consumerRef')).toBe('host has no spec.consumerRef: no MetalMachine it was provisioned for');
  });

  it('given userdata without the providerID file, should register no Node', async () => {
    await provisioned('h-noid', 'w-noid', { userdata: bootstrap('w-noid') });
    expect(await why('h-noid', 'provider-id')).toBe('userdata has no write_files entry for /etc/ironplane/provider-id: no providerID, so no Node');
    expect(await tenantNode('w-noid')).toBeUndefined();
    expect(kubelet.nodeOf(POOL, 'h-noid')).toBeUndefined();
  });

  it('given userdata with a wrong token, should refuse the join and register no Node', async () => {
    await provisioned('h-token', 'w-token', { userdata: renderUserData({ value: bootstrap('w-token', 'abcdef.ffffffffffffffff') }, providerIDFor(POOL, 'h-token', 'w-token')) });
    expect(await why('h-token', 'join refused')).toMatch(/^join refused: cluster-info at .*, token id abcdef: the signature does not verify with the token secret \(wrong token\)/);
    expect(await tenantNode('w-token')).toBeUndefined();
  });

  it('given a MetalMachine without the cluster-name label, should find no cluster to join; labelled, should join', async () => {
    await provisioned('h-nolabel', 'w-nolabel', { cluster: null });
    expect(await why('h-nolabel', 'label')).toBe('MetalMachine team-a/w-nolabel has no cluster.x-k8s.io/cluster-name label: no tenant cluster to join');
    await client.mergePatch(MetalMachines, 'w-nolabel', NS, { metadata: { labels: { 'cluster.x-k8s.io/cluster-name': CLUSTER } } });
    const node = await until('Node w-nolabel', () => reportedNode('w-nolabel'), 30_000);
    expect(node.spec?.providerID).toBe('metal3://pool/h-nolabel/w-nolabel');
    // No NIC inspected: the hostname is the only address.
    expect(node.status?.addresses).toEqual([{ type: 'Hostname', address: 'w-nolabel' }]);
  });

  it('given the host deleted, should delete its Node and forget it', async () => {
    await client.delete(BareMetalHosts, 'h-nolabel', POOL);
    await gone('w-nolabel');
    await until('the reason to be forgotten', () => kubelet.why(POOL, 'h-nolabel') === undefined && kubelet.nodeOf(POOL, 'h-nolabel') === undefined, 30_000);
  });
});
