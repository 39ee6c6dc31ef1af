/**
 * A2A (Agent2Agent, protocol 1.0, @a2a-js/sdk 1.3): every agent at `/a2a/<agent>`, its
 * agent card at `/a2a/<agent>/.well-known/agent-card.json`, JSON-RPC `SendMessage` and
 * `SendStreamingMessage` at `/a2a/<agent>`. Same keys, rate limit, body limit, agent
 * access, thread ownership, budgets and usage rows as /v1 and /mcp: each message is one
 * turn through the same `ask` as MCP's `ask_<agent>` (../mcp/ask.ts).
 *
 * The A2A `contextId` is the memory thread: a message without one starts a new
 * conversation (the SDK gives it a new id), one with a contextId continues that thread,
 * another user's is refused. The agent answers with a Message (no Task), so nothing is
 * kept in this process and any replica answers any request; the SDK's in-memory task
 * store only ever holds the FAILED task the SDK makes of a refused turn.
 */
import { randomUUID } from 'node:crypto';
import type { Agent } from '@mastra/core/agent';
import { Role, type AgentCard, type Message } from '@a2a-js/sdk';
import { AgentEvent, DefaultRequestHandler, InMemoryTaskStore, type AgentExecutor, type ExecutionEventBus, type RequestContext } from '@a2a-js/sdk/server';
import { agentCardHandler, jsonRpcHandler } from '@a2a-js/sdk/server/express';
import express, { Router, type Request } from 'express';
import { agentNamed } from '../openai/models';
import { OpenAIError } from '../openai/errors';
import { THREAD_ID } from '../openai/route-deps';
import { ask } from '../mcp/ask';
import type { McpDeps } from '../mcp';
import { jsonRpcErrorSender } from '../mcp/errors';

const text = (value: string) => ({ content: { $case: 'text' as const, value }, metadata: undefined, filename: '', mediaType: 'text/plain' });

function cardOf(name: string, agent: Agent, url: string): AgentCard {
  const description = agent.getDescription?.() || `The ${name} agent.`;
  return {
    name,
    description,
    supportedInterfaces: [{ url, protocolBinding: 'JSONRPC', tenant: '', protocolVersion: '1.0' }],
    provider: undefined,
    version: '0.1.0',
    capabilities: { streaming: true, pushNotifications: false, extensions: [], extendedAgentCard: false },
    securitySchemes: { bearer: { scheme: { $case: 'httpAuthSecurityScheme', value: { description: 'an API key of this server (API_KEYS)', scheme: 'Bearer', bearerFormat: '' } } } },
    securityRequirements: [{ schemes: { bearer: { list: [] } } }],
    defaultInputModes: ['text/plain'],
    defaultOutputModes: ['text/plain'],
    skills: [{ id: name, name, description, tags: ['chat'], examples: [], inputModes: ['text/plain'], outputModes: ['text/plain'], securityRequirements: [] }],
    signatures: [],
  };
}

/** The caller the A2A SDK hands to the executor: the API key's owner (undefined keyless). */
class KeyOwner {
  constructor(readonly owner: string | undefined) {}
  get isAuthenticated() {
    return this.owner !== undefined;
  }
  get userName() {
    return this.owner ?? 'anonymous';
  }
}

function executorFor(deps: McpDeps, name: string, agent: Agent): AgentExecutor {
  return {
    async execute(rc: RequestContext, bus: ExecutionEventBus) {
      const user = rc.context.user;
      const owner = user instanceof KeyOwner ? user.owner : undefined;
      const message = rc.userMessage.parts.map((p) => (p.content?.$case === 'text' ? p.content.value : '')).filter(Boolean).join('\n');
      if (!message) throw new OpenAIError(400, 'The message has no text part.', 'invalid_request_error', 'invalid_value', 'message.parts');
      if (!THREAD_ID.test(rc.contextId)) throw new OpenAIError(400, 'contextId must be 1-128 characters of letters, digits and _ . : -', 'invalid_request_error', 'invalid_value', 'contextId');
      // The context names the thread: claimed for the caller when new, refused when another user's.
      const r = await ask(deps, { agentName: name, agent, owner, message, threadId: rc.contextId, via: 'a2a' });
      const reply: Message = {
        messageId: randomUUID(),
        contextId: r.threadId,
        taskId: '',
        role: Role.ROLE_AGENT,
        parts: [text(r.text)],
        metadata: { usage: r.usage },
        extensions: [],
        referenceTaskIds: [],
      };
      bus.publish(AgentEvent.message(reply));
      bus.finished();
    },
    async cancelTask() {},
  };
}

export function a2aRouter(deps: McpDeps): Router {
  const router = Router();
  const handlers = new Map<string, ReturnType<typeof jsonRpcHandler>>();
  const baseUrl = (req: Request) => `${req.protocol}://${req.get('host')}${req.baseUrl}`;
  router.use(deps.auth);
  // The agent: known and permitted, else 404 as if unknown (as /v1/models/<name> answers).
  router.use('/:agent', (req, res, next) => {
    const name = req.params.agent as string;
    if (!agentNamed(deps.agents, name) || (deps.mayUse && !deps.mayUse(res.locals.caller?.owner, name))) {
      return next(new OpenAIError(404, `No agent \`${name}\` for this API key.`, 'invalid_request_error', 'model_not_found', 'agent'));
    }
    next();
  });
  router.get('/:agent/.well-known/agent-card.json', (req, res, next) => {
    const name = req.params.agent as string;
    const card = cardOf(name, deps.agents[name]!, `${baseUrl(req)}/${encodeURIComponent(name)}`);
    // The SDK's handler serves its own root path (it is meant to be mounted at the card's URL).
    req.url = '/';
    agentCardHandler({ agentCardProvider: async () => card })(req, res, next);
  });
  router.post('/:agent', express.json({ limit: deps.bodyLimit }), (req, res, next) => {
    const name = req.params.agent as string;
    let handler = handlers.get(name);
    if (!handler) {
      const agent = deps.agents[name]!;
      const requestHandler = new DefaultRequestHandler(cardOf(name, agent, `/a2a/${name}`), new InMemoryTaskStore(), executorFor(deps, name, agent));
      handler = jsonRpcHandler({ requestHandler, userBuilder: async (r) => new KeyOwner((r.res?.locals.caller as { owner?: string } | undefined)?.owner) });
      handlers.set(name, handler);
    }
    // The SDK's router matches its own root path.
    req.url = '/';
    handler(req, res, next);
  });
  router.use((req, _res, next) => next(new OpenAIError(404, `Unknown request URL: ${req.method} ${req.originalUrl}.`, 'invalid_request_error', 'unknown_url')));
  router.use(jsonRpcErrorSender(deps));
  return router;
}
