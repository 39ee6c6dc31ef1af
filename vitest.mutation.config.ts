/**
 * The test files `npm run mutation` (stryker.config.mjs) runs against each mutant: only
 * the fast unit tests under test/unit that exercise the mutated security modules
 * (src/util/secrets.ts, src/server/auth.ts, src/server/openai/schema.ts,
 * src/server/errors.ts, src/server/openai/errors.ts, src/config/, and issue 21's guards:
 * src/util/outbound.ts, src/util/linear-regex.ts, the schema limits in
 * src/server/openai/client-tools.ts and structured-output.ts (openai-inputs.test.ts),
 * src/server/metrics.ts; src/clients/powersync/upload.ts is exercised only by the system
 * test test/powersync/endpoints.test.ts, too slow per mutant, so its score here is low
 * by construction). Selected here, not
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
      // Issue 21 guards (outbound.ts, linear-regex.ts, client-tools.ts, metrics.ts).
      'test/unit/outbound.test.ts',
      'test/unit/linear-regex.test.ts',
      'test/unit/openai-inputs.test.ts',
      'test/unit/metrics.test.ts',
    ],
    testTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 1,
    isolate: true,
  },
});
