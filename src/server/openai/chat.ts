/**
 * POST /v1/chat/completions: runs the named agent (its tools run here, server-side)
 * and answers as OpenAI does, as one `chat.completion` or as `chat.completion.chunk`
 * server-sent events ending in `data: [DONE]`.
 *
 * Conversation continuity: the caller's identity is the memory resource; the thread
 * comes from `x-thread-id`, else from the resent transcript or X-OpenWebUI-Chat-Id
 * (transcript-threads.ts), else a new one, and every response names it in the
 * `x-thread-id` header. When the thread already exists, only the messages after the
 * last assistant turn in the request are new; earlier ones are already in memory.
 *
 * Client-side tools (client-tools.ts) are offered beside the agent's own; a call of one
 * ends the response with `tool_calls`. `response_format` is checked server-side
 * (structured-output.ts); image parts are resolved in conversation.ts. Open WebUI's
 * background tasks run without tools or memory (openwebui.ts); every request is counted
 * and budgeted per owner (../usage.ts); what each request parameter does is in params.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Agent } from '@mastra/core/agent';
import type { Request, Response } from 'express';
import type pg from 'pg';
import { acquireThreadRun, releaseThreadRun, renewThreadRun } from '../../db/thread-runs';
import { claimThread } from '../../db/threads';
import { pgText } from '../../util/text';
import type { Logger } from '../../logger';
import { resolveResource } from '../auth';
import { usageOwner, type TokenUsage, type UsageMeter } from '../usage';
import { MAX_CLIENT_TOOLS, checkClientTools, checkToolChoice, clientToolCalls, type ClientTool, type ClientToolCall, type ToolChoice } from './client-tools';
import { readAgentStream, type UsageLike } from './agent-stream';
import { buildAgentInput, MAX_IMAGE_URLS, storedToolCalls, type AgentMessage, type BuildContext, type ConversationItem, type ItemPart } from './conversation';
import { errors, OpenAIError, upstreamError } from './errors';
import { IMAGES_UNCONFIGURED } from './images';
import { agentNamed } from './models';
import { openWebUITask, taskAgent } from './openwebui';
import { startEventStream, THREAD_ID, type AgentRouteDeps } from './route-deps';
import { checkParams } from './params';
import { toolRunOptions, withProviderOptions } from './run-options';
import { chatCompletionRequest, MAX_MESSAGES, paramName, textContent, type ChatCompletionRequest, type RequestMessage } from './schema';
import { compileResponseFormat, invalidModelOutput, type CompiledFormat, type ResponseFormat } from './structured-output';
import { CHAT_ID, implicitThread, MAX_TRANSCRIPT_MESSAGES, ownThread, transcriptMessages, type ImplicitThread } from './transcript-threads';

export type ChatDeps = AgentRouteDeps;

export { MAX_IMAGE_URLS };

/** A turn on a thread another request is running on waits this long for it, then answers 400 conversation_locked. */
export const THREAD_WAIT_MS = 30_000;
/** How long a turn's lease on its thread lasts without renewal (renewed every third of it while the turn runs). */
const THREAD_LEASE_MS = 60_000;

/**
 * Waits for, and takes, the run lease on a thread (src/db/thread-runs.ts): turns on one
 * thread run one after another across replicas. Resolves to the (idempotent) release.
 */
async function leaseThread(db: pg.Pool, threadId: string, runId: string, log: Logger, signal: AbortSignal, held = false): Promise<() => Promise<void>> {
  const deadline = Date.now() + THREAD_WAIT_MS;
  for (let wait = 20; !(held || (await acquireThreadRun(db, threadId, runId, THREAD_LEASE_MS))); wait = Math.min(wait * 2, 250)) {
    if (Date.now() + wait > deadline) throw errors.conversationLocked('x-thread-id');
    if (signal.aborted) throw errors.conversationLocked('x-thread-id');
    await new Promise((r) => setTimeout(r, wait + Math.floor(Math.random() * 20)));
  }
  const renew = setInterval(() => void renewThreadRun(db, threadId, runId, THREAD_LEASE_MS).catch((err) => log.warn('renewing a thread lease failed', { error: err })), THREAD_LEASE_MS / 3);
  renew.unref();
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    clearInterval(renew);
    await releaseThreadRun(db, threadId, runId).catch((err) => log.warn('releasing a thread lease failed', { error: err }));
  };
}

