import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Every test lives under test/ (services/, evals/, bench/ and harness/ hold none).
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
    // Every test file starts its own real services on free ports, in its own temp dir.
    isolate: true,
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results/vitest.json' }]] : ['default'],
  },
});
