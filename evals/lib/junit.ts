import type { RunReport } from './results';

/** XML 1.0 escaping; drops characters XML cannot carry. */
export function escapeXml(s: string): string {
  return s
    .replace(/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD]/g, '')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** JUnit XML (`--junit FILE`): one <testsuite> per suite × model, one <testcase> per case; a
 *  failing case's <failure> carries the failing scorers' reasons (stale, invalid and errored
 *  cases are <error>s). Under --repeat k the case's result is its worst run, and the suite's
 *  pass@1 / pass@k / pass^k are <properties>. */
export function toJUnitXml(report: RunReport): string {
  const suites = report.results.map((s) => {
    const name = `${s.suite} [${s.model}]`;
    const cases = s.cases.map((c) => {
      const head = `<testcase classname="${escapeXml(name)}" name="${escapeXml(c.id)}" time="${(c.latencyMs / 1000).toFixed(3)}"`;
      if (c.status === 'pass') return `    ${head}/>`;
      const reasons = Object.entries(c.scores).filter(([, v]) => v.passed === false).map(([k, v]) => `${k}: ${v.reason}`);
      const msg = c.reason ?? reasons[0] ?? c.status;
      const tag = c.status === 'fail' ? 'failure' : 'error';
      return `    ${head}>\n      <${tag} message="${escapeXml(msg)}" type="${c.status}">${escapeXml(reasons.join('\n'))}</${tag}>\n    </testcase>`;
    });
    const failures = s.cases.filter((c) => c.status === 'fail').length;
    const errors = s.cases.filter((c) => c.status !== 'fail' && c.status !== 'pass').length;
    const rel = s.reliability;
    const props = rel
      ? `    <properties>\n${[['k', rel.k], ['pass@1', rel['pass@1']], ['pass@k', rel['pass@k']], ['pass^k', rel['pass^k']]].map(([n, v]) => `      <property name="${n}" value="${v}"/>`).join('\n')}\n    </properties>\n`
      : '';
    return `  <testsuite name="${escapeXml(name)}" tests="${s.cases.length}" failures="${failures}" errors="${errors}">\n${props}${cases.join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="evals ${escapeXml(report.runId)}">\n${suites.join('\n')}\n</testsuites>\n`;
}
