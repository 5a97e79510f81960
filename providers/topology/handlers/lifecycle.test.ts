import { describe, expect, it } from 'vitest';
import type { BeforeClusterUpgradeRequest, ClusterRequest } from '../api.js';
import { fixture, KVM_KINDS, NO_RESERVED, tenancy } from '../testdata/fixtures.js';
import { beforeClusterCreate } from './beforeclustercreate.js';
import { beforeClusterDelete, type Release } from './beforeclusterdelete.js';
import { beforeClusterUpgrade } from './beforeclusterupgrade.js';
import { discovery, HANDLERS } from './discovery.js';

describe('Discovery', () => {
  it('should list every handler with a DNS-1123 name, a timeout CAPI accepts and a failure policy', () => {
    const res = discovery();
    expect(res).toMatchObject({ apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'DiscoveryResponse', status: 'Success' });
    expect(res.handlers!.map((h) => `${h.requestHook.hook}/${h.name}`)).toEqual([
      'DiscoverVariables/discover-variables',
      'GeneratePatches/generate-patches',
      'ValidateTopology/validate-topology',
      'BeforeClusterCreate/before-cluster-create',
      'AfterControlPlaneInitialized/after-control-plane-initialized',
      'BeforeClusterUpgrade/before-cluster-upgrade',
      'BeforeClusterDelete/before-cluster-delete',
    ]);
    for (const h of res.handlers!) {
      expect(h.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(h.name.length).toBeLessThanOrEqual(63);
      expect(h.timeoutSeconds).toBeGreaterThanOrEqual(0);
      expect(h.timeoutSeconds).toBeLessThanOrEqual(30);
      expect(['Fail', 'Ignore']).toContain(h.failurePolicy);
      expect(h.requestHook.apiVersion).toBe('hooks.runtime.cluster.x-k8s.io/v1alpha1');
    }
    expect(new Set(HANDLERS.map((h) => h.name)).size).toBe(HANDLERS.length);
  });
});

describe('BeforeClusterCreate', () => {
  const req = fixture<ClusterRequest>('beforeclustercreate');
  const quota = { 'requests.cpu': '64', 'requests.memory': '256Gi', 'requests.nvidia.com/GA102GL_A10': '4', 'count/machines.cluster.x-k8s.io': '10' };

  it('given a tenant namespace with room in its quota, should let the cluster be created', () => {
    expect(beforeClusterCreate(req, NO_RESERVED, tenancy({ hard: quota }), KVM_KINDS)).toEqual({
      apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
      kind: 'BeforeClusterCreateResponse',
      status: 'Success',
      retryAfterSeconds: 0,
    });
  });

  it('given a namespace in no tenant, should block and say so', () => {
    const t = tenancy({ problem: 'namespace team-a belongs to no Capsule Tenant (it has no capsule.clastix.io/tenant label): create clusters in a tenant\'s namespace' });
    const res = beforeClusterCreate(req, NO_RESERVED, t, KVM_KINDS);
    expect(res).toMatchObject({ status: 'Success', retryAfterSeconds: 60, message: t.problem });
  });

  it('given a quota the topology does not fit in, should block listing each shortfall with the numbers', () => {
    // md-0: 3 × (4 cores, 8Gi); md-gpu: 2 × (16 cores, 64Gi, 2 GPUs): 44 cores, 152Gi, 4 GPUs, 5 machines.
    const t = tenancy({ hard: quota, used: { machines: 6, cpu: 32, memory: 128 * 2 ** 30, gpus: { 'nvidia.com/GA102GL_A10': 2 } } });
    expect(beforeClusterCreate(req, NO_RESERVED, t, KVM_KINDS)).toMatchObject({
      status: 'Success',
      retryAfterSeconds: 60,
      message:
        'Capsule Tenant acme lacks quota for this cluster: count/machines.cluster.x-k8s.io needs 5, 4 of 10 left, requests.cpu needs 44, 32 of 64 left, requests.memory needs 152Gi, 128Gi of 256Gi left, requests.nvidia.com/GA102GL_A10 needs 4, 2 of 4 left',
    });
  });

  it('given bare-metal machine deployments, should not count their CPU and memory against pod quotas', () => {
    const t = tenancy({ hard: { 'requests.cpu': '1', 'count/machines.cluster.x-k8s.io': '5' } });
    expect(beforeClusterCreate(req, NO_RESERVED, t, { general: 'MetalMachineTemplate', gpu: 'MetalMachineTemplate' }).retryAfterSeconds).toBe(0);
  });

  it('given invalid ranges, should block with the same checks as ValidateTopology', () => {
    const r = structuredClone(req);
    r.cluster.spec.clusterNetwork!.pods!.cidrBlocks = ['10.20.0.0/16'];
    const res = beforeClusterCreate(r, NO_RESERVED, tenancy({ hard: quota }), KVM_KINDS);
    expect(res).toMatchObject({
      retryAfterSeconds: 60,
      message: "the topology is invalid: network.podCIDR 10.244.0.0/16 differs from the Cluster's spec.clusterNetwork.pods.cidrBlocks[0] 10.20.0.0/16, which Kamaji uses: make them equal",
    });
    // The fixture's settings reserve 172.16.0.0/12.
    const r2 = structuredClone(req);
    r2.cluster.spec.topology!.variables!.find((v) => v.name === 'network')!.value = { nodeCIDR: '172.16.4.0/24' };
    expect(beforeClusterCreate(r2, NO_RESERVED, tenancy({ hard: quota }), KVM_KINDS).message).toBe("the topology is invalid: network.nodeCIDR 172.16.4.0/24 overlaps the platform's reserved range 172.16.0.0/12");
  });

  it('given a bad per-MachineDeployment override, should name the MachineDeployment', () => {
    const r = structuredClone(req);
    r.cluster.spec.topology!.workers!.machineDeployments![1]!.variables!.overrides![0]!.value = { cpu: 16, memory: '1Gb' };
    expect(beforeClusterCreate(r, NO_RESERVED, tenancy({ hard: quota }), KVM_KINDS).message).toBe('the topology is invalid: MachineDeployment md-gpu: variable workers.memory: must be a quantity such as 8Gi, got "1Gb"');
  });

  it('given bad settings, should fail rather than block', () => {
    expect(beforeClusterCreate({ ...req, settings: { reservedCIDRs: 'ten' } }, NO_RESERVED, tenancy(), KVM_KINDS)).toMatchObject({
      status: 'Failure',
      retryAfterSeconds: 0,
      message: 'setting reservedCIDRs: "ten" is not a CIDR (address/prefix, e.g. 10.0.0.0/24)',
    });
  });
});

describe('BeforeClusterUpgrade', () => {
  const req = fixture<BeforeClusterUpgradeRequest>('beforeclusterupgrade');
  const fleet = { classRef: 'platform/ironplane-kvm', upgrading: [] };
  // 2026-11-25 is a Wednesday; the fixture's window is Sat,Sun 00:00-06:00.
  const wednesday = new Date('2026-11-25T12:00:00Z');
  const saturday = new Date('2026-11-28T01:00:00Z');
  const annotated = (value: string | undefined) => {
    const r = structuredClone(req);
    r.cluster.metadata.annotations = value === undefined ? {} : { 'ironplane.dev/maintenance-window': value };
    return r;
  };

  it('given a time inside the window and free slots, should let the upgrade start', () => {
    expect(beforeClusterUpgrade(req, NO_RESERVED, fleet, saturday)).toMatchObject({ status: 'Success', retryAfterSeconds: 0 });
    expect(beforeClusterUpgrade(annotated(undefined), NO_RESERVED, fleet, wednesday).retryAfterSeconds).toBe(0);
    expect(beforeClusterUpgrade(annotated('open'), NO_RESERVED, fleet, wednesday).retryAfterSeconds).toBe(0);
  });

  it('given a time outside the window, should block until it opens, rechecking at least every five minutes', () => {
    expect(beforeClusterUpgrade(req, NO_RESERVED, fleet, wednesday)).toMatchObject({
      status: 'Success',
      retryAfterSeconds: 300,
      message: 'outside the maintenance window "Sat,Sun 00:00-06:00" (UTC): it next opens Sat 2026-11-28 00:00 UTC',
    });
    expect(beforeClusterUpgrade(req, NO_RESERVED, fleet, new Date('2026-11-27T23:58:30Z')).retryAfterSeconds).toBe(90);
  });

  it('given the window closed, should block and say how to open it', () => {
    expect(beforeClusterUpgrade(annotated('closed'), NO_RESERVED, fleet, saturday)).toMatchObject({
      retryAfterSeconds: 300,
      message: 'the maintenance window is closed (ironplane.dev/maintenance-window: closed): set it to open, or to a schedule, to let the upgrade to v1.36.0 start',
    });
  });

  it('given an unreadable annotation, should block and quote the problem', () => {
    expect(beforeClusterUpgrade(annotated('weekends'), NO_RESERVED, fleet, saturday)).toMatchObject({
      retryAfterSeconds: 300,
      message: 'the ironplane.dev/maintenance-window annotation is invalid, so no upgrade starts until it is fixed: "weekends" is not a window: write <days> <HH:MM>-<HH:MM>, e.g. "Sat,Sun 00:00-06:00"',
    });
  });

  it('given as many upgrades of the class in flight as allowed, should wait for one to finish', () => {
    const busy = { classRef: 'platform/ironplane-kvm', upgrading: ['team-b/edge', 'team-c/ci', 'team-d/web'] };
    expect(beforeClusterUpgrade(req, NO_RESERVED, busy, saturday)).toMatchObject({
      retryAfterSeconds: 60,
      message: '3 other Clusters of ClusterClass platform/ironplane-kvm are upgrading (team-b/edge, team-c/ci, team-d/web) and at most 3 may upgrade at once: waiting for one to finish',
    });
    expect(beforeClusterUpgrade({ ...req, settings: { upgradeConcurrency: '4' } }, NO_RESERVED, busy, saturday).retryAfterSeconds).toBe(0);
    expect(beforeClusterUpgrade(req, { reservedCIDRs: [], upgradeConcurrency: 0 }, busy, saturday).retryAfterSeconds).toBe(0);
  });

  it('given a shorter retry for held upgrades, should ask CAPI to come back after it', () => {
    const busy = { classRef: 'platform/ironplane-kvm', upgrading: ['team-b/edge', 'team-c/ci', 'team-d/web'] };
    expect(beforeClusterUpgrade(req, { ...NO_RESERVED, upgradeRetrySeconds: 5 }, busy, saturday).retryAfterSeconds).toBe(5);
  });

  it('given a closed window and a full fleet, should give both reasons and the shorter wait', () => {
    const busy = { classRef: 'platform/ironplane-kvm', upgrading: ['team-b/edge'] };
    const res = beforeClusterUpgrade({ ...req, settings: { upgradeConcurrency: '1' } }, NO_RESERVED, busy, wednesday);
    expect(res.retryAfterSeconds).toBe(60);
    expect(res.message).toBe(
      'outside the maintenance window "Sat,Sun 00:00-06:00" (UTC): it next opens Sat 2026-11-28 00:00 UTC; 1 other Cluster of ClusterClass platform/ironplane-kvm is upgrading (team-b/edge) and at most 1 may upgrade at once: waiting for one to finish',
    );
  });

  it('given Clusters not read yet, should not start an upgrade blind', () => {
    const res = beforeClusterUpgrade(req, NO_RESERVED, { classRef: 'platform/ironplane-kvm', upgrading: [], unknown: 'the extension has not read the Clusters yet, so it cannot count upgrades in progress' }, saturday);
    expect(res).toMatchObject({ retryAfterSeconds: 60, message: 'the extension has not read the Clusters yet, so it cannot count upgrades in progress' });
  });
});

describe('BeforeClusterDelete', () => {
  const req = fixture<ClusterRequest>('beforeclusterdelete');
  const clean: Release = { services: [], machines: [], errors: [] };
  const owned = { kind: 'KvmMachine', namespace: 'team-a', name: 'prod-md-0-abc', ownerKinds: ['Machine'] };

  it('given nothing outside the teardown, should let the deletion go on', () => {
    expect(beforeClusterDelete(req, { ...clean, machines: [owned] })).toMatchObject({ status: 'Success', retryAfterSeconds: 0 });
  });

  it('given the control plane’s own Service, should not wait for it (Kamaji deletes it after the hook)', () => {
    const cp = { namespace: 'team-a', name: 'prod-7h2kq', labels: { 'kamaji.clastix.io/name': 'prod-7h2kq', 'cluster.x-k8s.io/cluster-name': 'prod' }, addresses: ['192.0.2.17'] };
    expect(beforeClusterDelete(req, { ...clean, services: [cp] }).retryAfterSeconds).toBe(0);
  });

  it('given tenant LoadBalancer Services and orphaned machines, should hold and name them', () => {
    const res = beforeClusterDelete(req, {
      services: [
        { namespace: 'team-a', name: 'prod-ingress', labels: {}, addresses: ['192.0.2.31', '192.0.2.30'] },
        { namespace: 'team-a', name: 'prod-db', labels: {}, addresses: [] },
      ],
      machines: [owned, { kind: 'MetalMachine', namespace: 'team-a', name: 'prod-leftover', ownerKinds: [] }],
      errors: [],
    });
    expect(res).toMatchObject({
      status: 'Success',
      retryAfterSeconds: 30,
      message:
        'hosts are still held by MetalMachine team-a/prod-leftover, which no Machine owns, so the cluster\'s teardown would not release them: delete them; ' +
        'load-balancer addresses are still held by Service team-a/prod-db, Service team-a/prod-ingress (192.0.2.30, 192.0.2.31): delete these LoadBalancer Services, which Cluster API does not delete',
    });
  });

  it('given lists it could not read, should wait rather than guess', () => {
    expect(beforeClusterDelete(req, { ...clean, errors: ['listing services: HTTP 403'] })).toMatchObject({ retryAfterSeconds: 30, message: 'cannot check what the cluster still holds: listing services: HTTP 403' });
  });
});
