import { describe, expect, it } from 'vitest';
import { getCondition, mergeOwnedConditions, setCondition, summarize, type Condition } from './conditions.js';

const t0 = new Date('2026-01-01T00:00:00.000Z');
const t1 = new Date('2026-01-01T00:05:00.000Z');

describe('setCondition', () => {
  it('given a new condition, should add it with the transition time', () => {
    const c = setCondition([], { type: 'VMReady', status: false, reason: 'Waiting', message: 'no VMI' }, { now: t0, generation: 3 });
    expect(c).toEqual([
      { type: 'VMReady', status: 'False', reason: 'Waiting', message: 'no VMI', observedGeneration: 3, lastTransitionTime: '2026-01-01T00:00:00Z' },
    ]);
  });

  it('given the same status with a new reason, should keep the transition time', () => {
    const a = setCondition([], { type: 'X', status: false, reason: 'A' }, { now: t0 });
    const b = setCondition(a, { type: 'X', status: false, reason: 'B' }, { now: t1 });
    expect(b[0]!.reason).toBe('B');
    expect(b[0]!.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
  });

  it('given a status change, should move the transition time', () => {
    const a = setCondition([], { type: 'X', status: false, reason: 'A' }, { now: t0 });
    const b = setCondition(a, { type: 'X', status: true, reason: 'Done' }, { now: t1 });
    expect(b[0]!.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
  });

  it('should order Ready first and the rest by type', () => {
    let c: Condition[] = [];
    for (const type of ['Zeta', 'Ready', 'Alpha']) c = setCondition(c, { type, status: true, reason: 'R' }, { now: t0 });
    expect(c.map((x) => x.type)).toEqual(['Ready', 'Alpha', 'Zeta']);
  });
});

describe('mergeOwnedConditions', () => {
  const live: Condition[] = [
    { type: 'Ready', status: 'False', reason: 'Old', lastTransitionTime: 'x' },
    { type: 'Paused', status: 'False', reason: 'NotPaused', lastTransitionTime: 'x' },
    { type: 'Gone', status: 'True', reason: 'R', lastTransitionTime: 'x' },
  ];
  const ours: Condition[] = [
    { type: 'Ready', status: 'True', reason: 'Ready', lastTransitionTime: 'y' },
    { type: 'Paused', status: 'True', reason: 'Stolen', lastTransitionTime: 'y' },
  ];

  it('given owned types, should take ours and keep the others from the live object', () => {
    const m = mergeOwnedConditions(live, ours, ['Ready', 'Gone']);
    expect(getCondition(m, 'Ready')?.reason).toBe('Ready');
    // not owned: the live value wins even though ours differs
    expect(getCondition(m, 'Paused')?.reason).toBe('NotPaused');
    // owned and dropped by us: removed
    expect(getCondition(m, 'Gone')).toBeUndefined();
  });
});

describe('summarize', () => {
  const c = (type: string, status: Condition['status'], reason = 'R', message?: string): Condition => ({
    type,
    status,
    reason,
    lastTransitionTime: 'x',
    ...(message ? { message } : {}),
  });

  it('given all true, should be Ready', () => {
    expect(summarize([c('A', 'True'), c('B', 'True')], ['A', 'B'])).toEqual({ type: 'Ready', status: 'True', reason: 'Ready' });
  });

  it('given a False condition, should be False with its reason and a message naming it', () => {
    const s = summarize([c('A', 'True'), c('B', 'False', 'NoHost', 'no host matches'), c('C', 'Unknown', 'Wait')], ['A', 'B', 'C']);
    expect(s).toEqual({ type: 'Ready', status: 'False', reason: 'NoHost', message: 'B: no host matches; C: Wait' });
  });

  it('given a missing condition, should be Unknown and say it is not reported', () => {
    expect(summarize([c('A', 'True')], ['A', 'B'])).toEqual({
      type: 'Ready',
      status: 'Unknown',
      reason: 'ReadyUnknown',
      message: 'B: not reported yet',
    });
  });
});
