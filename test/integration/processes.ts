// Child processes for integration tests: output collected in memory, and
// every child killed when the test process exits, so a failing test leaves
// nothing running.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { waitFor } from '../harness/index.js';

export const REPO = path.resolve(import.meta.dirname, '../..');

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface Proc {
  child: ChildProcess;
  output(): string;
  /** JSON log lines parsed; non-JSON lines are skipped. */
  logs(): Record<string, unknown>[];
  exited: Promise<number | null>;
}

/** Runs a Node.js script: args are node's arguments. */
export function run(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Proc {
  return runBinary(process.execPath, args, opts);
}

/** Runs any executable, e.g. an upstream binary from bin/. */
export function runBinary(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Proc {
  const child = spawn(command, args, { cwd: REPO, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  return {
    child,
    output: () => out,
    logs: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        }),
    exited,
  };
}

/** Runs the TypeScript entry point with tsx, as `npm run` would. */
export function runTs(script: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Proc {
  return run(['--import', 'tsx', script, ...args], opts);
}

/**
 * Polls fn until it returns something truthy. Unlike the harness's waitFor,
 * which it builds on, an error only counts as "not yet" (objects under test
 * may not exist yet); the last one is in the timeout message.
 */
export function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  return waitFor(
    what,
    timeoutMs,
    async (note) => {
      try {
        const v = await fn();
        return v ? v : note('not yet');
      } catch (e) {
        return note((e as Error).message);
      }
    },
    100,
  );
}

/** mulberry32: a small seeded generator, so that a failing random run can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The random source of chaos tests: seeded from IRONPLANE_CHAOS_SEED, or the clock (print the seed to replay). */
export function chaosRandom(): { seed: number; random: () => number } {
  const seed = Number(process.env['IRONPLANE_CHAOS_SEED'] ?? Date.now() % 1_000_000);
  return { seed, random: mulberry32(seed) };
}
