/**
 * The run's outputs: a table per suite on the terminal, a JSON file and a self-contained
 * HTML report (evals/reports/, gitignored), each compared with the previous run
 * (latest.json) so regressions stand out. Known secrets are redacted from every output.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { renderHtml } from './html';
import type { CaseResult, Regression, RunReport, SuiteResult } from './results';

export function redactAll(text: string, secrets: string[]): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) if (s.length >= 8) out = out.split(s).join('[redacted]');
  return out;
}

const keyOf = (r: SuiteResult) => `${r.model}\u0000${r.suite}`;

export function compareRuns(current: SuiteResult[], previous: RunReport | null): RunReport['comparison'] {
  if (!previous) return null;
  const regressions: Regression[] = [];
  const improvements: Regression[] = [];
  const prev = new Map(previous.results.map((r) => [keyOf(r), r]));
  for (const r of current) {
    const p = prev.get(keyOf(r));
    if (!p) continue;
    const pc = new Map(p.cases.map((c) => [c.id, c]));
    for (const c of r.cases) {
      const before = pc.get(c.id);
      if (!before) continue;
      if (before.status === 'pass' && c.status !== 'pass') regressions.push({ model: r.model, suite: r.suite, case: c.id, what: 'case', before: 'pass', after: c.status });
      if (before.status !== 'pass' && c.status === 'pass') improvements.push({ model: r.model, suite: r.suite, case: c.id, what: 'case', before: before.status, after: 'pass' });
    }
    const ps = new Map(p.scorers.map((s) => [s.id, s]));
    for (const s of r.scorers) {
      const b = ps.get(s.id);
      if (!b || b.mean === null || s.mean === null) continue;
      if (s.mean < b.mean - 1e-9) regressions.push({ model: r.model, suite: r.suite, scorer: s.id, what: 'scorer mean', before: String(b.mean), after: String(s.mean) });
      if (s.mean > b.mean + 1e-9) improvements.push({ model: r.model, suite: r.suite, scorer: s.id, what: 'scorer mean', before: String(b.mean), after: String(s.mean) });
    }
  }
  return { previousRunId: previous.runId, previousStartedAt: previous.startedAt, regressions, improvements };
}

export async function readPrevious(dir: string): Promise<RunReport | null> {
  try {
    const r = JSON.parse(await fs.readFile(path.join(dir, 'latest.json'), 'utf8')) as RunReport;
    return r.version === 1 ? r : null;
  } catch {
    return null;
  }
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
      const header = ['case', 'result', ...scorerIds.map(abbrev), 'ms', 'tokens'];
      const rows = r.cases.map((c) => [c.id, mark(c), ...scorerIds.map((id) => (c.scores[id] ? (c.scores[id]!.skipped ? 'skip' : fmt(c.scores[id]!.score)) : '')), String(c.latencyMs), String(c.tokens.total)]);
      const mean = (id: string) => r.scorers.find((s) => s.id === id);
      rows.push(['MEAN', `${r.cases.filter((c) => c.status === 'pass').length}/${r.cases.length}`, ...scorerIds.map((id) => (mean(id)?.mean === null ? (mean(id)?.skipped ? 'skip' : '') : fmt(mean(id)?.mean))), String(avg(r.cases.map((c) => c.latencyMs))), String(r.cases.reduce((n, c) => n + c.tokens.total, 0))]);
      rows.push(['THRESHOLD', '', ...scorerIds.map((id) => (mean(id)?.threshold === undefined ? '' : `${fmt(mean(id)!.threshold)}${mean(id)!.passed === false ? '✗' : mean(id)!.passed ? '✓' : ''}`)), '', '']);
      out.push(indent(table([header, ...rows]), runs.length > 1 ? 4 : 2));
      for (const c of r.cases.filter((x) => x.status !== 'pass')) out.push(`    ✗ ${c.id}: ${c.reason ?? c.status}`);
      for (const s of r.scorers.filter((x) => x.mean === null && x.skipped)) out.push(`    - ${s.id} SKIPPED: ${s.skipReason}`);
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
  if (report.comparison) {
    const c = report.comparison;
    out.push(`Compared with the previous run ${c.previousRunId} (${c.previousStartedAt}): ${c.regressions.length} regression(s), ${c.improvements.length} improvement(s)`);
    for (const r of c.regressions) out.push(`  REGRESSION ${r.model} ${r.suite} ${r.case ?? r.scorer}: ${r.what} ${r.before} → ${r.after}`);
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
  helpfulness: 'helpful',
  faithfulness: 'faithful',
  tone: 'tone',
};
const abbrev = (id: string) => ABBREV[id] ?? id;
