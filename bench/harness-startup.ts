// Start-up time of the local control plane (etcd + kube-apiserver to /readyz).
// Run: node --import tsx bench/harness-startup.ts
// Prints one JSON line: {"bench":"harness-startup","runs":5,"medianMs":...,"maxMs":...,...}
import { startControlPlane } from '../test/harness/index.js';

const RUNS = 5;

const startMs: number[] = [];
const stopMs: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  const plane = await startControlPlane({ name: 'bench' });
  const t1 = performance.now();
  await plane.stop();
  startMs.push(t1 - t0);
  stopMs.push(performance.now() - t1);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const round = (x: number): number => Math.round(x);

console.log(
  JSON.stringify({
    bench: 'harness-startup',
    runs: RUNS,
    medianMs: round(median(startMs)),
    maxMs: round(Math.max(...startMs)),
    minMs: round(Math.min(...startMs)),
    stopMedianMs: round(median(stopMs)),
    startMs: startMs.map(round),
  }),
);
