/**
 * POST /mcp: the Model Context Protocol over Streamable HTTP (@modelcontextprotocol/sdk's
 * McpServer and StreamableHTTPServerTransport), for editors and agent runtimes (Claude
 * Desktop, Cursor, the OpenAI Agents SDK…).
 *
 * Stateless: every HTTP request gets its own server and transport, built for the caller
 * its API key names (no Mcp-Session-Id, nothing kept in this process), so any replica
 * answers any request; threads, budgets, usage and rate limits live in Postgres as for /v1.
 *
 *   auth       the /v1 API keys (Authorization: Bearer) and RATE_LIMIT_RPM bucket, in
 *              front of the body parser; refusals are JSON-RPC error bodies (errors.ts)
 *   body       the /v1 body limit (BODY_LIMIT); bad JSON → -32700, too large → 413 -32600
 *   tools      `ask_<agent>` for each agent the caller may use (AGENT_USERS_<NAME>; the
 *              AT Protocol agents are ADMIN_USERS-only by default): ask.ts; and those
 *              agents' own tools, acting for the caller: tools.ts
 *
 * Answers are JSON (enableJsonResponse), not server-sent events; GET and DELETE (the
 * server-to-client stream and session end of stateful servers) answer 405.
 */
import type { Agent } from '@mastra/core/agent';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express, { Router, type ErrorRequestHandler, type RequestHandler } from 'express';
import { z } from 'zod';
import { OpenAIError } from '../openai/errors';
import { THREAD_ID, type AgentRouteDeps } from '../openai/route-deps';
import { askHints } from './annotations';
import { ask } from './ask';
import { jsonRpcErrorSender, toolError } from './errors';
import { registerAgentTools } from './tools';

export interface McpDeps extends AgentRouteDeps {
  /** The /v1 authentication and rate limit (src/server/auth.ts authMiddleware). */
  auth: RequestHandler;
  /** The /v1 body limit (BODY_LIMIT). */
  bodyLimit: string;
}

export const MCP_SERVER_INFO = { name: 'one-agents', version: '0.1.0' };

/** An agent's name as a tool name: `ask_` + the name, characters outside A-Z a-z 0-9 _ - as `_`. */
export const askToolName = (agent: string) => `ask_${agent.replace(/[^A-Za-z0-9_-]/g, '_')}`;

/** The ids of an agent's tools (for its annotations), read once per agent. */
function toolIdsOf(agents: Record<string, Agent>) {
  const cache = new Map<string, Promise<string[]>>();
  return (name: string) => {
    let ids = cache.get(name);
    if (!ids) {
      ids = Promise.resolve(agents[name]!.listTools())
        .then((tools) => Object.entries(tools as Record<string, { id?: string }>).map(([key, t]) => t?.id ?? key))
        .catch(() => []);
      cache.set(name, ids);
    }
    return ids;
  };
}

/** The MCP server one caller sees: only the agents this key owner may use. */
async function serverFor(deps: McpDeps, owner: string | undefined, toolIds: (name: string) => Promise<string[]>): Promise<McpServer> {
  const server = new McpServer(MCP_SERVER_INFO, {
    capabilities: { tools: {} },
    instructions: 'Each ask_<agent> tool runs one turn of that agent. Pass the thread_id of an earlier answer to continue that conversation.',
  });
  const names = Object.keys(deps.agents).filter((name) => !deps.mayUse || deps.mayUse(owner, name)).sort();
  for (const name of names) {
    const agent = deps.agents[name]!;
    const description = agent.getDescription?.() || `The ${name} agent.`;
    server.registerTool(
      askToolName(name),
      {
        title: `Ask ${name}`,
        description: `${description} Runs one turn of the \`${name}\` agent (its own tools run on the server) and answers with its reply and the thread_id; pass thread_id to continue the same conversation.`,
        inputSchema: {
          message: z.string().min(1).describe('what to say to the agent'),
          thread_id: z.string().regex(THREAD_ID, '1-128 characters of letters, digits and _ . : -').optional().describe('continue this conversation (a thread_id from an earlier answer); omit to start a new one'),
        },
        outputSchema: { text: z.string(), thread_id: z.string() },
        annotations: askHints(await toolIds(name)),
      },
      async ({ message, thread_id }, extra) => {
        try {
          const r = await ask(deps, { agentName: name, agent, owner, message, threadId: thread_id, signal: extra.signal });
          return { content: [{ type: 'text' as const, text: r.text }], structuredContent: { text: r.text, thread_id: r.threadId } };
        } catch (err) {
          return toolError(err, deps.logger);
        }
      },
    );
  }
  await registerAgentTools(server, { agents: deps.agents, names, owner, logger: deps.logger });
  return server;
}

export function mcpRouter(deps: McpDeps): Router {
  const router = Router();
  const toolIds = toolIdsOf(deps.agents);
  router.use(deps.auth);
  router.post('/', express.json({ limit: deps.bodyLimit }), async (req, res, next) => {
    try {
      // JSON-RPC 2.0: an empty batch is an invalid request (the SDK would accept it with 202 and no answer).
      if (Array.isArray(req.body) && req.body.length === 0) throw new OpenAIError(400, 'Invalid Request: an empty batch.', 'invalid_request_error', 'invalid_value');
      const server = await serverFor(deps, res.locals.caller?.owner, toolIds);
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => {
        void transport.close().catch(() => {});
        void server.close().catch(() => {});
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch (err) {
      next(err);
    }
  });
  router.all('/', (_req, res, next) => {
    res.setHeader('allow', 'POST');
    next(new OpenAIError(405, 'Method not allowed: this MCP server is stateless; send JSON-RPC messages with POST.', 'invalid_request_error', 'method_not_allowed'));
  });
  router.use((req, _res, next) => next(new OpenAIError(404, `Unknown request URL: ${req.method} ${req.originalUrl}.`, 'invalid_request_error', 'unknown_url')));
  router.use(jsonRpcErrorSender(deps) as ErrorRequestHandler);
  return router;
}
