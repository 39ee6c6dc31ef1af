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
}

export interface ScorerSummary {
  id: string;
  kind: 'code' | 'llm';
  description: string;
  applied: number;
  skipped: number;
  mean: number | null;
  threshold?: number;
  /** null when the scorer has no threshold, or every case skipped it. */
  passed: boolean | null;
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
  studio?: { stored: boolean; detail: string; datasetId?: string; experimentId?: string };
}

export interface Regression {
  model: string;
  suite: string;
  case?: string;
  scorer?: string;
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
  /** Cassettes produced by THE SCRIPTED AUTHOR are flagged so no one reads them as a model's scores. */
  scriptedAuthor: boolean;
  results: SuiteResult[];
  passed: boolean;
  failures: string[];
  comparison: { previousRunId: string; previousStartedAt: string; regressions: Regression[]; improvements: Regression[] } | null;
}
