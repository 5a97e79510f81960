// A worker from KairosConfig to a tenant Node, through the KubeVirt provider:
// the Kairos manager renders the bootstrap data and makes the token, the
// KubeVirt manager copies it into the VM's userdata with the providerID file,
// the hypervisor simulation runs the VM, and the kubelet simulation joins
// only if the join checker accepts the rendered kubeadm join (requireJoin).
// The Node must come up with the KvmMachine's providerID; a worker whose
// bootstrap data holds a wrong token must not.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KairosConfig } from '../../../providers/api/generated/ironplane/v1alpha1/kairosconfig.js';
import type { KvmMachine } from '../../../providers/api/generated/ironplane/v1alpha1/kvmmachine.js';
import { Machines } from '../../../providers/capi/contract.js';
import { Client } from '../../../providers/kit/client.js';
import { createLogger } from '../../../providers/kit/log.js';
import { Secrets, type KubeObject } from '../../../providers/kit/types.js';
import { KairosConfigs } from '../../../providers/kairos/resources.js';
import { createRenderer } from '../../../providers/kairos/render.js';
import { caCertHashes } from '../../../providers/kairos/token.js';
import { KvmClusters, KvmMachines, Nodes } from '../../../providers/kubevirt/resources.js';
import { startHypervisor, type Hypervisor } from '../../sim/hypervisor.js';
import { startKubelet, type Kubelet } from '../../sim/kubelet.js';
import { REPO, run, until, type Proc } from '../processes.js';
import { createCluster, createMachine, startWorld, type World } from './world.js';

const NS = 'team-v';
const log = createLogger({ level: process.env['IRONPLANE_TEST_LOG'] ? 'debug' : 'error' });
let w: World;
let hypervisor: Hypervisor;
let kubelet: Kubelet;
let kubevirt: Proc;

beforeAll(async () => {
  w = await startWorld('kairos-kubevirt', { crds: ['config/external/capi', 'config/external/kubevirt', 'config/external/kube-ovn', 'config/crd/bases'] });
  hypervisor = await startHypervisor({ client: w.client, log, nodes: [{ name: 'infra-a', labels: { 'topology.kubernetes.io/zone': 'zone-a' } }] });
  kubelet = await startKubelet({ client: w.client, log, requireJoin: true });
  w.startManager();
  await w.webhooksUp();
  kubevirt = run([path.join(REPO, 'dist/providers/cli/main.js'), 'manager', '--role', 'kubevirt', '--kubeconfig', w.cp.kubeconfigPath, '--metrics-bind-address', '0', '--health-probe-bind-address', '0', '--webhook-port', '0', '--log-level', 'warn']);
  await createCluster(w, NS, 'vm', { infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: 'KvmCluster', name: 'vm' } });
  const cluster = await w.client.get<KubeObject>({ group: 'cluster.x-k8s.io', version: 'v1beta2', kind: 'Cluster', plural: 'clusters', namespaced: true }, 'vm', NS);
  await w.client.create(KvmClusters, {
    metadata: { name: 'vm', namespace: NS, labels: { 'cluster.x-k8s.io/cluster-name': 'vm' }, ownerReferences: [{ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', name: 'vm', uid: cluster.metadata!.uid! }] },
    spec: { network: { nodeCIDR: '10.60.0.0/24' } },
  } as KubeObject);
}, 180_000);

afterAll(async () => {
  if (process.env['IRONPLANE_TEST_LOG']) console.log(w?.output(), kubevirt?.output());
  kubevirt?.child.kill('SIGKILL');
  await kubevirt?.exited;
  await kubelet?.stop();
  await hypervisor?.stop();
  await w?.stop();
});

/** A KvmMachine owned by the Machine, as a MachineSet creates it. */
async function kvmMachine(name: string): Promise<void> {
  const machine = await w.client.get<KubeObject>(Machines, name, NS);
  await w.client.create(KvmMachines, {
    metadata: { name, namespace: NS, labels: { 'cluster.x-k8s.io/cluster-name': 'vm' }, ownerReferences: [{ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Machine', name, uid: machine.metadata!.uid!, controller: true }] },
    spec: { image: { containerDisk: { image: 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0' } }, memory: '2Gi' },
  } as KubeObject);
}

/** CAPI core's part: the Machine names the bootstrap data Secret once the KairosConfig reports it. */
async function copyDataSecretName(name: string): Promise<string> {
  const secret = await until(`${name} to report its data Secret`, async () => (await w.client.get<KairosConfig>(KairosConfigs, name, NS)).status?.dataSecretName, 60_000);
  await w.client.mergePatch(Machines, name, NS, { spec: { bootstrap: { dataSecretName: secret } } });
  return secret;
}

describe('a Kairos worker on KubeVirt', () => {
  it('given a Machine with a KairosConfig and a KvmMachine, should boot a VM whose kubeadm join registers the Node with the providerID', async () => {
    await createMachine(w, NS, 'vm', 'vm-w1');
    await kvmMachine('vm-w1');
    await copyDataSecretName('vm-w1');

    const m = await until('vm-w1 to be provisioned', async () => {
      const o = await w.client.get<KvmMachine>(KvmMachines, 'vm-w1', NS);
      return o.status?.initialization?.provisioned ? o : undefined;
    }, 120_000);
    expect(m.spec?.providerID).toBe(`kubevirt://${NS}/vm-w1`);
    const tenant = new Client(w.tenants.get(`${NS}/vm`)!.kubeConfig, { fieldManager: 't' });
    try {
      const node = await tenant.get<KubeObject & { spec: { providerID: string } }>(Nodes, 'vm-w1');
      expect(node.spec.providerID).toBe(`kubevirt://${NS}/vm-w1`);
    } finally {
      tenant.close();
    }
    expect(kubelet.nodeOf(NS, 'vm-w1')).toEqual({ cluster: 'vm', node: 'vm-w1', providerID: `kubevirt://${NS}/vm-w1` });
  }, 150_000);

  it('given bootstrap data with a token the tenant does not know, should boot the VM but register no Node, and say why', async () => {
    const tenant = w.tenants.get(`${NS}/vm`)!;
    const value = createRenderer()({ namespace: NS, config: 'vm-bad', cluster: 'vm', machine: 'vm-bad', spec: {}, files: [], endpoint: tenant.endpoint, token: 'zzzzzz.0123456789abcdef', caCertHashes: caCertHashes(tenant.ca.certPem) }).value;
    await w.client.create(Secrets, { metadata: { name: 'vm-bad-bootstrap', namespace: NS }, type: 'cluster.x-k8s.io/secret', data: { value: Buffer.from(value).toString('base64'), format: Buffer.from('cloud-config').toString('base64') } } as KubeObject);
    await w.client.create(Machines, {
      metadata: { name: 'vm-bad', namespace: NS, labels: { 'cluster.x-k8s.io/cluster-name': 'vm' } },
      spec: { clusterName: 'vm', bootstrap: { dataSecretName: 'vm-bad-bootstrap' }, infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: 'KvmMachine', name: 'vm-bad' } },
    } as KubeObject);
    await kvmMachine('vm-bad');
    const why = await until('the kubelet to refuse the join', async () => {
      const r = kubelet.why(NS, 'vm-bad');
      return r?.startsWith('join refused') ? r : undefined;
    }, 90_000);
    expect(why).toContain('has no signature for token id zzzzzz');
    const tenantClient = new Client(tenant.kubeConfig, { fieldManager: 't' });
    try {
      expect(await tenantClient.tryGet(Nodes, 'vm-bad')).toBeUndefined();
    } finally {
      tenantClient.close();
    }
  }, 120_000);
});
