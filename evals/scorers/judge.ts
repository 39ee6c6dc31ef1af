/**
 * LLM-judge scorers, Mastra's own (@mastra/evals/scorers/prebuilt): helpfulness (answer
 * relevancy), faithfulness to the tool results of the turn, and tone (a rubric built
 * from the suite's persona and the case's rubric). They run only when a judge model is
 * configured (--judge / EVAL_JUDGE_MODEL) and are reported as SKIPPED otherwise: no
 * judge is reachable on the machines this project is built on, and a made-up judge
 * score would be worse than none.
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { MastraModelConfig } from '@mastra/core/llm';
import { createAnswerRelevancyScorer, createFaithfulnessScorer, createRubricScorer } from '@mastra/evals/scorers/prebuilt';
import { MEMORY_TOOLS, type EvalScorer, type JudgeConfig, type ScoreContext } from './types';

export function judgeModel(j: JudgeConfig): MastraModelConfig {
  const slash = j.model.indexOf('/');
  const provider = j.model.slice(0, slash);
  const model = j.model.slice(slash + 1);
  if (j.baseUrl || provider === 'openai') {
    return createOpenAICompatible({ name: provider, baseURL: j.baseUrl ?? 'https://api.openai.com/v1', apiKey: j.apiKey ?? '' }).chatModel(model) as unknown as MastraModelConfig;
  }
  return j.model as MastraModelConfig;
}

const NO_JUDGE = 'no judge model configured (--judge or EVAL_JUDGE_MODEL)';

function judged(id: string, description: string, applies: EvalScorer['applies'], run: (ctx: ScoreContext, model: MastraModelConfig) => Promise<{ score: number; reason: string }>): EvalScorer {
  return {
    id,
    kind: 'llm',
    description,
    passAt: 0.7,
    applies,
    async score(ctx) {
      if (!ctx.judge) return { skipped: NO_JUDGE };
      if (ctx.run.error || !ctx.run.text) return { score: 0, reason: 'no reply to judge' };
      if (ctx.judge.scripted) return ctx.judge.scripted(id, ctx);
      return run(ctx, judgeModel(ctx.judge));
    },
  };
}

export const helpfulness = judged(
  'helpfulness',
  'LLM judge (Mastra answer relevancy): the reply answers what the user asked.',
  (c) => !c.expect.refusal,
  async (ctx, model) => {
    const r = await createAnswerRelevancyScorer({ model }).run({ input: ctx.run.scorerInput, output: ctx.run.scorerOutput });
    return { score: r.score ?? 0, reason: (r as { reason?: string }).reason ?? '' };
  },
);

export const faithfulness = judged(
  'faithfulness',
  "LLM judge (Mastra faithfulness): the reply's claims are supported by the turn's tool results.",
  (c) => Boolean(c.expect.tools?.length),
  async (ctx, model) => {
    const context = ctx.run.toolCalls.filter((t) => !MEMORY_TOOLS.has(t.name)).map((t) => `${t.name}(${JSON.stringify(t.args)}) → ${JSON.stringify(t.result ?? t.error)}`);
    if (!context.length) return { score: 0, reason: 'no tool result to be faithful to' };
    const r = await createFaithfulnessScorer({ model, options: { context } }).run({ input: ctx.run.scorerInput, output: ctx.run.scorerOutput });
    return { score: r.score ?? 0, reason: (r as { reason?: string }).reason ?? '' };
  },
);

export const tone = judged(
  'tone',
  "LLM judge (Mastra rubric): the reply keeps the agent's persona and the case's rubric.",
  (c) => Boolean(c.expect.rubric) || c.tags.includes('persona'),
  async (ctx, model) => {
    const criteria = [ctx.suite.persona, ctx.case.expect.rubric].filter((s): s is string => Boolean(s)).join('\n');
    const r = await createRubricScorer({ model, criteria }).run({ input: ctx.run.scorerInput, output: ctx.run.scorerOutput });
    return { score: r.score ?? 0, reason: (r as { reason?: string }).reason ?? '' };
  },
);
