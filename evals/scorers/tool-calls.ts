/**
 * Tool use. `tool-call-accuracy` and `trajectory` are Mastra's code scorers
 * (@mastra/evals/scorers/prebuilt), run on the turn in Mastra's message shapes;
 * `tool-args` and `no-tool` are ours (argument subset match; no tool / no forbidden tool).
 * Mastra's memory tool (updateWorkingMemory) is ignored by all four.
 */
import type { MastraDBMessage } from '@mastra/core/agent';
import { extractTrajectory } from '@mastra/core/evals';
import { createToolCallAccuracyScorerCode, createTrajectoryScorerCode } from '@mastra/evals/scorers/prebuilt';
import { MEMORY_TOOLS, pass, type EvalScorer, type ScoreContext } from './types';

/** The turn's output without Mastra's memory tool invocations. */
function outputWithoutMemoryTools(ctx: ScoreContext): MastraDBMessage[] {
  return ctx.run.scorerOutput.map((m) => {
    const content = m.content as { parts?: Array<{ type: string; toolInvocation?: { toolName: string } }>; toolInvocations?: Array<{ toolName: string }> };
    return {
      ...m,
      content: {
        ...m.content,
        parts: (content.parts ?? []).filter((p) => !(p.type === 'tool-invocation' && MEMORY_TOOLS.has(p.toolInvocation?.toolName ?? ''))),
        ...(content.toolInvocations ? { toolInvocations: content.toolInvocations.filter((t) => !MEMORY_TOOLS.has(t.toolName)) } : {}),
      },
    } as MastraDBMessage;
  });
}

const calledTools = (ctx: ScoreContext) => ctx.run.toolCalls.filter((t) => !MEMORY_TOOLS.has(t.name));

export const toolCallAccuracy: EvalScorer = {
  id: 'tool-call-accuracy',
  kind: 'code',
  description: "Mastra's code tool-call accuracy: the expected tool(s) were called, in order.",
  passAt: 1,
  applies: (c) => Boolean(c.expect.tools?.length),
  async score(ctx) {
    const tools = ctx.case.expect.tools!;
    // Mastra's relaxed order check finds each expected tool by its FIRST call (indexOf), so a
    // sequence that repeats a tool (create a task, then update it) could never pass: use its
    // strict mode there (the calls must be exactly that sequence).
    const repeats = new Set(tools).size < tools.length;
    const scorer = createToolCallAccuracyScorerCode(tools.length === 1 ? { expectedTool: tools[0] } : { expectedToolOrder: tools, strictMode: repeats });
    const r = await scorer.run({ input: ctx.run.scorerInput, output: outputWithoutMemoryTools(ctx) });
    const actual = calledTools(ctx).map((t) => t.name);
    return { score: r.score ?? 0, reason: `expected ${tools.join(' → ')}; called ${actual.join(' → ') || 'no tool'}` };
  },
};

export const trajectory: EvalScorer = {
  id: 'trajectory',
  kind: 'code',
  description: "Mastra's unified trajectory scorer: step accuracy (relaxed order), efficiency (no redundant calls), forbidden tools, tool failures.",
  passAt: 0.75,
  applies: (c) => Boolean(c.expect.tools?.length || c.expect.forbiddenTools?.length),
  async score(ctx) {
    const e = ctx.case.expect;
    const scorer = createTrajectoryScorerCode({
      defaults: {
        steps: (e.tools ?? []).map((name) => ({ stepType: 'tool_call' as const, name })),
        ordering: 'relaxed',
        noRedundantCalls: true,
        maxSteps: Math.max(4, (e.tools?.length ?? 0) * 2),
        blacklistedTools: e.forbiddenTools ?? [],
      },
    });
    const r = await scorer.run({ input: ctx.run.scorerInput, output: extractTrajectory(outputWithoutMemoryTools(ctx)) });
    return { score: r.score ?? 0, reason: (r as { reason?: string }).reason ?? '' };
  },
};

const norm = (v: unknown): string => (typeof v === 'string' ? v.replace(/\s+/g, '').toLowerCase() : JSON.stringify(v));

/** Every expected argument is present on a call of that tool (strings compared without whitespace or case). */
export const toolArgs: EvalScorer = {
  id: 'tool-args',
  kind: 'code',
  description: 'The expected tool was called with the expected arguments (subset match; strings ignore whitespace and case).',
  passAt: 1,
  applies: (c) => Boolean(c.expect.toolArgs && Object.keys(c.expect.toolArgs).length),
  async score(ctx) {
    const want = ctx.case.expect.toolArgs!;
    const misses: string[] = [];
    let ok = 0;
    let total = 0;
    for (const [tool, args] of Object.entries(want)) {
      const calls = calledTools(ctx).filter((t) => t.name === tool);
      for (const [k, v] of Object.entries(args)) {
        total++;
        if (calls.some((c) => norm(c.args[k]) === norm(v))) ok++;
        else misses.push(`${tool}.${k}: wanted ${JSON.stringify(v)}, got ${calls.map((c) => JSON.stringify(c.args[k])).join(' / ') || 'no call'}`);
      }
    }
    return { score: total ? ok / total : 1, reason: misses.length ? misses.join('; ') : 'all expected arguments present' };
  },
};

export const noTool: EvalScorer = {
  id: 'no-tool',
  kind: 'code',
  description: 'No tool was called when none is needed, and no forbidden tool was called.',
  passAt: 1,
  applies: (c) => Boolean(c.expect.noTools || c.expect.forbiddenTools?.length),
  async score(ctx) {
    const called = calledTools(ctx).map((t) => t.name);
    if (ctx.case.expect.noTools && called.length) return pass(false, `called ${called.join(', ')} although no tool was needed`);
    const bad = called.filter((n) => ctx.case.expect.forbiddenTools?.includes(n));
    if (bad.length) return pass(false, `called forbidden tool(s): ${bad.join(', ')}`);
    return pass(true, called.length ? `called only allowed tools (${called.join(', ')})` : 'no tool called');
  },
};
