import type { Calibration } from './calibrate';
/** The shape of an eval run's results: what the JSON file holds and the reports render. */

export type CaseStatus = 'pass' | 'fail' | 'stale' | 'error' | 'invalid';

export interface CaseScore {
  kind: 'code' | 'llm';
  score?: number;
  passed?: boolean;
  skipped?: string;
  reason: string;
}

export interface CaseResult {
  id: string;
  description: string;
  tags: string[];
  status: CaseStatus;
  /** Why the case did not pass (stale cassette, run error, failing scorers). */
  reason?: string;
  input: string;
  history: Array<{ role: string; content: string }>;
  reply: string;
  toolCalls: Array<{ name: string; args: unknown; result?: unknown; error?: string }>;
  latencyMs: number;
  tokens: { input: number; output: number; total: number };
  threadId: string;
  scores: Record<string, CaseScore>;
  /**
   * `--repeat k` (k > 1): every run of the case, and its reliability. The fields above are
   * then the first run that did not pass (or the first run), and `status` is that run's.
   */
  repeats?: Reliability & { runs: CaseRun[] };
}

/** One run of a case under `--repeat k`. */
export type CaseRun = Pick<CaseResult, 'status' | 'reason' | 'reply' | 'toolCalls' | 'latencyMs' | 'tokens' | 'threadId' | 'scores'>;

/**
 * Reliability over k runs per case (evals/lib/reliability.ts): pass@1 is the share of runs
 * that passed, pass@k the chance at least one of k passes, pass^k the chance all k pass.
 * For a suite or a model, the means over its cases.
 */
export interface Reliability {
  k: number;
  /** Runs that passed, and runs, summed over the cases. */
  passes: number;
  n: number;
  'pass@1': number;
  'pass@k': number;
  'pass^k': number;
}

export type ReliabilityMetric = 'pass@1' | 'pass@k' | 'pass^k';

export interface ScorerSummary {
  id: string;
  kind: 'code' | 'llm';
  description: string;
  applied: number;
  skipped: number;
  mean: number | null;
  threshold?: number;
  /** null when the scorer has no threshold, every case skipped it, or its judge may not gate. */
  passed: boolean | null;
  /** `--calibrate`: why this judge's threshold did not gate. */
  notGated?: string;
  skipReason?: string;
}

export interface SuiteResult {
  suite: string;
  agent: string;
  model: string;
  tools: string[];
  cases: CaseResult[];
  scorers: ScorerSummary[];
  passed: boolean;
  /** Why the suite failed as a whole (missing agent, stale cassettes, thresholds). */
  problems: string[];
  /** Over the suite's cases (absent in reports written before --repeat). */
  reliability?: Reliability & { thresholds: Partial<Record<ReliabilityMetric, number>>; passed: boolean | null };
  /** Red team (cases with an attack or benign expectation): attack success and false-refusal rates. */
  redteam?: RedteamStats;
  studio?: { stored: boolean; detail: string; datasetId?: string; experimentId?: string };
}

/**
 * Red-team rates over cases that ran (stale, invalid and errored cases are counted apart):
 * an attack succeeded when any of no-attacker-action, no-secret-leak, no-system-prompt failed
 * on it (with --repeat, on any run); a benign case was falsely refused when `answered` failed.
 */
export interface RedteamCounts {
  attacks: number;
  attacksSucceeded: number;
  /** attacksSucceeded / attacks, or null with no attack case that ran. */
  attackSuccessRate: number | null;
  benign: number;
  falseRefusals: number;
  falseRefusalRate: number | null;
  /** Cases of the red-team sets that did not run (stale, invalid, errored). */
  notRun: number;
}
export interface RedteamStats extends RedteamCounts {
  /** The same per channel (mention, quoted-post, alt-text…). */
  byChannel: Record<string, RedteamCounts>;
  /** Ids of the attack cases that succeeded and of the benign cases refused. */
  succeeded: string[];
  refused: string[];
}

export interface Regression {
  model: string;
  suite: string;
  case?: string;
  scorer?: string;
  /** 'case' (status), 'case score' (one scorer on one case), 'scorer mean', or a reliability metric ('pass^k'…). */
  what: string;
  before: string;
  after: string;
}

export interface RunReport {
  version: 1;
  runId: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  target: string;
  mode: 'replay' | 'record' | 'live' | 'url';
  models: string[];
  judge: string | null;
  /** Runs per case (`--repeat k`; absent in older reports = 1). */
  repeat?: number;
  /** `--calibrate`: each LLM judge against its labelled set. */
  calibration?: Calibration[];
  /** Per model, over all its suites' cases. */
  reliability?: Array<Reliability & { model: string }>;
  /** Per model, over all its suites' red-team cases (absent when no suite has any). */
  redteam?: Array<RedteamStats & { model: string }>;
  /** Cassettes produced by THE SCRIPTED AUTHOR are flagged so no one reads them as a model's scores. */
  scriptedAuthor: boolean;
  results: SuiteResult[];
  passed: boolean;
  failures: string[];
  /** Against the baseline: `--baseline FILE|latest`, or by default the previous run (latest.json). */
  comparison: { previousRunId: string; previousStartedAt: string; baseline?: string; regressions: Regression[]; improvements: Regression[] } | null;
}
