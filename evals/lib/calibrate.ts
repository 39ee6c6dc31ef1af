/**
 * `--calibrate`: how far to trust each LLM judge. Every judge scorer has a labelled set,
 * evals/calibration/<scorer>.json: replies a human labelled `pass` or `fail` for that
 * scorer. The judge scores each one; a judged pass is a score at or above the scorer's
 * passAt. The true-positive rate is the share of `pass` items the judge passes, the
 * true-negative rate the share of `fail` items it fails. A judge below the set's minimum
 * rates is not trusted: its scores are still reported, but its thresholds do not gate.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { MastraDBMessage } from '@mastra/core/agent';
import { z } from 'zod';
import { SCORERS, type JudgeConfig, type ScoreContext } from '../scorers';
import { evalCase, type Suite } from './suite';

const item = z
  .object({
    id: z.string().min(1),
    input: z.string().min(1),
    reply: z.string().min(1),
    toolCalls: z.array(z.object({ name: z.string(), args: z.record(z.string(), z.unknown()).default({}), result: z.unknown().optional(), error: z.string().optional() }).strict()).default([]),
    rubric: z.string().optional(),
    label: z.enum(['pass', 'fail']),
    /** Why the label is what it is (for the humans maintaining the set). */
    why: z.string().min(1),
  })
  .strict();

export const calibrationFile = z
  .object({
    $schema: z.string().optional(),
    scorer: z.string().min(1),
    about: z.string().min(1),
    persona: z.string().optional(),
    minTruePositiveRate: z.number().min(0).max(1),
    minTrueNegativeRate: z.number().min(0).max(1),
    items: z.array(item).min(2),
  })
  .strict();
export type CalibrationFile = z.infer<typeof calibrationFile>;

export interface Calibration {
  scorer: string;
  file: string;
  positives: number;
  negatives: number;
  truePositiveRate: number | null;
  trueNegativeRate: number | null;
  minTruePositiveRate: number;
  minTrueNegativeRate: number;
  /** null: no judge, nothing measured. */
  trusted: boolean | null;
  /** Items the judge got wrong: id, label, score. */
  misjudged: Array<{ id: string; label: 'pass' | 'fail'; score: number; reason: string }>;
  note: string;
}

export class CalibrationError extends Error {}

