/**
 * Reading an agent's stream, for the two streamed answers (chat completions and the
 * Responses API): each writes its own wire format from the same parts of Mastra's
 * `fullStream` (text deltas, tool calls, per-step usage), and both end with the run's
 * finish reason and total usage.
 */
import type { Agent } from '@mastra/core/agent';

/** Token counts as Mastra reports them (a step's or the run's). */
export interface UsageLike {
  inputTokens?: number;
  outputTokens?: number;
  totalTokens?: number;
  reasoningTokens?: number;
  cachedInputTokens?: number;
}

export interface StreamHandlers {
  /** A non-empty piece of the answer's text. */
  text(delta: string): void;
  /** A tool-call part (client tool calls are handed back to the caller). */
  toolCall(part: { type: string; payload?: Record<string, unknown> }): void;
  /** The usage of a finished step (what is known when the client goes away mid-run). */
  stepUsage?(usage: UsageLike | undefined): void;
}

/**
 * Streams one agent run into `h`. Stops reading when `signal` aborts (then `aborted` is
 * true and reason/usage are what the parts said so far); throws the stream's error part.
 */
export async function readAgentStream(
  agent: Agent,
  messages: unknown,
  options: unknown,
  signal: AbortSignal,
  h: StreamHandlers,
): Promise<{ reason: string | undefined; usage: UsageLike | undefined; aborted: boolean }> {
  let reason: string | undefined;
  let usage: UsageLike | undefined;
  const stream = await agent.stream(messages as never, options as never);
  for await (const part of stream.fullStream as AsyncIterable<{ type: string; payload?: Record<string, unknown> }>) {
    if (signal.aborted) break;
    switch (part.type) {
      case 'text-delta': {
        const delta = String(part.payload?.text ?? '');
        if (delta) h.text(delta);
        break;
      }
      case 'tool-call':
        h.toolCall(part);
        break;
      case 'error':
        throw (part.payload?.error as unknown) ?? new Error('model stream failed');
      case 'step-finish':
        h.stepUsage?.((part.payload as { output?: { usage?: UsageLike } } | undefined)?.output?.usage);
        break;
      case 'finish': {
        const p = part.payload as { stepResult?: { reason?: string }; output?: { usage?: UsageLike } } | undefined;
        reason = p?.stepResult?.reason ?? reason;
        usage = p?.output?.usage ?? usage;
        break;
      }
    }
  }
  if (signal.aborted) return { reason, usage, aborted: true };
  reason = (await stream.finishReason.catch(() => undefined)) ?? reason;
  usage = ((await (stream as unknown as { totalUsage?: Promise<UsageLike> }).totalUsage?.catch(() => undefined)) ?? usage) as UsageLike | undefined;
  return { reason, usage, aborted: false };
}
