/** Scorer tests: a scoring context for one case whose turn claims `toolCalls` (no model involved). */
import { evalCase, type Expectation, type Suite } from '../../evals/lib/suite';
import type { CaseRun, ToolCallRecord } from '../../evals/lib/target';
import type { EvalScorer, ScoreContext } from '../../evals/scorers/types';

export function scoreContext(opts: { suite: Pick<Suite, 'name' | 'agent'>; expect: Expectation; toolCalls: ToolCallRecord[]; text: string; services: ScoreContext['services']; secrets?: string[]; run?: Partial<CaseRun> }): ScoreContext {
  const suite = { description: 'x', thresholds: {}, volatile: {}, cases: [], file: '', ...opts.suite } as unknown as Suite;
  const c = evalCase.parse({ id: 'c', description: 'd', input: 'do it', expect: opts.expect, author: [{ text: 'x' }] });
  return {
    suite,
    case: c,
    run: {
      text: opts.text,
      latencyMs: 1,
      usage: { input: 0, output: 0, total: 0 },
      threadId: 't',
      resourceId: 'r',
      scorerInput: { inputMessages: [], rememberedMessages: [], systemMessages: [], taggedSystemMessages: {} },
      scorerOutput: [],
      toolCalls: opts.toolCalls,
      ...opts.run,
    },
    services: opts.services,
    secrets: opts.secrets ?? [],
    memo: new Map(),
  };
}

/** Scores `ctx`; a skip is a test failure here. */
export async function scoreWith(scorer: EvalScorer, ctx: ScoreContext) {
  const r = await scorer.score(ctx);
  if ('skipped' in r) throw new Error(`unexpected skip: ${r.skipped}`);
  return r;
}
