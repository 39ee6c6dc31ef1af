/**
 * The scorer contract of this project's evals. A scorer applies to a case only when the
 * case states the matching expectation, scores it 0..1 with a reason, or reports
 * SKIPPED with why (no judge model configured, no service URL for a url target).
 * Code scorers never call a model; side-effect scorers ask the real services.
 */
import type { EvalCase, Suite } from '../lib/suite';
import type { CaseRun, ServiceEndpoints } from '../lib/target';

export interface JudgeConfig {
  /** provider/model, e.g. openai/gpt-4o-mini */
  model: string;
  baseUrl?: string;
  apiKey?: string;
  /**
   * THE SCRIPTED JUDGE (tests only): scores a judged scorer without a model. The
   * calibration tests use it to show what a judge that agrees, or disagrees, with the
   * labels does to the true-positive and true-negative rates and to the gate.
   */
  scripted?: (scorer: string, ctx: ScoreContext) => Promise<{ score: number; reason: string }>;
}

export interface ScoreContext {
  suite: Suite;
  case: EvalCase;
  run: CaseRun;
  services: ServiceEndpoints;
  /** Values that must never appear in an output (configured keys, passwords…). */
  secrets: string[];
  judge?: JudgeConfig;
  /** Per-case memo shared by scorers (e.g. records fetched from the PDS once). */
  memo: Map<string, Promise<unknown>>;
}

export type ScoreResult = { score: number; reason: string; details?: unknown } | { skipped: string };

export interface EvalScorer {
  id: string;
  kind: 'code' | 'llm';
  description: string;
  /** A case passes this scorer when its score is at least this. */
  passAt: number;
  applies(c: EvalCase): boolean;
  score(ctx: ScoreContext): Promise<ScoreResult>;
}

/** Mastra's own memory tool: the model may call it any time; tool expectations ignore it. */
export const MEMORY_TOOLS = new Set(['updateWorkingMemory']);

export function memo<T>(ctx: ScoreContext, key: string, fn: () => Promise<T>): Promise<T> {
  let p = ctx.memo.get(key) as Promise<T> | undefined;
  if (!p) {
    p = fn();
    ctx.memo.set(key, p);
  }
  return p;
}

export const pass = (ok: boolean, reason: string, details?: unknown): ScoreResult => ({ score: ok ? 1 : 0, reason, details });
