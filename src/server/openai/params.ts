/**
 * The parameter policy of POST /v1/chat/completions, in one place: every property of
 * OpenAI's CreateChatCompletionRequest (openai/openai-openapi, checked by
 * test/unit/params.test.ts against test/fixtures/openai-openapi) is
 *   - `honoured`: it does what OpenAI documents (sometimes by passing it to the model);
 *   - `refused`: the server cannot do what it asks, so a request that uses it answers
 *     400 `unsupported_parameter` naming it (a default value such as `n: 1`,
 *     `logprobs: false` or `null` is not a use);
 *   - `ignored`: accepted and without effect because it does not change what the answer
 *     means (bookkeeping for OpenAI's own platform: metadata, store, caching hints…).
 * Keys that are not in OpenAI's document are ignored (clients such as Open WebUI add
 * their own), except the few known vendor extensions that would change the answer
 * (`top_k`, `min_p`, vLLM's guided decoding…), which are refused like the rest; the
 * names of ignored unknown keys are returned in the `x-ignored-params` response header.
 * Values are type-checked by schema.ts; this file only decides what a valid value does.
 */
import { OpenAIError } from './errors';

export type Handling = 'honoured' | 'refused' | 'ignored';

export interface ParamRule {
  handling: Handling;
  /** Why, in a sentence (shown in docs/api.md and, for refusals, in the error message). */
  reason: string;
  /** For `refused`: is this value a use of the parameter? (default: anything but null/undefined) */
  used?: (value: unknown) => boolean;
  /** Honoured only when the agent's model takes it (an OpenAI-compatible endpoint); otherwise refused with this reason. */
  needsCompatibleModel?: boolean;
  /** Validated and enforced by schema.ts (client tools, structured output), not by checkParams. */
  schemaOwned?: boolean;
}

const set = (v: unknown) => v !== undefined && v !== null;

/** Every property of CreateChatCompletionRequest, with what this server does with it. */
export const CHAT_COMPLETION_PARAMS: Record<string, ParamRule> = {
  model: { handling: 'honoured', reason: "the agent's name (GET /v1/models)" },
  messages: { handling: 'honoured', reason: 'system/developer messages become the instructions; user (text and image parts), assistant (text, refusal, tool calls), tool and function messages the conversation (a final assistant message without tool calls is a prefill the model continues)' },
  stream: { handling: 'honoured', reason: 'chat.completion.chunk server-sent events ending in [DONE]' },
  stream_options: { handling: 'honoured', reason: '`include_usage` adds the usage chunk (and `usage: null` on the chunks before it); `include_obfuscation` is accepted, no obfuscation is sent' },
  temperature: { handling: 'honoured', reason: 'passed to the model' },
  top_p: { handling: 'honoured', reason: 'passed to the model' },
  presence_penalty: { handling: 'honoured', reason: 'passed to the model' },
  frequency_penalty: { handling: 'honoured', reason: 'passed to the model' },
  seed: { handling: 'honoured', reason: 'passed to the model' },
  max_tokens: { handling: 'honoured', reason: 'passed to the model as its output limit (per model call)' },
  max_completion_tokens: { handling: 'honoured', reason: 'as max_tokens; wins over it' },
  stop: { handling: 'honoured', reason: 'passed to the model' },
  user: { handling: 'honoured', reason: "names the end user: the memory resource is `owner:user` (any string; one that is not 1-256 of A-Z a-z 0-9 _ . @ : - is stored as its SHA-256); not sent to the model" },
  reasoning_effort: { handling: 'honoured', reason: 'passed to the model as `reasoning_effort`', needsCompatibleModel: true },
  verbosity: { handling: 'honoured', reason: 'passed to the model as `verbosity`', needsCompatibleModel: true },
  logit_bias: { handling: 'honoured', reason: 'passed to the model as `logit_bias` (token ids of the model behind the agent)', needsCompatibleModel: true },
  web_search_options: { handling: 'honoured', reason: 'passed to the model as `web_search_options` (only search-capable models use it)', needsCompatibleModel: true },
  n: { handling: 'refused', reason: 'an agent run produces one answer (its tools and memory run once): only n=1', used: (v) => set(v) && v !== 1 },
  logprobs: { handling: 'refused', reason: 'the agent path does not return token log probabilities', used: (v) => v === true },
  top_logprobs: { handling: 'refused', reason: 'the agent path does not return token log probabilities', used: set },
  modalities: { handling: 'refused', reason: 'the agents answer in text only', used: (v) => Array.isArray(v) && v.some((m) => m !== 'text') },
  audio: { handling: 'refused', reason: 'the agents answer in text only (no audio output)', used: set },
  prediction: { handling: 'refused', reason: 'predicted outputs are not passed through an agent run (several model calls, tools in between)', used: set },
  moderation: { handling: 'refused', reason: 'no moderation is run on this server', used: set },
  // Client-side tools and structured output: validated in schema.ts, client-tools.ts and
  // structured-output.ts (400 naming the field there), not enforced here.
  tools: { handling: 'honoured', reason: "function tools offered to the model beside the agent's own; a call of one ends the response with tool_calls", schemaOwned: true },
  tool_choice: { handling: 'honoured', reason: '"none" (no tool runs, the agent\'s own included), "auto", "required", or a named function', schemaOwned: true },
  parallel_tool_calls: { handling: 'honoured', reason: 'passed to the model; false hands back at most one call', schemaOwned: true },
  functions: { handling: 'honoured', reason: 'the deprecated form of tools: same path, answered with message.function_call', schemaOwned: true },
  function_call: { handling: 'honoured', reason: 'the deprecated form of tool_choice ("none", "auto", {"name"})', schemaOwned: true },
  response_format: { handling: 'honoured', reason: 'passed to the model and checked server-side (json_object, json_schema with ajv); a reply that does not conform is 502 invalid_model_output', schemaOwned: true },
  // Bookkeeping for OpenAI's own platform: no effect on what the answer says.
  metadata: { handling: 'ignored', reason: 'tags for OpenAI’s dashboard; nothing here reads them' },
  store: { handling: 'ignored', reason: 'every turn is kept in the caller’s memory thread anyway (x-thread-id)' },
  service_tier: { handling: 'ignored', reason: 'one tier; the answer does not name one' },
  prompt_cache_key: { handling: 'ignored', reason: 'a caching hint' },
  prompt_cache_retention: { handling: 'ignored', reason: 'a caching hint' },
  prompt_cache_options: { handling: 'ignored', reason: 'a caching hint' },
  safety_identifier: { handling: 'ignored', reason: 'an abuse-monitoring id for OpenAI; not sent upstream' },
};

