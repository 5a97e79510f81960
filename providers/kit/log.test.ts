import { describe, expect, it } from 'vitest';
import { createLogger, parseLevel } from './log.js';

function capture(level: 'debug' | 'info' = 'info') {
  const lines: string[] = [];
  const log = createLogger({ level, write: (l) => lines.push(l), now: () => new Date('2026-01-01T00:00:00Z') });
  return { lines, log, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logger', () => {
  it('should write one JSON object per line with level, message and fields', () => {
    const { log, parsed } = capture();
    log.with({ controller: 'kvmmachine' }).info('reconciled', { key: 'ns/a' });
    expect(parsed()).toEqual([{ ts: '2026-01-01T00:00:00.000Z', level: 'info', msg: 'reconciled', controller: 'kvmmachine', key: 'ns/a' }]);
  });

  it('given a level of info, should drop debug lines', () => {
    const { log, lines } = capture('info');
    log.debug('noise');
    log.warn('kept');
    expect(lines).toHaveLength(1);
  });

  it('given secret-looking fields at any depth, should redact them', () => {
    const { log, lines } = capture();
    log.info('secret seen', {
      // Under a harmless key, so only the nested rule can hide it.
      object: { metadata: { name: 's' }, data: { value: 'c2VjcmV0' } },
      token: 'abcdef.0123456789abcdef',
      nested: [{ password: 'hunter2', user: 'bob' }],
    });
    const text = lines.join('\n');
    expect(text).not.toContain('c2VjcmV0');
    expect(text).not.toContain('0123456789abcdef');
    expect(text).not.toContain('hunter2');
    expect(text).toContain('bob');
    expect(text).toContain('"name":"s"');
  });

  it('given an unknown level name, should refuse it', () => {
    expect(() => parseLevel('verbose')).toThrow('invalid log level "verbose": use debug, info, warn or error');
  });
});
