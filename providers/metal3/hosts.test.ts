import { describe, expect, it } from 'vitest';
import type { HostDeployPolicy } from '../api/generated/metal3/v1alpha1/hostdeploypolicy.js';
import {
  candidates,
  candidatesWithReleased,
  consumerOf,
  failureDomainsFrom,
  isConsumedBy,
  matchesSelector,
  noHostMessage,
  policyAdmits,
  resolvePools,
  selectorString,
  slimHost,
  unclaimableReason,
  type ConsumerRef,
  type Host,
  type HostQuery,
} from './hosts.js';
import { DEFAULT_ZONE_LABEL, HOST_DETACHED_ANNOTATION, HOST_PAUSED_ANNOTATION, HOST_UNHEALTHY_ANNOTATION, NODE_REUSE_LABEL } from './names.js';

const ZONE = DEFAULT_ZONE_LABEL;

interface HostOpts {
  ns?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  state?: string;
  consumer?: ConsumerRef;
  deleting?: boolean;
  errorType?: string;
  operationalStatus?: string;
}

/** A BareMetalHost as the cache holds it; available and unclaimed unless told otherwise. */
function host(name: string, o: HostOpts = {}): Host {
  return {
    metadata: {
      name,
      namespace: o.ns ?? 'pool-a',
      resourceVersion: '1',
      ...(o.labels ? { labels: o.labels } : {}),
      ...(o.annotations ? { annotations: o.annotations } : {}),
      ...(o.deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}),
    },
    spec: { online: false, ...(o.consumer ? { consumerRef: o.consumer } : {}) },
    status: {
      provisioning: { state: o.state ?? 'available' },
      operationalStatus: o.operationalStatus ?? 'OK',
      ...(o.errorType ? { errorType: o.errorType } : {}),
    },
  };
}

const mmRef = (name: string, namespace = 'team-a'): ConsumerRef => ({ apiVersion: 'infrastructure.ironplane.dev/v1alpha1', kind: 'MetalMachine', name, namespace, uid: `uid-${name}` });

const names = (hs: readonly Host[]) => hs.map((h) => `${h.metadata?.namespace}/${h.metadata?.name}`);

const query = (q: Partial<HostQuery> = {}): HostQuery => ({ namespaces: ['team-a', 'pool-a'], zoneLabel: ZONE, seed: 'machine-uid-1', ...q });

