/**
 * POST /v1/chat/completions: runs the named agent (its tools run here, server-side)
 * and answers as OpenAI does, as one `chat.completion` or as `chat.completion.chunk`
 * server-sent events ending in `data: [DONE]`.
 *
 * Conversation continuity: the caller's identity is the memory resource; the thread
 * comes from `x-thread-id` (or a new one), and every response names it in the
 * `x-thread-id` header. When the thread already exists, only the messages after the
 * last assistant turn in the request are new; earlier ones are already in memory.
 */
import { randomUUID } from 'node:crypto';
import type { Agent } from '@mastra/core/agent';
import type { Memory } from '@mastra/memory';
import type { Request, Response } from 'express';
import type pg from 'pg';
import { claimThread, threadOwner } from '../../db/threads';
import { pgText } from '../../util/text';
import type { Logger } from '../../logger';
import { resolveResource } from '../auth';
import type { CompletedTurn } from '../turns';
import type { OutboundFetch } from '../../util/outbound';
import { MAX_CLIENT_TOOLS, checkClientTools, checkToolChoice, clientToolCalls, type ClientTool, type ClientToolCall, type ToolChoice } from './client-tools';
import { buildAgentInput, MAX_IMAGE_URLS, storedToolCalls, type AgentMessage, type BuildContext, type ConversationItem, type ItemPart } from './conversation';
import { errors, OpenAIError, upstreamError } from './errors';
import { agentNamed } from './models';
import { toolRunOptions } from './run-options';
import { chatCompletionRequest, MAX_MESSAGES, paramName, textContent, type ChatCompletionRequest, type RequestMessage } from './schema';
import { compileResponseFormat, invalidModelOutput, type CompiledFormat, type ResponseFormat } from './structured-output';

export interface ChatDeps {
  agents: Record<string, Agent>;
  memory: Memory;
  /** The app's database: thread claims (thread_owners). */
  db: pg.Pool;
  logger: Logger;
  maxSteps: number;
  /** May this key owner use this agent (AGENT_USERS_<NAME>, src/config.ts mayUseAgent)? */
  mayUse?: (owner: string | undefined, agent: string) => boolean;
  /** Called after a completed turn (e.g. to mirror it into synced tables). Errors are logged, never sent. */
  onTurn?: (turn: CompletedTurn) => Promise<void> | void;
  /** Images in user messages: the largest decoded image, and the outbound guard's fetch for http(s) image URLs. */
  images?: { maxBytes: number; fetch: OutboundFetch };
}

export { MAX_IMAGE_URLS };
const DEFAULT_IMAGE_MAX_BYTES = 5 * 1024 * 1024;


const THREAD_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

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

interface UsageLike {
  inputTokens?: number;
  outputTokens?: number;
  totalTokens?: number;
}

function toOpenAIUsage(u: UsageLike | undefined) {
  const prompt = u?.inputTokens ?? 0;
  const completion = u?.outputTokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: u?.totalTokens ?? prompt + completion };
}


function parseBody(body: unknown): ChatCompletionRequest {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) throw errors.invalidBody('The request body must be a JSON object.');
  // Checked before the schema walks every element: an over-long list is refused in O(1).
  const messages = (body as { messages?: unknown }).messages;
  if (Array.isArray(messages) && messages.length > MAX_MESSAGES) {
    throw errors.invalidBody(`Invalid value for 'messages': at most ${MAX_MESSAGES} messages per request (got ${messages.length}); continue a conversation with x-thread-id and only the new messages.`, 'messages');
  }
  for (const key of ['tools', 'functions'] as const) {
    const list = (body as Record<string, unknown>)[key];
    if (Array.isArray(list) && list.length > MAX_CLIENT_TOOLS) throw errors.invalidBody(`Invalid value for '${key}': at most ${MAX_CLIENT_TOOLS} per request (got ${list.length}).`, key);
  }
  const parsed = chatCompletionRequest.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = paramName(issue.path);
    throw errors.invalidBody(param ? `Invalid value for '${param}': ${issue.message}` : issue.message, param);
  }
  return parsed.data;
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

