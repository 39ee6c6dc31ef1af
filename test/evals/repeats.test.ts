/** Dense logic of --repeat, --baseline and --summary on hand-made results (no system, no model). */
import { describe, expect, it } from 'vitest';
import { cassettePath, diagnoseMiss, forRepeat, maskRequest, type CassetteEntry, type WireRequest } from '../../evals/lib/cassettes';
import { caseScore, mergeRuns, modelReliability, suiteReliability } from '../../evals/lib/repeats';
import { compareRuns } from '../../evals/lib/report';
import type { CaseResult, RunReport, SuiteResult } from '../../evals/lib/results';
import { toMarkdownSummary } from '../../evals/lib/summary';

const run = (status: CaseResult['status'], content: number, id = 'a'): CaseResult => ({
  id, description: '', tags: [], status, reason: status === 'pass' ? undefined : `reply-content: missing "x"`, input: 'q', history: [], reply: `r-${status}`, toolCalls: [],
  latencyMs: 10, tokens: { input: 1, output: 1, total: 2 }, threadId: `t-${Math.random()}`,
  scores: { 'reply-content': { kind: 'code', score: content, passed: content >= 1, reason: '' }, helpfulness: { kind: 'llm', skipped: 'no judge', reason: 'SKIPPED' } },
});
const suite = (cases: CaseResult[], k: number, model = 'm/1', mean = 1): SuiteResult => ({
  suite: 's', agent: 'a', model, tools: [], cases, passed: true, problems: [],
  scorers: [{ id: 'reply-content', kind: 'code', description: '', applied: 1, skipped: 0, mean, passed: null }],
  reliability: suiteReliability(cases, k, {}).reliability,
});
const report = (results: SuiteResult[], extra: Partial<RunReport> = {}): RunReport => ({
  version: 1, runId: 'r1', startedAt: 't0', finishedAt: 't1', durationMs: 1000, target: 'in-process', mode: 'replay', models: ['m/1'], judge: null,
  scriptedAuthor: true, results, passed: true, failures: [], comparison: null, repeat: 3, ...extra,
});

describe('--repeat: folding runs', () => {
  it('a case shows its worst run, keeps every run, and gets pass@1 / pass@k / pass^k', () => {
    const c = mergeRuns([run('pass', 1), run('fail', 0), run('pass', 1)]);
    expect(c.status).toBe('fail');
    expect(c.reply).toBe('r-fail');
    expect(c.reason).toBe('2/3 runs passed; run 2: reply-content: missing "x"');
    expect(c.repeats).toMatchObject({ k: 3, n: 3, passes: 2, 'pass@1': 0.667, 'pass@k': 1, 'pass^k': 0 });
    expect(c.repeats!.runs.map((r) => r.status)).toEqual(['pass', 'fail', 'pass']);
    expect(caseScore(c, 'reply-content')).toBe(0.667);
    expect(caseScore(c, 'helpfulness')).toBeNull();
    // stale outranks fail; one run is returned as is
    expect(mergeRuns([run('fail', 0), run('stale', 0)]).status).toBe('stale');
    expect(mergeRuns([run('pass', 1)]).repeats).toBeUndefined();
  });

  it('suite and model reliability are means over cases; a pass^k threshold gates', () => {
    const cases = [mergeRuns([run('pass', 1), run('pass', 1), run('pass', 1)]), mergeRuns([run('pass', 1, 'b'), run('fail', 0, 'b'), run('fail', 0, 'b')])];
    const { reliability, problems } = suiteReliability(cases, 3, { 'pass^k': 0.9, 'pass@k': 1 });
    expect(reliability).toMatchObject({ k: 3, n: 6, passes: 4, 'pass@1': 0.667, 'pass@k': 1, 'pass^k': 0.5, passed: false });
    expect(problems).toEqual(['pass^k: 0.5 < threshold 0.9 (k=3)']);
    expect(suiteReliability(cases, 3, {}).reliability.passed).toBeNull();
    // A case that never ran (invalid) counts as k failed runs.
    expect(suiteReliability([{ ...run('invalid', 0), scores: {} }], 3, {}).reliability).toMatchObject({ n: 3, passes: 0, 'pass@k': 0 });
    const models = modelReliability([suite(cases, 3, 'm/1'), suite([cases[0]!], 3, 'm/2')], 3);
    expect(models.map((m) => [m.model, m['pass^k']])).toEqual([['m/1', 0.5], ['m/2', 1]]);
  });

  it('cassette keys: repeat 0 keeps the plain key, each later repeat its own; a missing repeat is named', () => {
    const req: WireRequest = { model: 'x', messages: [{ role: 'user', content: 'hi' }] } as WireRequest;
    const m = maskRequest(req, {}, 'm/x');
    expect(forRepeat(m, 0).key).toBe(m.key);
    const keys = [0, 1, 2].map((r) => forRepeat(m, r).key);
    expect(new Set(keys).size).toBe(3);
    const recorded: CassetteEntry[] = [{ key: m.key, anchor: m.anchor, step: 0, parts: m.parts, summary: { lastUser: 'hi', tools: [] }, response: { text: 'x', toolCalls: [], finishReason: 'stop', usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } } as CassetteEntry['response'] }];
    expect(diagnoseMiss(forRepeat(m, 1), recorded)).toBe('no cassette recorded for repeat 2 of this case (the cassette has 1 run(s)): record it with --mode record --repeat 2');
    expect(cassettePath('d', 'm/x', 's')).toMatch(/m__x/);
  });
});

