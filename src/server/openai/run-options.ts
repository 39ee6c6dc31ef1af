/**
 * The agent-run options for client tools, tool choice and a response format, shared by
 * Chat Completions and the Responses API (each converts its own request shape first).
 */
import { noToolsHooks, toMastraClientTools, toMastraToolChoice, type ClientTool, type ToolChoice } from './client-tools';
import type { CompiledFormat } from './structured-output';

export interface ToolRunRequest {
  tools: ClientTool[];
  choice: ToolChoice | undefined;
  format: CompiledFormat | undefined;
  parallelToolCalls?: boolean | null;
  /**
   * The provider-options namespace of the agent's OpenAI-compatible model (src/mastra/model.ts
   * compatibleProviderName), or undefined for other providers: then nothing is passed through.
   */
  providerKey: string | undefined;
}

/**
 * Options to spread into agent.generate / agent.stream, and the names of the client tools
 * whose calls are handed back to the caller (none with tool_choice "none").
 */
export function toolRunOptions(r: ToolRunRequest): { options: Record<string, unknown>; clientNames: Set<string> } {
  const clientNames = new Set(r.choice === 'none' ? [] : r.tools.map((t) => t.name));
  // Request-body fields the model call carries as they are: @ai-sdk/openai-compatible copies
  // provider options it does not know into the request body.
  const passthrough: Record<string, unknown> = {
    ...(r.format?.upstream ? { response_format: r.format.upstream } : {}),
    ...(r.parallelToolCalls != null && clientNames.size ? { parallel_tool_calls: r.parallelToolCalls } : {}),
  };
  const providerKey = Object.keys(passthrough).length ? r.providerKey : undefined;
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


// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON values, typed by the AI SDK provider
type ProviderOptions = Record<string, Record<string, any>>;

/** The tool options with other provider options merged in (one namespace may hold keys of both). */
export function withProviderOptions(toolOptions: Record<string, unknown>, extra: ProviderOptions | undefined): Record<string, unknown> {
  if (!extra) return toolOptions;
  const merged: ProviderOptions = { ...((toolOptions.providerOptions as ProviderOptions | undefined) ?? {}) };
  for (const [k, v] of Object.entries(extra)) merged[k] = { ...(merged[k] ?? {}), ...v };
  return { ...toolOptions, providerOptions: merged };
}
