/**
 * The agent-run options for client tools, tool choice and a response format, shared by
 * Chat Completions and the Responses API (each converts its own request shape first).
 */
import type { Agent } from '@mastra/core/agent';
import { noToolsHooks, toMastraClientTools, toMastraToolChoice, type ClientTool, type ToolChoice } from './client-tools';
import type { CompiledFormat } from './structured-output';

export interface ToolRunRequest {
  tools: ClientTool[];
  choice: ToolChoice | undefined;
  format: CompiledFormat | undefined;
  parallelToolCalls?: boolean | null;
}

/**
 * Options to spread into agent.generate / agent.stream, and the names of the client tools
 * whose calls are handed back to the caller (none with tool_choice "none").
 */
export async function toolRunOptions(agent: Agent, r: ToolRunRequest): Promise<{ options: Record<string, unknown>; clientNames: Set<string> }> {
  const clientNames = new Set(r.choice === 'none' ? [] : r.tools.map((t) => t.name));
  // Request-body fields the model call carries as they are: @ai-sdk/openai-compatible copies
  // provider options it does not know into the request body.
  const passthrough: Record<string, unknown> = {
    ...(r.format?.upstream ? { response_format: r.format.upstream } : {}),
    ...(r.parallelToolCalls != null && clientNames.size ? { parallel_tool_calls: r.parallelToolCalls } : {}),
  };
  const providerKey = Object.keys(passthrough).length ? await providerOptionsKey(agent) : undefined;
  return {
    clientNames,
    options: {
      ...(clientNames.size ? { clientTools: toMastraClientTools(r.tools) } : {}),
      ...(r.choice !== undefined ? { toolChoice: toMastraToolChoice(r.choice) } : {}),
      // tool_choice "none": no tool runs, the agent's own included, even if the model calls one.
      ...(r.choice === 'none' ? { hooks: noToolsHooks } : {}),
      ...(providerKey ? { providerOptions: { [providerKey]: passthrough } } : {}),
    },
  };
}

/** The provider-options namespace of an agent's model (@ai-sdk/openai-compatible: the provider name before the first dot), or undefined for other providers. */
export async function providerOptionsKey(agent: Agent): Promise<string | undefined> {
  try {
    const model = (await agent.getModel()) as { provider?: string };
    const provider = String(model.provider ?? '');
    // Our OpenAI-compatible models (src/mastra/model.ts) are `<name>.chat`.
    return provider.endsWith('.chat') ? provider.split('.')[0]!.trim() : undefined;
  } catch {
    return undefined;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON values, typed by the AI SDK provider
type ProviderOptions = Record<string, Record<string, any>>;

/** The tool options with other provider options merged in (one namespace may hold keys of both). */
export function withProviderOptions(toolOptions: Record<string, unknown>, extra: ProviderOptions | undefined): Record<string, unknown> {
  if (!extra) return toolOptions;
  const merged: ProviderOptions = { ...((toolOptions.providerOptions as ProviderOptions | undefined) ?? {}) };
  for (const [k, v] of Object.entries(extra)) merged[k] = { ...(merged[k] ?? {}), ...v };
  return { ...toolOptions, providerOptions: merged };
}
