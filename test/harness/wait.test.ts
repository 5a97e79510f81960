// waitFor's budget stretches with the machine's load, never below what the
// caller asked for; a bad scale setting is refused naming the variable.
import { describe, expect, it } from 'vitest';
import { loadScale, waitFor } from './http.js';

describe('loadScale', () => {
  it('should be at least 1 and at most 4 times IRONPLANE_TEST_TIMEOUT_SCALE', () => {
    const base = loadScale({});
    expect(base).toBeGreaterThanOrEqual(1);
    expect(base).toBeLessThanOrEqual(4);
    expect(loadScale({ IRONPLANE_TEST_TIMEOUT_SCALE: '' })).toBeGreaterThanOrEqual(1);
    const doubled = loadScale({ IRONPLANE_TEST_TIMEOUT_SCALE: '2' });
    expect(doubled).toBeGreaterThanOrEqual(2);
    expect(doubled).toBeLessThanOrEqual(8);
  });

  it.each(['0', '-1', 'fast', 'NaN', 'Infinity'])('should refuse IRONPLANE_TEST_TIMEOUT_SCALE=%s naming the variable', (v) => {
    expect(() => loadScale({ IRONPLANE_TEST_TIMEOUT_SCALE: v })).toThrow(`IRONPLANE_TEST_TIMEOUT_SCALE: "${v}" is not a positive number`);
  });
});

describe('waitFor', () => {
  it('should return the first value the probe gives', async () => {
    let n = 0;
    await expect(waitFor('the third try', 10_000, async () => (++n >= 3 ? n : undefined), 1)).resolves.toBe(3);
  });

  it('should time out no earlier than its budget, naming what it waited for and the last reason', async () => {
    const t0 = Date.now();
    await expect(waitFor('nothing', 200, async (note) => note('never ready'), 10)).rejects.toThrow(/^timed out after [\d.]+s.* waiting for nothing \(last: never ready\)$/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
  });

  it('should stop at once when the probe throws', async () => {
    await expect(waitFor('a dead process', 60_000, async () => {
      throw new Error('process exited');
    })).rejects.toThrow('process exited');
  });
});
