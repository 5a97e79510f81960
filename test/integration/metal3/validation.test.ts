// Bad input to the Metal3 provider gets a clear message: the real apiserver
// refuses what the CRD schema and its CEL rules can see, the webhook refuses
// template changes, and the controller explains the rest in a condition
// without claiming a host it cannot use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secrets, type KubeObject } from '../../../providers/kit/types.js';
import type { Host } from '../../../providers/metal3/hosts.js';
import { dataSecretName } from '../../../providers/metal3/names.js';
import { BareMetalHosts, MetalClusters, MetalMachines, MetalMachineTemplates } from '../../../providers/metal3/resources.js';
import { until } from '../processes.js';
import { condition, createCluster, createHost, createMachine, KAIROS_IMAGE, metalMachine, startWorld, waitHostsAvailable, type World } from './world.js';

let w: World;
const NS = 'bad';

beforeAll(async () => {
  w = await startWorld('metal3-validation', { provisioner: 'demo' });
  w.startManager();
  await createHost(w, NS, 'plain', { kind: 'plain' }, 1);
  // BMO's demo provisioner fails validation for a host of this name, as Ironic would for a bad image.
  await createHost(w, NS, 'demo-validation-error', { kind: 'failing' }, 2);
  await createCluster(w, NS, 'c');
  await waitHostsAvailable(w, NS, ['plain', 'demo-validation-error']);
});

afterAll(async () => {
  await w?.stop();
});

/** Creates a MetalMachine with this spec and returns the apiserver's refusal. */
async function refusal(name: string, spec: Record<string, unknown>): Promise<string> {
  try {
    await w.client.create(MetalMachines, { metadata: { name, namespace: NS }, spec } as KubeObject);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`MetalMachine ${name} was accepted`);
}

describe('MetalMachine schema and CEL rules, enforced by the real apiserver', () => {
  it.each([
    ['a missing image', {}, 'spec.image: Required value'],
    ['an unknown checksum type', { image: { url: 'https://images.example/k.raw', checksum: 'abc', checksumType: 'crc32' } }, 'spec.image.checksumType: Unsupported value: "crc32"'],
    ['an http image without a checksum', { image: { url: 'https://images.example/k.raw' } }, 'checksum is required unless the image is oci:// or a live-iso'],
    ['a checksum type without a checksum', { image: { url: KAIROS_IMAGE, checksumType: 'sha256' } }, 'checksumType needs a checksum'],
    ['an unsupported URL scheme', { image: { url: 'ftp://images.example/k.raw', checksum: 'abc' } }, 'spec.image.url: Invalid value: "ftp://images.example/k.raw"'],
    ['In without values', { image: { url: KAIROS_IMAGE }, hostSelector: { matchExpressions: [{ key: 'rack', operator: 'In' }] } }, 'In and NotIn need at least one value'],
    ['a phy link without a MAC source', { image: { url: KAIROS_IMAGE }, network: { links: [{ id: 'eth0', type: 'phy' }] } }, 'a phy link needs exactly one of macAddress or fromHostInterface'],
    [
      'a network on an unknown link',
      { image: { url: KAIROS_IMAGE }, network: { links: [{ id: 'eth0', type: 'phy', macAddress: '02:00:00:00:00:01' }], networks: [{ link: 'eth9', type: 'ipv4_dhcp' }] } },
      'every network must name one of the links',
    ],
    [
      'a static network without an address',
      { image: { url: KAIROS_IMAGE }, network: { links: [{ id: 'eth0', type: 'phy', macAddress: '02:00:00:00:00:01' }], networks: [{ link: 'eth0', type: 'ipv4' }] } },
      'a static network needs an address',
    ],
    [
      'an address without a prefix',
      { image: { url: KAIROS_IMAGE }, network: { links: [{ id: 'eth0', type: 'phy', macAddress: '02:00:00:00:00:01' }], networks: [{ link: 'eth0', type: 'ipv4', address: '10.0.0.5' }] } },
      'must be an address with a prefix length, such as 192.168.10.21/24',
    ],
    [
      'a vlan over a missing link',
      { image: { url: KAIROS_IMAGE }, network: { links: [{ id: 'v100', type: 'vlan', vlanLink: 'bond0', vlanId: 100 }] } },
      'a vlan must run over a phy or bond link of this list',
    ],
  ])('given %s, should refuse it with a message naming the problem', async (_what, spec, message) => {
    expect(await refusal(`bad-${Math.random().toString(36).slice(2, 8)}`, spec)).toContain(message);
  });

  it('given a change of image on an existing MetalMachine, should refuse it', async () => {
    await w.client.create(MetalMachines, { metadata: { name: 'fixed', namespace: NS }, spec: { image: { url: KAIROS_IMAGE } } } as KubeObject);
    await expect(w.client.mergePatch(MetalMachines, 'fixed', NS, { spec: { image: { url: `${KAIROS_IMAGE}-next` } } })).rejects.toThrow('image is immutable');
    await w.client.delete(MetalMachines, 'fixed', NS);
  });

  it('given a host pool that is not a namespace name, should refuse the MetalCluster', async () => {
    await expect(w.client.create(MetalClusters, { metadata: { name: 'badpool', namespace: NS }, spec: { hostPools: [{ namespace: 'Pool_A' }] } } as KubeObject)).rejects.toThrow('spec.hostPools[0].namespace');
  });

  it('given a MetalMachineTemplate, should refuse spec changes through the webhook but let dry-runs through', async () => {
    const tpl = { metadata: { name: 'workers', namespace: NS }, spec: { template: { spec: { image: { url: KAIROS_IMAGE } } } } };
    await w.client.create(MetalMachineTemplates, tpl as KubeObject);
    const change = { ...tpl, spec: { template: { spec: { image: { url: KAIROS_IMAGE }, automatedCleaningMode: 'disabled' } } } };
    await w.webhooksUp();
    const verdict = await w.client
      .mergePatch(MetalMachineTemplates, 'workers', NS, { spec: { template: { spec: { automatedCleaningMode: 'disabled' } } } })
      .then(() => 'accepted', (e: Error) => e.message);
    expect(verdict).toContain('spec.template.spec is immutable; create a new MetalMachineTemplate');
    type Tpl = KubeObject & { spec: { template: { spec: { automatedCleaningMode: string } } } };
    const dry = await w.client.apply<Tpl>(MetalMachineTemplates, change as Tpl, { dryRun: true, force: true });
    expect(dry.spec.template.spec.automatedCleaningMode).toBe('disabled');
  });
});