type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls' | 'function_call';
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


function toOpenAIUsage(u: UsageLike | undefined) {
  const prompt = u?.inputTokens ?? 0;
  const completion = u?.outputTokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: u?.totalTokens ?? prompt + completion };
}


// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON values, typed by the AI SDK provider
type UpstreamProviderOptions = Record<string, Record<string, any>>;

/**
 * The request parameters passed to the model as they are (params.ts `needsCompatibleModel`):
 * reasoning_effort and verbosity through the AI SDK's own options, logit_bias and
 * web_search_options as extra body keys under the provider's name.
 */
function upstreamOptions(body: ChatCompletionRequest, provider: string | undefined): { providerOptions?: UpstreamProviderOptions } {
  if (!provider) return {};
  const own: Record<string, unknown> = {};
  if (body.reasoning_effort != null) own.reasoningEffort = body.reasoning_effort;
  if (body.verbosity != null) own.textVerbosity = body.verbosity;
  const extra: Record<string, unknown> = {};
  if (body.logit_bias != null) extra.logit_bias = body.logit_bias;
  if (body.web_search_options != null) extra.web_search_options = body.web_search_options;
  if (!Object.keys(own).length && !Object.keys(extra).length) return {};
  return { providerOptions: { openaiCompatible: own, [provider]: extra } as unknown as UpstreamProviderOptions };
}

function parseBody(body: unknown): ChatCompletionRequest {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) throw errors.invalidBody('The request body must be a JSON object.');
  // Checked before the schema walks every element: an over-long list is refused in O(1).
  const messages = (body as { messages?: unknown }).messages;
  if (Array.isArray(messages) && messages.length > MAX_TRANSCRIPT_MESSAGES) {
    throw errors.invalidBody(`Invalid value for 'messages': at most ${MAX_TRANSCRIPT_MESSAGES} messages per request (got ${messages.length}), of them at most ${MAX_MESSAGES} new ones; continue a conversation with x-thread-id and only the new messages.`, 'messages');
  }
  for (const key of ['tools', 'functions'] as const) {
    const list = (body as Record<string, unknown>)[key];
    if (Array.isArray(list) && list.length > MAX_CLIENT_TOOLS) throw errors.invalidBody(`Invalid value for '${key}': at most ${MAX_CLIENT_TOOLS} per request (got ${list.length}).`, key);
  }
  // A resent transcript may be longer than MAX_MESSAGES: the rest of the body is checked
  // as usual, the messages on their own; planMessages caps what reaches the agent.
  const long = Array.isArray(messages) && messages.length > MAX_MESSAGES;
  const parsed = chatCompletionRequest.safeParse(long ? { ...(body as object), messages: messages.slice(-1) } : body);
  const all = long ? transcriptMessages.safeParse(messages) : undefined;
  const failure = all?.success === false ? all.error.issues.map((i) => ({ ...i, path: ['messages', ...i.path] }))[0] : parsed.success ? undefined : parsed.error.issues[0];
  if (failure) {
    const param = paramName(failure.path);
    throw errors.invalidBody(param ? `Invalid value for '${param}': ${failure.message}` : failure.message, param);
  }
  return all?.success ? { ...parsed.data!, messages: all.data } : parsed.data!;
}

