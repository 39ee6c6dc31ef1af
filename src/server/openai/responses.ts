/**
 * OpenAI's Responses API on the agents:
 *   POST   /v1/responses                       run the agent named by `model`
 *   GET    /v1/responses/:id                   a stored response
 *   DELETE /v1/responses/:id                   delete a stored response
 *   GET    /v1/responses/:id/input_items       its input items (paginated)
 *
 * Memory: every response runs on a memory thread of the caller (as x-thread-id does on
 * chat completions). `previous_response_id` continues the thread of that (stored, own)
 * response; `conversation` names the thread itself (claimed for the caller on first
 * use); with neither, a stored response starts a new thread, and `store: false` runs
 * without memory. One run at a time per thread: a run holds a lease on its thread
 * (response_thread_runs); a second request on it is refused with conversation_locked, as
 * OpenAI does, because two turns running at once on one Mastra thread merge or lose
 * assistant replies (docs/api.md#concurrent-requests-on-one-conversation).
 *
 * Function tools (`tools: [{type: "function", …}]`) are offered to the model beside the
 * agent's own tools; when the model calls one, the run ends with `function_call` output
 * items, and the next request carries `function_call_output` items (with
 * previous_response_id, conversation or the full transcript).
 */
import type { Agent } from '@mastra/core/agent';
import type { Memory } from '@mastra/memory';
import { Router, type Request, type Response } from 'express';
import { acquireThreadRun, deleteResponse, finishResponse, getResponse, insertResponse, releaseThreadRun, renewThreadRun, type StoredResponse } from '../../db/responses';
import { claimThread, threadOwner } from '../../db/threads';
import { startConversationThread } from '../../db/memory/memory';
import type { Logger } from '../../logger';
import { pgText } from '../../util/text';
import { resolveResource } from '../auth';
import { usageOwner } from '../usage';
import { checkClientTools, checkToolChoice, clientToolCalls, type ClientTool, type ToolChoice } from './client-tools';
import { resolveImages, userMessage, type ItemPart, type UserPart } from './conversation';
import { errors, OpenAIError, upstreamError } from './errors';
import { IMAGES_UNCONFIGURED, type ImageOptions } from './images';
import { readAgentStream, type UsageLike } from './agent-stream';
import { agentNamed } from './models';
import { startEventStream, THREAD_ID, type AgentRouteDeps } from './route-deps';
import { itemId, parseInput, parseResponsesBody, parseTools, type FunctionTool, type InputItem, type ResponsesRequest, type TextFormat } from './responses-schema';
import { toolRunOptions, withProviderOptions } from './run-options';
import { compileResponseFormat, invalidModelOutput, type CompiledFormat } from './structured-output';

export interface ResponsesDeps extends AgentRouteDeps {
  /** The agent's OpenAI-compatible providerOptions namespace (src/mastra/model.ts compatibleOptionsKey): where raw Chat Completions params go. */
  upstreamOptionsKey?: (agent: string) => string | undefined;
}


const RESPONSE_ID = /^resp_[A-Za-z0-9]{1,64}$/;
/** How long a run's lease on its thread lasts without renewal (renewed every third of it while the run goes on). */
export const THREAD_LEASE_MS = 60_000;

/** The owner of stored responses: the API key's owner; without API_KEYS (loopback development) every caller is `anonymous`. */
const ownerOf = (res: Response) => res.locals.caller?.owner ?? 'anonymous';

// ---- output items -------------------------------------------------------------------

interface OutputMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  status: 'in_progress' | 'completed' | 'incomplete';
  content: Array<{ type: 'output_text'; text: string; annotations: unknown[]; logprobs: unknown[] }>;
}
interface FunctionCallItem {
  id: string;
  type: 'function_call';
  status: 'completed';
  call_id: string;
  name: string;
  arguments: string;
}
type OutputItem = OutputMessage | FunctionCallItem;


