// The KubeVirt provider's API as the real apiserver enforces it: defaults,
// schema and CEL rules, each bad input rejected with a message that says why.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../harness/index.js';
import { ApiError, Client } from '../../../providers/kit/client.js';
import { Namespaces, type KubeObject, type ResourceType } from '../../../providers/kit/types.js';
import { REPO } from '../processes.js';

const KvmClusters: ResourceType = { group: 'infrastructure.ironplane.dev', version: 'v1alpha1', kind: 'KvmCluster', plural: 'kvmclusters', namespaced: true };
const KvmMachines: ResourceType = { group: 'infrastructure.ironplane.dev', version: 'v1alpha1', kind: 'KvmMachine', plural: 'kvmmachines', namespaced: true };
const KvmMachineTemplates: ResourceType = { ...KvmMachines, kind: 'KvmMachineTemplate', plural: 'kvmmachinetemplates' };

type Obj = KubeObject & { spec?: Record<string, unknown> };
let cp: ControlPlane;
let client: Client;
let n = 0;

beforeAll(async () => {
  cp = await startControlPlane({ name: 'kvm-api', crds: [path.join(REPO, 'config/crd/bases')] });
  client = new Client(cp.kubeConfig, { fieldManager: 'api-test' });
  await client.create(Namespaces, { metadata: { name: 'api' } });
});

afterAll(async () => {
  client?.close();
  await cp?.stop();
});

const cluster = (network: Record<string, unknown>): Obj => ({ metadata: { name: `c${n++}`, namespace: 'api' }, spec: { network } });
const machine = (spec: Record<string, unknown>): Obj => ({ metadata: { name: `m${n++}`, namespace: 'api' }, spec });
const containerDisk = { containerDisk: { image: 'quay.io/kairos/ubuntu:24.04' } };

async function rejected(rt: ResourceType, obj: Obj): Promise<string> {
  try {
    await client.create(rt, obj);
  } catch (e) {
    if (e instanceof ApiError && e.code === 422) return e.message;
    throw e;
  }
  throw new Error(`${rt.kind} was accepted but should have been rejected`);
}

describe('KvmCluster', () => {
  it('should apply defaults', async () => {
    const c = await client.create<Obj>(KvmClusters, cluster({ nodeCIDR: '10.10.0.0/24' }));
    expect(c.spec).toEqual({ network: { nodeCIDR: '10.10.0.0/24', natOutgoing: true } });
    const withFd = await client.create<Obj>(KvmClusters, { ...cluster({ nodeCIDR: '10.10.0.0/24' }), spec: { network: { nodeCIDR: '10.10.0.0/24' }, failureDomains: {} } });
    expect(withFd.spec?.['failureDomains']).toEqual({ zoneLabel: 'topology.kubernetes.io/zone' });
  });

  it('given a nodeCIDR that is not a CIDR, should say what a CIDR looks like', async () => {
    expect(await rejected(KvmClusters, cluster({ nodeCIDR: '10.10.0.0' }))).toContain('spec.network.nodeCIDR: Invalid value: "10.10.0.0": must be a CIDR such as 10.10.0.0/24');
  });

  it('given a gateway outside nodeCIDR, should refuse it', async () => {
    expect(await rejected(KvmClusters, cluster({ nodeCIDR: '10.10.0.0/24', gateway: '10.20.0.1' }))).toContain('gateway must be inside nodeCIDR');
  });

  it('given a gateway that is not an IP, should refuse it', async () => {
    const msg = await rejected(KvmClusters, cluster({ nodeCIDR: '10.10.0.0/24', gateway: 'router' }));
    expect(msg).toContain('spec.network.gateway: Invalid value: "router": must be an IP address');
    // only the rule that applies speaks
    expect(msg).not.toContain('no such overload');
  });

  it('given a missing network, should say it is required', async () => {
    expect(await rejected(KvmClusters, { metadata: { name: 'nonet', namespace: 'api' }, spec: {} })).toContain('spec.network: Required value');
  });

  it('given a change of nodeCIDR, should refuse it as immutable', async () => {
    const c = await client.create<Obj>(KvmClusters, cluster({ nodeCIDR: '10.30.0.0/24' }));
    try {
      await client.mergePatch(KvmClusters, c.metadata!.name!, 'api', { spec: { network: { nodeCIDR: '10.31.0.0/24' } } });
      throw new Error('accepted');
    } catch (e) {
      expect((e as Error).message).toContain('network.nodeCIDR is immutable');
    }
  });
});

