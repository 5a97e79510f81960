// The real Cluster API core manager and the real Kamaji CAPI control-plane
// provider, out of cluster against the harness plane: CAPI's own admission
// and conversion webhooks answer on loopback, its controllers run, and the
// Kamaji provider turns a KamajiControlPlane that CAPI hands to it into a
// TenantControlPlane.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clusters } from '../../providers/capi/contract.js';
import { Client } from '../../providers/kit/client.js';
import type { KubeObject, ResourceType } from '../../providers/kit/types.js';
import { startCapiManager, startControlPlane, startKamajiProvider, type ControlPlane, type ManagerProcess } from '../harness/index.js';
import { REPO, until } from './processes.js';
import { ensureNamespace } from './roles.js';

const NS = 'capi-core';
const ClustersV1beta1: ResourceType = { ...Clusters, version: 'v1beta1' };
const KamajiControlPlanes: ResourceType = {
  group: 'controlplane.cluster.x-k8s.io',
  version: 'v1alpha1',
  kind: 'KamajiControlPlane',
  plural: 'kamajicontrolplanes',
  namespaced: true,
};
const TenantControlPlanes: ResourceType = { group: 'kamaji.clastix.io', version: 'v1alpha1', kind: 'TenantControlPlane', plural: 'tenantcontrolplanes', namespaced: true };

interface ObjectRef {
  apiVersion?: string;
  apiGroup?: string;
  kind: string;
  name: string;
}

interface Cluster extends KubeObject {
  spec: { infrastructureRef?: ObjectRef; controlPlaneRef?: ObjectRef; clusterNetwork?: unknown };
}

let cp: ControlPlane;
let capi: ManagerProcess;
let client: Client;

const kvmClusterRef = (name: string): ObjectRef => ({ apiGroup: 'infrastructure.ironplane.dev', kind: 'KvmCluster', name });

beforeAll(async () => {
  cp = await startControlPlane({
    name: 'capi-core',
    crds: [path.join(REPO, 'config/external/capi'), path.join(REPO, 'config/external/kamaji'), path.join(REPO, 'config/crd/bases')],
  });
  client = new Client(cp.kubeConfig, { fieldManager: 'capi-core-test', timeoutMs: 30_000 });
  await ensureNamespace(client, NS);
  capi = await startCapiManager(cp);
});

afterAll(async () => {
  client?.close();
  // Stops the managers first, then the plane.
  await cp?.stop();
});

describe('the Cluster API core manager out of cluster', () => {
  it('given a valid v1beta2 Cluster, should accept it through its webhooks', async () => {
    const created = await client.create<Cluster>(Clusters, {
      metadata: { name: 'valid', namespace: NS },
      spec: { infrastructureRef: kvmClusterRef('valid'), clusterNetwork: { pods: { cidrBlocks: ['10.244.0.0/16'] } } },
    });
    expect(created.metadata?.uid).toBeTruthy();
  });

  it('given a Cluster with neither references nor a topology, should refuse it with CAPI\'s own message', async () => {
    const refusal = client.create<Cluster>(Clusters, { metadata: { name: 'no-refs', namespace: NS }, spec: { clusterNetwork: { pods: { cidrBlocks: ['10.244.0.0/16'] } } } });
    await expect(refusal).rejects.toThrow('admission webhook "validation.cluster.cluster.x-k8s.io" denied the request');
    await expect(refusal).rejects.toThrow('one of spec.controlPlaneRef, spec.infrastructureRef or spec.topology must be set');
  });

  it('given a Cluster with an invalid pod CIDR, should refuse it naming the field', async () => {
    await expect(
      client.create<Cluster>(Clusters, { metadata: { name: 'bad-cidr', namespace: NS }, spec: { infrastructureRef: kvmClusterRef('bad-cidr'), clusterNetwork: { pods: { cidrBlocks: ['10.244.0.0/33'] } } } }),
    ).rejects.toThrow('spec.clusterNetwork.pods.cidrBlocks[0]');
  });

  it('given a v1beta2 Cluster, should serve it as v1beta1 through the conversion webhook', async () => {
    const old = await client.get<Cluster>(ClustersV1beta1, 'valid', NS);
    expect(old.apiVersion).toBe('cluster.x-k8s.io/v1beta1');
    // v1beta1 references carry an apiVersion, which the conversion finds from
    // the contract label on our KvmCluster CRD.
    expect(old.spec.infrastructureRef).toMatchObject({ apiVersion: 'infrastructure.ironplane.dev/v1alpha1', kind: 'KvmCluster', name: 'valid' });
  });

  it('given a Cluster, should add its finalizer (its controllers run)', async () => {
    const got = await until('the Cluster finalizer', async () => {
      const c = await client.get<Cluster>(Clusters, 'valid', NS);
      return c.metadata?.finalizers?.includes('cluster.cluster.x-k8s.io') ? c : undefined;
    });
    expect(got.metadata?.finalizers).toContain('cluster.cluster.x-k8s.io');
    const metrics = await (await fetch(capi.metricsUrl)).text();
    expect(metrics).toMatch(/controller_runtime_reconcile_total\{controller="cluster",result="success"\} [1-9]/);
  });
});

describe('the Kamaji CAPI control-plane provider out of cluster', () => {
  let kamaji: ManagerProcess;

  beforeAll(async () => {
    kamaji = await startKamajiProvider(cp);
  });

  it('given the plane, should start its controllers and report healthy', async () => {
    const health = await fetch(`${kamaji.healthUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(kamaji.exitReason).toBeUndefined();
  });

  it('given a Cluster whose control plane is a KamajiControlPlane, should create its TenantControlPlane', async () => {
    await client.create(KamajiControlPlanes, { metadata: { name: 'hosted', namespace: NS }, spec: { version: 'v1.35.0', dataStoreName: 'default' } } as KubeObject);
    await client.create<Cluster>(Clusters, {
      metadata: { name: 'hosted', namespace: NS },
      spec: {
        controlPlaneRef: { apiGroup: 'controlplane.cluster.x-k8s.io', kind: 'KamajiControlPlane', name: 'hosted' },
        infrastructureRef: kvmClusterRef('hosted'),
      },
    });
    // CAPI makes the Cluster the KamajiControlPlane's owner; only then does the
    // provider, reading the Cluster as v1beta1 through CAPI's conversion
    // webhook, create the TenantControlPlane.
    const tcp = await until(
      'the TenantControlPlane',
      () => client.tryGet(TenantControlPlanes, 'hosted', NS),
      60_000,
    );
    expect(tcp.metadata?.ownerReferences).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'KamajiControlPlane', name: 'hosted' })]));
  });

  it('given stop(), should leave no process behind', async () => {
    const pid = kamaji.pid;
    await kamaji.stop();
    expect(kamaji.exitReason).toBeDefined();
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