/** ResponseUsage: the detail objects are required by the spec (zeros when the provider does not say). */
function toResponseUsage(u: UsageLike | undefined) {
  const input = u?.inputTokens ?? 0;
  const output = u?.outputTokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: u?.cachedInputTokens ?? 0, cache_write_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: u?.reasoningTokens ?? 0 },
    total_tokens: u?.totalTokens ?? input + output,
  };
}

type Status = 'in_progress' | 'completed' | 'incomplete' | 'failed' | 'cancelled';

/** How a finished run maps to status and incomplete_details. */
function endOf(reason: string | undefined): { status: Status; incomplete: { reason: 'max_output_tokens' | 'content_filter' } | null } {
  if (reason === 'length') return { status: 'incomplete', incomplete: { reason: 'max_output_tokens' } };
  if (reason === 'content-filter') return { status: 'incomplete', incomplete: { reason: 'content_filter' } };
  return { status: 'completed', incomplete: null };
}

/** The request settings a response echoes (and keeps, when stored). */
interface Echo {
  model: string;
  instructions: string | null;
  previous_response_id: string | null;
  conversation: { id: string } | null;
  max_output_tokens: number | null;
  temperature: number | null;
  top_p: number | null;
  metadata: Record<string, string>;
  user: string | null;
  safety_identifier: string | null;
  reasoning: { effort: string | null; summary: null };
  parallel_tool_calls: boolean;
  tool_choice: ResponsesRequest['tool_choice'];
  tools: Array<{ type: 'function'; name: string; description: string | null; parameters: Record<string, unknown> | null; strict: boolean | null }>;
  truncation: 'disabled' | 'auto';
  max_tool_calls?: number | null;
  store: boolean;
  /** text.format as requested (absent on responses stored before structured output: text). */
  text_format?: TextFormat;
}

interface ResponseState {
  id: string;
  createdAt: Date;
  completedAt: Date | null;
  status: Status;
  output: OutputItem[];
  usage: ReturnType<typeof toResponseUsage> | null;
  error: { code: string; message: string } | null;
  incomplete: { reason: string } | null;
}

/** The Response object (OpenAI's schema `Response`). */
function responseObject(echo: Echo, s: ResponseState) {
  const text = s.output.flatMap((i) => (i.type === 'message' ? i.content.map((c) => c.text) : [])).join('');
  return {
    id: s.id,
    object: 'response' as const,
    created_at: Math.floor(s.createdAt.getTime() / 1000),
    status: s.status,
    background: false,
    completed_at: s.completedAt ? Math.floor(s.completedAt.getTime() / 1000) : null,
    error: s.error,
    incomplete_details: s.incomplete,
    instructions: echo.instructions,
    max_output_tokens: echo.max_output_tokens,
    max_tool_calls: echo.max_tool_calls ?? null,
    model: echo.model,
    output: s.output,
    output_text: text,
    parallel_tool_calls: echo.parallel_tool_calls,
    previous_response_id: echo.previous_response_id,
    conversation: echo.conversation,
    reasoning: echo.reasoning,
    service_tier: 'default' as const,
    store: echo.store,
    temperature: echo.temperature,
    text: { format: echo.text_format ?? { type: 'text' as const }, verbosity: 'medium' as const },
    tool_choice: echo.tool_choice ?? 'auto',
    tools: echo.tools,
    top_logprobs: 0,
    top_p: echo.top_p,
    truncation: echo.truncation,
    ...(s.usage ? { usage: s.usage } : {}),
    ...(echo.user != null ? { user: echo.user } : {}),
    safety_identifier: echo.safety_identifier,
    metadata: echo.metadata,
  };
}

function storedObject(r: StoredResponse) {
  const echo = r.request as unknown as Echo;
  return responseObject(echo, {
    id: r.id,
    createdAt: r.createdAt,
    completedAt: r.completedAt,
    status: r.status as Status,
    output: r.output as OutputItem[],
    usage: r.usage as ResponseState['usage'],
    error: r.error as ResponseState['error'],
    incomplete: (r.incompleteDetails ?? null) as ResponseState['incomplete'],
  });
}

