import { describe, expect, it } from 'vitest';
import type { Cluster } from '../capi/contract.js';
import { ADMITTED_TTL_MS, upgradingOthers, type Admission } from './state.js';

const CLS = 'platform/ironplane-kvm';
const cluster = (ns: string, name: string, pending?: string, cls = 'ironplane-kvm'): Cluster =>
  ({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { namespace: ns, name, ...(pending ? { annotations: { 'runtime.cluster.x-k8s.io/pending-hooks': pending } } : {}) },
    spec: { topology: { classRef: { name: cls, namespace: 'platform' }, version: 'v1.35.1' } },
  }) as Cluster;

describe('upgradingOthers', () => {
  it('given Clusters CAPI marks with AfterClusterUpgrade pending, should count the other ones of the class', () => {
    const all = [cluster('a', 'x', 'AfterClusterUpgrade'), cluster('a', 'me', 'AfterClusterUpgrade'), cluster('b', 'y', 'AfterControlPlaneUpgrade'), cluster('c', 'z', 'AfterClusterUpgrade', 'other')];
    expect(upgradingOthers(all, new Map(), 'a/me', CLS, 0)).toEqual(['a/x']);
  });

  it('given an upgrade just let through that the cache does not show yet, should count it until the TTL', () => {
    const admitted = new Map<string, Admission>([['a/x', { classKey: CLS, until: ADMITTED_TTL_MS }]]);
    expect(upgradingOthers([cluster('a', 'x')], admitted, 'a/me', CLS, 1_000)).toEqual(['a/x']);
    expect(upgradingOthers([cluster('a', 'x')], admitted, 'a/me', CLS, ADMITTED_TTL_MS)).toEqual([]);
    expect(admitted.size).toBe(0);
  });

  it('given the mark seen and then removed when the upgrade ended, should stop counting the cluster at once', () => {
    const admitted = new Map<string, Admission>([['a/x', { classKey: CLS, until: ADMITTED_TTL_MS }]]);
    expect(upgradingOthers([cluster('a', 'x', 'AfterClusterUpgrade')], admitted, 'a/me', CLS, 1_000)).toEqual(['a/x']);
    expect(admitted.size).toBe(0);
    expect(upgradingOthers([cluster('a', 'x')], admitted, 'a/me', CLS, 2_000)).toEqual([]);
  });
});
