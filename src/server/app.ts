/**
 * The express app: /v1 (OpenAI-compatible), /mcp (Model Context Protocol), /api (Mastra's own routes, including its
 * Responses-style /api/v1/responses), /health and /ready. Features register further
 * routers through `extraRouters` (PowerSync endpoints, XRPC, Kubo…).
 */
import { randomUUID } from 'node:crypto';
import type { Agent } from '@mastra/core/agent';
import type { Mastra } from '@mastra/core';
import { MastraServer } from '@mastra/express';
import type { Memory } from '@mastra/memory';
import type pg from 'pg';
import express, { type Express, type RequestHandler, type Router } from 'express';
import { mayUseAgent, type Config } from '../config';
import { compatibleOptionsKey } from '../mastra/model';
import { redactText, withRequestId, type Logger } from '../logger';
import { withAnsweringModel } from '../mastra/answering-model';
import { compatibleProviderName, modelIdFor } from '../mastra/model';
import { authMiddleware, RateLimiter, type Limiter } from './auth';
import { errorSender } from './errors';
import { createOutboundFetch } from '../util/outbound';
import { ImageBytesGate } from './openai/images';
import { createChatHandler } from './openai/chat';
import { responsesRouter } from './openai/responses';
import { errors } from './openai/errors';
import { Metrics } from './metrics';
import { rootInfo, studioCors } from './studio';
import { modelsRouter } from './openai/models';
import { UsageMeter, usageRouter } from './usage';
import { mcpRouter } from './mcp';
import { a2aRouter } from './a2a';
import type { Readiness } from './readiness';
import type { CompletedTurn } from './turns';

export interface AppDeps {
  config: Config;
  logger: Logger;
  mastra: Mastra;
  agents: Record<string, Agent>;
  memory: Memory;
  /** The app's database (thread claims). */
  db: pg.Pool;
  /** Shared with the feature routes (one bucket per key); a new one when absent. */
  limiter?: Limiter;
  readiness: Readiness;
  onTurn?: (turn: CompletedTurn) => Promise<void> | void;
  /** Mounted before the /v1 catch-all, e.g. [['/xrpc', router]]. */
  extraRouters?: Array<[string, Router | RequestHandler]>;
}