// ---- agent messages -------------------------------------------------------------------

type ToolCallPart = { type: 'tool-call'; toolCallId: string; toolName: string; input: unknown };
type AgentMessage =
  | { role: 'user'; content: string | UserPart[] }
  | { role: 'assistant'; content: string | Array<{ type: 'text'; text: string } | ToolCallPart> }
  | { role: 'tool'; content: Array<{ type: 'tool-result'; toolCallId: string; toolName: string; output: { type: 'text'; value: string } }> };

const parseArgs = (s: string): unknown => {
  try {
    return JSON.parse(s);
  } catch {
    return {};
  }
};

/**
 * The request's items as messages for the agent, its system text and the user texts (what
 * the mirror records). With an existing thread only the items after the last assistant
 * message are new (earlier ones are in memory already). A function_call_output needs its
 * function_call: from this input, or from the previous response's output (a client-side
 * call is not kept in memory until its result arrives). input_image parts of the new user
 * messages are resolved as chat completions' image parts are (conversation.ts).
 */
export async function planTurn(
  items: InputItem[],
  instructions: string | null | undefined,
  threadExists: boolean,
  previousOutput: OutputItem[],
  images: { images: ImageOptions; signal?: AbortSignal },
) {
  const system = [instructions ?? '', ...items.flatMap((i) => (i.type === 'message' && (i.role === 'system' || i.role === 'developer') ? [textOf(i)] : []))]
    .filter(Boolean)
    .join('\n\n');
  let start = 0;
  if (threadExists) {
    for (let i = items.length - 1; i >= 0; i--) {
      const it = items[i]!;
      if (it.type === 'message' && it.role === 'assistant') {
        start = i + 1;
        break;
      }
    }
  }
  const fresh = items.slice(start).filter((i) => !(i.type === 'message' && (i.role === 'system' || i.role === 'developer')));
  const partsOf = (it: Extract<InputItem, { role: 'user' }>): ItemPart[] =>
    it.content.map((c, j) => (c.type === 'input_text' ? { type: 'text', text: c.text } : { type: 'image', url: c.image_url, param: `input[${items.indexOf(it)}].content[${j}].image_url` }));
  const resolved = await resolveImages(
    fresh.flatMap((i) => (i.type === 'message' && i.role === 'user' ? partsOf(i) : [])),
    images,
  );
  const userTexts: string[] = [];
  const calls = new Map<string, string>();
  for (const it of items) if (it.type === 'function_call') calls.set(it.call_id, it.name);
  const messages: AgentMessage[] = [];
  const pushCall = (part: ToolCallPart) => {
    const last = messages.at(-1);
    if (last?.role === 'assistant' && Array.isArray(last.content)) last.content.push(part);
    else messages.push({ role: 'assistant', content: [part] });
  };
  // Calls of the previous response whose results arrive now, re-sent ahead of them.
  const answered = new Set(fresh.flatMap((i) => (i.type === 'function_call_output' ? [i.call_id] : [])));
  const inFresh = new Set(fresh.flatMap((i) => (i.type === 'function_call' ? [i.call_id] : [])));
  for (const o of previousOutput) {
    if (o.type === 'function_call' && answered.has(o.call_id) && !inFresh.has(o.call_id)) {
      calls.set(o.call_id, o.name);
      pushCall({ type: 'tool-call', toolCallId: o.call_id, toolName: o.name, input: parseArgs(o.arguments) });
    }
  }
  fresh.forEach((it) => {
    const index = items.indexOf(it);
    if (it.type === 'message' && it.role === 'user') {
      const user = userMessage(partsOf(it), resolved);
      userTexts.push(user.text);
      messages.push(user.message);
    } else if (it.type === 'message') {
      messages.push({ role: 'assistant', content: textOf(it) });
    } else if (it.type === 'function_call') {
      pushCall({ type: 'tool-call', toolCallId: it.call_id, toolName: it.name, input: parseArgs(it.arguments) });
    } else {
      const name = calls.get(it.call_id);
      if (!name) throw errors.invalidBody(`Invalid value for 'input[${index}].call_id': no function_call with this call_id precedes it (in this input or the previous response).`, `input[${index}].call_id`);
      const result = { type: 'tool-result' as const, toolCallId: it.call_id, toolName: name, output: { type: 'text' as const, value: it.output } };
      const last = messages.at(-1);
      if (last?.role === 'tool') last.content.push(result);
      else messages.push({ role: 'tool', content: [result] });
    }
  });
  const last = messages.at(-1);
  if (!last || last.role === 'assistant') {
    throw errors.invalidBody('The input must end with a user message or a function_call_output (after any system or developer messages).', 'input');
  }
  return { system: pgText(system) || undefined, messages, userTexts };
}