describe('matchesSelector', () => {
  const labels = { role: 'worker', rack: 'r1', gpu: 'a10' };

  it('given an empty or absent selector, should match every host, labelled or not', () => {
    expect(matchesSelector(labels, undefined)).toBe(true);
    expect(matchesSelector(labels, {})).toBe(true);
    expect(matchesSelector(undefined, {})).toBe(true);
    expect(matchesSelector(undefined, { matchLabels: {}, matchExpressions: [] })).toBe(true);
  });

  it('given matchLabels, should require every pair with its exact value', () => {
    expect(matchesSelector(labels, { matchLabels: { role: 'worker', rack: 'r1' } })).toBe(true);
    expect(matchesSelector(labels, { matchLabels: { role: 'worker', rack: 'r2' } })).toBe(false);
    expect(matchesSelector(labels, { matchLabels: { zone: 'z1' } })).toBe(false);
    expect(matchesSelector(undefined, { matchLabels: { role: 'worker' } })).toBe(false);
  });

  it('given In, should require the label with one of the values', () => {
    const sel = { matchExpressions: [{ key: 'rack', operator: 'In' as const, values: ['r1', 'r2'] }] };
    expect(matchesSelector(labels, sel)).toBe(true);
    expect(matchesSelector({ rack: 'r3' }, sel)).toBe(false);
    expect(matchesSelector({}, sel)).toBe(false);
  });

  it('given NotIn, should refuse the listed values and accept a host without the label', () => {
    const sel = { matchExpressions: [{ key: 'rack', operator: 'NotIn' as const, values: ['r1'] }] };
    expect(matchesSelector(labels, sel)).toBe(false);
    expect(matchesSelector({ rack: 'r2' }, sel)).toBe(true);
    expect(matchesSelector({}, sel)).toBe(true);
  });

  it('given Exists and DoesNotExist, should look at the key only, an empty value included', () => {
    const exists = { matchExpressions: [{ key: 'gpu', operator: 'Exists' as const }] };
    const absent = { matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' as const }] };
    expect(matchesSelector(labels, exists)).toBe(true);
    expect(matchesSelector({ gpu: '' }, exists)).toBe(true);
    expect(matchesSelector({ role: 'worker' }, exists)).toBe(false);
    expect(matchesSelector(labels, absent)).toBe(false);
    expect(matchesSelector({ gpu: '' }, absent)).toBe(false);
    expect(matchesSelector({ role: 'worker' }, absent)).toBe(true);
  });

  it('given matchLabels and several expressions, should require all of them', () => {
    const sel = {
      matchLabels: { role: 'worker' },
      matchExpressions: [
        { key: 'rack', operator: 'In' as const, values: ['r1'] },
        { key: 'maintenance', operator: 'DoesNotExist' as const },
      ],
    };
    expect(matchesSelector(labels, sel)).toBe(true);
    expect(matchesSelector({ ...labels, maintenance: 'true' }, sel)).toBe(false);
    expect(matchesSelector({ ...labels, role: 'storage' }, sel)).toBe(false);
  });
});

describe('selectorString', () => {
  it('given no selector, should say it selects everything', () => {
    expect(selectorString(undefined)).toBe('<everything>');
    expect(selectorString({})).toBe('<everything>');
    expect(selectorString({ matchLabels: {}, matchExpressions: [] })).toBe('<everything>');
  });

  it('should print labels sorted by key, then the expressions in order with sorted values, as kubectl does', () => {
    expect(
      selectorString({
        matchLabels: { role: 'worker', arch: 'amd64' },
        matchExpressions: [
          { key: 'rack', operator: 'In', values: ['r2', 'r1'] },
          { key: 'tier', operator: 'NotIn', values: ['gold'] },
          { key: 'gpu', operator: 'DoesNotExist' },
          { key: 'nvme', operator: 'Exists' },
        ],
      }),
    ).toBe('arch=amd64,role=worker,rack in (r1,r2),tier notin (gold),!gpu,nvme');
  });

  it('should not reorder the values of the selector it prints', () => {
    const values = ['r2', 'r1'];
    selectorString({ matchExpressions: [{ key: 'rack', operator: 'In', values }] });
    expect(values).toEqual(['r2', 'r1']);
  });
});

describe('unclaimableReason', () => {
  it('given an unclaimed host that is available or ready, should find it claimable', () => {
    expect(unclaimableReason(host('h', { state: 'available' }))).toBeUndefined();
    expect(unclaimableReason(host('h', { state: 'ready' }))).toBeUndefined();
  });

  it.each<[string, string, HostOpts]>([
    ['a consumerRef, of any kind', 'claimed', { consumer: { apiVersion: 'metal3.io/v1alpha1', kind: 'HostClaim', name: 'x' } }],
    ['the BMO paused annotation, even empty', 'paused', { annotations: { [HOST_PAUSED_ANNOTATION]: '' } }],
    ['the BMO detached annotation', 'detached', { annotations: { [HOST_DETACHED_ANNOTATION]: '{"deleteAction":"delay"}' } }],
    ['the CAPM3 unhealthy annotation', 'unhealthy', { annotations: { [HOST_UNHEALTHY_ANNOTATION]: '' } }],
    ['a deletionTimestamp', 'deleting', { deleting: true }],
    ['an errorType', 'in error', { errorType: 'inspection error' }],
    ['operationalStatus error', 'in error', { operationalStatus: 'error' }],
    ['state provisioning', 'provisioning', { state: 'provisioning' }],
    ['state provisioned', 'provisioned', { state: 'provisioned' }],
    ['state inspecting', 'inspecting', { state: 'inspecting' }],
    ['state externally provisioned', 'externally provisioned', { state: 'externally provisioned' }],
    ['state deprovisioning', 'deprovisioning', { state: 'deprovisioning' }],
    ['an empty state', 'unregistered', { state: '' }],
  ])('given %s, should say %s', (_what, reason, opts) => {
    expect(unclaimableReason(host('h', opts))).toBe(reason);
  });

  it('given a host without any status yet, should say it is unregistered', () => {
    expect(unclaimableReason({ metadata: { name: 'h', namespace: 'pool-a' }, spec: {} })).toBe('unregistered');
  });

  it('given several reasons, should give the first: claimed, then paused, detached, unhealthy, deleting, error, state', () => {
    const all: HostOpts = {
      consumer: mmRef('m'),
      annotations: { [HOST_PAUSED_ANNOTATION]: '', [HOST_DETACHED_ANNOTATION]: '', [HOST_UNHEALTHY_ANNOTATION]: '' },
      deleting: true,
      errorType: 'provisioning error',
      state: 'provisioning',
    };
    expect(unclaimableReason(host('h', all))).toBe('claimed');
    expect(unclaimableReason(host('h', { ...all, consumer: undefined }))).toBe('paused');
    expect(unclaimableReason(host('h', { ...all, consumer: undefined, annotations: { [HOST_DETACHED_ANNOTATION]: '', [HOST_UNHEALTHY_ANNOTATION]: '' } }))).toBe('detached');
    expect(unclaimableReason(host('h', { ...all, consumer: undefined, annotations: { [HOST_UNHEALTHY_ANNOTATION]: '' } }))).toBe('unhealthy');
    expect(unclaimableReason(host('h', { ...all, consumer: undefined, annotations: {} }))).toBe('deleting');
    expect(unclaimableReason(host('h', { ...all, consumer: undefined, annotations: {}, deleting: false }))).toBe('in error');
    expect(unclaimableReason(host('h', { state: 'provisioning' }))).toBe('provisioning');
  });
});

describe('candidates', () => {
  it('given hosts in several namespaces, should keep those the machine may draw from, its own namespace first', () => {
    const hosts = [host('p1'), host('p2'), host('t1', { ns: 'team-a' }), host('o1', { ns: 'team-b' }), host('t2', { ns: 'team-a' }), host('q1', { ns: 'pool-b' })];
    const got = names(candidates(hosts, query()));
    expect(got).toHaveLength(4);
    expect(got.slice(0, 2).sort()).toEqual(['team-a/t1', 'team-a/t2']);
    expect(got.slice(2).sort()).toEqual(['pool-a/p1', 'pool-a/p2']);
  });

  it('given the pools in another order, should rank their hosts in that order', () => {
    const hosts = [host('a1', { ns: 'pool-a' }), host('b1', { ns: 'pool-b' }), host('a2', { ns: 'pool-a' })];
    expect(names(candidates(hosts, query({ namespaces: ['team-a', 'pool-b', 'pool-a'] })))[0]).toBe('pool-b/b1');
    expect(names(candidates(hosts, query({ namespaces: ['team-a', 'pool-a', 'pool-b'] }))).at(-1)).toBe('pool-b/b1');
  });

  it('given a host its template released, should prefer it over every other, own namespace included', () => {
    const reuse = 'team-a.md-0';
    const hosts = [host('t1', { ns: 'team-a' }), host('p1'), host('p2', { labels: { [NODE_REUSE_LABEL]: reuse } }), host('p3', { labels: { [NODE_REUSE_LABEL]: 'team-a.md-1' } })];
    const got = names(candidates(hosts, query({ reuse })));
    expect(got[0]).toBe('pool-a/p2');
    expect(got[1]).toBe('team-a/t1');
    expect(got).toHaveLength(4);
    // Without reuse asked for, the label gives no preference.
    expect(names(candidates(hosts, query()))[0]).toBe('team-a/t1');
  });

  it('given a cache that still shows the released host claimed, should read the labelled hosts fresh and prefer that one', async () => {
    const reuse = 'team-a.md-0';
    const stale = [host('p1'), host('p2', { consumer: mmRef('old') })];
    const selectors: string[] = [];
    const got = await candidatesWithReleased(stale, query({ reuse }), async (sel) => {
      selectors.push(sel);
      return [host('p2', { labels: { [NODE_REUSE_LABEL]: reuse } })];
    });
    expect(selectors).toEqual([`${NODE_REUSE_LABEL}=${reuse}`]);
    expect(names(got.options)).toEqual(['pool-a/p2', 'pool-a/p1']);
    expect(got.all).toHaveLength(2);
  });

  it('given the released host first in the cache already, or no reuse asked for, should not read anything', async () => {
    const reuse = 'team-a.md-0';
    const never = async (): Promise<never> => {
      throw new Error('read the apiserver');
    };
    const hosts = [host('p1'), host('p2', { labels: { [NODE_REUSE_LABEL]: reuse } })];
    expect(names((await candidatesWithReleased(hosts, query({ reuse }), never)).options)[0]).toBe('pool-a/p2');
    expect((await candidatesWithReleased(hosts, query(), never)).options).toHaveLength(2);
  });

  it('given no labelled host in the apiserver either, should keep the cached order', async () => {
    const hosts = [host('p1'), host('p2')];
    const got = await candidatesWithReleased(hosts, query({ reuse: 'team-a.md-0' }), async () => []);
    expect(names(got.options)).toEqual(names(candidates(hosts, query({ reuse: 'team-a.md-0' }))));
  });

  it('given a failure domain, should keep only the hosts whose zone label names it', () => {
    const label = 'example.com/rack';
    const hosts = [host('a', { labels: { [label]: 'r1' } }), host('b', { labels: { [label]: 'r2' } }), host('c'), host('d', { labels: { [ZONE]: 'r1' } }), host('e', { labels: { [label]: 'r1' } })];
    expect(names(candidates(hosts, query({ failureDomain: 'r1', zoneLabel: label }))).sort()).toEqual(['pool-a/a', 'pool-a/e']);
    expect(candidates(hosts, query({ zoneLabel: label }))).toHaveLength(5);
  });

  it('should leave out hosts just claimed by this process, unclaimable hosts and hosts the selector does not match', () => {
    const hosts = [
      host('free', { labels: { role: 'worker' } }),
      host('taken', { labels: { role: 'worker' } }),
      host('claimed', { labels: { role: 'worker' }, consumer: mmRef('other') }),
      host('busy', { labels: { role: 'worker' }, state: 'provisioning' }),
      host('paused', { labels: { role: 'worker' }, annotations: { [HOST_PAUSED_ANNOTATION]: '' } }),
      host('storage', { labels: { role: 'storage' } }),
    ];
    const got = candidates(hosts, query({ selector: { matchLabels: { role: 'worker' } }, taken: new Set(['pool-a/taken']) }));
    expect(names(got)).toEqual(['pool-a/free']);
  });

  it('given the same seed, should give the same order whatever the order of the cache', () => {
    const hosts = Array.from({ length: 12 }, (_, i) => host(`node-${String(i).padStart(2, '0')}`, { ns: i % 3 ? 'pool-a' : 'team-a' }));
    const a = names(candidates(hosts, query({ seed: '9b1c7f52-6f1e-4c0e-9d7a-1f2e3d4c5b6a' })));
    const b = names(candidates([...hosts].reverse(), query({ seed: '9b1c7f52-6f1e-4c0e-9d7a-1f2e3d4c5b6a' })));
    expect(a).toHaveLength(12);
    expect(b).toEqual(a);
  });

  it('given machines with different seeds, should spread their first choices over the hosts', () => {
    const hosts = Array.from({ length: 10 }, (_, i) => host(`node-${i}`));
    const seeds = Array.from({ length: 10 }, (_, i) => `5f0c2a1e-0000-4000-8000-00000000000${i}`);
    const firsts = new Set(seeds.map((seed) => names(candidates(hosts, query({ seed })))[0]));
    // Ten machines racing for ten hosts must not all try the same one first.
    expect(firsts.size).toBeGreaterThanOrEqual(4);
    // And each machine still gets every host, in some order.
    for (const seed of seeds) expect(names(candidates(hosts, query({ seed }))).sort()).toEqual(names(hosts).sort());
  });

  it('given hosts named alike but for their last character, should give each about the same share of first choices', () => {
    // Host names that differ only at the end (node-0 … node-9) are the usual
    // case; the hash must still scatter them, or most machines race for the
    // same few hosts.
    const hosts = Array.from({ length: 10 }, (_, i) => host(`node-${i}`));
    const firsts = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const seed = `5f0c2a1e-0000-4000-8000-${String(i).padStart(12, '0')}`;
      const first = names(candidates(hosts, query({ seed })))[0]!;
      firsts.set(first, (firsts.get(first) ?? 0) + 1);
    }
    // 100 expected each; the bounds are about five standard deviations wide.
    expect(firsts.size).toBe(10);
    expect([...firsts].filter(([, n]) => n <= 50 || n >= 150)).toEqual([]);
  });
});

