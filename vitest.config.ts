import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Two cores on the target machines; integration files also run real registries.
    maxWorkers: 2,
    minWorkers: 1,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          pool: 'threads',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/contracts/**/*.test.ts'],
          // Real registries and real files owned by root: separate processes per file. Contracts
          // (test/contracts/) run real processes as root too.
          pool: 'forks',
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
