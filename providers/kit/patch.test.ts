import { describe, expect, it } from 'vitest';
import { createMergePatch, jsonEqual } from './patch.js';

describe('createMergePatch', () => {
  it('given no change, should return undefined', () => {
    expect(createMergePatch({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toBeUndefined();
  });

  it('given changed, added and removed keys, should set, add and null them', () => {
    expect(createMergePatch({ a: 1, b: { c: 1, d: 2 }, gone: true }, { a: 2, b: { c: 1 }, added: 'x' })).toEqual({
      a: 2,
      b: { d: null },
      gone: null,
      added: 'x',
    });
  });

  it('given a changed array, should replace it whole', () => {
    expect(createMergePatch({ finalizers: ['a'] }, { finalizers: ['a', 'b'] })).toEqual({ finalizers: ['a', 'b'] });
  });

  it('should treat undefined-valued keys as absent', () => {
    expect(createMergePatch({ a: undefined, b: 1 }, { b: 1 })).toBeUndefined();
    expect(jsonEqual({ a: undefined }, {})).toBe(true);
  });
});