describe('noHostMessage', () => {
  const worker = { matchLabels: { role: 'worker' } };

  it('given no host in scope that matches the selector, should say how many hosts were looked at', () => {
    const hosts = [host('s1', { labels: { role: 'storage' } }), host('s2', { ns: 'team-a' }), host('s3'), host('w1', { ns: 'team-b', labels: { role: 'worker' } })];
    expect(noHostMessage(hosts, query({ selector: worker }))).toBe(
      'no available BareMetalHost matches selector "role=worker" in namespaces team-a, pool-a: none of the 3 host(s) there match the selector',
    );
  });

  it('given matching hosts that are all unclaimable, should count the reasons, sorted', () => {
    const w = { role: 'worker' };
    const hosts = [
      host('h1', { labels: w, state: 'provisioning' }),
      host('h2', { labels: w, consumer: mmRef('m2') }),
      host('h3', { labels: w, annotations: { [HOST_PAUSED_ANNOTATION]: '' } }),
      host('h4', { labels: w, ns: 'team-a', consumer: mmRef('m4') }),
      host('h5', { labels: w }), // claimed by this process a moment ago
      host('h6', { labels: w, state: 'provisioning' }),
      host('h7', { labels: { role: 'storage' } }),
    ];
    expect(noHostMessage(hosts, query({ selector: worker, taken: new Set(['pool-a/h5']) }))).toBe(
      'no available BareMetalHost matches selector "role=worker" in namespaces team-a, pool-a: 6 match the selector but none is claimable (3 claimed, 1 paused, 2 provisioning)',
    );
  });

  it('should not depend on the order of the cache', () => {
    const hosts = [host('a', { state: 'inspecting' }), host('b', { consumer: mmRef('b') }), host('c', { state: 'inspecting' }), host('d', { deleting: true })];
    const q = query({ namespaces: ['pool-a'] });
    expect(noHostMessage([...hosts].reverse(), q)).toBe(noHostMessage(hosts, q));
    expect(noHostMessage(hosts, q)).toBe(
      'no available BareMetalHost matches selector "<everything>" in namespace pool-a: 4 match the selector but none is claimable (1 claimed, 1 deleting, 2 inspecting)',
    );
  });

  it('given a failure domain, should name it and count the hosts of other domains', () => {
    const hosts = [host('a', { labels: { [ZONE]: 'zone-a' } }), host('b', { labels: { [ZONE]: 'zone-b' }, consumer: mmRef('b') }), host('c')];
    expect(noHostMessage(hosts, query({ namespaces: ['pool-a'], failureDomain: 'zone-b' }))).toBe(
      `no available BareMetalHost matches selector "<everything>" in failure domain zone-b (${ZONE}) in namespace pool-a: 3 match the selector but none is claimable (1 claimed, 2 in another failure domain)`,
    );
  });
});

