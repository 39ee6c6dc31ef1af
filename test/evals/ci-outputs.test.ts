/**
 * `npm run evals` as CI uses it, offline: --repeat k (k recordings per case, each replayed
 * in its own run; pass@1 / pass@k / pass^k and a pass^k threshold), --junit and --summary
 * files, --baseline FILE|latest and --fail-on-regression. The real system runs in-process;
 * the model turns come from cassettes recorded here with THE SCRIPTED AUTHOR.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CassetteFile } from '../../evals/lib/cassettes';
import type { RunReport } from '../../evals/lib/results';
import { loadCalibrationSets } from '../../evals/lib/calibrate';
import { main } from '../../evals/run';
import type { JudgeConfig } from '../../evals/scorers';

const assistantSuite = JSON.parse(await fs.readFile(path.join(import.meta.dirname, '../../evals/assistant/suite.json'), 'utf8')) as {
  cases: Array<{ id: string; expect: Record<string, unknown> }>;
  thresholds: Record<string, number>;
  [k: string]: unknown;
};
const PICK = ['calc-multiply', 'no-tool-capital', 'time-utc'];

let tmp: string;
async function writeSuite(dir: string, edit: (suite: typeof assistantSuite) => void = () => {}) {
  const suite = structuredClone({ ...assistantSuite, description: 'three assistant cases', cases: assistantSuite.cases.filter((c) => PICK.includes(c.id)) });
  edit(suite);
  await fs.mkdir(path.join(dir, 'mini'), { recursive: true });
  await fs.writeFile(path.join(dir, 'mini', 'suite.json'), JSON.stringify(suite, null, 2));
  return dir;
}

async function run(args: string[], scriptedJudge?: JudgeConfig['scripted']) {
  const lines: string[] = [];
  const err: string[] = [];
  const errStream = { write: (s: string) => (err.push(s), true) } as unknown as NodeJS.WriteStream;
  const r = await main([...args, '--no-progress', '--no-studio', '--concurrency', '2'], { out: (s) => lines.push(s), err: errStream, env: { PATH: process.env.PATH, FEATURES: 'none' }, scriptedJudge: scriptedJudge && { scripted: scriptedJudge } });
  return { ...r, out: lines.join('\n'), err: err.join('') };
}

const xml = (s: string) => new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(s);
const cass = () => path.join(tmp, 'cass');

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'evals-ci-test-'));
  await writeSuite(path.join(tmp, 'suites'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('npm run evals --repeat / --junit / --summary / --baseline (offline)', () => {
  it('--mode record --repeat 3 records three variants of every case, keyed by the run', { timeout: 180_000 }, async () => {
    const r = await run(['--suites-dir', path.join(tmp, 'suites'), '--mode', 'record', '--repeat', '3', '--models', 'author/scripted-v1', '--cassettes', cass(), '--reports', path.join(tmp, 'rec')]);
    expect(r.code).toBe(0);
    const file = JSON.parse(await fs.readFile(path.join(cass(), 'author__scripted-v1', 'mini.json'), 'utf8')) as CassetteFile;
    const calc = file.entries.filter((e) => e.case === 'calc-multiply');
    expect(calc.map((e) => `${e.repeat ?? 0}:${e.step}`).sort()).toEqual(['0:0', '0:1', '1:0', '1:1', '2:0', '2:1']);
    // Same request, three runs: three keys.
    expect(new Set(calc.filter((e) => e.step === 0).map((e) => e.key)).size).toBe(3);
  });

  it('replays --repeat 3 with --junit and --summary: pass@1/pass@k/pass^k per case, suite and model; files written', { timeout: 180_000 }, async () => {
    const junit = path.join(tmp, 'out', 'junit.xml');
    const summary = path.join(tmp, 'out', 'summary.md');
    const r = await run(['--suites-dir', path.join(tmp, 'suites'), '--repeat', '3', '--cassettes', cass(), '--reports', path.join(tmp, 'reports'), '--junit', junit, '--summary', summary]);
    expect(r.code).toBe(0);
    const report = r.report!;
    expect(report.repeat).toBe(3);
    for (const c of report.results[0]!.cases) expect(c.repeats, c.id).toMatchObject({ k: 3, n: 3, passes: 3, 'pass@1': 1, 'pass@k': 1, 'pass^k': 1 });
    expect(report.results[0]!.cases[0]!.repeats!.runs).toHaveLength(3);
    expect(new Set(report.results[0]!.cases[0]!.repeats!.runs.map((x) => x.threadId)).size).toBe(3);
    expect(report.results[0]!.reliability).toMatchObject({ k: 3, n: 9, passes: 9, 'pass^k': 1 });
    expect(report.reliability).toEqual([expect.objectContaining({ model: 'author/scripted-v1', 'pass^k': 1 })]);
    expect(r.out).toMatch(/reliability: k=3 · pass@1 1\.00 · pass@k 1\.00 · pass\^k 1\.00 \(9\/9 runs passed\)/);

    const doc = xml(await fs.readFile(junit, 'utf8'));
    const suite = doc.testsuites.testsuite;
    expect(suite.name).toBe('mini [author/scripted-v1]');
    expect([suite.tests, suite.failures, suite.errors]).toEqual(['3', '0', '0']);
    expect(suite.testcase.map((t: { name: string }) => t.name).sort()).toEqual([...PICK].sort());
    expect(suite.properties.property.find((p: { name: string }) => p.name === 'pass^k').value).toBe('1');

    const md = await fs.readFile(summary, 'utf8');
    expect(md).toContain('✅ Evals passed');
    expect(md).toContain('3 run(s) per case');
    expect(md).toMatch(/\| mini \| `author\/scripted-v1` \| 3\/3 \| 1\.00 \| 1\.00 \| 1\.00 \| ✅ \|/);
  });

  it('a run whose second recording differs: 2/3 runs pass, pass^k 0, and a pass^k threshold fails the gate', { timeout: 180_000 }, async () => {
    const flaky = path.join(tmp, 'cass-flaky');
    await fs.cp(cass(), flaky, { recursive: true });
    const p = path.join(flaky, 'author__scripted-v1', 'mini.json');
    const file = JSON.parse(await fs.readFile(p, 'utf8')) as CassetteFile;
    for (const e of file.entries) if (e.case === 'calc-multiply' && e.repeat === 1 && e.step === 1) e.response.text = 'It is roughly four hundred.';
    await fs.writeFile(p, JSON.stringify(file));
    const dir = await writeSuite(path.join(tmp, 'suites-flaky'), (s) => Object.assign(s, { reliability: { 'pass^k': 0.9 } }));
    const summary = path.join(tmp, 'out', 'flaky.md');
    const junit = path.join(tmp, 'out', 'flaky.xml');
    const r = await run(['--suites-dir', dir, '--repeat', '3', '--cassettes', flaky, '--reports', path.join(tmp, 'reports-flaky'), '--summary', summary, '--junit', junit]);
    const calc = r.report!.results[0]!.cases.find((c) => c.id === 'calc-multiply')!;
    expect(calc.status).toBe('fail');
    expect(calc.repeats!.runs.map((x) => x.status)).toEqual(['pass', 'fail', 'pass']);
    expect(calc.repeats).toMatchObject({ passes: 2, 'pass@1': 0.667, 'pass@k': 1, 'pass^k': 0 });
    expect(calc.reason).toMatch(/^2\/3 runs passed; run 2: reply-content/);
    expect(r.report!.results[0]!.reliability).toMatchObject({ 'pass^k': 0.667, passed: false });
    expect(r.out).toMatch(/pass\^k: 0\.667 < threshold 0\.9 \(k=3\)/);
    expect(r.code).toBe(1);
    const tc = xml(await fs.readFile(junit, 'utf8')).testsuites.testsuite.testcase.find((t: { name: string }) => t.name === 'calc-multiply');
    expect(tc.failure.type).toBe('fail');
    expect(tc.failure['#text']).toMatch(/reply-content: /);
    const md = await fs.readFile(summary, 'utf8');
    expect(md).toContain('❌ Evals failed');
    expect(md).toMatch(/\| mini \| `author\/scripted-v1` \| calc-multiply \| FAIL 2\/3 \| 2\/3 runs passed; run 2: reply-content/);
  });

  it('--repeat 4 against three recordings: the fourth run is stale, naming the repeat', { timeout: 180_000 }, async () => {
    const r = await run(['--suites-dir', path.join(tmp, 'suites'), '--repeat', '4', '--cassettes', cass(), '--reports', path.join(tmp, 'reports-4')]);
    expect(r.code).toBe(1);
    const c = r.report!.results[0]!.cases[0]!;
    expect(c.repeats!.runs.map((x) => x.status)).toEqual(['pass', 'pass', 'pass', 'stale']);
    expect(c.reason).toContain('no cassette recorded for repeat 4 of this case (the cassette has 3 run(s))');
  });

  it('--baseline FILE: per-case and per-scorer regressions; --fail-on-regression fails even above the thresholds', { timeout: 300_000 }, async () => {
    const baseline = path.join(tmp, 'baseline.json');
    await fs.copyFile(path.join(tmp, 'reports', 'latest.json'), baseline);
    // A weaker expectation of the reply that still passes the (lowered) thresholds.
    const dir = await writeSuite(path.join(tmp, 'suites-worse'), (s) => {
      s.cases.find((c) => c.id === 'calc-multiply')!.expect.contains = ['391', 'four hundred'];
      s.thresholds = { ...s.thresholds, 'reply-content': 0.5 };
    });
    const reports = path.join(tmp, 'reports-worse');
    const args = ['--suites-dir', dir, '--repeat', '3', '--cassettes', cass(), '--reports', reports, '--baseline', baseline];
    const lenient = await run(args);
    expect(lenient.code).toBe(0);
    const cmp = lenient.report!.comparison!;
    expect(cmp.baseline).toContain('baseline.json');
    expect(cmp.regressions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ case: 'calc-multiply', what: 'case', before: 'pass', after: 'fail' }),
        expect.objectContaining({ case: 'calc-multiply', scorer: 'reply-content', what: 'case score', before: '1', after: '0.5' }),
        expect.objectContaining({ scorer: 'reply-content', what: 'scorer mean' }),
      ]),
    );
    expect(lenient.out).toMatch(/REGRESSION author\/scripted-v1 mini calc-multiply reply-content: case score 1 → 0\.5/);

    const summary = path.join(tmp, 'out', 'worse.md');
    const strict = await run([...args, '--fail-on-regression', '--summary', summary]);
    expect(strict.code).toBe(1);
    expect(strict.report!.failures.at(-1)).toMatch(/regression\(s\) against .*baseline\.json .*--fail-on-regression/);
    const md = await fs.readFile(summary, 'utf8');
    expect(md).toMatch(/\*\*Against baseline `[^`]*baseline\.json`\*\* \(run `[^`]+`\): [1-9]\d* regression\(s\)/);
    expect(md).toMatch(/\| 🔻 \| mini \| `author\/scripted-v1` \| calc-multiply reply-content \| case score \| 1 → 0\.5 \|/);
    const html = await fs.readFile(strict.files!.html, 'utf8');
    expect(html).toContain('<span class="badge">regression</span>');
    expect(html).toContain('cell-regressed');

    // Back to the original suite against `latest` (the strict run): the same changes, as improvements.
    const back = await run(['--suites-dir', path.join(tmp, 'suites'), '--repeat', '3', '--cassettes', cass(), '--reports', reports, '--baseline', 'latest', '--fail-on-regression']);
    expect(back.code).toBe(0);
    expect(back.report!.comparison!.regressions).toEqual([]);
    expect(back.report!.comparison!.improvements).toEqual(expect.arrayContaining([expect.objectContaining({ case: 'calc-multiply', scorer: 'reply-content', before: '0.5', after: '1' })]));
    const html2 = await fs.readFile(back.files!.html, 'utf8');
    expect(html2).toContain('<span class="badge good">improved</span>');
    expect(html2).toContain('cell-improved');
  });

  it('exit 2 on a missing baseline and a bad --repeat, before running anything', async () => {
    const missing = await run(['--suites-dir', path.join(tmp, 'suites'), '--cassettes', cass(), '--reports', path.join(tmp, 'empty'), '--baseline', 'latest']);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/--baseline latest: cannot read .*latest\.json \(ENOENT\)/);
    expect((await run(['--suites-dir', path.join(tmp, 'suites'), '--repeat', '0'])).code).toBe(2);
  });

  it('--calibrate with THE SCRIPTED JUDGE: a judge that passes every labelled reply is not trusted and does not gate; one that matches the labels gates', { timeout: 240_000 }, async () => {
    await fs.cp(path.join(import.meta.dirname, '../../evals/calibration'), path.join(tmp, 'suites', 'calibration'), { recursive: true });
    const labels = new Map<string, string>((await loadCalibrationSets(path.join(tmp, 'suites', 'calibration'))).flatMap((s) => s.items.map((i) => [`${s.scorer}\u0000calibration-${i.id}`, i.label] as const)));
    // On the suite's own cases both judges score 0, far below the 0.7 thresholds.
    const onCases = (ctx: Parameters<NonNullable<JudgeConfig['scripted']>>[1]) => ctx.suite.name !== 'calibration';
    const lenient: JudgeConfig['scripted'] = async (_id, ctx) => ({ score: onCases(ctx) ? 0 : 1, reason: 'scripted lenient' });
    const faithful: JudgeConfig['scripted'] = async (id, ctx) => ({ score: onCases(ctx) ? 0 : labels.get(`${id}\u0000${ctx.run.threadId}`) === 'pass' ? 1 : 0, reason: 'scripted by the labels' });
    const args = ['--suites-dir', path.join(tmp, 'suites'), '--cassettes', cass(), '--reports', path.join(tmp, 'reports-calib'), '--calibrate', '--judge', 'scripted/judge-v1'];

    const summary = path.join(tmp, 'out', 'calibration.md');
    const refused = await run([...args, '--summary', summary], lenient);
    expect(await fs.readFile(summary, 'utf8')).toContain('| helpfulness | 1.00 | 0.00 | ❌ not trusted |');
    expect(refused.out).toMatch(/helpfulness\s+4 pass \/ 4 fail labels · TPR 1 · TNR 0 · NOT TRUSTED, its thresholds do not gate: TNR 0 < 0.8/);
    const h = refused.report!.results[0]!.scorers.find((s) => s.id === 'helpfulness')!;
    expect(h).toMatchObject({ mean: 0, threshold: 0.7, passed: null, notGated: 'judge not calibrated (TNR 0 < 0.8)' });
    expect(refused.out).toContain('helpfulness does not gate: judge not calibrated (TNR 0 < 0.8)');
    expect(refused.report!.calibration!.map((c) => c.trusted)).toEqual([false, false, false]);
    // Its failing per-case scores do not fail the cases either.
    expect(refused.report!.results[0]!.cases.map((c) => [c.id, c.status, c.scores.helpfulness?.passed])).toEqual(expect.arrayContaining([['calc-multiply', 'pass', false]]));
    expect(refused.code).toBe(0);

    const trusted = await run(args, faithful);
    expect(trusted.report!.calibration!.map((c) => [c.scorer, c.truePositiveRate, c.trueNegativeRate, c.trusted])).toEqual([
      ['faithfulness', 1, 1, true],
      ['helpfulness', 1, 1, true],
      ['tone', 1, 1, true],
    ]);
    expect(trusted.out).toMatch(/helpfulness: mean 0 < threshold 0\.7/);
    expect(trusted.report!.results[0]!.cases.find((c) => c.id === 'calc-multiply')!.status).toBe('fail');
    expect(trusted.code).toBe(1);
  });
});
