// The pure parts of the upgrade slots (upgradeslots.ts) and the premises
// (premises.ts). ClusterState's reads and Lease writes run against the real
// apiserver in test/integration/topology/slots.test.ts.
import { describe, expect, it } from 'vitest';
import type { Cluster } from '../capi/contract.js';
import { controlPlaneInitialized, deletingProblem, initializedProblem, notHeld, upgradeProblem } from './premises.js';
import {
  ADMISSIONS_ANNOTATION,
  ADMITTED_TTL_MS,
  admit,
  CLASS_ANNOTATION,
  countUpgrades,
  leaseName,
  leaseWith,
  notOurs,
  readAdmissions,
  type Admission,
  type ClusterView,
} from './upgradeslots.js';

const CLS = 'platform/ironplane-kvm';
const cluster = (ns: string, name: string, pending?: string, cls = 'ironplane-kvm', uid = `${ns}-${name}-uid`): Cluster =>
  ({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { namespace: ns, name, uid, ...(pending ? { annotations: { 'runtime.cluster.x-k8s.io/pending-hooks': pending } } : {}) },
    spec: { topology: { classRef: { name: cls, namespace: 'platform' }, version: 'v1.35.1' } },
  }) as Cluster;
const admission = (ns: string, name: string, until: number, markSeen?: boolean): Admission => ({
  namespace: ns,
  name,
  uid: `${ns}-${name}-uid`,
  version: 'v1.35.1',
  until: new Date(until).toISOString(),
  ...(markSeen ? { markSeen } : {}),
});
const noLive = async (): Promise<ClusterView> => {
  throw new Error('the cache settles this: no live read expected');
};

describe('countUpgrades', () => {
  it('given Clusters CAPI marks with AfterClusterUpgrade pending, should count the other ones of the class', async () => {
    const all = [cluster('a', 'x', 'AfterClusterUpgrade'), cluster('a', 'me', 'AfterClusterUpgrade'), cluster('b', 'y', 'AfterControlPlaneUpgrade'), cluster('c', 'z', 'AfterClusterUpgrade', 'other')];
    expect((await countUpgrades(all, [], 'a/me', CLS, 0, noLive)).upgrading).toEqual(['a/x']);
  });

  it('given an admission whose mark the cache does not show yet, should count it until the TTL, then drop it', async () => {
    const admitted = [admission('a', 'x', ADMITTED_TTL_MS)];
    expect(await countUpgrades([cluster('a', 'x')], admitted, 'a/me', CLS, 1_000, noLive)).toEqual({ upgrading: ['a/x'], kept: admitted });
    expect(await countUpgrades([cluster('a', 'x')], admitted, 'a/me', CLS, ADMITTED_TTL_MS, noLive)).toEqual({ upgrading: [], kept: [] });
  });

  it('given the mark seen, should record it; then removed (confirmed live), should stop counting the cluster at once', async () => {
    const first = await countUpgrades([cluster('a', 'x', 'AfterClusterUpgrade')], [admission('a', 'x', ADMITTED_TTL_MS)], 'a/me', CLS, 1_000, noLive);
    expect(first).toEqual({ upgrading: ['a/x'], kept: [admission('a', 'x', ADMITTED_TTL_MS, true)] });
    const asked: string[] = [];
    const live = async (a: Admission): Promise<ClusterView> => {
      asked.push(a.name);
      return { found: true, uid: a.uid, marked: false, deleting: false };
    };
    expect(await countUpgrades([cluster('a', 'x')], first.kept, 'a/me', CLS, 2_000, live)).toEqual({ upgrading: [], kept: [] });
    expect(asked).toEqual(['x']);
  });

  it('given a mark seen by another replica and a cache that lags behind it, should keep counting what the live read shows', async () => {
    const live = async (a: Admission): Promise<ClusterView> => ({ found: true, uid: a.uid, marked: true, deleting: false });
    const res = await countUpgrades([cluster('a', 'x')], [admission('a', 'x', ADMITTED_TTL_MS, true)], 'a/me', CLS, 1_000, live);
    expect(res.upgrading).toEqual(['a/x']);
  });

  it('given an admitted Cluster deleted, or replaced under the same name, should drop its admission', async () => {
    const gone = async (): Promise<ClusterView> => ({ found: false });
    expect(await countUpgrades([], [admission('a', 'x', ADMITTED_TTL_MS)], 'a/me', CLS, 1_000, gone)).toEqual({ upgrading: [], kept: [] });
    const other = async (): Promise<ClusterView> => ({ found: true, uid: 'another', marked: false, deleting: false });
    expect(await countUpgrades([cluster('a', 'x', undefined, 'ironplane-kvm', 'another')], [admission('a', 'x', ADMITTED_TTL_MS)], 'a/me', CLS, 1_000, other)).toEqual({ upgrading: [], kept: [] });
  });

  it('given the asking cluster’s own admission, should keep it without counting it', async () => {
    const own = [admission('a', 'me', ADMITTED_TTL_MS)];
    expect(await countUpgrades([cluster('a', 'me')], own, 'a/me', CLS, 1_000, noLive)).toEqual({ upgrading: [], kept: own });
  });
});

