// The platform's external network (IRONPLANE_EXTERNAL_NETWORK) on the real
// apiserver and the real kube-OVN Vpc CRD: the manager connects the tenant
// Vpc to it and reports the connection only once the Vpc's status says it is
// made. kube-ovn-controller does not run here: the test writes the Vpc status
// as kube-OVN's updateVpcExternalStatus does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KvmCluster } from '../../../providers/api/generated/ironplane/v1alpha1/kvmcluster.js';
import { getCondition } from '../../../providers/kit/conditions.js';
import type { KubeObject } from '../../../providers/kit/types.js';
import { tenantNetworkName, tenantSubnetName } from '../../../providers/kubevirt/names.js';
import { KvmClusters, Vpcs } from '../../../providers/kubevirt/resources.js';
import { until } from '../processes.js';
import { createCluster, startWorld, type World } from './world.js';

type Vpc = KubeObject & { spec?: { enableExternal?: boolean; extraExternalSubnets?: string[] }; status?: { enableExternal?: boolean; extraExternalSubnets?: string[] | null } };

let w: World;
const NS = 'team-x';
const VPC = tenantNetworkName(NS, 'alpha');
const SUBNET = tenantSubnetName(NS, 'alpha');

beforeAll(async () => {
  w = await startWorld('kubevirt-external', { env: { IRONPLANE_EXTERNAL_NETWORK: 'external' } });
  w.startManager();
}, 180_000);

afterAll(async () => {
  if (w?.manager && process.env['IRONPLANE_TEST_LOG']) console.log(w.manager.output());
  await w?.stop();
});

const kvmCluster = () => w.client.get<KvmCluster>(KvmClusters, 'alpha', NS);
const networkReady = async () => getCondition((await kvmCluster()).status?.conditions, 'NetworkReady');
/** kube-OVN's part: the Vpc status it writes once the router's external port is made, or removed. */
const kubeOvnReports = (status: Vpc['status']) => w.client.patchStatus(Vpcs, VPC, undefined, status);

describe('the external network of tenant VPCs', () => {
  it('given IRONPLANE_EXTERNAL_NETWORK, should connect the Vpc to that Subnet and report it only once kube-OVN says it is connected', async () => {
    await createCluster(w, NS, 'alpha', '10.20.0.0/24', { tenant: false });
    const vpc = await until('the Vpc to ask for the external Subnet', async () => {
      const v = await w.client.tryGet<Vpc>(Vpcs, VPC);
      return v?.spec?.enableExternal ? v : undefined;
    }, 60_000);
    expect(vpc.spec).toEqual({ enableExternal: true, extraExternalSubnets: ['external'] });

    // Provisioned, but not yet connected: nothing claims the connection.
    const waiting = await until('NetworkReady to say it waits for kube-OVN', async () => {
      const c = await networkReady();
      return c?.status === 'True' && c.message?.includes('waiting for kube-OVN to connect it to external network external') ? c : undefined;
    }, 60_000);
    expect(waiting.reason).toBe('Provisioned');
    expect((await kvmCluster()).status?.network).toEqual({ vpc: VPC, subnet: SUBNET });

    // kube-OVN's status before it has handled the spec says otherwise: still not reported.
    await kubeOvnReports({ enableExternal: false, extraExternalSubnets: null });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await kvmCluster()).status?.network?.externalSubnet).toBeUndefined();

    await kubeOvnReports({ enableExternal: true, extraExternalSubnets: ['external'] });
    const kc = await until('status.network.externalSubnet', async () => {
      const o = await kvmCluster();
      return o.status?.network?.externalSubnet ? o : undefined;
    }, 30_000);
    expect(kc.status?.network).toEqual({ vpc: VPC, subnet: SUBNET, externalSubnet: 'external' });
    expect(getCondition(kc.status?.conditions, 'NetworkReady')?.message).toBe(`Vpc ${VPC} and Subnet ${SUBNET} (10.20.0.0/24); connected to external network external`);
  });

  it('given a value that is not a Subnet name, should refuse to start, naming the variable', async () => {
    await w.stopManager();
    const p = w.startManager({ IRONPLANE_EXTERNAL_NETWORK: 'Ext_Net' });
    expect(await p.exited).not.toBe(0);
    expect(p.output()).toContain('IRONPLANE_EXTERNAL_NETWORK: "Ext_Net" is not a Subnet name');
  });

  it('given the setting turned off, should disconnect the Vpc and stop reporting the connection', async () => {
    await w.stopManager();
    w.startManager({ IRONPLANE_EXTERNAL_NETWORK: '' });
    const vpc = await until('the Vpc to be disconnected', async () => {
      const v = await w.client.tryGet<Vpc>(Vpcs, VPC);
      return v?.spec?.enableExternal === false ? v : undefined;
    }, 60_000);
    expect(vpc.spec?.extraExternalSubnets ?? []).toEqual([]);
    // kube-OVN has not disconnected it yet, but the platform no longer asks for it: not reported.
    const kc = await until('status.network.externalSubnet to go', async () => {
      const o = await kvmCluster();
      return o.status?.network && !o.status.network.externalSubnet && !getCondition(o.status.conditions, 'NetworkReady')?.message?.includes('external') ? o : undefined;
    }, 30_000);
    expect(kc.status?.network).toEqual({ vpc: VPC, subnet: SUBNET });

    // kube-OVN disconnects; the Vpc, which now asks for nothing, is not written again.
    await kubeOvnReports({ enableExternal: false, extraExternalSubnets: null });
    const rv = (await w.client.get<Vpc>(Vpcs, VPC)).metadata?.resourceVersion;
    await new Promise((r) => setTimeout(r, 1500));
    expect((await w.client.get<Vpc>(Vpcs, VPC)).metadata?.resourceVersion).toBe(rv);
    expect((await kvmCluster()).status?.network).toEqual({ vpc: VPC, subnet: SUBNET });
  });
});
