/**
 * The test files `npm run mutation` (stryker.config.mjs) runs against each mutant: only
 * the fast unit tests under test/unit that exercise the mutated security modules
 * (src/util/secrets.ts, src/server/auth.ts, src/server/openai/schema.ts,
 * src/server/errors.ts, src/server/openai/errors.ts, src/config/). Selected here, not
 * with Stryker's `testFiles`, so module-level code (regexes, zod schemas) is attributed
 * to the tests that import it and its mutants are killed, not reported as survivors.
 * logic.test.ts and observability.test.ts are left out: they load Mastra and express
 * (seconds per run, and every static mutant is one run); auth.test.ts and errors.test.ts
 * state what their rate-limiter, upstream-error and config checks state, and more.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'test/unit/secrets.test.ts',
      'test/unit/config.test.ts',
      'test/unit/auth.test.ts',
      'test/unit/schema.test.ts',
      'test/unit/errors.test.ts',
    ],
    testTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 1,
    isolate: true,
  },
});
