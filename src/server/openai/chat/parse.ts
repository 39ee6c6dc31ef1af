/**
 * Chat Completions, stage 1: the request body, checked (400 naming the parameter) and
 * turned into API-neutral shapes: client tools and tool choice (client-tools.ts), the
 * response format (structured-output.ts), sampling settings and the parameters passed to
 * the model as they are (params.ts needsCompatibleModel).
 */
import { MAX_CLIENT_TOOLS, type ClientTool, type ToolChoice } from '../client-tools';
import { errors } from '../errors';
import { chatCompletionRequest, MAX_MESSAGES, paramName, type ChatCompletionRequest } from '../schema';
import type { ResponseFormat } from '../structured-output';
import { MAX_TRANSCRIPT_MESSAGES, transcriptMessages } from './transcript';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON values, typed by the AI SDK provider
type UpstreamProviderOptions = Record<string, Record<string, any>>;

/**
 * The request parameters passed to the model as they are (params.ts `needsCompatibleModel`):
 * reasoning_effort and verbosity through the AI SDK's own options, logit_bias and
 * web_search_options as extra body keys under the provider's name.
 */
export function upstreamOptions(body: ChatCompletionRequest, provider: string | undefined): { providerOptions?: UpstreamProviderOptions } {
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

export function parseBody(body: unknown): ChatCompletionRequest {
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

/** The sampling settings of a request, in Mastra's names. */
export function modelSettingsOf(body: ChatCompletionRequest) {
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