export async function loadCalibrationSets(dir: string): Promise<Array<CalibrationFile & { file: string }>> {
  const names = (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
  const out: Array<CalibrationFile & { file: string }> = [];
  for (const n of names) {
    const file = path.join(dir, n);
    const parsed = calibrationFile.safeParse(JSON.parse(await fs.readFile(file, 'utf8')));
    if (!parsed.success) throw new CalibrationError(`${file}: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`);
    const scorer = SCORERS.find((s) => s.id === parsed.data.scorer);
    if (!scorer || scorer.kind !== 'llm') throw new CalibrationError(`${file}: "${parsed.data.scorer}" is not an LLM-judge scorer`);
    if (!parsed.data.items.some((i) => i.label === 'pass') || !parsed.data.items.some((i) => i.label === 'fail')) throw new CalibrationError(`${file}: needs items labelled pass and items labelled fail`);
    out.push({ ...parsed.data, file });
  }
  return out;
}

const message = (role: 'user' | 'assistant', text: string, n: number): MastraDBMessage =>
  ({ id: `calibration-${n}`, role, createdAt: new Date(0), content: { format: 2, parts: [{ type: 'text', text }] } }) as unknown as MastraDBMessage;

function contextOf(set: CalibrationFile, it: CalibrationFile['items'][number], judge: JudgeConfig): ScoreContext {
  const suite = { name: 'calibration', agent: 'calibration', description: set.about, thresholds: {}, reliability: {}, volatile: {}, persona: set.persona, cases: [], file: '' } as unknown as Suite;
  const c = evalCase.parse({ id: 'calibration', description: it.why, input: it.input, tags: ['persona'], expect: { ...(it.rubric ? { rubric: it.rubric } : {}), ...(it.toolCalls.length ? { tools: it.toolCalls.map((t) => t.name) } : {}) }, author: [{ text: 'unused' }] });
  return {
    suite,
    case: c,
    run: {
      text: it.reply,
      latencyMs: 0,
      usage: { input: 0, output: 0, total: 0 },
      threadId: `calibration-${it.id}`,
      resourceId: 'calibration',
      scorerInput: { inputMessages: [message('user', it.input, 0)], rememberedMessages: [], systemMessages: [], taggedSystemMessages: {} },
      scorerOutput: [message('assistant', it.reply, 1)],
      toolCalls: it.toolCalls.map((t) => ({ name: t.name, args: t.args, result: t.result, error: t.error })),
    },
    services: {},
    secrets: [],
    judge,
    memo: new Map(),
  };
}

const rate = (hits: number, of: number) => (of ? Math.round((hits / of) * 1000) / 1000 : null);

export async function calibrate(dir: string, judge: JudgeConfig | undefined): Promise<Calibration[]> {
  const out: Calibration[] = [];
  for (const set of await loadCalibrationSets(dir)) {
    const scorer = SCORERS.find((s) => s.id === set.scorer)!;
    const positives = set.items.filter((i) => i.label === 'pass').length;
    const negatives = set.items.length - positives;
    const base = { scorer: set.scorer, file: set.file, positives, negatives, minTruePositiveRate: set.minTruePositiveRate, minTrueNegativeRate: set.minTrueNegativeRate };
    if (!judge) {
      out.push({ ...base, truePositiveRate: null, trueNegativeRate: null, trusted: null, misjudged: [], note: 'SKIPPED: no judge model configured (--judge or EVAL_JUDGE_MODEL)' });
      continue;
    }
    let tp = 0;
    let tn = 0;
    const misjudged: Calibration['misjudged'] = [];
    for (const it of set.items) {
      let score = 0;
      let reason = '';
      try {
        const r = await scorer.score(contextOf(set, it, judge));
        if ('skipped' in r) throw new Error(r.skipped);
        ({ score, reason } = r);
      } catch (err) {
        reason = `judge failed: ${(err as Error).message}`;
      }
      const judgedPass = score >= scorer.passAt;
      if (it.label === 'pass' && judgedPass) tp++;
      else if (it.label === 'fail' && !judgedPass) tn++;
      else misjudged.push({ id: it.id, label: it.label, score, reason });
    }
    const tpr = rate(tp, positives)!;
    const tnr = rate(tn, negatives)!;
    const trusted = tpr >= set.minTruePositiveRate && tnr >= set.minTrueNegativeRate;
    const note = trusted
      ? `trusted: TPR ${tpr} ≥ ${set.minTruePositiveRate}, TNR ${tnr} ≥ ${set.minTrueNegativeRate}`
      : `NOT TRUSTED, its thresholds do not gate: ${[tpr < set.minTruePositiveRate ? `TPR ${tpr} < ${set.minTruePositiveRate}` : '', tnr < set.minTrueNegativeRate ? `TNR ${tnr} < ${set.minTrueNegativeRate}` : ''].filter(Boolean).join(', ')}`;
    out.push({ ...base, truePositiveRate: tpr, trueNegativeRate: tnr, trusted, misjudged, note });
  }
  return out;
}

/** The judges that may not gate, with why. */
export function untrusted(calibrations: Calibration[]): Map<string, string> {
  return new Map(calibrations.filter((c) => c.trusted === false).map((c) => [c.scorer, `judge not calibrated (${c.note.replace(/^NOT TRUSTED, its thresholds do not gate: /, '')})`]));
}

export function renderCalibration(calibrations: Calibration[], judge: string | undefined): string {
  const lines = [`Judge calibration${judge ? ` of ${judge}` : ''} (labelled sets in evals/calibration/):`];
  for (const c of calibrations) {
    lines.push(`  ${c.scorer.padEnd(13)} ${c.positives} pass / ${c.negatives} fail labels · TPR ${c.truePositiveRate ?? '–'} · TNR ${c.trueNegativeRate ?? '–'} · ${c.note}`);
    for (const m of c.misjudged) lines.push(`    ✗ ${m.id}: labelled ${m.label}, judged ${m.score}${m.reason ? ` (${m.reason.slice(0, 120)})` : ''}`);
  }
  if (!calibrations.length) lines.push('  no labelled sets found');
  return lines.join('\n');
}
