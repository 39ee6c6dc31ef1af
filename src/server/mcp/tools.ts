/**
 * The agents' own Mastra tools as MCP tools, for the callers who may use an agent that
 * has them: `calculate`, `current-time`, `atproto-post`, `ipfs-pin-text`, `save-note`…
 * under the key the agent's model sees. A tool several permitted agents share is listed
 * once and runs as the first of them by name (the AT Protocol tools post as that
 * agent's account). The call runs as it does inside a turn of that agent: the user it
 * acts for is the caller's memory resource (never an argument), so notes, tasks and pins
 * are the caller's own; tools refuse key material (SECRET_DETECTED) as they do for
 * /v1. No model is asked: nothing is counted in usage. The tool's `{ok, …}` result is
 * the structured content (and its JSON the text); `ok: false` is `isError`.
 */
import { randomUUID } from 'node:crypto';
import type { Agent } from '@mastra/core/agent';
import { MASTRA_RESOURCE_ID_KEY, RequestContext } from '@mastra/core/request-context';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../../logger';
import { resolveResource } from '../auth';
import { toolHints } from './annotations';
import { toolError } from './errors';

interface MastraToolLike {
  id?: string;
  description?: string;
  inputSchema?: unknown;
  execute?: (input: unknown, context: unknown) => Promise<unknown>;
}

/** A tool name as MCP allows it: the key with characters outside A-Z a-z 0-9 _ - . as `_`. */
const toolName = (key: string) => key.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 128);

/** The tools the caller may use: key → the first permitted agent (by name) that has it. */
export async function permittedTools(agents: Record<string, Agent>, names: string[]): Promise<Map<string, { agent: string; tool: MastraToolLike }>> {
  const out = new Map<string, { agent: string; tool: MastraToolLike }>();
  for (const agent of names) {
    let tools: Record<string, MastraToolLike>;
    try {
      tools = (await agents[agent]!.listTools()) as Record<string, MastraToolLike>;
    } catch {
      continue;
    }
    for (const [key, tool] of Object.entries(tools)) {
      const name = toolName(key);
      if (name.startsWith('ask_') || out.has(name) || typeof tool?.execute !== 'function') continue;
      out.set(name, { agent, tool });
    }
  }
  return out;
}

function asResult(out: unknown): CallToolResult {
  const obj = out && typeof out === 'object' && !Array.isArray(out) ? (out as Record<string, unknown>) : { value: out };
  // `{ok: false, error}` (src/tools/result.ts) and Mastra's input validation failure (`{error: true, message}`).
  const failed = obj.ok === false || obj.error === true;
  return { content: [{ type: 'text', text: JSON.stringify(obj) }], structuredContent: obj, ...(failed ? { isError: true } : {}) };
}

export async function registerAgentTools(server: McpServer, d: { agents: Record<string, Agent>; names: string[]; owner: string | undefined; logger: Logger }): Promise<void> {
  const resourceId = resolveResource(d.owner, undefined);
  for (const [name, { agent, tool }] of await permittedTools(d.agents, d.names)) {
    const id = tool.id ?? name;
    server.registerTool(
      name,
      {
        description: `${tool.description ?? ''} (the \`${agent}\` agent's tool, acting for you)`.trim(),
        ...(tool.inputSchema ? { inputSchema: tool.inputSchema as never } : {}),
        annotations: toolHints(id),
      },
      (async (args: unknown, extra: { signal: AbortSignal }) => {
        const requestContext = new RequestContext();
        requestContext.set(MASTRA_RESOURCE_ID_KEY, resourceId);
        d.logger.info('MCP tool call', { tool: id, agent, keyOwner: d.owner ?? null, via: 'mcp' });
        try {
          const out = await tool.execute!(args ?? {}, {
            requestContext,
            abortSignal: extra.signal,
            // As inside a turn of `agent`: whom the tool acts for and as which agent.
            agent: { agentId: agent, resourceId, toolCallId: `mcp-${randomUUID()}`, messages: [] },
          });
          return asResult(out);
        } catch (err) {
          return toolError(err, d.logger);
        }
      }) as never,
    );
  }
}
