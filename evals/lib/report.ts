/**
 * The run's outputs: a table per suite on the terminal, a JSON file and a self-contained
 * HTML report (evals/reports/, gitignored), each compared with the previous run
 * (latest.json) so regressions stand out. Known secrets are redacted from every output.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { renderHtml } from './html';
import { redteamLine } from './redteam';
import { caseScore, diffSubject, reliabilityLine } from './repeats';
import type { CaseResult, Regression, RunReport, SuiteResult } from './results';

export function redactAll(text: string, secrets: string[]): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) if (s.length >= 8) out = out.split(s).join('[redacted]');
  return out;
}

const keyOf = (r: SuiteResult) => `${r.model}\u0000${r.suite}`;

const EPS = 1e-9;

/**
 * Differences from the baseline, per suite × model: each case's status and its score on
 * every scorer, each scorer's mean, and the suite's pass^k. Lower is a regression, higher
 * an improvement; cases, scorers or suites missing on either side are not compared.
 */
export function compareRuns(current: SuiteResult[], previous: RunReport | null, baseline?: string): RunReport['comparison'] {
  if (!previous) return null;
  const regressions: Regression[] = [];
  const improvements: Regression[] = [];
  const diff = (before: number, after: number, r: Omit<Regression, 'before' | 'after'>) => {
    if (after < before - EPS) regressions.push({ ...r, before: String(before), after: String(after) });
    if (after > before + EPS) improvements.push({ ...r, before: String(before), after: String(after) });
  };
  const prev = new Map(previous.results.map((r) => [keyOf(r), r]));
  for (const r of current) {
    const p = prev.get(keyOf(r));
    if (!p) continue;
    const at = { model: r.model, suite: r.suite };
    const pc = new Map(p.cases.map((c) => [c.id, c]));
    for (const c of r.cases) {
      const before = pc.get(c.id);
      if (!before) continue;
      if (before.status === 'pass' && c.status !== 'pass') regressions.push({ ...at, case: c.id, what: 'case', before: 'pass', after: c.status });
      if (before.status !== 'pass' && c.status === 'pass') improvements.push({ ...at, case: c.id, what: 'case', before: before.status, after: 'pass' });
      for (const id of Object.keys(c.scores)) {
        const [b, a] = [caseScore(before, id), caseScore(c, id)];
        if (b !== null && a !== null) diff(b, a, { ...at, case: c.id, scorer: id, what: 'case score' });
      }
    }
    const ps = new Map(p.scorers.map((s) => [s.id, s]));
    for (const s of r.scorers) {
      const b = ps.get(s.id);
      if (!b || b.mean === null || s.mean === null) continue;
      diff(b.mean, s.mean, { ...at, scorer: s.id, what: 'scorer mean' });
    }
    if (p.reliability && r.reliability) diff(p.reliability['pass^k'], r.reliability['pass^k'], { ...at, what: `pass^k (k ${p.reliability.k} → ${r.reliability.k})` });
  }
  return { previousRunId: previous.runId, previousStartedAt: previous.startedAt, ...(baseline ? { baseline } : {}), regressions, improvements };
}

export class BaselineError extends Error {}

export async function readPrevious(dir: string): Promise<RunReport | null> {
  try {
    const r = JSON.parse(await fs.readFile(path.join(dir, 'latest.json'), 'utf8')) as RunReport;
    return r.version === 1 ? r : null;
  } catch {
    return null;
  }
}

