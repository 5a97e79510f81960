// Helpers shared by the benchmarks.
import fs from 'node:fs';
import type { Proc } from '../test/integration/processes.js';

/** A process's peak resident set size (VmHWM), in MiB with one decimal. */
export function peakRssMiB(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

/** A manager that dies must end the benchmark at once, with its output, not leave it waiting. */
export function exitWhenManagerDies(mgr: Proc): void {
  void mgr.exited.then((code) => {
    if (code !== null && code !== 0) {
      console.error(`manager exited with ${code}:\n${mgr.output()}`);
      process.exit(1);
    }
  });
}

/** Seconds with one decimal. */
export const seconds = (ms: number): number => Math.round(ms / 100) / 10;
