// Child-process plumbing for the harness: free ports, spawning with output to
// a log file, terminating whole process groups, and making sure nothing
// outlives the Node process that started it.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/**
 * Asks the kernel for `n` distinct free loopback ports: all listeners stay
 * open until every port is known, so no two answers can coincide. Another
 * process could still grab one before our child binds it; that window is tiny.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (srv) =>
          new Promise<number>((resolve, reject) => {
            srv.once('error', reject);
            srv.listen(0, '127.0.0.1', () => {
              const addr = srv.address();
              if (typeof addr === 'object' && addr !== null) resolve(addr.port);
              else reject(new Error('could not allocate a port'));
            });
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
  }
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Set once the process has exited, e.g. "exited with code 1". */
  readonly exitReason: string | undefined;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<void>;
}

/**
 * Starts `bin` in its own process group (detached) so a group kill also takes
 * any grandchildren, with stdout/stderr appended to `logPath`. Output goes to
 * a file rather than a pipe so a chatty child can never block on a full pipe
 * we are not reading. The child is unref'd: it never keeps Node alive by
 * itself, and the exit hook below kills it if Node exits first.
 */
export function spawnLogged(name: string, bin: string, args: string[], logPath: string): ManagedProcess {
  const fd = openSync(logPath, 'a');
  try {
    writeSync(fd, `\n=== ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
    const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new Error(`failed to start ${name} (${bin})`);
    child.unref();
    let exitReason: string | undefined;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitReason = signal ? `killed by ${signal}` : `exited with code ${code ?? '?'}`;
        resolve();
      });
      child.once('error', (err) => {
        exitReason = `failed: ${err.message}`;
        resolve();
      });
    });
    const pid = child.pid;
    return {
      name,
      pid,
      logPath,
      exited,
      get exitReason() {
        return exitReason;
      },
    };
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd);
  }
}

/** Signals the process group (detached children lead their own group); ignores already-gone processes. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
      return;
    } catch (err) {
      // ESRCH: already gone. Fall back to the bare pid if the group is gone but the leader is not.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}

function within(p: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    // A referenced timer: it keeps Node alive while we wait for an unref'd child.
    const timer = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function terminate(proc: ManagedProcess, graceMs = 5000): Promise<void> {
  if (proc.exitReason !== undefined) return;
  killGroup(proc.pid, 'SIGTERM');
  if (await within(proc.exited, graceMs)) return;
  killGroup(proc.pid, 'SIGKILL');
  if (!(await within(proc.exited, 5000))) throw new Error(`${proc.name} (pid ${proc.pid}) did not exit after SIGKILL`);
}

/** Last `lines` lines of a log file, for error messages. */
export function tail(path: string, lines = 40): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = statSync(path).size;
    const len = Math.min(size, 16 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

// ---- Cleanup when Node exits --------------------------------------------

/** Something that can tear itself down synchronously (process.on('exit') allows nothing else). */
export interface SyncCleanup {
  cleanupSync(): void;
}

const live = new Set<SyncCleanup>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let hooked = false;

function cleanupAll(): void {
  for (const c of live) {
    try {
      c.cleanupSync();
    } catch {
      // Best effort: keep cleaning the others.
    }
  }
  live.clear();
}

// Node skips 'exit' handlers when a signal kills it, and our children are in
// their own process groups so a terminal's Ctrl-C never reaches them; clean up,
// then re-raise the signal if nobody else handles it so the default action
// (exit) still happens.
function onSignal(signal: NodeJS.Signals): void {
  cleanupAll();
  if (process.listenerCount(signal) === 1) {
    uninstall();
    process.kill(process.pid, signal);
  }
}

// Hooks are only installed while something is live, to leave the host
// process's own signal handling alone the rest of the time.
function install(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', cleanupAll);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  if (!hooked) return;
  hooked = false;
  process.removeListener('exit', cleanupAll);
  for (const s of SIGNALS) process.removeListener(s, onSignal);
}

export function registerLive(c: SyncCleanup): void {
  install();
  live.add(c);
}

export function unregisterLive(c: SyncCleanup): void {
  live.delete(c);
  if (live.size === 0) uninstall();
}

// ---- Leftovers from Node processes that were SIGKILLed -------------------

/** Written into each harness temp dir so a later run can recognise orphans. */
export interface OwnerRecord {
  ownerPid: number;
  pids: number[];
}

export const OWNER_FILE = 'owner.json';

/** Whether a process of that pid exists (also one of another user, which answers EPERM). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes harness dirs under `tmp` (named `<prefix>*`) whose owning Node
 * process is gone, killing their processes first. A pid is only killed if its
 * command line still mentions that dir, so a recycled pid is never hit.
 * Linux-only where /proc is needed; elsewhere orphaned processes are left alone.
 */
export function reapOrphans(tmp: string, prefix: string): void {
  let entries: string[];
  try {
    entries = readdirSync(tmp).filter((e) => e.startsWith(prefix));
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = join(tmp, entry);
    let rec: OwnerRecord;
    try {
      rec = JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')) as OwnerRecord;
    } catch {
      continue; // Being created right now, or not ours.
    }
    if (alive(rec.ownerPid)) continue;
    let unsure = false;
    for (const pid of rec.pids) {
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        // Gone, or no /proc on this OS.
      }
      if (cmdline.includes(dir)) killGroup(pid, 'SIGKILL');
      else if (process.platform !== 'linux' && alive(pid)) unsure = true;
    }
    // Without /proc a live pid cannot be told from a recycled one: leave that dir be.
    if (!unsure) rmSync(dir, { recursive: true, force: true });
  }
}