/** The client tools, tool choice and legacy flag of a Chat Completions request (OpenAI shapes → API-neutral ones). */
export function clientToolsOf(body: ChatCompletionRequest): { tools: ClientTool[]; choice: ToolChoice | undefined; legacy: boolean } {
  if (body.tools?.length && body.functions?.length) throw errors.invalidBody("Send either 'tools' or the legacy 'functions', not both.", 'functions');
  if (body.functions?.length || body.function_call != null) {
    if (body.tool_choice != null) throw errors.invalidBody("Send either 'tool_choice' or the legacy 'function_call', not both.", 'function_call');
    const tools = (body.functions ?? []).map((f, i): ClientTool => ({ name: f.name, description: f.description, parameters: f.parameters ?? {}, strict: f.strict ?? undefined, param: `functions[${i}]` }));
    const fc = body.function_call;
    const choice: ToolChoice | undefined = fc == null ? undefined : typeof fc === 'string' ? fc : { name: fc.name };
    return { tools, choice, legacy: true };
  }
  const tools = (body.tools ?? []).map((t, i): ClientTool => ({ name: t.function.name, description: t.function.description, parameters: t.function.parameters ?? {}, strict: t.function.strict ?? undefined, param: `tools[${i}].function` }));
  const tc = body.tool_choice;
  const choice: ToolChoice | undefined = tc == null ? undefined : typeof tc === 'string' ? tc : { name: tc.function.name };
  return { tools, choice, legacy: false };
}

/** The response format of a Chat Completions request (OpenAI shape → API-neutral). */
export function responseFormatOf(body: ChatCompletionRequest): ResponseFormat | undefined {
  const rf = body.response_format;
  if (!rf) return undefined;
  if (rf.type !== 'json_schema') return rf;
  if (!rf.json_schema.schema) throw errors.invalidBody("Invalid value for 'response_format.json_schema.schema': a schema is required.", 'response_format.json_schema.schema');
  return { type: 'json_schema', name: rf.json_schema.name, schema: rf.json_schema.schema, strict: rf.json_schema.strict, description: rf.json_schema.description };
}

/** An assistant message's words for the history: its text, else the refusal it gave. */
function assistantText(m: Extract<RequestMessage, { role: 'assistant' }>): string {
  const text = textContent(m.content);
  return text || (m.refusal ?? '');
}

/**
 * Splits a Chat Completions request into system text and the conversation items
 * (conversation.ts), and builds the agent's messages from them. With an existing thread
 * only the messages after the last assistant one are new; the earlier ones only name
 * tool calls. A legacy assistant `function_call` gets the id `call_fn_<index>`.
 * - A conversation that ends in an assistant message without tool calls is a prefill: it
 *   is sent as the last message, so a model that supports prefill continues it (others
 *   answer after it), as OpenAI itself accepts such a conversation. An empty one is dropped.
 * - A conversation of system/developer messages only runs with them as the instructions
 *   and no turns (the model answers the instructions).
 */
async function planMessages(messages: RequestMessage[], ctx: Omit<BuildContext, 'start' | 'listParam'> & { threadExists: boolean }) {
  const system = messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => textContent(m.content));
  const items: ConversationItem[] = [];
  messages.forEach((m, i) => {
    switch (m.role) {
      case 'user':
        items.push({
          role: 'user',
          content:
            typeof m.content === 'string'
              ? m.content
              : m.content.map((p, j): ItemPart =>
                  p.type === 'image_url'
                    ? { type: 'image', url: (p as { image_url: { url: string } }).image_url.url, param: `messages[${i}].content[${j}].image_url.url` }
                    : { type: 'text', text: (p as { text: string }).text },
                ),
        });
        break;
      case 'assistant':
        items.push({
          role: 'assistant',
          text: assistantText(m),
          toolCalls: [
            ...(m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
            ...(m.function_call ? [{ id: `call_fn_${i}`, name: m.function_call.name, arguments: m.function_call.arguments }] : []),
          ],
        });
        break;
      case 'tool':
        items.push({ role: 'tool', callId: m.tool_call_id, output: textContent(m.content), param: `messages[${i}].tool_call_id` });
        break;
      case 'function':
        items.push({ role: 'function', name: m.name, output: m.content ?? '', param: `messages[${i}].name` });
        break;
    }
  });
  const last = items.at(-1);
  let prefill: string | undefined;
  if (last?.role === 'assistant' && !last.toolCalls.length) {
    // An empty final assistant message prefills nothing (some providers refuse empty messages).
    if (!last.text) items.pop();
    else prefill = pgText(last.text);
  }
  const before = prefill !== undefined ? items.length - 1 : items.length;
  const start = ctx.threadExists ? items.slice(0, before).map((it) => it.role).lastIndexOf('assistant') + 1 : 0;
  if (items.length - start > MAX_MESSAGES) {
    throw errors.invalidBody(`Invalid value for 'messages': at most ${MAX_MESSAGES} new messages per request (got ${items.length - start}: a transcript is new unless its thread is known); continue a conversation with x-thread-id and only the new messages.`, 'messages');
  }
  const { messages: out, userTexts } = await buildAgentInput(items, { ...ctx, start, storedCalls: ctx.threadExists ? ctx.storedCalls : undefined, listParam: 'messages', allowPrefill: true });
  return {
    prefill,
    // NUL cannot be stored in Postgres text (memory, synced tables): it becomes U+FFFD.
    system: pgText(system.join('\n\n')) || undefined,
    messages: out,
    userTexts,
  };
}

