// Mutation testing of the security-relevant modules: `npm run mutation` (not in CI;
// a full run takes minutes on 2 cores). Test selection lives in vitest.mutation.config.ts.
// docs/security.md "Mutation testing" has the scores and the equivalent mutants left.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  mutate: [
    'src/util/secrets.ts',
    'src/server/auth.ts',
    'src/server/openai/schema.ts',
    'src/server/errors.ts',
    'src/server/openai/errors.ts',
    'src/config/*.ts',
    // Issue 21 guards: outbound fetch, caller-schema limits and patterns, /metrics labels, sync upload.
    'src/util/outbound.ts',
    'src/util/linear-regex.ts',
    'src/server/openai/client-tools.ts',
    'src/server/openai/structured-output.ts',
    'src/server/metrics.ts',
    'src/clients/powersync/upload.ts',
  ],
  // The sandbox copy leaves out what tests never read (.tools is a symlink to Node 24).
  ignorePatterns: ['.tools', '.data', '.mastra', 'dist', 'coverage', 'test-results', 'scratch', 'reports', 'bench/results', 'evals/reports', '*.log'],
  coverageAnalysis: 'perTest',
  concurrency: 2,
  reporters: ['clear-text', 'json', 'progress'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  thresholds: { high: 85, low: 70, break: null },
  timeoutMS: 20_000,
};