describe('what only the controller can see, said in a condition', () => {
  it('given a selector that matches no host, should wait with a message naming the selector and claim nothing', async () => {
    await createMachine(w, NS, 'c', 'nomatch', { spec: { hostSelector: { matchLabels: { kind: 'gpu' } } } });
    const m = await until('NoHostAvailable', async () => {
      const mm = await metalMachine(w, NS, 'nomatch');
      return condition(mm, 'HostClaimed')?.reason === 'NoHostAvailable' ? mm : undefined;
    }, 30_000);
    expect(condition(m, 'HostClaimed')?.message).toBe('no available BareMetalHost matches selector "kind=gpu" in namespace bad: none of the 2 host(s) there match the selector');
    expect(condition(m, 'Ready')?.status).toBe('False');
  });

  it('given bootstrap data that is not a cloud-config, should say so and leave the hosts unclaimed', async () => {
    await createMachine(w, NS, 'c', 'ignition', { bootstrap: '{"ignition":{"version":"3.4.0"}}', spec: { hostSelector: { matchLabels: { kind: 'plain' } } } });
    const m = await until('BootstrapDataInvalid', async () => {
      const mm = await metalMachine(w, NS, 'ignition');
      return condition(mm, 'HostClaimed')?.reason === 'BootstrapDataInvalid' ? mm : undefined;
    }, 30_000);
    expect(condition(m, 'HostClaimed')?.message).toBe('Secret ignition-bootstrap: bootstrap data is not a cloud-config: it must start with "#cloud-config"');
    expect((await w.client.get<Host>(BareMetalHosts, 'plain', NS)).spec?.consumerRef).toBeUndefined();
    await w.client.delete(MetalMachines, 'ignition', NS);
  });

  it('given a link taken from a NIC the host does not have, should say which NICs it has', async () => {
    await createMachine(w, NS, 'c', 'nonic', {
      spec: { hostSelector: { matchLabels: { kind: 'plain' } }, network: { links: [{ id: 'eth0', type: 'phy', fromHostInterface: 'eno9' }], networks: [{ link: 'eth0', type: 'ipv4_dhcp' }] } },
    });
    const m = await until('InvalidNetworkData', async () => {
      const mm = await metalMachine(w, NS, 'nonic');
      return condition(mm, 'HostProvisioned')?.reason === 'InvalidNetworkData' ? mm : undefined;
    }, 30_000);
    expect(condition(m, 'HostProvisioned')?.message).toBe('link eth0: host bad/plain has no NIC named eno9 (it has: nic-1, nic-2)');
    // Nothing was written to the host it could not configure.
    expect((await w.client.get<Host>(BareMetalHosts, 'plain', NS)).spec?.image).toBeUndefined();
    await w.client.delete(MetalMachines, 'nonic', NS);
    await until('nonic to release its host', async () => !(await w.client.tryGet(MetalMachines, 'nonic', NS)) || undefined, 30_000);
    expect((await w.client.get<Host>(BareMetalHosts, 'plain', NS)).spec?.consumerRef).toBeUndefined();
  });

  it('given a host that BMO fails to provision, should surface its error type and message in a condition and an event', async () => {
    await createMachine(w, NS, 'c', 'failing', { spec: { hostSelector: { matchLabels: { kind: 'failing' } } } });
    const m = await until('the host error in a condition', async () => {
      const mm = await metalMachine(w, NS, 'failing');
      return condition(mm, 'HostProvisioned')?.reason === 'ProvisioningError' ? mm : undefined;
    }, 60_000);
    expect(condition(m, 'HostProvisioned')?.message).toMatch(/^BareMetalHost bad\/demo-validation-error \(.+\) reports provisioning error: validation failed/);
    const events = await until('a Warning event', async () => {
      const { items } = await w.client.list<KubeObject & { reason?: string; type?: string; note?: string }>({ group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', namespaced: true }, { namespace: NS });
      const mine = items.filter((e) => e.reason === 'ProvisioningError' && e.type === 'Warning');
      return mine.length ? mine : undefined;
    }, 30_000);
    expect(events[0]!.note).toContain('validation failed');
    expect(await w.client.tryGet(Secrets, dataSecretName(NS, 'failing', 'userdata'), NS)).toBeDefined();
  });
});