/** Keys outside OpenAI's document that other servers give a meaning this server would silently drop. */
export const REFUSED_EXTENSIONS: Record<string, string> = {
  top_k: 'top_k sampling is not passed to the model',
  min_p: 'min_p sampling is not passed to the model',
  repetition_penalty: 'repetition_penalty is not passed to the model',
  best_of: 'an agent run produces one answer',
  echo: 'the prompt is not echoed',
  suffix: 'insertion (suffix) is not supported',
  guided_json: 'guided decoding is not supported',
  guided_regex: 'guided decoding is not supported',
  guided_choice: 'guided decoding is not supported',
  guided_grammar: 'guided decoding is not supported',
};

export const unsupportedParameter = (param: string, reason: string) =>
  new OpenAIError(400, `Unsupported parameter: '${param}': ${reason}.`, 'invalid_request_error', 'unsupported_parameter', param);

/** At most this many ignored key names are reported back (x-ignored-params). */
const MAX_REPORTED = 20;

export interface ParamCheck {
  /** Keys outside OpenAI's document that were ignored (for the x-ignored-params header). */
  ignoredUnknown: string[];
}

/**
 * Refuses (400 unsupported_parameter) a request that uses a parameter the server cannot
 * honour. `compatibleModel`: whether the agent's model is an OpenAI-compatible endpoint
 * that takes the pass-through parameters.
 */
export function checkParams(body: Record<string, unknown>, compatibleModel: boolean): ParamCheck {
  const ignoredUnknown: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    const rule = Object.hasOwn(CHAT_COMPLETION_PARAMS, key) ? CHAT_COMPLETION_PARAMS[key] : undefined;
    if (!rule) {
      if (Object.hasOwn(REFUSED_EXTENSIONS, key) && set(value)) throw unsupportedParameter(key, REFUSED_EXTENSIONS[key]!);
      if (ignoredUnknown.length < MAX_REPORTED && /^[A-Za-z0-9_.-]{1,64}$/.test(key)) ignoredUnknown.push(key);
      continue;
    }
    if (rule.schemaOwned) continue;
    if (rule.handling === 'refused' && (rule.used ?? set)(value)) throw unsupportedParameter(key, rule.reason);
    if (rule.needsCompatibleModel && set(value) && !compatibleModel) {
      throw unsupportedParameter(key, "this agent's model provider does not take it (only OpenAI-compatible endpoints do)");
    }
  }
  return { ignoredUnknown };
}

