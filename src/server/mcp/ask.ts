/**
 * One `ask_<agent>` call: the same turn as a /v1 chat completion without streaming, on
 * the same pieces: the caller's memory resource (src/server/auth.ts resolveResource),
 * the thread named by `thread_id` under the same ownership rules as x-thread-id
 * (src/conversations: another user's thread is thread_not_found), the budget check
 * before the model is asked and one usage row increment after (src/server/usage.ts),
 * the trace attributed to the key owner, and the turn handed to the features' onTurn
 * hooks (mirrored into the synced tables).
 */
import { randomUUID } from 'node:crypto';
import type { Agent } from '@mastra/core/agent';
import { ConversationError, openTurn, type ThreadSource } from '../../conversations';
import { pgText } from '../../util/text';
import { resolveResource } from '../auth';
import type { UsageLike } from '../openai/agent-stream';
import { toOpenAIUsage, usageCounter } from '../openai/chat/answer';
import { errors, OpenAIError, upstreamError } from '../openai/errors';
import type { AgentRouteDeps } from '../openai/route-deps';
import { usageOwner } from '../usage';

export interface AskResult {
  text: string;
  threadId: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

export interface AskRequest {
  agentName: string;
  agent: Agent;
  /** The API key's owner (undefined in keyless development). */
  owner: string | undefined;
  message: string;
  threadId?: string;
  signal?: AbortSignal;
  /** The protocol the turn came in by, in the log and the trace (default 'mcp'). */
  via?: 'mcp' | 'a2a';
}

/** Runs one turn; throws OpenAIError (thread_not_found, conversation_locked, budget_exceeded, upstream_*). */
export async function ask(deps: AgentRouteDeps, r: AskRequest): Promise<AskResult> {
  const resourceId = resolveResource(r.owner, undefined);
  const owner = usageOwner(r.owner, undefined);
  await deps.usage?.check(owner);
  const runId = `mcp-${randomUUID()}`;
  const source: ThreadSource = r.threadId ? { kind: 'named', threadId: r.threadId } : { kind: 'new' };
  const abort = new AbortController();
  const onAbort = () => abort.abort(new Error('client went away'));
  r.signal?.addEventListener('abort', onAbort, { once: true });
  let opened;
  try {
    opened = await openTurn(deps, { source, resourceId, runId, policy: 'wait', signal: abort.signal });
  } catch (err) {
    r.signal?.removeEventListener('abort', onAbort);
    if (err instanceof ConversationError) throw err.code === 'conversation_locked' ? errors.conversationLocked('thread_id') : mcpThreadNotFound();
    throw err;
  }
  const { thread, lease } = opened;
  const count = usageCounter(deps.usage, owner, r.agentName);
  const log = deps.logger.child({ agent: r.agentName, thread: thread.id, via: r.via ?? 'mcp' });
  try {
    const userText = pgText(r.message);
    let result;
    try {
      result = await r.agent.generate([{ role: 'user', content: userText }] as never, {
        memory: { resource: resourceId, thread: thread.id },
        // The trace's root span names the API key's owner and the protocol beside resource and thread.
        tracingOptions: { metadata: { ...(r.owner ? { keyOwner: r.owner } : {}), via: r.via ?? 'mcp' } },
        maxSteps: deps.maxSteps,
        abortSignal: abort.signal,
      } as never);
    } catch (err) {
      throw upstreamError(err);
    }
    const failure = (result as { error?: unknown }).error;
    if (failure) throw upstreamError(failure);
    const usage = (result as { totalUsage?: UsageLike }).totalUsage ?? (result.usage as UsageLike | undefined);
    await Promise.all([count(usage), lease.release()]);
    if (deps.onTurn) {
      try {
        await deps.onTurn({ agent: r.agentName, resourceId, threadId: thread.id, userMessages: [userText], reply: result.text });
      } catch (err) {
        log.error('after-turn hook failed', { error: err });
      }
    }
    return { text: result.text, threadId: thread.id, usage: toOpenAIUsage(usage) };
  } finally {
    r.signal?.removeEventListener('abort', onAbort);
    await count(undefined);
    await lease.release();
  }
}

const mcpThreadNotFound = () => new OpenAIError(404, 'No conversation with that thread_id exists for this user.', 'invalid_request_error', 'thread_not_found', 'thread_id');
