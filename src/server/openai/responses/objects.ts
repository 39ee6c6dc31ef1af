/**
 * The Responses API's objects: output items, the request settings a response echoes (and
 * keeps when stored), its state while it runs, and the `Response` object (OpenAI's schema)
 * built from them, for a running response and for a stored one.
 */
import { responseModel } from '../../../mastra/answering-model';
import type { StoredResponse } from '../../../db/responses';
import type { UsageLike } from '../agent-stream';
import { clientToolCalls } from '../client-tools';
import { itemId, type FunctionTool, type ResponsesRequest, type TextFormat } from '../responses-schema';
import type { CompiledFormat } from '../structured-output';

export interface OutputMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  status: 'in_progress' | 'completed' | 'incomplete';
  content: Array<{ type: 'output_text'; text: string; annotations: unknown[]; logprobs: unknown[] }>;
}
export interface FunctionCallItem {
  id: string;
  type: 'function_call';
  status: 'completed';
  call_id: string;
  name: string;
  arguments: string;
}
export type OutputItem = OutputMessage | FunctionCallItem;

/** ResponseUsage: the detail objects are required by the spec (zeros when the provider does not say). */
export function toResponseUsage(u: UsageLike | undefined) {
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

export type Status = 'in_progress' | 'completed' | 'incomplete' | 'failed' | 'cancelled';

/** How a finished run maps to status and incomplete_details. */
export function endOf(reason: string | undefined): { status: Status; incomplete: { reason: 'max_output_tokens' | 'content_filter' } | null } {
  if (reason === 'length') return { status: 'incomplete', incomplete: { reason: 'max_output_tokens' } };
  if (reason === 'content-filter') return { status: 'incomplete', incomplete: { reason: 'content_filter' } };
  return { status: 'completed', incomplete: null };
}

/** The request settings a response echoes (and keeps, when stored). */
export interface Echo {
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

export interface ResponseState {
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
export function responseObject(echo: Echo, s: ResponseState) {
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
    model: responseModel(echo.model),
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

export function storedObject(r: StoredResponse) {
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

export function echoOf(body: ResponsesRequest, tools: FunctionTool[], previousId: string | null, conversation: { id: string } | null, store: boolean, format: CompiledFormat | undefined): Echo {
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

export const messageItem = (text: string, status: OutputMessage['status']): OutputMessage => ({
  id: itemId('msg'),
  type: 'message',
  role: 'assistant',
  status,
  content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
});

/** The calls of client-side function tools among a run's tool calls, as function_call items. */
export function functionCalls(calls: unknown[] | undefined, names: Set<string>): FunctionCallItem[] {
  return clientToolCalls(calls, names).map((c) => ({ id: itemId('fc'), type: 'function_call' as const, status: 'completed' as const, call_id: c.id, name: c.name, arguments: c.arguments }));
}
