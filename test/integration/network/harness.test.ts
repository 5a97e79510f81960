// The OVN world of the harness (test/harness/ovn.ts) on its own: the real
// kube-ovn-controller programs a Vpc and a Subnet into a real OVN, gives pods
// their addresses, and namespaces plugged with those addresses reach each
// other through OVS's userspace datapath. stop() leaves no namespace behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { Client } from '../../../providers/kit/client.js';
import { Namespaces, type KubeObject, type ResourceType } from '../../../providers/kit/types.js';
import { Subnets, Vpcs } from '../../../providers/kubevirt/resources.js';
import { startControlPlane, startOvn, sweepOvnOrphans, type ControlPlane, type OvnWorld } from '../../harness/index.js';
import { REPO, until } from '../processes.js';
import { execFileSync, spawnSync } from 'node:child_process';

const Pods: ResourceType = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };
type Pod = KubeObject & { metadata: { annotations?: Record<string, string> } };

let cp: ControlPlane;
let ovn: OvnWorld;
let client: Client;

beforeAll(async () => {
  cp = await startControlPlane({ name: 'ovn', controllerManager: true, crds: [path.join(REPO, 'config/external/kube-ovn')] });
  ovn = await startOvn(cp, { log: (l) => console.log(l) });
  client = new Client(cp.kubeConfig, { fieldManager: 'ovn-test' });
}, 240_000);

afterAll(async () => {
  client?.close();
  await ovn?.stop();
  await cp?.stop();
});

async function pod(ns: string, name: string, subnet: string): Promise<{ ip: string; mac: string; gateway: string; cidr: string }> {
  await client.create(Pods, {
    metadata: { name, namespace: ns, annotations: { 'ovn.kubernetes.io/logical_switch': subnet } },
    spec: { nodeName: ovn.nodeName, containers: [{ name: 'c', image: 'none' }] },
  } as KubeObject);
  const a = await until(`kube-OVN to allocate ${ns}/${name}`, async () => {
    const p = await client.get<Pod>(Pods, name, ns);
    const ann = p.metadata.annotations ?? {};
    return ann['ovn.kubernetes.io/allocated'] === 'true' ? ann : undefined;
  }, 60_000);
  return { ip: a['ovn.kubernetes.io/ip_address']!, mac: a['ovn.kubernetes.io/mac_address']!, gateway: a['ovn.kubernetes.io/gateway']!, cidr: a['ovn.kubernetes.io/cidr']! };
}

describe('OVN world', () => {
  it('given a Vpc and Subnet, should program them in OVN and let two plugged pods ping each other', async () => {
    await client.create(Namespaces, { metadata: { name: 'smoke' } });
    await client.create(Vpcs, { metadata: { name: 'smoke' }, spec: {} } as KubeObject);
    // kube-OVN refuses a Subnet named like its Vpc.
    await client.create(Subnets, { metadata: { name: 'smoke-net' }, spec: { vpc: 'smoke', cidrBlock: '192.168.50.0/24', protocol: 'IPv4', provider: 'ovn' } } as KubeObject);
    await until('the Vpc router and the Subnet switch in NB', async () => {
      const routers = (await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Router')).split('\n');
      const switches = (await ovn.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch')).split('\n');
      return routers.includes('smoke') && switches.includes('smoke-net') ? true : undefined;
    }, 60_000);

    const a = await pod('smoke', 'a', 'smoke-net');
    const b = await pod('smoke', 'b', 'smoke-net');
    expect(a.ip).toMatch(/^192\.168\.50\.\d+$/);
    expect(b.ip).not.toBe(a.ip);
    expect(a.gateway).toBe('192.168.50.1');

    const na = await ovn.plug({ name: 'a', pod: 'a', namespace: 'smoke', ...a });
    const nb = await ovn.plug({ name: 'b', pod: 'b', namespace: 'smoke', ...b });
    await until('a to ping b', async () => ((await ovn.ping(na, b.ip)) ? true : undefined), 60_000);
    expect(await ovn.ping(nb, a.ip)).toBe(true);
    expect(await ovn.ping(nb, a.gateway)).toBe(true);
    // An address nobody holds in the Subnet answers nothing.
    expect(await ovn.ping(na, '192.168.50.200')).toBe(false);

    await ovn.unplug(nb);
    expect(await ovn.ping(na, b.ip)).toBe(false);
  });

  it('should delete its network namespaces on stop', async () => {
    const list = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '');
    expect(list()).toContain(ovn.datapathNetns);
    await ovn.stop();
    expect(list().filter((n) => n.startsWith(ovn.datapathNetns))).toEqual([]);
  });

  it('should sweep the namespaces of a world whose process died, and only those', async () => {
    const list = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '');
    // A pid that is certainly gone: a process that has exited.
    const dead = spawnSync('true').pid;
    const orphan = `ironplane-ovn-${dead}-0rphan`;
    const live = `ironplane-ovn-${process.pid}-alive0`;
    execFileSync('ip', ['netns', 'add', orphan]);
    execFileSync('ip', ['netns', 'add', live]);
    try {
      await sweepOvnOrphans();
      expect(list()).not.toContain(orphan);
      expect(list()).toContain(live);
    } finally {
      for (const n of [orphan, live]) spawnSync('ip', ['netns', 'delete', n]);
    }
  });
});