export function createChatHandler(deps: ChatDeps) {
  return async function chatCompletions(req: Request, res: Response) {
    const body = parseBody(req.body);
    const agent = agentNamed(deps.agents, body.model);
    if (!agent) throw errors.modelNotFound(body.model);
    if (deps.mayUse && !deps.mayUse(res.locals.caller?.owner, body.model)) throw errors.agentForbidden(body.model);
    const provider = deps.compatibleProvider?.(body.model);
    const { ignoredUnknown } = checkParams(req.body as Record<string, unknown>, provider !== undefined);
    if (ignoredUnknown.length) res.setHeader('x-ignored-params', ignoredUnknown.join(', '));

    // Client tools and the response format are checked before any thread is claimed.
    const { tools, choice, legacy } = clientToolsOf(body);
    if (tools.length) checkClientTools(tools, Object.keys(await agent.listTools()), legacy ? 'functions' : 'tools');
    checkToolChoice(choice, tools, legacy ? 'function_call' : 'tool_choice');
    const format = compileResponseFormat(responseFormatOf(body));

    // Open WebUI (ENABLE_FORWARD_USER_INFO_HEADERS) names its own user in X-OpenWebUI-User-Id: one
    // memory per Open WebUI user inside the key owner's space, as `user` gives (a `user` in the body wins).
    const user = body.user ?? req.get('x-openwebui-user-id');
    const resourceId = resolveResource(res.locals.caller?.owner, user);
    const owner = usageOwner(res.locals.caller?.owner, user ?? undefined);
    await deps.usage?.check(owner);
    // ---- Open WebUI background task: the agent's model alone, no tools, no memory ----
    const task = openWebUITask(body.messages);
    if (task) return runTask(deps, res, body, agent, task, owner, format);
    const headerThread = req.get('x-thread-id');
    if (headerThread !== undefined && !THREAD_ID.test(headerThread)) {
      throw errors.invalidBody('x-thread-id must be 1-128 characters of letters, digits and _ . : -', 'x-thread-id');
    }
    let threadId = headerThread ?? randomUUID();
    const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
    // True when the ownership read below took the thread's run lease for this turn already.
    let held = false;
    // The claim is atomic in Postgres: of two callers naming the same new thread at once,
    // exactly one owns it; the other gets 404 before the model or memory is touched.
    let threadExists = false;
    let remember: ImplicitThread['remember'] | undefined;
    // A thread named by the caller (header, chat id, transcript) may have another turn running on it.
    let shared = Boolean(headerThread);
    if (headerThread) {
      // Sent together (one round trip of waiting): the owner (with the run lease when it is
      // the caller, src/db/thread-runs.ts) and the thread.
      const { owner: claimed, leased, thread } = await ownThread(deps, threadId, resourceId, id, THREAD_LEASE_MS);
      held = leased;
      if (claimed !== undefined && claimed !== resourceId) throw errors.threadNotFound();
      if (claimed === undefined && !(await claimThread(deps.db, threadId, resourceId, thread?.resourceId))) throw errors.threadNotFound();
      threadExists = Boolean(thread);
    } else {
      // ---- No x-thread-id: the thread the transcript (or X-OpenWebUI-Chat-Id) names, else a new one ----
      const chatId = req.get('x-openwebui-chat-id');
      if (chatId !== undefined && !CHAT_ID.test(chatId)) throw errors.invalidBody('X-OpenWebUI-Chat-Id must be 1-256 printable ASCII characters.', 'x-openwebui-chat-id');
      const found = await implicitThread(deps, { resourceId, agent: body.model, messages: body.messages, chatId, runId: id, leaseMs: THREAD_LEASE_MS });
      threadId = found.threadId;
      held = found.leased;
      threadExists = found.threadExists;
      remember = found.remember;
      shared = found.known;
    }
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client disconnected'));
    });
    const release = shared ? await leaseThread(deps.db, threadId, id, deps.logger, abort.signal, held) : async () => {};
    const runTurn = async () => {
      const { system, messages, userTexts, prefill } = await planMessages(body.messages, {
        threadExists,
        storedCalls: () => storedToolCalls(deps.memory, threadId, resourceId),
        images: deps.images ?? IMAGES_UNCONFIGURED,
        signal: abort.signal,
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
      const count = usageCounter(deps.usage, owner);
      const beforeReply = async (reply: string, u: UsageLike | undefined, calls: ClientToolCall[] = []) => {
        await Promise.all([
          // The transcript key holds the whole assistant turn, as the client resends it: prefill + answer (+ the calls handed back).
          remember?.((prefill ?? '') + reply, legacy ? calls.map((c) => ({ ...c, id: 'function_call' })) : calls).catch((err) => log.error('transcript key not stored', { error: err })),
          count(u),
          // The turn is in memory: the thread is free before the reply goes out (the client's next turn may follow at once).
          release(),
        ]);
      };
      try {
        await answer({ agent, messages, options, res, abort, id, created, body, log, recordTurn, beforeReply, count, prefill, clientNames, legacy, format });
      } finally {
        await count(undefined);
      }
    };
    try {
      await runTurn();
    } finally {
      await release();
    }
  };
}

