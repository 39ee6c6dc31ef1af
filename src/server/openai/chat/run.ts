/**
 * Chat Completions, stage 4: the run. The turn's messages (messages.ts), the agent's
 * options (memory thread, client tools, sampling, provider options), what happens before
 * the reply goes out (transcript key, usage, the thread's lease given back) and after it
 * (the turn handed to the features' onTurn hooks); then the answer is written as JSON
 * (answer.ts) or as a stream (stream.ts). Open WebUI's background tasks run here too,
 * without tools or memory (../openwebui.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Agent } from '@mastra/core/agent';
import type { Response } from 'express';
import type { Lease, Thread } from '../../../conversations';
import { pgText } from '../../../util/text';
import type { UsageLike } from '../agent-stream';
import type { ClientToolCall } from '../client-tools';
import { storedToolCalls, type AgentMessage } from '../conversation';
import { ImageHold, IMAGES_UNCONFIGURED } from '../images';
import { taskAgent } from '../openwebui';
import type { AgentRouteDeps } from '../route-deps';
import { toolRunOptions, withProviderOptions } from '../run-options';
import { textContent, type ChatCompletionRequest } from '../schema';
import type { CompiledFormat } from '../structured-output';
import { answerJson, singleCall, usageCounter, type AnswerArgs } from './answer';
import type { AuthorizedChat } from './authorize';
import { planMessages } from './messages';
import { modelSettingsOf, upstreamOptions } from './parse';
import { streamCompletion } from './stream';

/** Runs the agent and answers as JSON or as a stream. */
export async function answer(a: AnswerArgs) {
  if (!a.body.stream) return answerJson(a);
  const { agent, messages, options, res, abort, id, created, body, log, recordTurn, beforeReply, count, clientNames, legacy, format } = a;
  await streamCompletion({ agent, messages, options, res, abort, id, created, model: body.model, includeUsage: Boolean(body.stream_options?.include_usage), log, recordTurn, beforeReply, count, clientNames, legacy, single: singleCall(a), format });
}

export interface ChatTurn {
  res: Response;
  body: ChatCompletionRequest;
  auth: AuthorizedChat;
  thread: Thread;
  lease: Lease;
  /** The completion's id (also the run lease's). */
  id: string;
  abort: AbortController;
}

/** One turn on the caller's thread, answered. */
export async function runChatTurn(deps: AgentRouteDeps, t: ChatTurn) {
  // The request's image bytes count against IMAGE_MAX_INFLIGHT_BYTES until it has been answered.
  const hold = new ImageHold(deps.images?.gate);
  try {
    await chatTurn(deps, t, hold);
  } finally {
    hold.release();
  }
}

async function chatTurn(deps: AgentRouteDeps, t: ChatTurn, hold: ImageHold) {
  const { res, body, thread, lease, id, abort } = t;
  const { agent, provider, tools, choice, legacy, format, resourceId } = t.auth;
  const threadId = thread.id;
  const { system, messages, userTexts, prefill } = await planMessages(body.messages, {
    threadExists: thread.exists,
    storedCalls: () => storedToolCalls(deps.memory, threadId, resourceId),
    images: deps.images ?? IMAGES_UNCONFIGURED,
    signal: abort.signal,
    hold,
  });

  const { options: toolOptions, clientNames } = toolRunOptions({ tools, choice, format, parallelToolCalls: body.parallel_tool_calls, providerKey: provider });
  const options = {
    memory: { resource: resourceId, thread: threadId },
    // The trace's root span (Studio, OTLP) names the API key's owner beside resource and thread.
    ...(res.locals.caller?.owner ? { tracingOptions: { metadata: { keyOwner: res.locals.caller.owner } } } : {}),
    maxSteps: deps.maxSteps,
    abortSignal: abort.signal,
    ...(system ? { system } : {}),
    ...withProviderOptions(toolOptions, upstreamOptions(body, provider).providerOptions),
    modelSettings: modelSettingsOf(body),
  };

  const created = Math.floor(Date.now() / 1000);
  res.setHeader('x-thread-id', threadId);
  const log = deps.logger.child({ agent: body.model, thread: threadId });
  // The mirrored reply is the whole assistant turn, as memory keeps it: prefill + the model's words.
  const recordTurn = async (answer: string) => {
    if (!deps.onTurn) return;
    const reply = (prefill ?? '') + answer;
    try {
      await deps.onTurn({ agent: body.model, resourceId, threadId, userMessages: userTexts, reply });
    } catch (err) {
      log.error('after-turn hook failed', { error: err });
    }
  };

  // Before the reply is sent: the transcript key (so the client's next request finds the
  // thread) and the request's usage (once; `finally` counts a request that failed). The
  // two writes are independent (separate rows, each failure logged on its own), so they
  // go to Postgres at once: one round trip of waiting instead of two.
  const count = usageCounter(deps.usage, t.auth.usageOwner, body.model);
  const beforeReply = async (reply: string, u: UsageLike | undefined, calls: ClientToolCall[] = []) => {
    await Promise.all([
      // The transcript key holds the whole assistant turn, as the client resends it: prefill + answer (+ the calls handed back).
      thread.remember((prefill ?? '') + reply, legacy ? calls.map((c) => ({ ...c, id: 'function_call' })) : calls).catch((err) => log.error('transcript key not stored', { error: err })),
      count(u),
      // The turn is in memory: the thread is free before the reply goes out (the client's next turn may follow at once).
      lease.release(),
    ]);
  };
  try {
    await answer({ agent, messages, options, res, abort, id, created, body, log, recordTurn, beforeReply, count, prefill, clientNames, legacy, format });
  } finally {
    await count(undefined);
  }
}

/**
 * An Open WebUI background task (src/server/openai/openwebui.ts): the agent's model
 * without the agent's tools, instructions or memory; no thread, nothing mirrored, no
 * x-thread-id. Counted in usage like any request.
 */
export async function runTask(deps: AgentRouteDeps, res: Response, body: ChatCompletionRequest, agent: Agent, task: string, owner: string, format: CompiledFormat | undefined) {
  const system = body.messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => pgText(textContent(m.content))).join('\n\n');
  const last = body.messages[body.messages.length - 1]!;
  const messages: AgentMessage[] = [{ role: 'user', content: pgText(textContent(last.content)) }];
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort(new Error('client disconnected'));
  });
  const options = {
    ...(res.locals.caller?.owner ? { tracingOptions: { metadata: { keyOwner: res.locals.caller.owner, openWebUITask: task } } } : {}),
    maxSteps: 1,
    abortSignal: abort.signal,
    ...(system ? { system } : {}),
    modelSettings: modelSettingsOf(body),
  };
  res.setHeader('x-openwebui-task', task);
  const log = deps.logger.child({ agent: body.model, task });
  const count = usageCounter(deps.usage, owner, body.model);
  try {
    await answer({
      agent: await taskAgent(agent),
      messages,
      options,
      res,
      abort,
      id: `chatcmpl-${randomUUID().replace(/-/g, '')}`,
      created: Math.floor(Date.now() / 1000),
      body,
      log,
      recordTurn: async () => {},
      beforeReply: (_reply, u) => count(u),
      count,
      clientNames: new Set(),
      legacy: false,
      format,
    });
  } finally {
    await count(undefined);
  }
}