/**
 * Splits a Chat Completions request into system text and the conversation items
 * (conversation.ts), and builds the agent's messages from them. With an existing thread
 * only the messages after the last assistant one are new; the earlier ones only name
 * tool calls. A legacy assistant `function_call` gets the id `call_fn_<index>`.
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
          text: textContent(m.content),
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
  const start = ctx.threadExists ? items.map((it) => it.role).lastIndexOf('assistant') + 1 : 0;
  const { messages: out, userTexts } = await buildAgentInput(items, { ...ctx, start, storedCalls: ctx.threadExists ? ctx.storedCalls : undefined, listParam: 'messages' });
  return {
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

    // Client tools and the response format are checked before any thread is claimed.
    const { tools, choice, legacy } = clientToolsOf(body);
    if (tools.length) checkClientTools(tools, Object.keys(await agent.listTools()), legacy ? 'functions' : 'tools');
    checkToolChoice(choice, tools, legacy ? 'function_call' : 'tool_choice');
    const format = compileResponseFormat(responseFormatOf(body));

    const resourceId = resolveResource(res.locals.caller?.owner, body.user);
    const headerThread = req.get('x-thread-id');
    if (headerThread !== undefined && !THREAD_ID.test(headerThread)) {
      throw errors.invalidBody('x-thread-id must be 1-128 characters of letters, digits and _ . : -', 'x-thread-id');
    }
    const threadId = headerThread ?? randomUUID();
    // The claim is atomic in Postgres: of two callers naming the same new thread at once,
    // exactly one owns it; the other gets 404 before the model or memory is touched.
    let threadExists = false;
    if (headerThread) {
      const claimed = await threadOwner(deps.db, threadId);
      if (claimed !== undefined && claimed !== resourceId) throw errors.threadNotFound();
      const thread = await deps.memory.getThreadById({ threadId });
      if (claimed === undefined && !(await claimThread(deps.db, threadId, resourceId, thread?.resourceId))) throw errors.threadNotFound();
      threadExists = Boolean(thread);
    } else if (!(await claimThread(deps.db, threadId, resourceId))) {
      throw errors.threadNotFound();
    }
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client disconnected'));
    });
    const { system, messages, userTexts } = await planMessages(body.messages, {
      threadExists,
      storedCalls: () => storedToolCalls(deps.memory, threadId, resourceId),
      images: deps.images ?? { maxBytes: DEFAULT_IMAGE_MAX_BYTES, fetch: (() => Promise.reject(new Error('image URLs are not enabled'))) as unknown as OutboundFetch },
      signal: abort.signal,
    });

    const stop = body.stop == null ? undefined : Array.isArray(body.stop) ? body.stop : [body.stop];
    const { options: toolOptions, clientNames } = await toolRunOptions(agent, { tools, choice, format, parallelToolCalls: body.parallel_tool_calls });
    const options = {
      memory: { resource: resourceId, thread: threadId },
      // The trace's root span (Studio, OTLP) names the API key's owner beside resource and thread.
      ...(res.locals.caller?.owner ? { tracingOptions: { metadata: { keyOwner: res.locals.caller.owner } } } : {}),
      maxSteps: deps.maxSteps,
      abortSignal: abort.signal,
      ...(system ? { system } : {}),
      ...toolOptions,
      modelSettings: {
        ...(body.temperature != null ? { temperature: body.temperature } : {}),
        ...(body.top_p != null ? { topP: body.top_p } : {}),
        ...(body.presence_penalty != null ? { presencePenalty: body.presence_penalty } : {}),
        ...(body.frequency_penalty != null ? { frequencyPenalty: body.frequency_penalty } : {}),
        ...(body.seed != null ? { seed: body.seed } : {}),
        ...((body.max_completion_tokens ?? body.max_tokens) != null ? { maxOutputTokens: (body.max_completion_tokens ?? body.max_tokens)! } : {}),
        ...(stop ? { stopSequences: stop } : {}),
      },
    };
    /** The client tool calls to hand back (one at most when parallel_tool_calls is false or in the legacy shape). */
    const handBack = (calls: ClientToolCall[]) => (body.parallel_tool_calls === false || legacy ? calls.slice(0, 1) : calls);

    const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
    const created = Math.floor(Date.now() / 1000);
    res.setHeader('x-thread-id', threadId);
    const log = deps.logger.child({ agent: body.model, thread: threadId });
    const recordTurn = async (reply: string) => {
      if (!deps.onTurn) return;
      try {
        await deps.onTurn({ agent: body.model, resourceId, threadId, userMessages: userTexts, reply });
      } catch (err) {
        log.error('after-turn hook failed', { error: err });
      }
    };

    if (!body.stream) {
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
      const calls = handBack(clientToolCalls(result.toolCalls as unknown[], clientNames));
      if (!calls.length && format) {
        const why = format.check(result.text);
        if (why) {
          log.warn('model reply does not conform to response_format', { why });
          throw invalidModelOutput(why);
        }
      }
      // A turn that hands tool calls back is not complete yet: it is mirrored when it is.
      if (!calls.length) await recordTurn(result.text);
      const message = !calls.length
        ? { role: 'assistant', content: result.text, refusal: null }
        : legacy
          ? { role: 'assistant', content: result.text || null, refusal: null, function_call: { name: calls[0]!.name, arguments: calls[0]!.arguments } }
          : { role: 'assistant', content: result.text || null, refusal: null, tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) };
      res.json({
        id,
        object: 'chat.completion',
        created,
        model: body.model,
        system_fingerprint: null,
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
      return;
    }

    await streamCompletion({ agent, messages, options, res, abort, id, created, model: body.model, includeUsage: Boolean(body.stream_options?.include_usage), log, recordTurn, clientNames, legacy, single: body.parallel_tool_calls === false || legacy, format });
  };
}