/** The sampling settings of a request, in Mastra's names. */
function modelSettingsOf(body: ChatCompletionRequest) {
  const stop = body.stop == null ? undefined : Array.isArray(body.stop) ? body.stop : [body.stop];
  return {
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { topP: body.top_p } : {}),
    ...(body.presence_penalty != null ? { presencePenalty: body.presence_penalty } : {}),
    ...(body.frequency_penalty != null ? { frequencyPenalty: body.frequency_penalty } : {}),
    ...(body.seed != null ? { seed: body.seed } : {}),
    ...((body.max_completion_tokens ?? body.max_tokens) != null ? { maxOutputTokens: (body.max_completion_tokens ?? body.max_tokens)! } : {}),
    ...(stop ? { stopSequences: stop } : {}),
  };
}

interface AnswerArgs {
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
function usageCounter(meter: UsageMeter | undefined, owner: string) {
  let done = false;
  return async (u: UsageLike | undefined) => {
    if (done || !meter) return;
    done = true;
    await meter.record(owner, u ? (toOpenAIUsage(u) satisfies TokenUsage) : undefined);
  };
}

/** Runs the agent and answers as JSON or as a stream. */
async function answer(a: AnswerArgs) {
  const { agent, messages, options, res, abort, id, created, body, log, recordTurn, beforeReply, prefill, clientNames, legacy, format } = a;
  /** The client tool calls to hand back (one at most when parallel_tool_calls is false or in the legacy shape). */
  const single = body.parallel_tool_calls === false || legacy;
  if (body.stream) {
    await streamCompletion({ agent, messages, options, res, abort, id, created, model: body.model, includeUsage: Boolean(body.stream_options?.include_usage), log, recordTurn, beforeReply, count: a.count, clientNames, legacy, single, format });
    return;
  }
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
    model: body.model,
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

/**
 * An Open WebUI background task (src/server/openai/openwebui.ts): the agent's model
 * without the agent's tools, instructions or memory; no thread, nothing mirrored, no
 * x-thread-id. Counted in usage like any request.
 */
async function runTask(deps: ChatDeps, res: Response, body: ChatCompletionRequest, agent: Agent, task: string, owner: string, format: CompiledFormat | undefined) {
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
  const count = usageCounter(deps.usage, owner);
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

/** What the stream writer needs: the answer's arguments with the request reduced to what a chunk names. */
type StreamArgs = Omit<AnswerArgs, 'body' | 'prefill'> & {
  model: string;
  includeUsage: boolean;
  /** Hand back at most one call. */
  single: boolean;
};

/**
 * Headers are held back until the model produces its first token, so a model that
 * fails at once still gets a proper HTTP error status; after that, a failure is sent
 * as an error event in the stream (as OpenAI does) and the stream ends.
 *
 * Client tool calls are sent as `tool_calls` deltas (each call whole: index, id, type,
 * name, arguments) as the model makes them; the last chunk's finish_reason is then
 * "tool_calls". With a response_format, the text streams as it comes and is checked at
 * the end: a reply that does not conform ends the stream with an error event
 * (`invalid_model_output`) instead of the finish chunk.
 */
async function streamCompletion(a: StreamArgs) {
  const { res } = a;
  const chunk = (delta: Record<string, unknown>, finish: FinishReason | null = null, extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ id: a.id, object: 'chat.completion.chunk', created: a.created, model: a.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(a.includeUsage ? { usage: null } : {}), ...extra })}\n\n`;
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    startEventStream(res);
    res.write(chunk({ role: 'assistant', content: '', refusal: null }));
  };

  let text = '';
  let reason: string | undefined;
  let usage: UsageLike | undefined;
  const calls: ClientToolCall[] = [];
  // Tokens of the steps finished so far: what is known when the client goes away mid-run.
  const stepped = { inputTokens: 0, outputTokens: 0, totalTokens: 0 };
  try {
    const read = await readAgentStream(a.agent, a.messages, a.options, a.abort.signal, {
      text(delta) {
        start();
        text += delta;
        res.write(chunk({ content: delta }));
      },
      toolCall(part) {
        const [call] = clientToolCalls([part], a.clientNames);
        if (!call || (a.single && calls.length)) return;
        start();
        const index = calls.length;
        calls.push(call);
        res.write(
          chunk(
            a.legacy
              ? { function_call: { name: call.name, arguments: call.arguments } }
              : { tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }] },
          ),
        );
      },
      stepUsage(u) {
        stepped.inputTokens += u?.inputTokens ?? 0;
        stepped.outputTokens += u?.outputTokens ?? 0;
        stepped.totalTokens += u?.totalTokens ?? (u?.inputTokens ?? 0) + (u?.outputTokens ?? 0);
      },
    });
    if (read.aborted) return void (await a.count(stepped));
    ({ reason, usage } = read);
    if (!calls.length && a.format) {
      const why = a.format.check(text);
      if (why) {
        a.log.warn('model reply does not conform to response_format', { why });
        await a.count(usage);
        throw invalidModelOutput(why);
      }
    }
  } catch (err) {
    await a.count(stepped);
    if (a.abort.signal.aborted) return;
    const e = upstreamError(err);
    a.log.warn('model call failed', { status: e.status, code: e.code, error: err });
    if (!started) throw e;
    res.write(`data: ${JSON.stringify(e.toJSON())}\n\n`);
    res.end();
    return;
  }
  await a.beforeReply(text, usage, calls);
  start();
  res.write(chunk({}, calls.length ? (a.legacy ? 'function_call' : 'tool_calls') : finishReason(reason)));
  if (a.includeUsage) {
    const u = { prompt_tokens: usage?.inputTokens ?? 0, completion_tokens: usage?.outputTokens ?? 0, total_tokens: usage?.totalTokens ?? (usage?.inputTokens ?? 0) + (usage?.outputTokens ?? 0) };
    res.write(`data: ${JSON.stringify({ id: a.id, object: 'chat.completion.chunk', created: a.created, model: a.model, choices: [], usage: u })}\n\n`);
  }
  res.write('data: [DONE]\n\n');
  res.end();
  if (!calls.length) await a.recordTurn(text);
}

export { OpenAIError };