describe('the upgrade-slot Lease', () => {
  it('should have a collision-free name per class, valid for any class name', () => {
    expect(leaseName('team/a-alpha')).not.toBe(leaseName('team-a/alpha'));
    expect(leaseName('platform/ironplane-kvm')).toMatch(/^ironplane-upgrades-[0-9a-f]{20}$/);
    expect(leaseName(`${'n'.repeat(63)}/${'c'.repeat(253)}`).length).toBeLessThanOrEqual(63);
  });

  it('should write and read back its admissions, sorted, keeping the resourceVersion of the Lease it replaces', () => {
    const a = [admission('b', 'y', 5), admission('a', 'x', 5)];
    const lease = leaseWith({ metadata: { name: 'l', namespace: 'ns', resourceVersion: '7' } }, 'l', 'ns', CLS, a);
    expect(lease.metadata?.resourceVersion).toBe('7');
    expect(lease.metadata?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'ironplane-extension' });
    expect(lease.metadata?.annotations?.[CLASS_ANNOTATION]).toBe(CLS);
    expect(readAdmissions(lease)).toEqual({ admissions: [a[1], a[0]] });
    expect(notOurs(lease, CLS)).toBeUndefined();
  });

  it('given a Lease of the same name that is not the extension’s for the class, should refuse it by name', () => {
    expect(notOurs({ metadata: { name: 'ironplane-upgrades-x', namespace: 'ns' } }, CLS)).toBe(
      'Lease ns/ironplane-upgrades-x does not hold the upgrade slots of ClusterClass platform/ironplane-kvm (it lacks app.kubernetes.io/managed-by=ironplane-extension or ironplane.dev/cluster-class=platform/ironplane-kvm): no upgrade of the class is let through until it is removed',
    );
    const other = leaseWith(undefined, 'l', 'ns', 'platform/other', []);
    expect(notOurs(other, CLS)).toMatch(/^Lease ns\/l does not hold the upgrade slots of ClusterClass platform\/ironplane-kvm/);
  });

  it('given an unreadable admissions annotation, should read none and say so', () => {
    expect(readAdmissions({ metadata: { name: 'l', namespace: 'ns', annotations: { [ADMISSIONS_ANNOTATION]: '[{"name":1}]' } } })).toEqual({
      admissions: [],
      problem: 'annotation ironplane.dev/upgrade-admissions of Lease ns/l is not a list of admissions',
    });
  });

  it('should renew an admission of the same cluster rather than add a second', () => {
    const next = admit([admission('a', 'x', 5)], cluster('a', 'x'), 'v1.35.1', 1_000);
    expect(next).toEqual([{ namespace: 'a', name: 'x', uid: 'a-x-uid', version: 'v1.35.1', until: new Date(1_000 + ADMITTED_TTL_MS).toISOString() }]);
  });
});

describe('premises', () => {
  const c = cluster('team-a', 'prod');

  it('given a control plane not initialised, should say so; initialised by status or condition, should hold', () => {
    expect(initializedProblem(c)).toBe(
      'the control plane of Cluster team-a/prod is not initialized (status.initialization.controlPlaneInitialized is not true): no add-on labels were written',
    );
    expect(controlPlaneInitialized({ ...c, status: { initialization: { controlPlaneInitialized: true } } } as Cluster)).toBe(true);
    expect(controlPlaneInitialized({ ...c, status: { conditions: [{ type: 'ControlPlaneInitialized', status: 'True', reason: 'X', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] } } as Cluster)).toBe(true);
    expect(controlPlaneInitialized({ ...c, status: { initialization: { controlPlaneInitialized: false } } } as Cluster)).toBe(false);
  });

  it('given a Cluster not being deleted, should say so', () => {
    expect(deletingProblem(c)).toBe('Cluster team-a/prod is not being deleted (it has no deletionTimestamp): nothing is reported');
    expect(deletingProblem({ ...c, metadata: { ...c.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } } as Cluster)).toBeUndefined();
  });

  it('given an upgrade that is or is not pending, should tell which and why', () => {
    const cp = { what: 'KamajiControlPlane team-a/prod-cp', spec: 'v1.35.0', status: 'v1.35.0' };
    expect(upgradeProblem(c, 'v1.35.1', cp)).toBeUndefined();
    expect(upgradeProblem(c, 'v1.36.0', cp)).toBe('no upgrade of Cluster team-a/prod to v1.36.0 is pending: its spec.topology.version is v1.35.1');
    expect(upgradeProblem(c, 'v1.35.1', { ...cp, spec: 'v1.35.1' })).toBe('no upgrade of Cluster team-a/prod to v1.35.1 is pending: its control plane KamajiControlPlane team-a/prod-cp already has version v1.35.1');
    expect(upgradeProblem(c, 'v1.35.1', 'its control plane KamajiControlPlane team-a/prod-cp does not exist')).toBe(
      'cannot tell whether an upgrade of Cluster team-a/prod to v1.35.1 is pending: its control plane KamajiControlPlane team-a/prod-cp does not exist',
    );
    expect(upgradeProblem(c, 'v1.35.1', { what: 'KamajiControlPlane team-a/prod-cp' })).toBe(
      'cannot tell whether an upgrade of Cluster team-a/prod to v1.35.1 is pending: KamajiControlPlane team-a/prod-cp has no spec.version or status.version',
    );
  });

  it('should give one message for a Cluster that does not exist and one with another uid', () => {
    expect(notHeld({ namespace: 'team-a', name: 'prod', uid: 'u-1' })).toBe(
      'Cluster team-a/prod with uid u-1 is not a Cluster the apiserver holds: the request does not describe a real Cluster, so nothing was done',
    );
  });
});
