/**
 * Judge calibration (--calibrate), offline with THE SCRIPTED JUDGE (a function in place of
 * the judge model): the shipped labelled sets load, the true-positive and true-negative
 * rates are what the judge's answers make them, and a judge below a set's minimum rates
 * does not gate (its scores are reported, its threshold is not applied).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { calibrate, loadCalibrationSets, renderCalibration, untrusted, type CalibrationFile } from '../../evals/lib/calibrate';
import type { CaseResult } from '../../evals/lib/results';
import { summarize } from '../../evals/lib/runner';
import { loadSuiteFile } from '../../evals/lib/suite';
import { SCORERS, type JudgeConfig } from '../../evals/scorers';

const DIR = path.join(import.meta.dirname, '../../evals/calibration');
const sets = await loadCalibrationSets(DIR);
/** label by scorer and item (each item is judged in its own thread, calibration-<id>): what an ideal judge would say */
const labels = new Map<string, 'pass' | 'fail'>(sets.flatMap((s) => s.items.map((i) => [`${s.scorer}\u0000calibration-${i.id}`, i.label] as const)));

const judge = (answer: (scorer: string, label: 'pass' | 'fail' | undefined, reply: string) => number): JudgeConfig => ({
  model: 'scripted/judge',
  scripted: async (scorer, ctx) => ({ score: answer(scorer, labels.get(`${scorer}\u0000${ctx.run.threadId}`), ctx.run.text), reason: 'scripted' }),
});

describe('judge calibration', () => {
  it('ships a labelled set with both labels for every LLM-judge scorer', () => {
    const judges = SCORERS.filter((s) => s.kind === 'llm').map((s) => s.id).sort();
    expect(sets.map((s) => s.scorer).sort()).toEqual(judges);
    for (const s of sets) expect(s.items.filter((i) => i.label === 'pass').length * s.items.filter((i) => i.label === 'fail').length, s.scorer).toBeGreaterThan(0);
  });

  it('a judge that agrees with the labels is trusted; one that passes everything has TNR 0 and is not', async () => {
    const good = await calibrate(DIR, judge((_, label) => (label === 'pass' ? 0.9 : 0.1)));
    for (const c of good) expect(c, c.scorer).toMatchObject({ truePositiveRate: 1, trueNegativeRate: 1, trusted: true, misjudged: [] });
    expect(untrusted(good).size).toBe(0);

    const lenient = await calibrate(DIR, judge(() => 1));
    for (const c of lenient) expect(c, c.scorer).toMatchObject({ truePositiveRate: 1, trueNegativeRate: 0, trusted: false });
    expect(untrusted(lenient).get('helpfulness')).toBe('judge not calibrated (TNR 0 < 0.8)');
    expect(renderCalibration(lenient, 'scripted/judge')).toMatch(/helpfulness\s+4 pass \/ 4 fail labels · TPR 1 · TNR 0 · NOT TRUSTED/);
  });

  it('rates count exactly: one positive judged fail out of four is TPR 0.75', async () => {
    const oneWrong = await calibrate(DIR, judge((scorer, label, reply) => (scorer === 'helpfulness' && reply === '17 × 23 = 391.' ? 0 : label === 'pass' ? 1 : 0)));
    const h = oneWrong.find((c) => c.scorer === 'helpfulness')!;
    expect(h).toMatchObject({ positives: 4, negatives: 4, truePositiveRate: 0.75, trueNegativeRate: 1, trusted: false });
    expect(h.misjudged).toEqual([{ id: 'calc-answered', label: 'pass', score: 0, reason: 'scripted' }]);
    expect(oneWrong.find((c) => c.scorer === 'tone')!.trusted).toBe(true);
  });

  it('without a judge nothing is measured and nothing is refused', async () => {
    const none = await calibrate(DIR, undefined);
    for (const c of none) expect(c).toMatchObject({ trusted: null, truePositiveRate: null });
    expect(untrusted(none).size).toBe(0);
  });

  it('an untrusted judge does not gate: its mean is reported, its threshold is not applied', async () => {
    const suite = await loadSuiteFile(path.join(import.meta.dirname, '../../evals/assistant/suite.json'));
    const c = suite.cases.find((x) => !x.expect.refusal)!;
    const result: CaseResult = { id: c.id, description: '', tags: [], status: 'fail', input: c.input, history: [], reply: 'x', toolCalls: [], latencyMs: 0, tokens: { input: 0, output: 0, total: 0 }, threadId: 't', scores: { helpfulness: { kind: 'llm', score: 0.1, passed: false, reason: 'scripted' } } };
    const gated = summarize({ ...suite, cases: [c] }, [result]).find((s) => s.id === 'helpfulness')!;
    expect(gated).toMatchObject({ mean: 0.1, threshold: 0.7, passed: false });
    const refused = summarize({ ...suite, cases: [c] }, [result], new Map([['helpfulness', 'judge not calibrated (TNR 0 < 0.8)']])).find((s) => s.id === 'helpfulness')!;
    expect(refused).toMatchObject({ mean: 0.1, threshold: 0.7, passed: null, notGated: 'judge not calibrated (TNR 0 < 0.8)' });
  });

  it('rejects a set without both labels, or for a code scorer', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'evals-calibration-test-'));
    const base: CalibrationFile = { scorer: 'helpfulness', about: 'x', minTruePositiveRate: 0.8, minTrueNegativeRate: 0.8, items: [{ id: 'a', input: 'q', reply: 'r', toolCalls: [], label: 'pass', why: 'w' }, { id: 'b', input: 'q', reply: 'r2', toolCalls: [], label: 'pass', why: 'w' }] };
    await fs.writeFile(path.join(tmp, 'h.json'), JSON.stringify(base));
    await expect(loadCalibrationSets(tmp)).rejects.toThrow(/needs items labelled pass and items labelled fail/);
    await fs.writeFile(path.join(tmp, 'h.json'), JSON.stringify({ ...base, scorer: 'tool-args' }));
    await expect(loadCalibrationSets(tmp)).rejects.toThrow(/not an LLM-judge scorer/);
    await fs.rm(tmp, { recursive: true, force: true });
  });
});