interface StreamArgs {
  agent: Agent;
  messages: AgentMessage[];
  options: Record<string, unknown>;
  res: Response;
  abort: AbortController;
  id: string;
  created: number;
  model: string;
  includeUsage: boolean;
  log: Logger;
  recordTurn: (reply: string) => Promise<void>;
  /** Names of the client tools: their calls are streamed to the client as tool_calls deltas. */
  clientNames: Set<string>;
  /** The legacy functions shape: a function_call delta, finish_reason "function_call". */
  legacy: boolean;
  /** Hand back at most one call. */
  single: boolean;
  format: CompiledFormat | undefined;
}

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
    `data: ${JSON.stringify({ id: a.id, object: 'chat.completion.chunk', created: a.created, model: a.model, system_fingerprint: null, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra })}\n\n`;
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    res.status(200);
    res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('connection', 'keep-alive');
    res.setHeader('x-accel-buffering', 'no');
    res.flushHeaders();
    res.write(chunk({ role: 'assistant', content: '', refusal: null }));
  };

  let text = '';
  let reason: string | undefined;
  let usage: UsageLike | undefined;
  const calls: ClientToolCall[] = [];
  try {
    const stream = await a.agent.stream(a.messages as never, a.options as never);
    for await (const part of stream.fullStream as AsyncIterable<{ type: string; payload?: Record<string, unknown> }>) {
      if (a.abort.signal.aborted) break;
      switch (part.type) {
        case 'text-delta': {
          const delta = String(part.payload?.text ?? '');
          if (!delta) break;
          start();
          text += delta;
          res.write(chunk({ content: delta }));
          break;
        }
        case 'tool-call': {
          const [call] = clientToolCalls([part], a.clientNames);
          if (!call || (a.single && calls.length)) break;
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
          break;
        }
        case 'error':
          throw (part.payload?.error as unknown) ?? new Error('model stream failed');
        case 'finish': {
          const p = part.payload as { stepResult?: { reason?: string }; output?: { usage?: UsageLike } } | undefined;
          reason = p?.stepResult?.reason ?? reason;
          usage = p?.output?.usage ?? usage;
          break;
        }
      }
    }
    if (a.abort.signal.aborted) return;
    reason = (await stream.finishReason.catch(() => undefined)) ?? reason;
    usage = ((await (stream as unknown as { totalUsage?: Promise<UsageLike> }).totalUsage?.catch(() => undefined)) ?? usage) as UsageLike | undefined;
    if (!calls.length && a.format) {
      const why = a.format.check(text);
      if (why) {
        a.log.warn('model reply does not conform to response_format', { why });
        throw invalidModelOutput(why);
      }
    }
  } catch (err) {
    if (a.abort.signal.aborted) return;
    const e = upstreamError(err);
    a.log.warn('model call failed', { status: e.status, code: e.code, error: err });
    if (!started) throw e;
    res.write(`data: ${JSON.stringify(e.toJSON())}\n\n`);
    res.end();
    return;
  }
  start();
  res.write(chunk({}, calls.length ? (a.legacy ? 'function_call' : 'tool_calls') : finishReason(reason)));
  if (a.includeUsage) {
    const u = { prompt_tokens: usage?.inputTokens ?? 0, completion_tokens: usage?.outputTokens ?? 0, total_tokens: usage?.totalTokens ?? (usage?.inputTokens ?? 0) + (usage?.outputTokens ?? 0) };
    res.write(`data: ${JSON.stringify({ id: a.id, object: 'chat.completion.chunk', created: a.created, model: a.model, system_fingerprint: null, choices: [], usage: u })}\n\n`);
  }
  res.write('data: [DONE]\n\n');
  res.end();
  if (!calls.length) await a.recordTurn(text);
}

export { OpenAIError };
