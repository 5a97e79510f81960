import { describe, expect, it } from 'vitest';
import { matchesSelector, parseSelector } from './selector.js';

describe('namespace selector', () => {
  it('given an empty selector, should match every namespace', () => {
    expect(matchesSelector({}, parseSelector(''))).toBe(true);
  });

  it('should match equality, inequality, existence and absence', () => {
    const sel = parseSelector('network.ironplane.dev/peering=allowed, capsule.clastix.io/tenant, !quarantine, tier!=prod');
    expect(matchesSelector({ 'network.ironplane.dev/peering': 'allowed', 'capsule.clastix.io/tenant': 'a' }, sel)).toBe(true);
    expect(matchesSelector({ 'network.ironplane.dev/peering': 'allowed', 'capsule.clastix.io/tenant': 'a', tier: 'dev' }, sel)).toBe(true);
    expect(matchesSelector({ 'network.ironplane.dev/peering': 'allowed' }, sel)).toBe(false);
    expect(matchesSelector({ 'network.ironplane.dev/peering': 'no', 'capsule.clastix.io/tenant': 'a' }, sel)).toBe(false);
    expect(matchesSelector({ 'network.ironplane.dev/peering': 'allowed', 'capsule.clastix.io/tenant': 'a', quarantine: '' }, sel)).toBe(false);
    expect(matchesSelector({ 'network.ironplane.dev/peering': 'allowed', 'capsule.clastix.io/tenant': 'a', tier: 'prod' }, sel)).toBe(false);
    expect(parseSelector('a==b')).toEqual([{ key: 'a', op: '=', value: 'b' }]);
  });

  it('given a bad key or value, should refuse it naming it', () => {
    expect(() => parseSelector('bad key=x')).toThrow('"bad key" is not a label key');
    expect(() => parseSelector('k=bad value')).toThrow('"bad value" is not a label value');
  });
});