describe('--baseline: compareRuns', () => {
  it('per case (status, each scorer), per scorer mean and suite pass^k, both ways', () => {
    const before = report([suite([mergeRuns([run('pass', 1), run('pass', 1), run('pass', 1)])], 3, 'm/1', 1)]);
    const after = [suite([mergeRuns([run('pass', 1), run('fail', 0), run('pass', 1)])], 3, 'm/1', 0.667)];
    const cmp = compareRuns(after, before, 'base.json')!;
    expect(cmp.baseline).toBe('base.json');
    expect(cmp.regressions.map((r) => [r.case ?? '', r.scorer ?? '', r.what, r.before, r.after])).toEqual([
      ['a', '', 'case', 'pass', 'fail'],
      ['a', 'reply-content', 'case score', '1', '0.667'],
      ['', 'reply-content', 'scorer mean', '1', '0.667'],
      ['', '', 'pass^k (k 3 → 3)', '1', '0'],
    ]);
    expect(cmp.improvements).toEqual([]);
    const back = compareRuns(before.results, report(after))!;
    expect(back.regressions).toEqual([]);
    expect(back.improvements).toHaveLength(4);
    // Another model or suite is not compared.
    expect(compareRuns([suite(after[0]!.cases, 3, 'm/2')], before)!.regressions).toEqual([]);
    expect(compareRuns(after, null)).toBeNull();
  });
});

describe('--summary: markdown', () => {
  it('verdict, a row per suite × model, failing cases and the baseline diff, pipes escaped, long lists cut', () => {
    const cases = Array.from({ length: 20 }, (_, i) => ({ ...run('fail', 0, `c${i}`), reason: 'missing "a|b"\nnext line' }));
    const r = report([suite(cases, 1)], {
      passed: false,
      repeat: 1,
      failures: ['s @ m/1: reply-content: mean 0 < threshold 0.9'],
      comparison: { previousRunId: 'r0', previousStartedAt: 't', baseline: 'base.json', regressions: [{ model: 'm/1', suite: 's', case: 'c1', what: 'case', before: 'pass', after: 'fail' }], improvements: [] },
    });
    const md = toMarkdownSummary(r);
    expect(md).toMatch(/^### ❌ Evals failed · run `r1`/);
    expect(md).toContain('| s | `m/1` | 0/20 | 0.00 | 0.00 | 0.00 | ✅ |');
    expect(md).toContain('- s @ m/1: reply-content: mean 0 < threshold 0.9');
    expect(md).toContain('Cases not passing (20)');
    expect(md).toContain('| s | `m/1` | c0 | FAIL | missing "a\\|b" next line |');
    expect(md).toContain('… and 5 more');
    expect(md).toContain('**Against baseline `base.json`** (run `r0`): 1 regression(s), 0 improvement(s)');
    expect(md).toContain('| 🔻 | s | `m/1` | c1 | case | pass → fail |');
    expect(toMarkdownSummary(report([suite([run('pass', 1)], 1)]))).toContain('No baseline to compare with.');
  });
});
