/**
 * `--repeat k`: folds the k runs of a case into one CaseResult, and the reliability of a
 * case, a suite and a model (pass@1, pass@k, pass^k; evals/lib/reliability.ts).
 */
import { passAtK, passHatK } from './reliability';
import type { CaseResult, CaseRun, CaseStatus, Regression, Reliability, ReliabilityMetric, SuiteResult } from './results';

/** Worst first: the status a case gets when its runs disagree. */
const SEVERITY: CaseStatus[] = ['stale', 'error', 'invalid', 'fail', 'pass'];

export function mergeRuns(runs: CaseResult[]): CaseResult {
  if (runs.length === 1) return runs[0]!;
  const worst = SEVERITY.find((s) => runs.some((r) => r.status === s))!;
  const shown = runs.find((r) => r.status === worst)!;
  const passes = runs.filter((r) => r.status === 'pass').length;
  const at = runs.indexOf(shown) + 1;
  return {
    ...shown,
    reason: shown.reason === undefined ? undefined : `${passes}/${runs.length} runs passed; run ${at}: ${shown.reason}`,
    repeats: {
      ...reliabilityOf(runs.length, passes),
      runs: runs.map((r): CaseRun => ({ status: r.status, reason: r.reason, reply: r.reply, toolCalls: r.toolCalls, latencyMs: r.latencyMs, tokens: r.tokens, threadId: r.threadId, scores: r.scores })),
    },
  };
}

export function reliabilityOf(n: number, passes: number): Reliability {
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { k: n, passes, n, 'pass@1': r(passes / n), 'pass@k': r(passAtK(n, passes, n)), 'pass^k': r(passHatK(n, passes, n)) };
}

/** A case's reliability: from its runs, or (one run, or never run) k runs all with its status. */
export function caseReliability(c: CaseResult, k: number): Reliability {
  if (c.repeats) return c.repeats;
  return reliabilityOf(k, c.status === 'pass' ? k : 0);
}

/** Means of the per-case metrics over `cases` (every case weighs the same). */
export function meanReliability(cases: CaseResult[], k: number): Reliability {
  const each = cases.map((c) => caseReliability(c, k));
  const mean = (m: ReliabilityMetric) => (each.length ? Math.round((each.reduce((a, r) => a + r[m], 0) / each.length) * 1000) / 1000 : 0);
  return { k, passes: each.reduce((a, r) => a + r.passes, 0), n: each.reduce((a, r) => a + r.n, 0), 'pass@1': mean('pass@1'), 'pass@k': mean('pass@k'), 'pass^k': mean('pass^k') };
}

/** A suite's reliability against its `reliability` thresholds; the problems it adds to the gate. */
export function suiteReliability(cases: CaseResult[], k: number, thresholds: Partial<Record<ReliabilityMetric, number>>): { reliability: NonNullable<SuiteResult['reliability']>; problems: string[] } {
  const r = meanReliability(cases, k);
  const problems: string[] = [];
  for (const [m, t] of Object.entries(thresholds) as Array<[ReliabilityMetric, number]>) if (r[m] < t) problems.push(`${m}: ${r[m]} < threshold ${t} (k=${k})`);
  return { reliability: { ...r, thresholds, passed: Object.keys(thresholds).length ? problems.length === 0 : null }, problems };
}

/** Per model over all its suites' cases. */
export function modelReliability(results: SuiteResult[], k: number): Array<Reliability & { model: string }> {
  const models = [...new Set(results.map((r) => r.model))];
  return models.map((model) => ({ model, ...meanReliability(results.filter((r) => r.model === model).flatMap((r) => r.cases), k) }));
}

/** Every run of every case, for scorer means: a case run k times weighs k runs. */
export function allRuns(cases: CaseResult[]): CaseResult[] {
  return cases.flatMap((c) => (c.repeats ? c.repeats.runs.map((r) => ({ ...c, ...r })) : [c]));
}

/** A case's score on one scorer: the mean over its runs (skipped runs left out); null if none. */
export function caseScore(c: CaseResult, scorer: string): number | null {
  const runs = c.repeats ? c.repeats.runs : [c];
  const xs = runs.map((r) => r.scores[scorer]).filter((s) => s && !s.skipped && typeof s.score === 'number').map((s) => s!.score!);
  return xs.length ? Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 1000) / 1000 : null;
}

const f2 = (n: number | null | undefined) => (n === null || n === undefined ? '  -  ' : n.toFixed(2));

/** What a regression is about: "case", "case scorer", "scorer" or the suite. */
export const diffSubject = (r: Regression) => [r.case, r.scorer].filter(Boolean).join(' ') || '(suite)';

export function reliabilityLine(r: Reliability & { thresholds?: Partial<Record<ReliabilityMetric, number>>; passed?: boolean | null }): string {
  const th = Object.entries(r.thresholds ?? {}).map(([m, t]) => `${m} ≥ ${f2(t)}`);
  return `k=${r.k} · pass@1 ${f2(r['pass@1'])} · pass@k ${f2(r['pass@k'])} · pass^k ${f2(r['pass^k'])} (${r.passes}/${r.n} runs passed)${th.length ? ` · thresholds ${th.join(', ')} ${r.passed ? '✓' : '✗'}` : ''}`;
}