const textOf = (m: Extract<InputItem, { type: 'message' }>) => m.content.map((c) => ('text' in c ? c.text : '')).join('');

/**
 * The request's function tools and tool choice in the API-neutral shapes of client-tools.ts,
 * checked there (names against the agent's own tools, sizes, depth). The tool's schema is
 * parseTools' checked copy (patterns removed); errors name `tools[i].name` and `tool_choice.name`.
 */
async function clientToolsOf(agent: Agent, body: ResponsesRequest, tools: FunctionTool[]): Promise<{ tools: ClientTool[]; choice: ToolChoice | undefined }> {
  const client = tools.map((t, i): ClientTool => ({ name: t.name, description: t.description ?? undefined, parameters: t.agentSchema, strict: t.strict ?? undefined, param: `tools[${i}]` }));
  if (client.length) checkClientTools(client, Object.keys(await agent.listTools()));
  const tc = body.tool_choice;
  const choice: ToolChoice | undefined = tc == null ? undefined : typeof tc === 'string' ? tc : { name: tc.name };
  checkToolChoice(choice, client, typeof choice === 'object' ? 'tool_choice.name' : 'tool_choice');
  return { tools: client, choice };
}

// ---- the handlers -----------------------------------------------------------------------

interface ThreadPlan {
  threadId?: string;
  threadExists: boolean;
  previous?: StoredResponse;
  /** A new thread is to be started (claimed after the input is checked). */
  fresh?: boolean;
}

async function resolveThread(deps: ResponsesDeps, body: ResponsesRequest, owner: string, resourceId: string, store: boolean): Promise<ThreadPlan> {
  if (body.previous_response_id != null && body.conversation != null) {
    throw errors.invalidBody("Invalid value for 'conversation': previous_response_id and conversation cannot be used together.", 'conversation');
  }
  if (body.previous_response_id != null) {
    const id = body.previous_response_id;
    const previous = RESPONSE_ID.test(id) ? await getResponse(deps.db, id, owner) : undefined;
    // Another owner's response, another user's (`user`) and one without a thread look unknown.
    if (!previous || previous.resource !== resourceId || !previous.threadId) throw errors.responseNotFound('previous_response_id');
    const claimed = await threadOwner(deps.db, previous.threadId);
    if (claimed !== resourceId) throw errors.responseNotFound('previous_response_id');
    const thread = await deps.memory.getThreadById({ threadId: previous.threadId });
    return { threadId: previous.threadId, threadExists: Boolean(thread), previous };
  }
  if (body.conversation != null) {
    const threadId = typeof body.conversation === 'string' ? body.conversation : body.conversation.id;
    if (!THREAD_ID.test(threadId)) throw errors.invalidBody("Invalid value for 'conversation': a conversation id is 1-128 letters, digits and _ . : -", 'conversation');
    const claimed = await threadOwner(deps.db, threadId);
    if (claimed !== undefined && claimed !== resourceId) throw errors.conversationNotFound();
    const thread = await deps.memory.getThreadById({ threadId });
    if (claimed === undefined && !(await claimThread(deps.db, threadId, resourceId, thread?.resourceId))) throw errors.conversationNotFound();
    return { threadId, threadExists: Boolean(thread) };
  }
  // A new thread (when stored) is claimed by the caller once the input has been checked.
  return { threadExists: false, fresh: store };
}