export async function createApp(deps: AppDeps): Promise<Express> {
  const { config, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  const startedAt = Date.now();
  const metrics = new Metrics();
  // A request id on every request: the caller's x-request-id when it is a sane token, else
  // a new one; sent back as x-request-id and carried by every log line of the request.
  app.use((req, res, next) => {
    const sent = req.headers['x-request-id'];
    const id = typeof sent === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(sent) ? sent : randomUUID();
    res.setHeader('x-request-id', id);
    // Its own note of which model answered (MODEL_FALLBACKS): the response's `model` and the usage row read it.
    withRequestId(id, () => withAnsweringModel(() => next()));
  });
  app.use(metrics.middleware());

  // Studio served from another origin (`mastra studio`): CORS on / and /api, GET / (src/server/studio.ts).
  app.use(studioCors({ keyless: config.apiKeys.size === 0, origins: config.observability.studioOrigins }));
  app.get('/', rootInfo);

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', uptime_s: Math.round((Date.now() - startedAt) / 1000) });
  });
  app.get('/ready', async (_req, res) => {
    const r = await deps.readiness.run();
    res.status(r.ready ? 200 : 503).json(r);
  });

  const limiter = deps.limiter ?? new RateLimiter(config.rateLimitRpm);
  const auth = authMiddleware(config.apiKeys, limiter, config.rateLimitRpm);
  // Behind the API keys when they are set (a Prometheus scraper can send a bearer token).
  app.get('/metrics', config.apiKeys.size ? authMiddleware(config.apiKeys, new RateLimiter(0), 0) : (_q, _s, n) => n(), (_req, res) => {
    res.type('text/plain; version=0.0.4').send(metrics.render());
  });

  for (const [path, router] of deps.extraRouters ?? []) app.use(path, router);

  // ---- /v1: OpenAI-compatible -------------------------------------------------------
  const v1 = express.Router();
  v1.use(auth);
  v1.use(express.json({ limit: config.bodyLimit }));
  const mayUse = (owner: string | undefined, agent: string) => mayUseAgent(config, owner, agent);
  v1.use(modelsRouter(deps.agents, startedAt, mayUse));
  // Usage per key owner and day, token budgets (src/server/usage.ts); `usage` is for every /v1 route that calls a model.
  const usage = new UsageMeter(deps.db, config.budgets, logger, (agent) => modelIdFor(config, agent));
  v1.use(usageRouter({ db: deps.db, adminUsers: config.adminUsers, keyless: config.apiKeys.size === 0 }));
  // Image URLs in messages are fetched through the outbound guard; only OUTBOUND_ALLOW_HOSTS
  // may be internal (not the configured services: a caller must not reach them through an image).
  const images = {
    maxBytes: config.images.maxBytes,
    maxTotalBytes: config.images.maxTotalBytes,
    gate: new ImageBytesGate(config.images.maxInFlightBytes),
    fetch: createOutboundFetch({ allow: config.outboundAllowHosts, timeoutMs: config.images.fetchTimeoutMs, maxBytes: config.images.maxBytes, maxRedirects: 3 }),
  };
  v1.post('/chat/completions', createChatHandler({ agents: deps.agents, memory: deps.memory, db: deps.db, mayUse, logger, maxSteps: config.model.maxSteps, onTurn: deps.onTurn, usage, compatibleProvider: (agent) => compatibleProviderName(config, agent), images }));
  v1.use(
    responsesRouter({
      agents: deps.agents,
      memory: deps.memory,
      db: deps.db,
      mayUse,
      logger,
      maxSteps: config.model.maxSteps,
      onTurn: deps.onTurn,
      usage,
      upstreamOptionsKey: (agent) => compatibleOptionsKey(config, agent),
      compatibleProvider: (agent) => compatibleProviderName(config, agent),
      images,
    }),
  );
  v1.use((req, _res, next) => next(errors.routeNotFound(req.method, req.originalUrl)));
  app.use('/v1', v1);

  // ---- /mcp: the Model Context Protocol (Streamable HTTP, stateless), same keys, agent access, budgets and usage as /v1 ----
  const agentDeps = { agents: deps.agents, memory: deps.memory, db: deps.db, mayUse, logger, maxSteps: config.model.maxSteps, onTurn: deps.onTurn, usage, auth, bodyLimit: config.bodyLimit };
  app.use('/mcp', mcpRouter(agentDeps));
  // ---- /a2a/<agent>: Agent2Agent (agent card, SendMessage, SendStreamingMessage), the same turn as MCP's ask_<agent> ----
  app.use('/a2a', a2aRouter(agentDeps));

  // ---- /api: Mastra's own routes (agents, workflows, memory, Responses API…) --------
  const api = express();
  api.disable('x-powered-by');
  api.use(express.json({ limit: config.bodyLimit }));
  // Without Mastra's editor (CMS) there are no tool providers: Studio's Integrations page
  // lists none instead of getting Mastra's 500 "Editor is not configured".
  if (!deps.mastra.getEditor()) api.get('/api/tool-providers', (_req, res) => void res.json({ providers: [] }));
  const mastraServer = new MastraServer({ app: api, mastra: deps.mastra, prefix: '/api' });
  await mastraServer.init();
  // Mastra's routes reach every user's memory and every workflow: with API keys, only
  // the owners in ADMIN_USERS may use them (keyless development is loopback-only).
  const adminOnly: RequestHandler = (_req, res, next) => {
    if (config.apiKeys.size && !config.adminUsers.has(res.locals.caller?.owner ?? '')) return next(errors.forbidden("Mastra's /api routes (set ADMIN_USERS)"));
    next();
  };
  // Admin-only, and not rate-limited: one Studio page makes dozens of /api requests.
  app.use('/api', authMiddleware(config.apiKeys, new RateLimiter(0), 0), adminOnly);
  app.use(api);

  app.use(errorSender({ logger, bodyLimit: config.bodyLimit, what: 'request' }));
  app.use((req, res) => {
    res.status(404).json(errors.routeNotFound(req.method, redactText(req.originalUrl)).toJSON());
  });
  return app;
}
