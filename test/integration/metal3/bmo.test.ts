// The real Metal3 baremetal-operator, built by `make tools`, runs in test mode
// (fixture provisioner) against the local management plane: a BareMetalHost
// is registered, inspected and becomes available, as the Metal3 provider's
// tests will need it.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../harness/index.js';
import { Client } from '../../../providers/kit/client.js';
import { Namespaces, Secrets, type KubeObject, type ResourceType } from '../../../providers/kit/types.js';
import { REPO, runBinary, until, type Proc } from '../processes.js';

const BareMetalHosts: ResourceType = { group: 'metal3.io', version: 'v1alpha1', kind: 'BareMetalHost', plural: 'baremetalhosts', namespaced: true };
type Host = KubeObject & { status?: { provisioning?: { state?: string }; operationalStatus?: string; errorType?: string; errorMessage?: string; hardware?: { nics?: { ip?: string }[] } } };

let cp: ControlPlane;
let client: Client;
let bmo: Proc;

beforeAll(async () => {
  cp = await startControlPlane({ name: 'bmo', crds: [path.join(REPO, 'config/external/metal3')] });
  client = new Client(cp.kubeConfig, { fieldManager: 'bmo-test' });
  await client.create(Namespaces, { metadata: { name: 'hosts' } });
  bmo = runBinary(path.join(REPO, 'bin/baremetal-operator'), [
    '-kubeconfig',
    cp.kubeconfigPath,
    '-test-mode',
    '-namespace',
    'hosts',
    '-webhook-port=0',
    '-metrics-addr=0',
    '-health-addr=127.0.0.1:0',
  ]);
});

afterAll(async () => {
  bmo?.child.kill('SIGKILL');
  client?.close();
  await cp?.stop();
});

describe('Metal3 baremetal-operator in test mode', () => {
  it('given a BareMetalHost with BMC credentials, should walk it to available and report its hardware', async () => {
    await client.create(Secrets, { metadata: { name: 'bmc-0', namespace: 'hosts' }, stringData: { username: 'admin', password: 'not-a-real-password' } } as KubeObject);
    await client.create(BareMetalHosts, {
      metadata: { name: 'host-0', namespace: 'hosts', labels: { role: 'worker' } },
      spec: { online: true, bootMACAddress: 'ab:cd:12:34:56:78', bmc: { address: 'ipmi://127.0.0.1:6230', credentialsName: 'bmc-0' } },
    } as KubeObject);
    const host = await until('host-0 to be available', async () => {
      const h = await client.get<Host>(BareMetalHosts, 'host-0', 'hosts');
      return h.status?.provisioning?.state === 'available' ? h : undefined;
    }, 60_000);
    expect(host.status?.operationalStatus).toBe('OK');
    expect(host.status?.hardware?.nics?.map((n) => n.ip)).toContain('192.168.100.1');
  });

  it('given missing BMC credentials, should report a registration error that names the Secret', async () => {
    await client.create(BareMetalHosts, {
      metadata: { name: 'host-nocreds', namespace: 'hosts' },
      spec: { online: true, bmc: { address: 'ipmi://127.0.0.1:6231', credentialsName: 'missing-bmc' } },
    } as KubeObject);
    const host = await until('a registration error', async () => {
      const h = await client.get<Host>(BareMetalHosts, 'host-nocreds', 'hosts');
      return h.status?.errorType ? h : undefined;
    }, 60_000);
    expect(host.status?.errorType).toBe('registration error');
    expect(host.status?.errorMessage).toContain('missing-bmc');
  });
});