function echoOf(body: ResponsesRequest, tools: FunctionTool[], previousId: string | null, conversation: { id: string } | null, store: boolean, format: CompiledFormat | undefined): Echo {
  return {
    model: body.model,
    instructions: body.instructions ?? null,
    previous_response_id: previousId,
    conversation,
    max_output_tokens: body.max_output_tokens ?? null,
    temperature: body.temperature ?? null,
    top_p: body.top_p ?? null,
    metadata: body.metadata ?? {},
    user: body.user ?? null,
    safety_identifier: body.safety_identifier ?? null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: null },
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    tool_choice: body.tool_choice ?? 'auto',
    tools: tools.map((t) => ({ type: 'function' as const, name: t.name, description: t.description ?? null, parameters: t.parameters ?? null, strict: t.strict ?? null })),
    truncation: body.truncation ?? 'disabled',
    max_tool_calls: body.max_tool_calls ?? null,
    store,
    ...(format ? { text_format: format.format as TextFormat } : {}),
  };
}

export function createResponsesHandler(deps: ResponsesDeps) {
  return async function createResponse(req: Request, res: Response) {
    const body = parseResponsesBody(req.body);
    const items = parseInput(body.input);
    const tools = parseTools(body.tools);
    const agent = agentNamed(deps.agents, body.model);
    if (!agent) throw errors.modelNotFound(body.model);
    const keyOwner = res.locals.caller?.owner;
    if (deps.mayUse && !deps.mayUse(keyOwner, body.model)) throw errors.agentForbidden(body.model);
    // Client tools, tool choice and text.format are checked before any thread is claimed.
    const { tools: clientTools, choice } = await clientToolsOf(agent, body, tools);
    const format = compileResponseFormat(body.text?.format ?? undefined, 'text.format.schema');

    // Usage and budgets per key owner (keyless: per `user`), as on chat completions.
    const meterOwner = usageOwner(keyOwner, body.user ?? undefined);
    await deps.usage?.check(meterOwner);
    let counted = false;
    /** Counts this request once, with the usage known (none for a run that failed before any). */
    const count = async () => {
      if (counted || !deps.usage) return;
      counted = true;
      const u = current?.usage;
      await deps.usage.record(meterOwner, u ? { prompt_tokens: u.input_tokens, completion_tokens: u.output_tokens, total_tokens: u.total_tokens } : undefined);
    };
    let current: ResponseState | undefined;

    const owner = ownerOf(res);
    const resourceId = resolveResource(keyOwner, body.user);
    const store = body.store ?? true;
    const plan = await resolveThread(deps, body, owner, resourceId, store);
    const previousOutput = (plan.previous?.output ?? []) as OutputItem[];
    // Cancelled when the client goes away (an image fetch, then the model call).
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client disconnected'));
    });
    const { system, messages, userTexts } = await planTurn(items, body.instructions, plan.threadExists, previousOutput, {
      images: deps.images ?? IMAGES_UNCONFIGURED,
      signal: abort.signal,
    });
    if (plan.fresh) {
      // A new thread, claimed (and, with the chat memory, created) at once.
      const started = await startConversationThread(deps.memory, deps.db, resourceId);
      if (started === undefined) throw errors.conversationNotFound();
      plan.threadId = started;
    }

    const id = itemId('resp');
    // One run at a time per thread (docs/api.md#concurrent-requests-on-one-conversation).
    if (plan.threadId && !(await acquireThreadRun(deps.db, plan.threadId, id, THREAD_LEASE_MS))) {
      throw errors.conversationLocked(body.previous_response_id != null ? 'previous_response_id' : 'conversation');
    }
    const renew = plan.threadId
      ? setInterval(() => void renewThreadRun(deps.db, plan.threadId!, id, THREAD_LEASE_MS).catch((err) => deps.logger.warn('renewing a thread lease failed', { error: err })), THREAD_LEASE_MS / 3)
      : undefined;
    renew?.unref();
    // Released before the last byte goes out (a client's next request may follow at once), and in `finally` whatever happens.
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      clearInterval(renew);
      if (plan.threadId) await releaseThreadRun(deps.db, plan.threadId, id).catch((err) => deps.logger.warn('releasing a thread lease failed', { error: err }));
    };
    try {
      const echo = echoOf(body, tools, plan.previous?.id ?? null, plan.threadId ? { id: plan.threadId } : null, store, format);
      const state: ResponseState = { id, createdAt: new Date(), completedAt: null, status: 'in_progress', output: [], usage: null, error: null, incomplete: null };
      current = state;
      if (store) {
        await insertResponse(deps.db, {
          id,
          owner,
          resource: resourceId,
          agent: body.model,
          threadId: plan.threadId ?? null,
          previousResponseId: plan.previous?.id ?? null,
          status: 'in_progress',
          createdAt: state.createdAt,
          request: echo as unknown as Record<string, unknown>,
          inputItems: items,
          store,
        });
      }
      if (plan.threadId) res.setHeader('x-thread-id', plan.threadId);
      const log = deps.logger.child({ agent: body.model, response: id, ...(plan.threadId ? { thread: plan.threadId } : {}) });

      // Every terminal path saves: the request is counted there, before its last bytes go out.
      const save = async () => {
        await count();
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
        if (!deps.onTurn || !plan.threadId || !reply) return;
        try {
          await deps.onTurn({ agent: body.model, resourceId, threadId: plan.threadId, userMessages: userTexts, reply });
        } catch (err) {
          log.error('after-turn hook failed', { error: err });
        }
      };

      const { options: toolOptions, clientNames } = toolRunOptions({ tools: clientTools, choice, format, parallelToolCalls: body.parallel_tool_calls, providerKey: deps.compatibleProvider?.(body.model) });
      const options = {
        ...(plan.threadId ? { memory: { resource: resourceId, thread: plan.threadId } } : {}),
        ...(keyOwner ? { tracingOptions: { metadata: { keyOwner } } } : {}),
        maxSteps: deps.maxSteps,
        abortSignal: abort.signal,
        ...(system ? { system } : {}),
        ...withProviderOptions(toolOptions, upstreamOptions(deps.upstreamOptionsKey?.(body.model), body)),
        modelSettings: {
          ...(body.temperature != null ? { temperature: body.temperature } : {}),
          ...(body.top_p != null ? { topP: body.top_p } : {}),
          ...(body.max_output_tokens != null ? { maxOutputTokens: body.max_output_tokens } : {}),
        },
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
    } finally {
      await release();
      await count();
    }
  };
}

