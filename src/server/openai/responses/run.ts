/**
 * The Responses API, stage 4: the run. The response is stored as `in_progress` (unless
 * `store: false`), the agent runs with the thread's memory, the request's function tools
 * and settings, and every terminal path saves the response (and counts the request)
 * before its last bytes go out; the answer is one Response object (here) or the event
 * stream (stream.ts). A completed turn is handed to the features' onTurn hooks.
 */
import type { Response } from 'express';
import type { Lease, Thread } from '../../../conversations';
import { finishResponse, insertResponse } from '../../../db/responses';
import type { UsageMeter } from '../../usage';
import type { UsageLike } from '../agent-stream';
import { upstreamError } from '../errors';
import type { AgentRouteDeps } from '../route-deps';
import { toolRunOptions, withProviderOptions } from '../run-options';
import { invalidModelOutput } from '../structured-output';
import type { AuthorizedResponse } from './authorize';
import type { AgentMessage } from './input';
import { echoOf, endOf, functionCalls, messageItem, responseObject, toResponseUsage, type ResponseState } from './objects';
import { modelSettingsOf, upstreamOptions, type ParsedResponseRequest } from './parse';
import { streamResponse } from './stream';

export interface ResponsesDeps extends AgentRouteDeps {
  /** The agent's OpenAI-compatible providerOptions namespace (src/mastra/model.ts compatibleOptionsKey): where raw Chat Completions params go. */
  upstreamOptionsKey?: (agent: string) => string | undefined;
}

/** Counts a request once, with the usage its state knows by then (none for a run that failed before any). */
export function responseMeter(usage: UsageMeter | undefined, owner: string, agent: string) {
  let counted = false;
  const meter = {
    state: undefined as ResponseState | undefined,
    async count() {
      if (counted || !usage) return;
      counted = true;
      const u = meter.state?.usage;
      await usage.record(owner, u ? { prompt_tokens: u.input_tokens, completion_tokens: u.output_tokens, total_tokens: u.total_tokens } : undefined, agent);
    },
  };
  return meter;
}

export interface ResponseTurn {
  res: Response;
  request: ParsedResponseRequest;
  auth: AuthorizedResponse;
  /** The memory thread (none with `store: false` and nothing named). */
  thread: Thread | undefined;
  lease: Lease;
  /** The response's id (also its run lease's). */
  id: string;
  store: boolean;
  abort: AbortController;
  input: { system: string | undefined; messages: AgentMessage[]; userTexts: string[] };
  meter: ReturnType<typeof responseMeter>;
}

/** One response, run and answered (the caller releases the lease and counts the request afterwards, whatever happens). */
export async function runResponse(deps: ResponsesDeps, t: ResponseTurn) {
  const { res, id, store, abort, thread, lease } = t;
  const { body, items, tools } = t.request;
  const { agent, format, keyOwner, owner, resourceId } = t.auth;
  const { system, messages, userTexts } = t.input;
  const threadId = thread?.id;
  const release = () => lease.release();

  const echo = echoOf(body, tools, thread?.previous?.id ?? null, threadId ? { id: threadId } : null, store, format);
  const state: ResponseState = { id, createdAt: new Date(), completedAt: null, status: 'in_progress', output: [], usage: null, error: null, incomplete: null };
  t.meter.state = state;
  if (store) {
    await insertResponse(deps.db, {
      id,
      owner,
      resource: resourceId,
      agent: body.model,
      threadId: threadId ?? null,
      previousResponseId: thread?.previous?.id ?? null,
      status: 'in_progress',
      createdAt: state.createdAt,
      request: echo as unknown as Record<string, unknown>,
      inputItems: items,
      store,
    });
  }
  if (threadId) res.setHeader('x-thread-id', threadId);
  const log = deps.logger.child({ agent: body.model, response: id, ...(threadId ? { thread: threadId } : {}) });

  // Every terminal path saves: the request is counted there, before its last bytes go out.
  const save = async () => {
    await t.meter.count();
    if (!store) return;
    try {
      await finishResponse(deps.db, id, owner, {
        status: state.status,
        output: state.output,
        usage: state.usage,
        incompleteDetails: state.incomplete,
        error: state.error,
        completedAt: state.completedAt,
      });
    } catch (err) {
      log.error('storing the response failed', { error: err });
    }
  };
  const recordTurn = async (reply: string) => {
    if (!deps.onTurn || !threadId || !reply) return;
    try {
      await deps.onTurn({ agent: body.model, resourceId, threadId, userMessages: userTexts, reply });
    } catch (err) {
      log.error('after-turn hook failed', { error: err });
    }
  };

  const { options: toolOptions, clientNames } = toolRunOptions({ tools: t.auth.tools, choice: t.auth.choice, format, parallelToolCalls: body.parallel_tool_calls, providerKey: deps.compatibleProvider?.(body.model) });
  const options = {
    ...(threadId ? { memory: { resource: resourceId, thread: threadId } } : {}),
    ...(keyOwner ? { tracingOptions: { metadata: { keyOwner } } } : {}),
    maxSteps: deps.maxSteps,
    abortSignal: abort.signal,
    ...(system ? { system } : {}),
    ...withProviderOptions(toolOptions, upstreamOptions(deps.upstreamOptionsKey?.(body.model), body)),
    modelSettings: modelSettingsOf(body),
  };

  const fail = async (err: unknown) => {
    const e = upstreamError(err);
    state.status = 'failed';
    state.error = { code: 'server_error', message: e.message };
    await save();
    return e;
  };

  if (!body.stream) {
    let result;
    try {
      result = await agent.generate(messages as never, options as never);
    } catch (err) {
      if (abort.signal.aborted) {
        state.status = 'cancelled';
        await save();
        return;
      }
      throw await fail(err);
    }
    if (abort.signal.aborted) {
      state.status = 'cancelled';
      await save();
      return;
    }
    const failure = (result as { error?: unknown }).error;
    if (failure) throw await fail(failure);
    const calls = functionCalls((result as { toolCalls?: unknown[] }).toolCalls, clientNames);
    const why = !calls.length && format ? format.check(result.text) : undefined;
    if (why) {
      log.warn('model reply does not conform to text.format', { why });
      state.usage = toResponseUsage((result as { totalUsage?: UsageLike }).totalUsage ?? (result.usage as UsageLike));
      throw await fail(invalidModelOutput(why, 'text.format'));
    }
    if (result.text || !calls.length) state.output.push(messageItem(result.text, 'completed'));
    state.output.push(...calls);
    const end = endOf(result.finishReason);
    Object.assign(state, { status: end.status, incomplete: end.incomplete, completedAt: end.status === 'completed' ? new Date() : null });
    state.usage = toResponseUsage((result as { totalUsage?: UsageLike }).totalUsage ?? (result.usage as UsageLike));
    await save();
    await recordTurn(result.text);
    await release();
    res.json(responseObject(echo, state));
    return;
  }

  await streamResponse({ agent, messages, options, res, abort, echo, state, clientNames, format, log, save, fail, recordTurn, release });
}
