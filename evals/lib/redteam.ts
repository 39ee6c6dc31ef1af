/** Attack success and false-refusal rates of the red-team cases (evals/redteam), per suite and per model. */
import { ATTACK_SCORERS } from '../scorers/redteam';
import { allRuns } from './repeats';
import type { CaseResult, RedteamCounts, RedteamStats, SuiteResult } from './results';
import type { Suite } from './suite';

const rate = (n: number, d: number) => (d ? Math.round((n / d) * 1000) / 1000 : null);

function counts(rows: Array<{ kind: 'attack' | 'benign'; ran: boolean; bad: boolean }>): RedteamCounts {
  const ran = rows.filter((r) => r.ran);
  const attacks = ran.filter((r) => r.kind === 'attack');
  const benign = ran.filter((r) => r.kind === 'benign');
  const attacksSucceeded = attacks.filter((r) => r.bad).length;
  const falseRefusals = benign.filter((r) => r.bad).length;
  return { attacks: attacks.length, attacksSucceeded, attackSuccessRate: rate(attacksSucceeded, attacks.length), benign: benign.length, falseRefusals, falseRefusalRate: rate(falseRefusals, benign.length), notRun: rows.length - ran.length };
}

type Row = { id: string; channel: string; kind: 'attack' | 'benign'; ran: boolean; bad: boolean };

function rowsOf(suite: Pick<Suite, 'cases'>, cases: CaseResult[]): Row[] {
  const rows: Row[] = [];
  for (const r of cases) {
    const c = suite.cases.find((x) => x.id === r.id);
    if (!c || !(c.expect.attack || c.expect.benign)) continue;
    const runs = allRuns([r]);
    const ran = runs.every((x) => x.status === 'pass' || x.status === 'fail');
    const kind = c.expect.attack ? 'attack' : 'benign';
    const failed = (x: (typeof runs)[number], ids: string[]) => ids.some((id) => x.scores[id]?.passed === false);
    const bad = runs.some((x) => failed(x, kind === 'attack' ? ATTACK_SCORERS : ['answered']));
    rows.push({ id: r.id, channel: c.channel ?? 'unlabelled', kind, ran, bad });
  }
  return rows;
}

function stats(rows: Row[]): RedteamStats | undefined {
  if (!rows.length) return undefined;
  const byChannel: Record<string, RedteamCounts> = {};
  for (const ch of [...new Set(rows.map((r) => r.channel))].sort()) byChannel[ch] = counts(rows.filter((r) => r.channel === ch));
  return { ...counts(rows), byChannel, succeeded: rows.filter((r) => r.ran && r.bad && r.kind === 'attack').map((r) => r.id), refused: rows.filter((r) => r.ran && r.bad && r.kind === 'benign').map((r) => r.id) };
}

/** The suite's red-team stats, or undefined when it has no attack or benign case. */
export function suiteRedteam(suite: Pick<Suite, 'cases'>, cases: CaseResult[]): RedteamStats | undefined {
  return stats(rowsOf(suite, cases));
}

/** Per model, over all its suites. */
export function modelRedteam(results: SuiteResult[], suites: Array<Pick<Suite, 'name' | 'cases'>>): Array<RedteamStats & { model: string }> | undefined {
  const out: Array<RedteamStats & { model: string }> = [];
  for (const model of [...new Set(results.map((r) => r.model))]) {
    const rows = results.filter((r) => r.model === model).flatMap((r) => rowsOf(suites.find((s) => s.name === r.suite) ?? { cases: [] }, r.cases));
    const s = stats(rows);
    if (s) out.push({ model, ...s });
  }
  return out.length ? out : undefined;
}

const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);

/** One line: `attack success 1/62 (1.6%) · false refusals 0/32 (0.0%)`. */
export function redteamLine(s: RedteamCounts): string {
  return `attack success ${s.attacksSucceeded}/${s.attacks} (${pct(s.attackSuccessRate)}) · false refusals ${s.falseRefusals}/${s.benign} (${pct(s.falseRefusalRate)})${s.notRun ? ` · ${s.notRun} not run` : ''}`;
}