/**
 * reasoning.effort and parallel_tool_calls for the upstream Chat Completions request:
 * `reasoningEffort` is read by the OpenAI-compatible client from `openaiCompatible`;
 * `parallel_tool_calls` is sent as-is from the agent's own namespace. Models served by
 * Mastra's model router (anthropic/…) get neither (docs/api.md).
 */
function upstreamOptions(key: string | undefined, body: ResponsesRequest): Record<string, Record<string, unknown>> | undefined {
  const effort = body.reasoning?.effort;
  if (!key || (!effort && body.parallel_tool_calls == null)) return undefined;
  const out: Record<string, Record<string, unknown>> = {};
  if (effort) out.openaiCompatible = { reasoningEffort: effort };
  if (body.parallel_tool_calls != null) out[key] = { ...out[key], parallel_tool_calls: body.parallel_tool_calls };
  return out;
}

const messageItem = (text: string, status: OutputMessage['status']): OutputMessage => ({
  id: itemId('msg'),
  type: 'message',
  role: 'assistant',
  status,
  content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
});

/** The calls of client-side function tools among a run's tool calls, as function_call items. */
function functionCalls(calls: unknown[] | undefined, names: Set<string>): FunctionCallItem[] {
  return clientToolCalls(calls, names).map((c) => ({ id: itemId('fc'), type: 'function_call' as const, status: 'completed' as const, call_id: c.id, name: c.name, arguments: c.arguments }));
}

