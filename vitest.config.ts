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
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Each file starts its own control plane; two cores cannot host many.
          fileParallelism: false,
        },
      },
    ],
  },
});
