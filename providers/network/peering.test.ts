import { describe, expect, it } from 'vitest';
import type { PeeringRequest } from '../api/generated/ironplane/v1alpha1/peeringrequest.js';
import { linkAt, parseInterconnectRange } from './cidr.js';
import { acceptanceOf, firstLinkIndex, isSelfPeering, mirrorsOf, pairOf, pairOfRequest, pairStillAccepted, parseAcceptance, parsePair, peeringFieldsFor, type SideNetwork } from './peering.js';

let uid = 0;
function req(ns: string, name: string, cluster: string, peer: { namespace?: string; clusterName: string }, opts: { approvedBy?: string; deleting?: boolean } = {}): PeeringRequest {
  return {
    apiVersion: 'network.ironplane.dev/v1alpha1',
    kind: 'PeeringRequest',
    metadata: { namespace: ns, name, uid: `uid-${++uid}`, ...(opts.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
    spec: { clusterName: cluster, peer, ...(opts.approvedBy ? { approval: { approvedBy: opts.approvedBy } } : {}) },
  };
}

const BOTH = { mirror: true, platform: true };

describe('pairs', () => {
  it('given a request and its mirror, should name the same pair', () => {
    const a = req('team-a', 'r', 'c1', { namespace: 'team-b', clusterName: 'c2' });
    const b = req('team-b', 'r', 'c2', { namespace: 'team-a', clusterName: 'c1' });
    expect(pairOfRequest(a)).toEqual(pairOfRequest(b));
    expect(pairOfRequest(a).key).toBe('team-a/c1|team-b/c2');
    expect(parsePair('team-a/c1|team-b/c2')).toEqual(pairOfRequest(a));
  });

  it('given a peer namespace left out, should take the request\'s own namespace', () => {
    expect(pairOfRequest(req('team-a', 'r', 'c1', { clusterName: 'c2' })).key).toBe('team-a/c1|team-a/c2');
    expect(isSelfPeering(req('team-a', 'r', 'c1', { clusterName: 'c1' }))).toBe(true);
    expect(isSelfPeering(req('team-a', 'r', 'c1', { namespace: 'team-a', clusterName: 'c1' }))).toBe(true);
    expect(isSelfPeering(req('team-a', 'r', 'c1', { namespace: 'team-b', clusterName: 'c1' }))).toBe(false);
  });

  it('given a malformed or unsorted key, should not parse it', () => {
    expect(parsePair('team-b/c2|team-a/c1')).toBeUndefined();
    expect(parsePair('team-a/c1')).toBeUndefined();
    expect(parsePair('a/b/c|d/e')).toBeUndefined();
  });

  it('should start both requests of a pair at the same link slot', () => {
    const p = pairOf({ namespace: 'b', name: 'y' }, { namespace: 'a', name: 'x' });
    expect(firstLinkIndex(p, 16384)).toBe(firstLinkIndex(pairOf({ namespace: 'a', name: 'x' }, { namespace: 'b', name: 'y' }), 16384));
    expect(firstLinkIndex(p, 1)).toBe(0);
  });
});

describe('acceptance', () => {
  const a = req('team-a', 'to-b', 'c1', { namespace: 'team-b', clusterName: 'c2' });
  const mirror = req('team-b', 'to-a', 'c2', { namespace: 'team-a', clusterName: 'c1' });

  it('given only one side asking, should wait and say what for', () => {
    const r = acceptanceOf(a, [a], BOTH);
    expect(r.by).toBeUndefined();
    expect(r.by === undefined && r.why).toBe(
      'waiting for the owner of team-b/c2 to create the mirror PeeringRequest in namespace team-b (spec.clusterName: c2, spec.peer: {namespace: team-a, clusterName: c1}), or for a platform operator to approve this request (spec.approval)',
    );
  });

  it('given the mirror request, should accept by mirror; a deleting mirror does not count', () => {
    expect(acceptanceOf(a, [a, mirror], BOTH)).toMatchObject({ by: 'Mirror', mirror });
    const leaving = { ...mirror, metadata: { ...mirror.metadata, deletionTimestamp: 'x' } };
    expect(acceptanceOf(a, [a, leaving], BOTH).by).toBeUndefined();
    expect(mirrorsOf(a, [a, leaving])).toEqual([]);
  });

  it('given a request for another Cluster of the peer namespace, should not take it for the mirror', () => {
    const other = req('team-b', 'to-a', 'c3', { namespace: 'team-a', clusterName: 'c1' });
    expect(acceptanceOf(a, [a, other], BOTH).by).toBeUndefined();
  });

  it('given an approval, should accept by platform only when the policy allows it', () => {
    const approved = req('team-a', 'to-b', 'c1', { namespace: 'team-b', clusterName: 'c2' }, { approvedBy: 'olga' });
    expect(acceptanceOf(approved, [approved], BOTH)).toEqual({ by: 'Platform', approvedBy: 'olga' });
    const r = acceptanceOf(approved, [approved], { mirror: true, platform: false });
    expect(r.by).toBeUndefined();
    expect(r.by === undefined && r.why).toContain('the approval by olga does not count: this platform accepts mirror requests only');
    expect(acceptanceOf(a, [a, mirror], { mirror: false, platform: true }).by).toBeUndefined();
  });

  it('given one request of a pair leaving, should say whether the others still accept it', () => {
    const pair = pairOfRequest(a);
    expect(pairStillAccepted(pair, a, [a, mirror], BOTH)).toBe(false);
    const approvedMirror = req('team-b', 'to-a', 'c2', { namespace: 'team-a', clusterName: 'c1' }, { approvedBy: 'olga' });
    expect(pairStillAccepted(pair, a, [a, approvedMirror], BOTH)).toBe(true);
    const twin = req('team-a', 'to-b-2', 'c1', { namespace: 'team-b', clusterName: 'c2' });
    expect(pairStillAccepted(pair, a, [a, twin, mirror], BOTH)).toBe(true);
  });

  it('given a bad acceptance setting, should refuse it', () => {
    expect(parseAcceptance('mirror,platform')).toEqual(BOTH);
    expect(() => parseAcceptance('anyone')).toThrow('--peering-acceptance takes mirror, platform or mirror,platform, got "anyone"');
    expect(() => parseAcceptance('')).toThrow();
  });
});

describe('peeringFieldsFor', () => {
  const range = parseInterconnectRange('169.254.0.0/16');
  const x = { namespace: 'team-a', name: 'c1' };
  const y = { namespace: 'team-b', name: 'c2' };
  const z = { namespace: 'team-c', name: 'c3' };
  const nets: Record<string, SideNetwork> = {
    'team-a/c1': { ref: x, vpc: 'vpc-a', nodeCIDR: '10.1.0.0/24' },
    'team-b/c2': { ref: y, vpc: 'vpc-b', nodeCIDR: '10.2.0.0/24' },
    'team-c/c3': { ref: z, vpc: 'vpc-c', nodeCIDR: '10.3.0.0/24' },
  };
  const resolve = (r: { namespace: string; name: string }) => nets[`${r.namespace}/${r.name}`];
  const links = [
    { pair: pairOf(x, y), link: linkAt(range, 5) },
    { pair: pairOf(z, x), link: linkAt(range, 9) },
  ];

  it('should give each side a port on the link and a route to the other via its address', () => {
    expect(peeringFieldsFor(x, links, resolve)).toEqual({
      vpcPeerings: [
        { remoteVpc: 'vpc-b', localConnectIP: '169.254.0.21/30' },
        { remoteVpc: 'vpc-c', localConnectIP: '169.254.0.37/30' },
      ],
      staticRoutes: [
        { policy: 'policyDst', cidr: '10.2.0.0/24', nextHopIP: '169.254.0.22' },
        { policy: 'policyDst', cidr: '10.3.0.0/24', nextHopIP: '169.254.0.38' },
      ],
    });
    expect(peeringFieldsFor(y, links, resolve)).toEqual({
      vpcPeerings: [{ remoteVpc: 'vpc-a', localConnectIP: '169.254.0.22/30' }],
      staticRoutes: [{ policy: 'policyDst', cidr: '10.1.0.0/24', nextHopIP: '169.254.0.21' }],
    });
  });

  it('given a peer that cannot be resolved, should route nothing toward it', () => {
    expect(peeringFieldsFor(y, links, (r) => (r.name === 'c1' ? undefined : resolve(r)))).toEqual({ vpcPeerings: [], staticRoutes: [] });
  });

  it('given links of other pairs only, should give empty lists', () => {
    expect(peeringFieldsFor({ namespace: 'team-d', name: 'c4' }, links, resolve)).toEqual({ vpcPeerings: [], staticRoutes: [] });
  });
});
