/**
 * Turns the model settings in Config into a Mastra model for a named agent.
 *
 * - `openai/*`, or any id when OPENAI_BASE_URL is set: an OpenAI-compatible Chat
 *   Completions client (OpenAI, Ollama, vLLM, LM Studio, LiteLLM…). We build it with
 *   `includeUsage` so streamed answers report real token usage (Mastra's model router
 *   does not ask for it).
 * - anything else (`anthropic/…`, `google/…`): Mastra's model router, which reads the
 *   provider's usual API key variable.
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { ModelWithRetries } from '@mastra/core/agent';
import type { MastraModelConfig } from '@mastra/core/llm';
import type { Config } from '../config';
import { AppError } from '../errors';
import { withFallbacks, type FallbackReason } from './fallback-model';

export function modelIdFor(config: Config, agentName: string): string {
  return (Object.hasOwn(config.model.perAgent, agentName) ? config.model.perAgent[agentName] : undefined) ?? config.model.default;
}

/**
 * False when an agent would use OpenAI's own endpoint with no key at all: nothing to call.
 * Other providers (anthropic/…, google/…) read their own key variables and are left to Mastra.
 */
export function modelConfigured(config: Config, agentName?: string): boolean {
  const ids = agentName ? [modelIdFor(config, agentName)] : [config.model.default, ...Object.values(config.model.perAgent)];
  return !!config.model.baseUrl || !!config.model.apiKey || !!process.env.OPENAI_API_KEY || ids.every((id) => !id.startsWith('openai/'));
}

export class ModelNotConfiguredError extends AppError<'MODEL_NOT_CONFIGURED'> {
  constructor() {
    super('MODEL_NOT_CONFIGURED', 'no language model is configured: set OPENAI_BASE_URL (any OpenAI-compatible endpoint) and/or OPENAI_API_KEY');
  }
}

/** fetch with an upper bound on the whole upstream call, so a stuck model becomes a 504, not a hung request. */
function fetchWithTimeout(timeoutMs: number, configured: boolean): typeof fetch {
  return (input, init) => {
    // Nothing configured: fail at once instead of trying the default provider's host.
    if (!configured) return Promise.reject(new ModelNotConfiguredError());
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    return fetch(input, { ...init, signal });
  };
}

/**
 * The provider name the OpenAI-compatible client uses for model `id`, or undefined when
 * the model goes through Mastra's router (anthropic/…, google/… without OPENAI_BASE_URL).
 * Mastra drops temperature/topP for models its registry does not list under a known
 * provider; a custom endpoint's models are not in that registry, hence `-compatible`.
 */
function providerNameOf(config: Config, id: string): string | undefined {
  const provider = id.slice(0, id.indexOf('/'));
  if (!config.model.baseUrl && provider !== 'openai') return undefined;
  return config.model.baseUrl ? `${provider}-compatible` : provider;
}

/**
 * The provider name of the agent's OpenAI-compatible chat model, or undefined when the
 * model goes through Mastra's router. Request options under this name in
 * `providerOptions` that the AI SDK does not know are sent to the model as they are
 * (`logit_bias`, `web_search_options`): see src/server/openai/params.ts.
 */
export function compatibleProviderName(config: Config, agentName: string): string | undefined {
  return providerNameOf(config, modelIdFor(config, agentName));
}

/** The agent's fallback models: AGENT_FALLBACKS_<NAME> when set (even to `none`), else MODEL_FALLBACKS. */
export function fallbackIdsFor(config: Config, agentName: string): string[] {
  const own = Object.hasOwn(config.model.perAgentFallbacks, agentName) ? config.model.perAgentFallbacks[agentName] : undefined;
  const primary = modelIdFor(config, agentName);
  return (own ?? config.model.fallbacks).filter((id) => id !== primary);
}

/** An OpenAI-compatible chat model for `id`, under provider name `name`. */
function compatibleModel(config: Config, agentName: string, name: string, id: string) {
  return createOpenAICompatible({
    name,
    baseURL: config.model.baseUrl ?? 'https://api.openai.com/v1',
    apiKey: config.model.apiKey ?? process.env.OPENAI_API_KEY ?? '',
    includeUsage: true,
    fetch: fetchWithTimeout(config.model.timeoutMs, modelConfigured(config, agentName)),
  }).chatModel(id.slice(id.indexOf('/') + 1));
}

/**
 * The agent's model. With fallbacks it is one model trying each in turn before the first
 * token (src/mastra/fallback-model.ts), every one built under the primary's provider name
 * so the request's providerOptions reach each model of the chain. A chain that includes
 * a model of Mastra's router uses Mastra's own fallback list instead, which may switch
 * models after a stream has started (see docs/configuration.md).
 */
export function resolveModel(config: Config, agentName: string, onFallback?: (from: string, to: string, reason: FallbackReason) => void): MastraModelConfig | ModelWithRetries[] {
  const ids = [modelIdFor(config, agentName), ...fallbackIdsFor(config, agentName)];
  const name = compatibleProviderName(config, agentName);
  if (name && ids.every((id) => providerNameOf(config, id))) {
    const chain = ids.map((id) => ({ id, model: compatibleModel(config, agentName, name, id) }));
    return withFallbacks(chain, onFallback) as unknown as MastraModelConfig;
  }
  if (ids.length === 1) return ids[0] as MastraModelConfig;
  return ids.map((id) => {
    const own = providerNameOf(config, id);
    return { model: (own ? compatibleModel(config, agentName, own, id) : id) as MastraModelConfig, maxRetries: config.model.maxRetries };
  });
}

/**
 * The providerOptions namespace of an agent's OpenAI-compatible client (camelCase, as
 * @ai-sdk/openai-compatible reads it): keys it does not know itself are sent as-is in the
 * Chat Completions body (e.g. `parallel_tool_calls`). Undefined for models served by
 * Mastra's model router (anthropic/…, google/…).
 */
export function compatibleOptionsKey(config: Config, agentName: string): string | undefined {
  return compatibleProviderName(config, agentName)?.replace(/[_-]([a-z])/g, (g) => g[1]!.toUpperCase());
}

/** The agent's model with its fallbacks, logging each switch as one JSON line (ids and reason class only). */
export function agentModel(ctx: { config: Config; logger: { warn(msg: string, fields?: Record<string, unknown>): void } }, agentName: string): MastraModelConfig | ModelWithRetries[] {
  return resolveModel(ctx.config, agentName, (from, to, reason) => ctx.logger.warn('model fallback', { agent: agentName, from, to, reason }));
}