interface StreamArgs {
  agent: Agent;
  messages: AgentMessage[];
  options: Record<string, unknown>;
  res: Response;
  abort: AbortController;
  echo: Echo;
  state: ResponseState;
  clientNames: Set<string>;
  /** text.format (json_object / json_schema): the whole text is checked before the response completes. */
  format: CompiledFormat | undefined;
  log: Logger;
  save: () => Promise<void>;
  fail: (err: unknown) => Promise<OpenAIError>;
  recordTurn: (reply: string) => Promise<void>;
  /** Releases the thread's run lease (before the closing events). */
  release: () => Promise<void>;
}

/**
 * The Responses event stream. As on chat completions, nothing is written until the
 * model produces its first output, so a model that fails at once still gets a proper
 * HTTP error status; after that a failure is a `response.failed` event followed by an
 * `error` event, and the stream ends.
 */
async function streamResponse(a: StreamArgs) {
  const { res, state } = a;
  let seq = 0;
  const send = (type: string, data: Record<string, unknown>) => {
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data, sequence_number: seq++ })}\n\n`);
  };
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    startEventStream(res);
    send('response.created', { response: responseObject(a.echo, state) });
    send('response.in_progress', { response: responseObject(a.echo, state) });
  };
  let message: OutputMessage | undefined;
  let messageIndex = 0;
  let text = '';
  const openMessage = () => {
    if (message) return;
    start();
    message = messageItem('', 'in_progress');
    message.content = [];
    messageIndex = state.output.length;
    state.output.push(message);
    send('response.output_item.added', { output_index: messageIndex, item: structuredClone(message) });
    send('response.content_part.added', { item_id: message.id, output_index: messageIndex, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
  };
  const closeMessage = (status: OutputMessage['status']) => {
    if (!message) return;
    const part = { type: 'output_text' as const, text, annotations: [], logprobs: [] };
    send('response.output_text.done', { item_id: message.id, output_index: messageIndex, content_index: 0, text, logprobs: [] });
    send('response.content_part.done', { item_id: message.id, output_index: messageIndex, content_index: 0, part });
    message.content = [part];
    message.status = status;
    send('response.output_item.done', { output_index: messageIndex, item: message });
  };

  let reason: string | undefined;
  let usage: UsageLike | undefined;
  const calls: FunctionCallItem[] = [];
  try {
    const read = await readAgentStream(a.agent, a.messages, a.options, a.abort.signal, {
      text(delta) {
        openMessage();
        text += delta;
        send('response.output_text.delta', { item_id: message!.id, output_index: messageIndex, content_index: 0, delta, logprobs: [] });
      },
      toolCall(part) {
        calls.push(...functionCalls([part], a.clientNames));
      },
    });
    if (!read.aborted) {
      ({ reason, usage } = read);
      const why = !calls.length && a.format ? a.format.check(text) : undefined;
      if (why) {
        a.log.warn('model reply does not conform to text.format', { why });
        state.usage = toResponseUsage(usage);
        throw invalidModelOutput(why, 'text.format');
      }
    }
  } catch (err) {
    // What was streamed so far stays in the (stored) output, marked incomplete.
    const keepPartial = () => {
      if (!message) return;
      message.content = [{ type: 'output_text', text, annotations: [], logprobs: [] }];
      message.status = 'incomplete';
    };
    if (a.abort.signal.aborted) {
      keepPartial();
      state.status = 'cancelled';
      await a.save();
      return;
    }
    keepPartial();
    const e = await a.fail(err);
    a.log.warn('model call failed', { status: e.status, code: e.code, error: err });
    await a.release();
    if (!started) throw e;
    send('response.failed', { response: responseObject(a.echo, state) });
    send('error', { code: e.code, message: e.message, param: null });
    res.end();
    return;
  }
  if (a.abort.signal.aborted) {
    if (message) {
      message.content = [{ type: 'output_text', text, annotations: [], logprobs: [] }];
      message.status = 'incomplete';
    }
    state.status = 'cancelled';
    await a.save();
    return;
  }
  const end = endOf(reason);
  if (!message && !calls.length) openMessage();
  start();
  closeMessage(end.status === 'completed' ? 'completed' : 'incomplete');
  for (const call of calls) {
    const index = state.output.length;
    state.output.push(call);
    send('response.output_item.added', { output_index: index, item: { ...call, status: 'in_progress', arguments: '' } });
    send('response.function_call_arguments.delta', { item_id: call.id, output_index: index, delta: call.arguments });
    send('response.function_call_arguments.done', { item_id: call.id, output_index: index, name: call.name, arguments: call.arguments });
    send('response.output_item.done', { output_index: index, item: call });
  }
  Object.assign(state, { status: end.status, incomplete: end.incomplete, completedAt: end.status === 'completed' ? new Date() : null, usage: toResponseUsage(usage) });
  await a.save();
  await a.release();
  send(end.status === 'completed' ? 'response.completed' : 'response.incomplete', { response: responseObject(a.echo, state) });
  res.end();
  await a.recordTurn(text);
}

// ---- retrieve, delete, input items ---------------------------------------------------------

export function responsesRouter(deps: ResponsesDeps) {
  const router = Router();
  router.post('/responses', createResponsesHandler(deps));
  const find = async (req: Request, res: Response) => {
    const id = String(req.params.id);
    const found = RESPONSE_ID.test(id) ? await getResponse(deps.db, id, ownerOf(res)) : undefined;
    if (!found) throw errors.responseNotFound();
    return found;
  };
  router.get('/responses/:id', async (req, res) => {
    if (req.query.stream === 'true') throw errors.invalidBody("Invalid value for 'stream': streaming a stored response again is not supported.", 'stream');
    res.json(storedObject(await find(req, res)));
  });
  router.delete('/responses/:id', async (req, res) => {
    const id = String(req.params.id);
    if (!RESPONSE_ID.test(id) || !(await deleteResponse(deps.db, id, ownerOf(res)))) throw errors.responseNotFound();
    res.json({ id, object: 'response', deleted: true });
  });
  router.get('/responses/:id/input_items', async (req, res) => {
    const q = req.query;
    const limit = q.limit === undefined ? 20 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw errors.invalidBody("Invalid value for 'limit': an integer from 1 to 100.", 'limit');
    const order = q.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') throw errors.invalidBody("Invalid value for 'order': 'asc' or 'desc'.", 'order');
    if (q.after !== undefined && typeof q.after !== 'string') throw errors.invalidBody("Invalid value for 'after': an item id.", 'after');
    const found = await find(req, res);
    let list = (found.inputItems as Array<{ id: string }>).slice();
    if (order === 'desc') list.reverse();
    if (q.after !== undefined) {
      const at = list.findIndex((i) => i.id === q.after);
      if (at < 0) throw errors.invalidBody("Invalid value for 'after': no input item of this response has that id.", 'after');
      list = list.slice(at + 1);
    }
    const page = list.slice(0, limit);
    res.json({ object: 'list', data: page, first_id: page[0]?.id ?? null, last_id: page.at(-1)?.id ?? null, has_more: list.length > limit });
  });
  return router;
}

