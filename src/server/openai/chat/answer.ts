/**
 * Chat Completions, the last stages: runs the agent and writes the answer, as one
 * `chat.completion` (here) or as `chat.completion.chunk` server-sent events ending in
 * `data: [DONE]` (stream.ts). Client tool calls end the answer with `tool_calls` (or the
 * legacy `function_call`); a reply that does not conform to response_format is refused
 * (invalid_model_output).
 */
import { responseModel } from '../../../mastra/answering-model';
import type { Agent } from '@mastra/core/agent';
import type { Response } from 'express';
import type { Logger } from '../../../logger';
import type { TokenUsage, UsageMeter } from '../../usage';
import type { UsageLike } from '../agent-stream';
import { clientToolCalls, type ClientToolCall } from '../client-tools';
import type { AgentMessage } from '../conversation';
import { upstreamError } from '../errors';
import type { ChatCompletionRequest } from '../schema';
import { invalidModelOutput, type CompiledFormat } from '../structured-output';

export type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls' | 'function_call';
export function finishReason(reason: string | undefined): FinishReason {
  switch (reason) {
    case 'length':
      return 'length';
    case 'content-filter':
      return 'content_filter';
    default:
      // 'tool-calls' cannot end a run here: the agent's tools run server-side and the
      // model continues; a run stopped by maxSteps still answered with what it had.
      return 'stop';
  }
}


export function toOpenAIUsage(u: UsageLike | undefined) {
  const prompt = u?.inputTokens ?? 0;
  const completion = u?.outputTokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: u?.totalTokens ?? prompt + completion };
}

export interface AnswerArgs {
  agent: Agent;
  messages: AgentMessage[];
  options: Record<string, unknown>;
  res: Response;
  abort: AbortController;
  id: string;
  created: number;
  body: ChatCompletionRequest;
  log: Logger;
  recordTurn: (reply: string) => Promise<void>;
  /** Before the reply goes out: the transcript key and the usage of a complete answer. */
  beforeReply: (reply: string, usage: UsageLike | undefined, calls?: ClientToolCall[]) => Promise<void>;
  /** The usage known when the answer ends early (disconnect, failure). */
  count: (usage: UsageLike | undefined) => Promise<void>;
  /** The prefilled start of the assistant turn, if any (its words are not repeated in the answer). */
  prefill?: string;
  /** Names of the client tools: their calls are handed back to the caller. */
  clientNames: Set<string>;
  /** The legacy functions shape: `function_call`, finish_reason "function_call". */
  legacy: boolean;
  format: CompiledFormat | undefined;
}

/** Counts a request's usage once, whichever path (reply, failure, disconnect) gets there first. */
export function usageCounter(meter: UsageMeter | undefined, owner: string, agent: string) {
  let done = false;
  return async (u: UsageLike | undefined) => {
    if (done || !meter) return;
    done = true;
    await meter.record(owner, u ? (toOpenAIUsage(u) satisfies TokenUsage) : undefined, agent);
  };
}

/** The client tool calls to hand back: one at most when parallel_tool_calls is false or in the legacy shape. */
export const singleCall = (a: Pick<AnswerArgs, 'body' | 'legacy'>) => a.body.parallel_tool_calls === false || a.legacy;

/** Runs the agent and answers with one `chat.completion`. */
export async function answerJson(a: AnswerArgs) {
  const { agent, messages, options, res, abort, id, created, body, log, recordTurn, beforeReply, prefill, clientNames, legacy, format } = a;
  const single = singleCall(a);
  let result;
  try {
    result = await agent.generate(messages as never, options as never);
  } catch (err) {
    if (abort.signal.aborted) return;
    throw upstreamError(err);
  }
  const failure = (result as { error?: unknown }).error;
  if (failure) throw upstreamError(failure);
  const usage = (result as { totalUsage?: UsageLike }).totalUsage ?? result.usage;
  const found = clientToolCalls(result.toolCalls as unknown[], clientNames);
  const calls = single ? found.slice(0, 1) : found;
  // Mastra appends the model's words to the prefilled assistant message; the answer is
  // only what the model wrote (as the stream sends it).
  const text = prefill && result.text.startsWith(prefill) ? result.text.slice(prefill.length) : result.text;
  if (!calls.length && format) {
    const why = format.check(text);
    if (why) {
      log.warn('model reply does not conform to response_format', { why });
      await a.count(usage);
      throw invalidModelOutput(why);
    }
  }
  // The transcript key, the usage count and the turn mirror's queue entry are
  // independent writes (each logs its own failure): sent together, they cost one round
  // trip of waiting before the reply. A turn that hands tool calls back is not complete
  // yet: it is mirrored when it is.
  await Promise.all([beforeReply(text, usage, calls), calls.length ? undefined : recordTurn(text)]);
  const message = !calls.length
    ? { role: 'assistant', content: text, refusal: null }
    : legacy
      ? { role: 'assistant', content: text || null, refusal: null, function_call: { name: calls[0]!.name, arguments: calls[0]!.arguments } }
      : { role: 'assistant', content: text || null, refusal: null, tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) };
  res.json({
    id,
    object: 'chat.completion',
    created,
    model: responseModel(body.model),
    choices: [
      {
        index: 0,
        message,
        logprobs: null,
        finish_reason: calls.length ? (legacy ? 'function_call' : 'tool_calls') : finishReason(result.finishReason),
      },
    ],
    usage: toOpenAIUsage(usage),
  });
}

