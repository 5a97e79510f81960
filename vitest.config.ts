import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests next to the code, and integration tests that
// start a real etcd + kube-apiserver (built by `make tools`) per file.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['providers/**/*.test.ts', 'hack/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          environment: 'node',
          // A backstop only: every wait inside a test is an `until` with its own
          // bound and message, and several of them in one test can add up to
          // more than two minutes on a loaded two-core machine.
          testTimeout: 600_000,
          hookTimeout: 300_000,
          // Each file starts its own control plane; two cores cannot host many.
          fileParallelism: false,
        },
      },
    ],
  },
});
