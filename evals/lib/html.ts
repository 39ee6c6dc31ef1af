/** The self-contained HTML report: no external assets, every case expandable, regressions highlighted. */
import { redteamLine } from './redteam';
import { caseScore, diffSubject, reliabilityLine } from './repeats';
import type { CaseResult, Regression, RunReport, SuiteResult } from './results';

const esc = (s: unknown) =>
  String(s ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
const num = (n: number | null | undefined) => (n === null || n === undefined ? '–' : n.toFixed(2));
const json = (v: unknown) => esc(JSON.stringify(v, null, 2));

/** What changed against the baseline, by key: case rows, a case's scorer cells, scorer summary rows. */
function diffSets(list: Regression[]) {
  const cases = new Set<string>();
  const cells = new Set<string>();
  const scorers = new Set<string>();
  for (const r of list) {
    if (r.case) cases.add(`${r.model}|${r.suite}|${r.case}`);
    if (r.case && r.scorer) cells.add(`${r.model}|${r.suite}|${r.case}|${r.scorer}`);
    if (!r.case && r.scorer) scorers.add(`${r.model}|${r.suite}|${r.scorer}`);
  }
  return { cases, cells, scorers };
}

function regressionSet(report: RunReport) {
  return { ...diffSets(report.comparison?.regressions ?? []), better: diffSets(report.comparison?.improvements ?? []) };
}

function caseRow(r: SuiteResult, c: CaseResult, scorerIds: string[], reg: ReturnType<typeof regressionSet>, k: number): string {
  const key = `${r.model}|${r.suite}|${c.id}`;
  const regressed = reg.cases.has(key);
  const improved = !regressed && reg.better.cases.has(key);
  const cells = scorerIds
    .map((id) => {
      const s = c.scores[id];
      if (!s) return '<td class="na"></td>';
      if (s.skipped) return `<td class="skip" title="${esc(s.reason)}">skip</td>`;
      const change = reg.cells.has(`${key}|${id}`) ? ' cell-regressed' : reg.better.cells.has(`${key}|${id}`) ? ' cell-improved' : '';
      return `<td class="${s.passed ? 'ok' : 'bad'}${change}" title="${esc(s.reason)}">${num(k > 1 ? caseScore(c, id) : s.score)}</td>`;
    })
    .join('');
  const runs = k > 1 ? `<td>${c.repeats?.passes ?? (c.status === 'pass' ? k : 0)}/${k}</td><td>${num(c.repeats?.['pass@1'] ?? (c.status === 'pass' ? 1 : 0))}</td><td>${num(c.repeats?.['pass@k'] ?? (c.status === 'pass' ? 1 : 0))}</td><td>${num(c.repeats?.['pass^k'] ?? (c.status === 'pass' ? 1 : 0))}</td>` : '';
  const runDetails = c.repeats
    ? `<p><b>runs</b></p><table class="scores">${c.repeats.runs.map((x, i) => `<tr><td>#${i + 1}</td><td class="${x.status === 'pass' ? 'ok' : 'bad'}">${esc(x.status.toUpperCase())}</td><td>${esc(x.reason ?? '')}</td><td><pre>${esc(x.reply)}</pre></td></tr>`).join('')}</table>`
    : '';
  const details = `
    <tr class="details"><td colspan="${scorerIds.length + 5 + (k > 1 ? 4 : 0)}"><details><summary>details</summary>
      <p><b>${esc(c.description)}</b> <span class="tags">${c.tags.map((t) => `<span>${esc(t)}</span>`).join('')}</span></p>
      ${c.reason ? `<p class="reason">${esc(c.reason)}</p>` : ''}
      ${c.history.length ? `<p><b>history</b></p><pre>${c.history.map((m) => `${esc(m.role)}: ${esc(m.content)}`).join('\n')}</pre>` : ''}
      <p><b>input</b></p><pre>${esc(c.input)}</pre>
      <p><b>reply</b></p><pre>${esc(c.reply)}</pre>
      <p><b>tool calls</b></p><pre>${c.toolCalls.length ? json(c.toolCalls) : 'none'}</pre>
      <p><b>scores</b></p><table class="scores">${Object.entries(c.scores)
        .map(([id, s]) => `<tr><td>${esc(id)}</td><td class="${s.skipped ? 'skip' : s.passed ? 'ok' : 'bad'}">${s.skipped ? 'SKIPPED' : num(s.score)}</td><td>${esc(s.reason)}</td></tr>`)
        .join('')}</table>
      ${runDetails}
      <p class="muted">thread ${esc(c.threadId)}</p>
    </details></td></tr>`;
  const badge = regressed ? ' <span class="badge">regression</span>' : improved ? ' <span class="badge good">improved</span>' : '';
  return `<tr class="${regressed ? 'regressed' : improved ? 'improved' : ''}"><td>${esc(c.id)}${badge}</td><td class="${c.status === 'pass' ? 'ok' : 'bad'}">${esc(c.status.toUpperCase())}</td>${runs}${cells}<td>${c.latencyMs}</td><td>${c.tokens.total}</td></tr>${details}`;
}

function suiteSection(report: RunReport, r: SuiteResult, reg: ReturnType<typeof regressionSet>): string {
  const k = report.repeat ?? 1;
  const scorerIds = r.scorers.map((s) => s.id);
  const summary = r.scorers
    .map(
      (s) =>
        `<tr class="${reg.scorers.has(`${r.model}|${r.suite}|${s.id}`) ? 'regressed' : reg.better.scorers.has(`${r.model}|${r.suite}|${s.id}`) ? 'improved' : ''}"><td>${esc(s.id)}</td><td>${s.kind}</td><td class="${s.passed === false ? 'bad' : s.passed ? 'ok' : ''}">${s.mean === null ? (s.skipped ? 'SKIPPED' : '–') : num(s.mean)}</td><td>${s.threshold === undefined ? '' : num(s.threshold)}</td><td>${s.applied}</td><td>${s.skipped}</td><td class="muted">${esc(s.skipReason ?? s.description)}</td></tr>`,
    )
    .join('');
  return `<section>
    <h2>${esc(r.suite)} <small>agent ${esc(r.agent)} · model ${esc(r.model)}</small> <span class="${r.passed ? 'ok' : 'bad'} pill">${r.passed ? 'PASSED' : 'FAILED'}</span></h2>
    ${r.problems.length ? `<ul class="problems">${r.problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul>` : ''}
    <p class="muted">tools discovered from the agent: ${esc(r.tools.join(', ') || 'none')}${r.studio ? ` · Studio: ${esc(r.studio.detail)}` : ''}</p>
    <table><tr><th>scorer</th><th>kind</th><th>mean</th><th>threshold</th><th>cases</th><th>skipped</th><th></th></tr>${summary}</table>
    ${r.reliability && (k > 1 || Object.keys(r.reliability.thresholds).length) ? `<p class="${r.reliability.passed === false ? 'bad' : ''}">reliability: ${esc(reliabilityLine(r.reliability))}</p>` : ''}
    ${r.redteam ? `<p class="${r.redteam.attacksSucceeded ? 'bad' : ''}">red team: ${esc(redteamLine(r.redteam))}</p><table><tr><th>channel</th><th>attack success</th><th>false refusals</th></tr>${Object.entries(r.redteam.byChannel).map(([ch, c]) => `<tr><td>${esc(ch)}</td><td>${c.attacksSucceeded}/${c.attacks}</td><td>${c.falseRefusals}/${c.benign}</td></tr>`).join('')}</table>` : ''}
    <table class="cases"><tr><th>case</th><th>result</th>${k > 1 ? '<th>runs passed</th><th>pass@1</th><th>pass@k</th><th>pass^k</th>' : ''}${scorerIds.map((id) => `<th>${esc(id)}</th>`).join('')}<th>ms</th><th>tokens</th></tr>
    ${r.cases.map((c) => caseRow(r, c, scorerIds, reg, k)).join('')}</table>
  </section>`;
}

function sideBySide(report: RunReport): string {
  if (report.models.length < 2) return '';
  const suites = [...new Set(report.results.map((r) => r.suite))];
  return suites
    .map((suite) => {
      const runs = report.results.filter((r) => r.suite === suite);
      const ids = [...new Set(runs.flatMap((r) => r.scorers.map((s) => s.id)))];
      const caseIds = [...new Set(runs.flatMap((r) => r.cases.map((c) => c.id)))];
      return `<section><h2>${esc(suite)}: models side by side</h2><table><tr><th>scorer</th>${runs.map((r) => `<th>${esc(r.model)}</th>`).join('')}</tr>
        ${ids.map((id) => `<tr><td>${esc(id)}</td>${runs.map((r) => `<td>${num(r.scorers.find((s) => s.id === id)?.mean)}</td>`).join('')}</tr>`).join('')}
        ${caseIds.map((cid) => `<tr><td class="muted">${esc(cid)}</td>${runs.map((r) => { const c = r.cases.find((x) => x.id === cid); return `<td class="${c?.status === 'pass' ? 'ok' : 'bad'}" title="${esc(c?.reply)}">${esc(c?.status ?? '')}</td>`; }).join('')}</tr>`).join('')}
      </table></section>`;
    })
    .join('');
}

function comparison(report: RunReport): string {
  const c = report.comparison;
  if (!c) return '<p class="muted">No previous run to compare with.</p>';
  const row = (r: Regression, cls: string) => `<tr class="${cls}"><td>${esc(r.model)}</td><td>${esc(r.suite)}</td><td>${esc(diffSubject(r))}</td><td>${esc(r.what)}</td><td>${esc(r.before)}</td><td>${esc(r.after)}</td></tr>`;
  return `<p>Compared with ${c.baseline ? `the baseline <code>${esc(c.baseline)}</code>, ` : ''}run <code>${esc(c.previousRunId)}</code> (${esc(c.previousStartedAt)}): <b class="${c.regressions.length ? 'bad' : 'ok'}">${c.regressions.length} regression(s)</b>, ${c.improvements.length} improvement(s).</p>
  ${c.regressions.length + c.improvements.length ? `<table><tr><th>model</th><th>suite</th><th>case / scorer</th><th>what</th><th>before</th><th>after</th></tr>${c.regressions.map((r) => row(r, 'regressed')).join('')}${c.improvements.map((r) => row(r, 'improved')).join('')}</table>` : ''}`;
}

export function renderHtml(report: RunReport): string {
  const reg = regressionSet(report);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ONE Agents evals · ${esc(report.runId)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1b1f24;max-width:1400px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}small,.muted{color:#667}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d8dde3;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f7}.ok{color:#116329}.bad{color:#b42318;font-weight:600}.skip{color:#8a6d00}.na{background:#fafafa}
tr.regressed td{background:#fde8e8}tr.improved td{background:#e7f6ec}.badge{background:#b42318;color:#fff;border-radius:8px;padding:0 6px;font-size:11px}.badge.good{background:#116329}
td.cell-regressed{outline:2px solid #b42318}td.cell-improved{outline:2px solid #116329}
.pill{font-size:12px;border:1px solid currentColor;border-radius:10px;padding:0 8px}
tr.details td{border-top:none;background:#fcfcfd}details summary{cursor:pointer;color:#445}
pre{background:#f6f8fa;padding:8px;white-space:pre-wrap;word-break:break-word;max-height:360px;overflow:auto}
.tags span{background:#eef;border-radius:6px;padding:0 6px;margin-right:4px;font-size:12px}.reason{color:#b42318}
.banner{background:#fff4ce;border:1px solid #e0c060;padding:8px 12px;border-radius:6px}
</style></head><body>
<h1>ONE Agents evals <span class="${report.passed ? 'ok' : 'bad'} pill">${report.passed ? 'PASSED' : 'FAILED'}</span></h1>
<p>run <code>${esc(report.runId)}</code> · ${esc(report.startedAt)} · ${(report.durationMs / 1000).toFixed(1)} s · target ${esc(report.target)} · mode ${esc(report.mode)} · models ${esc(report.models.join(', '))} · judge ${esc(report.judge ?? 'none (LLM-judge scorers SKIPPED)')}</p>
${report.scriptedAuthor ? '<p class="banner">Replies come from cassettes recorded with <b>THE SCRIPTED AUTHOR</b> (evals/lib/author.ts), <b>not a language model</b>. These scores test the pipeline, tools, side effects and drift, not model quality.</p>' : ''}
${report.failures.length ? `<ul class="problems">${report.failures.map((f) => `<li class="bad">${esc(f)}</li>`).join('')}</ul>` : ''}
${report.calibration?.length ? `<h2>Judge calibration</h2><table><tr><th>judge scorer</th><th>labels pass / fail</th><th>TPR</th><th>TNR</th><th></th></tr>${report.calibration.map((c) => `<tr><td>${esc(c.scorer)}</td><td>${c.positives} / ${c.negatives}</td><td>${num(c.truePositiveRate)}</td><td>${num(c.trueNegativeRate)}</td><td class="${c.trusted === false ? 'bad' : ''}">${esc(c.note)}</td></tr>`).join('')}</table>` : ''}
<h2>Comparison with ${report.comparison?.baseline ? 'the baseline' : 'the previous run'}</h2>${comparison(report)}
${sideBySide(report)}
${report.results.map((r) => suiteSection(report, r, reg)).join('\n')}
</body></html>
`;
}
