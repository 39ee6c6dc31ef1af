/**
 * `--summary FILE`: a compact markdown summary of a run for a PR comment: the verdict, a
 * row per suite × model (cases passed, reliability, the gate), what failed and why, and
 * the regressions and improvements against the baseline. Long lists are cut, with a count.
 */
import { diffSubject } from './repeats';
import type { Regression, RunReport } from './results';

const MAX_ROWS = 15;
const f2 = (n: number | null | undefined) => (n === null || n === undefined ? '–' : n.toFixed(2));
/** One table cell: no pipes or newlines, bounded. */
const cell = (s: string, n = 160) => {
  const one = s.replace(/\s+/g, ' ').replace(/\|/g, '\\|').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
};
const more = (n: number) => (n > MAX_ROWS ? [`\n… and ${n - MAX_ROWS} more (see the HTML report)`] : []);

export function toMarkdownSummary(report: RunReport): string {
  const k = report.repeat ?? 1;
  const out: string[] = [];
  out.push(`### ${report.passed ? '✅ Evals passed' : '❌ Evals failed'} · run \`${report.runId}\``);
  out.push('');
  out.push(`mode ${report.mode} · models ${report.models.map((m) => `\`${m}\``).join(', ')} · ${k} run(s) per case · judge ${report.judge ? `\`${report.judge}\`` : 'none (LLM judges skipped)'} · ${(report.durationMs / 1000).toFixed(1)} s`);
  if (report.scriptedAuthor) out.push('', '> Replies come from cassettes recorded with the scripted author, not a language model.');
  out.push('', '| suite | model | cases passed | pass@1 | pass@k | pass^k | gate |', '|---|---|---|---|---|---|---|');
  for (const r of report.results) {
    const rel = r.reliability;
    const passed = r.cases.filter((c) => c.status === 'pass').length;
    out.push(`| ${cell(r.suite)} | \`${cell(r.model)}\` | ${passed}/${r.cases.length} | ${f2(rel?.['pass@1'])} | ${f2(rel?.['pass@k'])} | ${f2(rel?.['pass^k'])} | ${r.passed ? '✅' : '❌'} |`);
  }
  if (report.models.length > 1 && report.reliability) {
    out.push('', '| model | pass@1 | pass@k | pass^k |', '|---|---|---|---|');
    for (const m of report.reliability) out.push(`| \`${cell(m.model)}\` | ${f2(m['pass@1'])} | ${f2(m['pass@k'])} | ${f2(m['pass^k'])} |`);
  }
  if (report.redteam?.length) {
    out.push('', `**Red team**${report.scriptedAuthor ? ' (scripted cassettes: measures the scorers, not a model)' : ''}`, '', '| model | attack success | false refusals |', '|---|---|---|');
    for (const m of report.redteam) out.push(`| \`${cell(m.model)}\` | ${m.attacksSucceeded}/${m.attacks} | ${m.falseRefusals}/${m.benign} |`);
  }
  if (report.calibration?.length) {
    out.push('', '**Judge calibration**', '', '| judge scorer | TPR | TNR | gates |', '|---|---|---|---|');
    for (const c of report.calibration) out.push(`| ${cell(c.scorer)} | ${f2(c.truePositiveRate)} | ${f2(c.trueNegativeRate)} | ${c.trusted === null ? 'skipped' : c.trusted ? '✅' : '❌ not trusted'} |`);
  }
  if (report.failures.length) {
    out.push('', '**Gate**');
    for (const f of report.failures.slice(0, MAX_ROWS)) out.push(`- ${cell(f, 300)}`);
    out.push(...more(report.failures.length));
  }
  const failing = report.results.flatMap((r) => r.cases.filter((c) => c.status !== 'pass').map((c) => ({ r, c })));
  if (failing.length) {
    out.push('', '<details><summary>Cases not passing (' + failing.length + ')</summary>', '', '| suite | model | case | result | why |', '|---|---|---|---|---|');
    for (const { r, c } of failing.slice(0, MAX_ROWS)) out.push(`| ${cell(r.suite)} | \`${cell(r.model)}\` | ${cell(c.id)} | ${c.status.toUpperCase()}${c.repeats ? ` ${c.repeats.passes}/${c.repeats.n}` : ''} | ${cell(c.reason ?? '')} |`);
    out.push(...more(failing.length), '', '</details>');
  }
  const cmp = report.comparison;
  if (cmp) {
    out.push('', `**Against ${cmp.baseline ? `baseline \`${cmp.baseline}\`` : 'the previous run'}** (run \`${cmp.previousRunId}\`): ${cmp.regressions.length} regression(s), ${cmp.improvements.length} improvement(s)`);
    const rows = (xs: Regression[], mark: string) => xs.slice(0, MAX_ROWS).map((x) => `| ${mark} | ${cell(x.suite)} | \`${cell(x.model)}\` | ${cell(diffSubject(x))} | ${cell(x.what)} | ${cell(x.before)} → ${cell(x.after)} |`);
    if (cmp.regressions.length || cmp.improvements.length) {
      out.push('', '| | suite | model | case / scorer | what | change |', '|---|---|---|---|---|---|');
      out.push(...rows(cmp.regressions, '🔻'), ...rows(cmp.improvements, '🔺'));
      const cut = Math.max(0, cmp.regressions.length - MAX_ROWS) + Math.max(0, cmp.improvements.length - MAX_ROWS);
      if (cut) out.push('', `… and ${cut} more (see the HTML report)`);
    }
  } else out.push('', 'No baseline to compare with.');
  return out.join('\n') + '\n';
}