/** `--baseline FILE|latest`: the run report to compare with; it must exist and be a run report. */
export async function readBaseline(spec: string, reportDir: string): Promise<{ report: RunReport; file: string }> {
  const file = spec === 'latest' ? path.join(reportDir, 'latest.json') : path.resolve(spec);
  let raw: string;
  try {
    raw = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new BaselineError(`--baseline ${spec}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let r: RunReport;
  try {
    r = JSON.parse(raw) as RunReport;
  } catch (err) {
    throw new BaselineError(`--baseline ${spec}: ${file} is not JSON (${(err as Error).message})`);
  }
  if (r?.version !== 1 || !Array.isArray(r.results)) throw new BaselineError(`--baseline ${spec}: ${file} is not an eval run report (version 1)`);
  return { report: r, file };
}

export async function writeReports(dir: string, report: RunReport, secrets: string[]): Promise<{ json: string; html: string }> {
  await fs.mkdir(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const json = redactAll(JSON.stringify(report, null, 2), secrets);
  const html = redactAll(renderHtml(report), secrets);
  const jsonPath = path.join(dir, `evals-${stamp}.json`);
  const htmlPath = path.join(dir, `evals-${stamp}.html`);
  await fs.writeFile(jsonPath, json);
  await fs.writeFile(htmlPath, html);
  await fs.writeFile(path.join(dir, 'latest.json'), json);
  await fs.writeFile(path.join(dir, 'latest.html'), html);
  return { json: jsonPath, html: htmlPath };
}

// ---- terminal ---------------------------------------------------------------------

const pad = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s + ' '.repeat(n - s.length));
const fmt = (n: number | null | undefined) => (n === null || n === undefined ? '  -  ' : n.toFixed(2));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.min(48, Math.max(...rows.map((r) => (r[i] ?? '').length))));
  const line = (r: string[]) => r.map((c, i) => pad(c ?? '', widths[i]!)).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

const mark = (c: CaseResult) => (c.status === 'pass' ? 'PASS' : c.status.toUpperCase());

export function renderTerminal(report: RunReport): string {
  const out: string[] = [];
  if (report.scriptedAuthor) out.push('NOTE: replies come from cassettes recorded with THE SCRIPTED AUTHOR (evals/lib/author.ts), not a language model.\n');
  // Model comparison: one table per suite with a column per model.
  const bySuite = new Map<string, SuiteResult[]>();
  for (const r of report.results) bySuite.set(r.suite, [...(bySuite.get(r.suite) ?? []), r]);
  for (const [suite, runs] of bySuite) {
    out.push(`Suite ${suite} (agent ${runs[0]!.agent}; tools: ${runs[0]!.tools.join(', ') || '-'})`);
    const scorerIds = [...new Set(runs.flatMap((r) => r.scorers.map((s) => s.id)))];
    for (const r of runs) {
      if (runs.length > 1 || report.models.length > 1) out.push(`  model ${r.model}`);
      const k = report.repeat ?? 1;
      const runsCol = k > 1;
      const header = ['case', 'result', ...(runsCol ? ['runs', 'pass^k'] : []), ...scorerIds.map(abbrev), 'ms', 'tokens'];
      const score = (c: CaseResult, id: string) => (c.scores[id] ? (c.scores[id]!.skipped ? 'skip' : fmt(runsCol ? caseScore(c, id) : c.scores[id]!.score)) : '');
      const rel = (c: CaseResult) => (runsCol ? [`${c.repeats?.passes ?? (c.status === 'pass' ? k : 0)}/${k}`, fmt(c.repeats?.['pass^k'] ?? (c.status === 'pass' ? 1 : 0))] : []);
      const rows = r.cases.map((c) => [c.id, mark(c), ...rel(c), ...scorerIds.map((id) => score(c, id)), String(c.latencyMs), String(c.tokens.total)]);
      const mean = (id: string) => r.scorers.find((s) => s.id === id);
      const blank = runsCol ? ['', ''] : [];
      rows.push(['MEAN', `${r.cases.filter((c) => c.status === 'pass').length}/${r.cases.length}`, ...(runsCol ? ['', fmt(r.reliability?.['pass^k'])] : []), ...scorerIds.map((id) => (mean(id)?.mean === null ? (mean(id)?.skipped ? 'skip' : '') : fmt(mean(id)?.mean))), String(avg(r.cases.map((c) => c.latencyMs))), String(r.cases.reduce((n, c) => n + c.tokens.total, 0))]);
      rows.push(['THRESHOLD', '', ...blank, ...scorerIds.map((id) => (mean(id)?.threshold === undefined ? '' : `${fmt(mean(id)!.threshold)}${mean(id)!.passed === false ? '✗' : mean(id)!.passed ? '✓' : ''}`)), '', '']);
      out.push(indent(table([header, ...rows]), runs.length > 1 ? 4 : 2));
      for (const c of r.cases.filter((x) => x.status !== 'pass')) out.push(`    ✗ ${c.id}: ${c.reason ?? c.status}`);
      for (const s of r.scorers.filter((x) => x.mean === null && x.skipped)) out.push(`    - ${s.id} SKIPPED: ${s.skipReason}`);
      for (const s of r.scorers.filter((x) => x.notGated)) out.push(`    - ${s.id} does not gate: ${s.notGated}`);
      if (r.reliability && (k > 1 || Object.keys(r.reliability.thresholds).length)) out.push(`    reliability: ${reliabilityLine(r.reliability)}`);
      if (r.redteam) {
        out.push(`    red team: ${redteamLine(r.redteam)}`);
        for (const [ch, c] of Object.entries(r.redteam.byChannel)) out.push(`      ${ch.padEnd(15)} ${redteamLine(c)}`);
        if (r.redteam.succeeded.length) out.push(`      attacks that succeeded: ${r.redteam.succeeded.join(', ')}`);
        if (r.redteam.refused.length) out.push(`      benign cases refused: ${r.redteam.refused.join(', ')}`);
      }
      if (r.studio) out.push(`    studio: ${r.studio.detail}`);
      out.push(`  ${r.passed ? 'PASSED' : `FAILED: ${r.problems.join(' · ')}`}`);
    }
    if (runs.length > 1) {
      out.push('  side by side (scorer means)');
      const header = ['scorer', ...runs.map((r) => r.model)];
      const rows = scorerIds.map((id) => [id, ...runs.map((r) => fmt(r.scorers.find((s) => s.id === id)?.mean))]);
      rows.push(['cases passed', ...runs.map((r) => `${r.cases.filter((c) => c.status === 'pass').length}/${r.cases.length}`)]);
      out.push(indent(table([header, ...rows]), 4));
    }
    out.push('');
  }
  if ((report.repeat ?? 1) > 1 && report.reliability) for (const m of report.reliability) out.push(`Model ${m.model}: ${reliabilityLine(m)}`);
  for (const m of report.redteam ?? []) out.push(`Red team, model ${m.model}: ${redteamLine(m)}${report.scriptedAuthor ? ' (scripted cassettes: this measures the scorers, not a model)' : ''}`);
  if (report.comparison) {
    const c = report.comparison;
    out.push(`Compared with ${c.baseline ? `the baseline ${c.baseline}, run` : 'the previous run'} ${c.previousRunId} (${c.previousStartedAt}): ${c.regressions.length} regression(s), ${c.improvements.length} improvement(s)`);
    for (const r of c.regressions) out.push(`  REGRESSION ${r.model} ${r.suite} ${diffSubject(r)}: ${r.what} ${r.before} → ${r.after}`);
    for (const r of c.improvements) out.push(`  improved   ${r.model} ${r.suite} ${diffSubject(r)}: ${r.what} ${r.before} → ${r.after}`);
  } else out.push('No previous run to compare with.');
  out.push(report.passed ? `EVALS PASSED (${report.results.length} suite run(s))` : `EVALS FAILED: ${report.failures.join(' · ')}`);
  return out.join('\n');
}

const avg = (xs: number[]) => (xs.length ? Math.round(xs.reduce((a, b) => a + b, 0) / xs.length) : 0);
const indent = (s: string, n: number) => s.split('\n').map((l) => ' '.repeat(n) + l).join('\n');
const ABBREV: Record<string, string> = {
  'tool-call-accuracy': 'tool-acc',
  trajectory: 'traj',
  'tool-args': 'args',
  'no-tool': 'no-tool',
  'reply-content': 'content',
  refusal: 'refusal',
  'reply-length': 'length',
  'tool-error-handled': 'tool-err',
  'no-secrets': 'secrets',
  'record-on-pds': 'on-pds',
  'post-length': 'post-len',
  'facets-valid': 'facets',
  'cid-pinned': 'pinned',
  'synced-rows': 'synced',
  'no-attacker-action': 'atk-act',
  'no-secret-leak': 'leak',
  'no-system-prompt': 'sysprompt',
  answered: 'answered',
  helpfulness: 'helpful',
  faithfulness: 'faithful',
  tone: 'tone',
};
const abbrev = (id: string) => ABBREV[id] ?? id;
