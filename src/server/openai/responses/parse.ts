/**
 * The Responses API, stage 1: the request body, its input items and function tools,
 * checked (responses-schema.ts; 400 naming the parameter), and the settings passed to
 * the model.
 */
import { parseInput, parseResponsesBody, parseTools, type FunctionTool, type InputItem, type ResponsesRequest } from '../responses-schema';

export interface ParsedResponseRequest {
  body: ResponsesRequest;
  items: InputItem[];
  tools: FunctionTool[];
}

export function parseResponseRequest(raw: unknown): ParsedResponseRequest {
  const body = parseResponsesBody(raw);
  const items = parseInput(body.input);
  const tools = parseTools(body.tools);
  return { body, items, tools };
}

/** The sampling settings of a request, in Mastra's names. */
export function modelSettingsOf(body: ResponsesRequest) {
  return {
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { topP: body.top_p } : {}),
    ...(body.max_output_tokens != null ? { maxOutputTokens: body.max_output_tokens } : {}),
  };
}

/**
 * reasoning.effort and parallel_tool_calls for the upstream Chat Completions request:
 * `reasoningEffort` is read by the OpenAI-compatible client from `openaiCompatible`;
 * `parallel_tool_calls` is sent as-is from the agent's own namespace. Models served by
 * Mastra's model router (anthropic/…) get neither (docs/api.md).
 */
export function upstreamOptions(key: string | undefined, body: ResponsesRequest): Record<string, Record<string, unknown>> | undefined {
  const effort = body.reasoning?.effort;
  if (!key || (!effort && body.parallel_tool_calls == null)) return undefined;
  const out: Record<string, Record<string, unknown>> = {};
  if (effort) out.openaiCompatible = { reasoningEffort: effort };
  if (body.parallel_tool_calls != null) out[key] = { ...out[key], parallel_tool_calls: body.parallel_tool_calls };
  return out;
}