describe('KvmMachine', () => {
  it('should apply defaults', async () => {
    const m = await client.create<Obj>(KvmMachines, machine({ image: containerDisk }));
    expect(m.spec).toEqual({
      image: containerDisk,
      runStrategy: 'Always',
      cpu: { cores: 2, sockets: 1, threads: 1 },
      memory: '4Gi',
      bootstrap: { mode: 'NoCloud' },
    });
  });

  it('given both a containerDisk and a dataVolume, should refuse it', async () => {
    const msg = await rejected(KvmMachines, machine({ image: { ...containerDisk, dataVolume: { source: { http: { url: 'https://x/img' } }, storage: '20Gi' } } }));
    expect(msg).toContain('exactly one of containerDisk or dataVolume must be set');
  });

  it('given no image source at all, should refuse it', async () => {
    expect(await rejected(KvmMachines, machine({ image: {} }))).toContain('exactly one of containerDisk or dataVolume must be set');
  });

  it('given a DataVolume with two sources, should refuse it', async () => {
    const msg = await rejected(KvmMachines, machine({ image: { dataVolume: { source: { http: { url: 'https://x/img' }, pvc: { name: 'p' } }, storage: '20Gi' } } }));
    expect(msg).toContain('exactly one of registry, http or pvc must be set');
  });

  it('given an unknown run strategy, should list the allowed ones', async () => {
    const msg = await rejected(KvmMachines, machine({ image: containerDisk, runStrategy: 'Sometimes' }));
    expect(msg).toContain('supported values: "Always", "RerunOnFailure", "Once", "Manual", "Halted"');
  });

  it('given a memory size that is not a quantity, should refuse it', async () => {
    expect(await rejected(KvmMachines, machine({ image: containerDisk, memory: 'lots' }))).toContain('spec.memory');
  });

  it('given a GPU with a bad name, should refuse it', async () => {
    expect(await rejected(KvmMachines, machine({ image: containerDisk, gpus: [{ name: 'GPU 1', deviceName: 'nvidia.com/A10' }] }))).toContain('spec.gpus[0].name');
  });

  it('given a set providerID, should refuse a change', async () => {
    const m = await client.create<Obj>(KvmMachines, machine({ image: containerDisk, providerID: 'kubevirt://api/a' }));
    try {
      await client.mergePatch(KvmMachines, m.metadata!.name!, 'api', { spec: { providerID: 'kubevirt://api/b' } });
      throw new Error('accepted');
    } catch (e) {
      expect((e as Error).message).toContain('providerID is immutable once set');
    }
  });

  it('given an invalid KvmMachineTemplate, should reject it with the path of the problem', async () => {
    const msg = await rejected(KvmMachineTemplates, { metadata: { name: 'bad', namespace: 'api' }, spec: { template: { spec: { image: containerDisk, cpu: { cores: 0 } } } } });
    expect(msg).toContain('spec.template.spec.cpu.cores: Invalid value: 0: spec.template.spec.cpu.cores in body should be greater than or equal to 1');
  });

  it('KvmMachineTemplate should apply the same defaults to its template', async () => {
    const t = await client.create<Obj>(KvmMachineTemplates, { metadata: { name: 't', namespace: 'api' }, spec: { template: { spec: { image: containerDisk } } } });
    expect((t.spec?.['template'] as { spec: unknown }).spec).toMatchObject({ runStrategy: 'Always', memory: '4Gi', cpu: { cores: 2 } });
  });
});
