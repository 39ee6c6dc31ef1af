/**
 * The core-API conformance suite js-ipfs ran against go-ipfs (interface-ipfs-core
 * 0.158.1, through ipfs-http-client 60.0.1), run against the embedded node: one fresh
 * node per test group (temp dir, free port), each test bounded (conformance-run.ts).
 * test/ipfs/conformance-skips.json lists what is skipped and why; any other test that
 * fails fails this file, and so does a skip-listed test the suite no longer has.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runConformance, type SkipFile, type TestOutcome } from './conformance-run';

const here = path.dirname(fileURLToPath(import.meta.url));
const skips = JSON.parse(fs.readFileSync(path.join(here, 'conformance-skips.json'), 'utf8')) as SkipFile;

describe('interface-ipfs-core against the embedded node', () => {
  it('passes every test outside the skip list', async () => {
    const started = Date.now();
    const outcomes: TestOutcome[] = await runConformance(skips, { timeoutMs: 10_000 });
    const failed = outcomes.filter((o) => o.state === 'failed');
    const passed = outcomes.filter((o) => o.state === 'passed');
    const pending = outcomes.filter((o) => o.state === 'pending');
    console.info(`interface-ipfs-core: ${passed.length} passed, ${failed.length} failed, ${pending.length} skipped, in ${Math.round((Date.now() - started) / 1000)} s`);
    if (process.env.CONFORMANCE_REPORT) fs.writeFileSync(process.env.CONFORMANCE_REPORT, JSON.stringify(outcomes, null, 1));
    expect(failed.map((f) => `${f.fullTitle}: ${f.error}`)).toEqual([]);
    // Every named skip still names a test of the suite (a stale entry hides nothing).
    const listed = Object.values(skips.suites).flatMap((s) => ('reason' in s ? [] : s.skip.map((k) => k.name)));
    const seen = new Set(pending.map((p) => p.title.replace(/ \([^()]*(\([^()]*\)[^()]*)*\)$/, '')));
    const describedSkips = new Set(outcomes.map((o) => o.suite.replace(/^\./, '').split(' ')[0]));
    const stale = listed.filter((n) => !seen.has(n) && !describedSkips.has(n) && !pending.some((p) => p.fullTitle.includes(n)));
    expect(stale).toEqual([]);
    expect(passed.length).toBeGreaterThan(100);
  }, 170_000);
});