describe('failureDomainsFrom', () => {
  it('should list the distinct zones of the hosts in the given namespaces, sorted, none for the control plane', () => {
    const hosts = [
      host('a', { labels: { [ZONE]: 'zone-b' } }),
      host('b', { labels: { [ZONE]: 'zone-a' } }),
      host('c', { labels: { [ZONE]: 'zone-b' }, ns: 'team-a' }),
      host('d', { labels: { [ZONE]: 'zone-z' }, ns: 'team-b' }),
      host('e'),
      host('f', { labels: { [ZONE]: '' } }),
      host('g', { labels: { 'other/zone': 'zone-c' } }),
    ];
    expect(failureDomainsFrom(hosts, ['team-a', 'pool-a'], ZONE)).toEqual([
      { name: 'zone-a', controlPlane: false },
      { name: 'zone-b', controlPlane: false },
    ]);
    expect(failureDomainsFrom(hosts, ['pool-a'], 'other/zone')).toEqual([{ name: 'zone-c', controlPlane: false }]);
    expect(failureDomainsFrom(hosts, ['nowhere'], ZONE)).toEqual([]);
  });
});

describe('consumerOf and isConsumedBy', () => {
  const withRef = (consumerRef: ConsumerRef) => ({ metadata: { name: 'h', namespace: 'pool-a' }, spec: { consumerRef } });

  it('given a MetalMachine of our group, any version, should name it', () => {
    expect(consumerOf(withRef(mmRef('m1')))).toEqual({ namespace: 'team-a', name: 'm1' });
    expect(consumerOf(withRef({ ...mmRef('m1'), apiVersion: 'infrastructure.ironplane.dev/v1beta1' }))).toEqual({ namespace: 'team-a', name: 'm1' });
  });

  it('given a consumerRef without a namespace, should take the host namespace', () => {
    expect(consumerOf(withRef({ apiVersion: 'infrastructure.ironplane.dev/v1alpha1', kind: 'MetalMachine', name: 'm1' }))).toEqual({ namespace: 'pool-a', name: 'm1' });
  });

  it.each<[string, ConsumerRef | null | undefined]>([
    ['no consumerRef', undefined],
    ['a null consumerRef', null],
    ["CAPM3's Metal3Machine", { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1', kind: 'Metal3Machine', name: 'm1', namespace: 'team-a' }],
    ['a MetalMachine of another group', { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1', kind: 'MetalMachine', name: 'm1', namespace: 'team-a' }],
    ['a group that only starts like ours', { apiVersion: 'infrastructure.ironplane.dev.example.com/v1', kind: 'MetalMachine', name: 'm1', namespace: 'team-a' }],
    ['another kind of our group', { apiVersion: 'infrastructure.ironplane.dev/v1alpha1', kind: 'KvmMachine', name: 'm1', namespace: 'team-a' }],
    ['a HostClaim', { apiVersion: 'metal3.io/v1alpha1', kind: 'HostClaim', name: 'm1', namespace: 'team-a' }],
    ['no apiVersion', { kind: 'MetalMachine', name: 'm1', namespace: 'team-a' }],
    ['no name', { apiVersion: 'infrastructure.ironplane.dev/v1alpha1', kind: 'MetalMachine', namespace: 'team-a' }],
  ])('given %s, should find no consumer', (_what, consumerRef) => {
    const h: Host = { metadata: { name: 'h', namespace: 'pool-a' }, spec: consumerRef === undefined ? {} : { consumerRef } };
    expect(consumerOf(h)).toBeUndefined();
    expect(isConsumedBy(h, 'team-a', 'm1')).toBe(false);
  });

  it('isConsumedBy should need both the namespace and the name', () => {
    const h = withRef(mmRef('m1'));
    expect(isConsumedBy(h, 'team-a', 'm1')).toBe(true);
    expect(isConsumedBy(h, 'team-b', 'm1')).toBe(false);
    expect(isConsumedBy(h, 'team-a', 'm2')).toBe(false);
  });

  it('isConsumedBy with a uid should refuse a claim made for an earlier MetalMachine of the same name', () => {
    const h = withRef({ ...mmRef('m1'), uid: 'uid-old' });
    expect(isConsumedBy(h, 'team-a', 'm1', 'uid-old')).toBe(true);
    expect(isConsumedBy(h, 'team-a', 'm1', 'uid-new')).toBe(false);
    // A consumerRef without a uid is taken at its name.
    const { uid: _none, ...withoutUid } = mmRef('m1');
    expect(isConsumedBy(withRef(withoutUid), 'team-a', 'm1', 'uid-new')).toBe(true);
  });
});

function policy(name: string, namespace: string, hostClaimNamespaces?: NonNullable<HostDeployPolicy['spec']>['hostClaimNamespaces']): HostDeployPolicy {
  return { apiVersion: 'metal3.io/v1alpha1', kind: 'HostDeployPolicy', metadata: { name, namespace }, spec: hostClaimNamespaces ? { hostClaimNamespaces } : {} };
}

describe('policyAdmits', () => {
  const tenant = { name: 'team-a', labels: { tenant: 'a', tier: 'gold' } };

  it('given a policy without hostClaimNamespaces, should admit nobody', () => {
    expect(policyAdmits(policy('p', 'pool-a'), tenant)).toBe(false);
    expect(policyAdmits({ ...policy('p', 'pool-a'), spec: undefined }, tenant)).toBe(false);
  });

  it('given hostClaimNamespaces with no constraint in it, should admit every namespace, as BMO does', () => {
    expect(policyAdmits(policy('p', 'pool-a', {}), tenant)).toBe(true);
  });

  it('given names, should admit only the listed namespaces; an empty list admits nobody', () => {
    expect(policyAdmits(policy('p', 'pool-a', { names: ['team-b', 'team-a'] }), tenant)).toBe(true);
    expect(policyAdmits(policy('p', 'pool-a', { names: ['team-b'] }), tenant)).toBe(false);
    expect(policyAdmits(policy('p', 'pool-a', { names: [] }), tenant)).toBe(false);
  });

  it('given nameMatches, should match the name with the regular expression, unanchored like Go', () => {
    expect(policyAdmits(policy('p', 'pool-a', { nameMatches: '^team-[a-c]$' }), tenant)).toBe(true);
    expect(policyAdmits(policy('p', 'pool-a', { nameMatches: '^team-[b-c]$' }), tenant)).toBe(false);
    expect(policyAdmits(policy('p', 'pool-a', { nameMatches: 'am-' }), tenant)).toBe(true);
  });

  it('given hasLabels, should require each label, with its value when one is given', () => {
    expect(policyAdmits(policy('p', 'pool-a', { hasLabels: [{ name: 'tenant' }] }), tenant)).toBe(true);
    expect(policyAdmits(policy('p', 'pool-a', { hasLabels: [{ name: 'tenant', value: 'a' }] }), tenant)).toBe(true);
    expect(policyAdmits(policy('p', 'pool-a', { hasLabels: [{ name: 'tenant', value: 'b' }] }), tenant)).toBe(false);
    expect(policyAdmits(policy('p', 'pool-a', { hasLabels: [{ name: 'team' }] }), tenant)).toBe(false);
    expect(policyAdmits(policy('p', 'pool-a', { hasLabels: [{ name: 'tenant', value: 'a' }, { name: 'tier', value: 'silver' }] }), tenant)).toBe(false);
    expect(policyAdmits(policy('p', 'pool-a', { hasLabels: [{ name: 'tenant' }] }), { name: 'team-a' })).toBe(false);
    expect(policyAdmits(policy('p', 'pool-a', { hasLabels: [{ name: 'empty' }] }), { name: 'team-a', labels: { empty: '' } })).toBe(true);
  });

  it('given several constraints, should require all of them', () => {
    const all = { names: ['team-a'], nameMatches: '^team-', hasLabels: [{ name: 'tenant', value: 'a' }] };
    expect(policyAdmits(policy('p', 'pool-a', all), tenant)).toBe(true);
    expect(policyAdmits(policy('p', 'pool-a', { ...all, names: ['team-b'] }), tenant)).toBe(false);
    expect(policyAdmits(policy('p', 'pool-a', { ...all, nameMatches: '^prod-' }), tenant)).toBe(false);
    expect(policyAdmits(policy('p', 'pool-a', { ...all, hasLabels: [{ name: 'tenant', value: 'b' }] }), tenant)).toBe(false);
  });

  it('given a bad pattern, should throw for the caller to report', () => {
    expect(() => policyAdmits(policy('p', 'pool-a', { nameMatches: '(' }), tenant)).toThrow(/Invalid regular expression/);
  });
});

describe('resolvePools', () => {
  const tenant = { name: 'team-a', labels: { tenant: 'a' } };

  it('given no pools, should draw from the own namespace only', () => {
    expect(resolvePools(tenant, [], [])).toEqual({ namespaces: ['team-a'], denied: [] });
  });

  it('given granted pools, should list the own namespace first, then the pools in the order asked, each once', () => {
    const policies = [policy('grant', 'pool-b', { names: ['team-a'] }), policy('grant', 'pool-a', { hasLabels: [{ name: 'tenant', value: 'a' }] })];
    expect(resolvePools(tenant, ['pool-a', 'team-a', 'pool-b', 'pool-a', 'team-a'], policies)).toEqual({ namespaces: ['team-a', 'pool-a', 'pool-b'], denied: [] });
  });

  it('given a pool without any policy, should deny it and say so', () => {
    const policies = [policy('elsewhere', 'pool-x', { names: ['team-a'] })];
    expect(resolvePools(tenant, ['pool-a'], policies)).toEqual({ namespaces: ['team-a'], denied: [{ namespace: 'pool-a', why: 'it has no HostDeployPolicy' }] });
  });

  it('given a pool whose policies do not admit the namespace, should deny it and name the namespace', () => {
    const policies = [policy('others', 'pool-a', { names: ['team-b'] }), policy('nothing', 'pool-a')];
    expect(resolvePools(tenant, ['pool-a'], policies)).toEqual({ namespaces: ['team-a'], denied: [{ namespace: 'pool-a', why: 'no HostDeployPolicy there admits namespace team-a' }] });
  });

  it('given a pool with several policies, should grant it when any admits', () => {
    const policies = [policy('others', 'pool-a', { names: ['team-b'] }), policy('ours', 'pool-a', { nameMatches: '^team-a$' })];
    expect(resolvePools(tenant, ['pool-a'], policies)).toEqual({ namespaces: ['team-a', 'pool-a'], denied: [] });
  });

  it('given a bad pattern, should report it in the denial instead of throwing', () => {
    const policies = [policy('broken', 'pool-a', { nameMatches: '[team' })];
    let got: ReturnType<typeof resolvePools> | undefined;
    expect(() => (got = resolvePools(tenant, ['pool-a'], policies))).not.toThrow();
    expect(got!.namespaces).toEqual(['team-a']);
    expect(got!.denied).toHaveLength(1);
    expect(got!.denied[0]!.namespace).toBe('pool-a');
    expect(got!.denied[0]!.why).toMatch(/^HostDeployPolicy broken: Invalid regular expression: \/\[team\/: /);
  });

  it('given a bad pattern next to a policy that admits, should grant the pool', () => {
    const policies = [policy('broken', 'pool-a', { nameMatches: '(' }), policy('ok', 'pool-a', { names: ['team-a'] })];
    expect(resolvePools(tenant, ['pool-a'], policies)).toEqual({ namespaces: ['team-a', 'pool-a'], denied: [] });
  });

  it('given granted and denied pools together, should keep the order asked in both lists', () => {
    const policies = [policy('g', 'pool-c', { names: ['team-a'] }), policy('g', 'pool-a', { names: ['team-a'] })];
    expect(resolvePools(tenant, ['pool-c', 'pool-d', 'pool-a', 'pool-b'], policies)).toEqual({
      namespaces: ['team-a', 'pool-c', 'pool-a'],
      denied: [
        { namespace: 'pool-d', why: 'it has no HostDeployPolicy' },
        { namespace: 'pool-b', why: 'it has no HostDeployPolicy' },
      ],
    });
  });
});

describe('slimHost', () => {
  // A BareMetalHost as BMO writes it, abridged: the cache must keep only what the provider reads.
  const full = {
    apiVersion: 'metal3.io/v1alpha1',
    kind: 'BareMetalHost',
    metadata: { name: 'node-1', namespace: 'pool-a', uid: 'u1', resourceVersion: '42', labels: { [ZONE]: 'zone-a' } },
    spec: {
      online: true,
      bmc: { address: 'redfish-virtualmedia://10.0.0.1/redfish/v1/Systems/1', credentialsName: 'node-1-bmc' },
      bootMACAddress: 'aa:bb:cc:00:00:01',
      rootDeviceHints: { deviceName: '/dev/nvme0n1' },
      consumerRef: { apiVersion: 'infrastructure.ironplane.dev/v1alpha1', kind: 'MetalMachine', name: 'm1', namespace: 'team-a', uid: 'mu1' },
      image: { url: 'oci://quay.io/kairos/ubuntu:24.04' },
      userData: { name: 'team-a.m1-userdata', namespace: 'pool-a' },
      metaData: { name: 'team-a.m1-metadata', namespace: 'pool-a' },
      networkData: { name: 'team-a.m1-networkdata', namespace: 'pool-a' },
      automatedCleaningMode: 'metadata',
    },
    status: {
      provisioning: { state: 'provisioned', ID: 'ironic-uuid', bootMode: 'UEFI', image: { url: 'oci://quay.io/kairos/ubuntu:24.04' }, rootDeviceHints: {} },
      operationalStatus: 'OK',
      errorType: '',
      errorMessage: '',
      errorCount: 0,
      poweredOn: true,
      goodCredentials: { credentials: { name: 'node-1-bmc', namespace: 'pool-a' }, credentialsVersion: '1' },
      operationHistory: { provision: { start: '2025-01-01T00:00:00Z' } },
      hardwareProfile: 'unknown',
      hardware: {
        hostname: 'node-1',
        cpu: { arch: 'x86_64', model: 'EPYC', count: 64 },
        ramMebibytes: 262144,
        storage: [{ name: '/dev/nvme0n1', sizeBytes: 3840000000000 }],
        firmware: { bios: { vendor: 'x' } },
        systemVendor: { manufacturer: 'x' },
        nics: [{ name: 'eno1', mac: 'aa:bb:cc:00:00:01', ip: '10.0.0.5', model: 'intel', speedGbps: 25, pxe: true, vlans: [] }],
      },
    },
  };

  it('given a full BareMetalHost, should keep only the fields the provider reads', () => {
    expect(slimHost(full as unknown as Host)).toEqual({
      metadata: full.metadata,
      spec: {
        online: true,
        consumerRef: full.spec.consumerRef,
        image: full.spec.image,
        userData: full.spec.userData,
        networkData: full.spec.networkData,
        metaData: full.spec.metaData,
        automatedCleaningMode: 'metadata',
      },
      status: {
        provisioning: { state: 'provisioned' },
        operationalStatus: 'OK',
        errorCount: 0,
        poweredOn: true,
        hardware: { hostname: 'node-1', nics: [{ name: 'eno1', mac: 'aa:bb:cc:00:00:01', ip: '10.0.0.5' }] },
      },
    });
  });

  it('should drop the hardware inventory, credentials and history', () => {
    const text = JSON.stringify(slimHost(full as unknown as Host));
    for (const field of ['cpu', 'storage', 'ramMebibytes', 'firmware', 'systemVendor', 'goodCredentials', 'operationHistory', 'bmc', 'bootMACAddress', 'rootDeviceHints', 'speedGbps', 'ID'])
      expect(text).not.toContain(`"${field}"`);
  });

  it('given a host without status, should keep an empty spec and no status', () => {
    expect(slimHost({ metadata: { name: 'h', namespace: 'pool-a' } })).toEqual({ metadata: { name: 'h', namespace: 'pool-a' }, spec: {} });
    expect(slimHost({ metadata: { name: 'h', namespace: 'pool-a' } })).not.toHaveProperty('status');
  });

  it('should keep an explicit online: false and a spec cleared to nulls as absent', () => {
    const h: Host = { metadata: { name: 'h' }, spec: { online: false, consumerRef: null, image: null, userData: null, customDeploy: { method: 'install_coreos' } } };
    expect(slimHost(h).spec).toEqual({ online: false, customDeploy: { method: 'install_coreos' } });
  });
});
