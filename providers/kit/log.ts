// Structured JSON logs, one object per line, with levels. Fields whose names
// suggest credentials are redacted before writing, wherever they are nested:
// a Secret's data must never reach a log, even by accident.

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  with(fields: Fields): Logger;
}

const SENSITIVE = new Set(
  ['token', 'password', 'passwd', 'secret', 'data', 'stringdata', 'userdata', 'value', 'authorization', 'bearer', 'privatekey', 'tlskey', 'clientkey', 'cacert', 'kubeconfig', 'bootstraptoken'].map((s) => s.toLowerCase()),
);
const REDACTED = '[redacted]';

export function redact(v: unknown, depth = 0): unknown {
  if (depth > 8 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => redact(x, depth + 1));
  if (v instanceof Error) return { error: v.message, name: v.name };
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    out[k] = SENSITIVE.has(k.toLowerCase().replace(/[-_]/g, '')) ? REDACTED : redact(val, depth + 1);
  }
  return out;
}

export interface LoggerOptions {
  level?: Level;
  write?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(opts: LoggerOptions = {}, base: Fields = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = opts.now ?? (() => new Date());
  const emit = (level: Level, msg: string, fields?: Fields) => {
    if (ORDER[level] < min) return;
    const entry = { ts: now().toISOString(), level, msg, ...(redact({ ...base, ...fields }) as Fields) };
    write(JSON.stringify(entry));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    with: (f) => createLogger(opts, { ...base, ...f }),
  };
}

export function parseLevel(s: string): Level {
  if (s === 'debug' || s === 'info' || s === 'warn' || s === 'error') return s;
  throw new Error(`invalid log level "${s}": use debug, info, warn or error`);
}

/** A logger that drops everything, for tests that don't care. */
export const silentLogger: Logger = createLogger({ write: () => {} });
