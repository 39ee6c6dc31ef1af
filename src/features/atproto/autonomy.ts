/**
 * Admin routes for the agents' autonomy (docs/atproto.md "Autonomy controls"), mounted
 * by the atproto feature under /admin/agents:
 *   GET  /admin/agents                         every AT agent: paused, reply mode, decisions by status; the trigger
 *   GET  /admin/agents/:name                   one agent, the same
 *   POST /admin/agents/:name/pause             stop answering (state in Postgres: every replica stops)
 *   POST /admin/agents/:name/resume            answer again; held mentions run (or are skipped when too old)
 *   GET  /admin/agents/:name/decisions?limit=&status=   every decision, newest first
 * With API_KEYS set, only the key owners in ADMIN_USERS (401 without a key, 403 for others).
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { replyModeOf } from '../../config';
import { clientOf, type AppContext } from '../../clients/context';
import type { MentionRow } from '../../stores/atproto/store';
import { authMiddleware, type Limiter } from '../../server/auth';
import { errors, OpenAIError } from '../../server/openai/errors';
import type { MentionProcessor } from './mentions';
import type { Trigger } from './trigger';

/** The running trigger and processor of a system (set by startBackground). */
export const running = new WeakMap<AppContext, { trigger?: Trigger; processor?: MentionProcessor }>();

const decisionView = (r: MentionRow) => ({
  mention_uri: r.mention_uri,
  author_did: r.author_did,
  text: r.text,
  status: r.status,
  answered: r.status === 'posted',
  reason: r.reason,
  reply_uri: r.reply_uri,
  event_time: r.event_time,
  seen_at: r.created_at,
  decided_at: r.updated_at,
  attempts: r.attempts,
});

export function createAutonomyRouter(ctx: AppContext, limiter: Limiter): Router {
  const config = ctx.config;
  const router = express.Router();
  router.use(authMiddleware(config.apiKeys, limiter, config.rateLimitRpm));
  router.use((_req: Request, res: Response, next: NextFunction) => {
    if (config.apiKeys.size && !config.adminUsers.has(res.locals.caller?.owner ?? '')) return next(errors.forbidden('the /admin routes (set ADMIN_USERS)'));
    next();
  });
  router.use(express.json({ limit: '16kb' }));
  const store = () => clientOf(ctx, 'atproto').store;

  const agentOf = (req: Request) => {
    const name = String(req.params.name ?? '').toLowerCase();
    if (!config.atproto.agents.includes(name))
      throw new OpenAIError(404, `"${name}" is not an AT agent (ATPROTO_AGENTS=${config.atproto.agents.join(',')}).`, 'invalid_request_error', 'unknown_agent', 'name');
    return name;
  };
  const view = async (name: string) => {
    const acc = clientOf(ctx, 'atproto').accounts().find((a) => a.name === name);
    const state = await store().agentState(name);
    const queued = running.get(ctx)?.processor?.queued()[name] ?? { queued: 0, backlog: 0 };
    return {
      name,
      did: acc?.did ?? null,
      handle: acc?.handle ?? null,
      autonomy: config.atproto.autoReply ? (state.paused ? 'paused' : 'running') : 'off (ATPROTO_AUTOREPLY=0)',
      paused: state.paused,
      paused_reason: state.reason,
      changed_by: state.updated_by,
      changed_at: state.updated_at,
      reply_mode: replyModeOf(config.atproto.live, name),
      max_mention_age_s: config.atproto.live.maxMentionAgeMs / 1000,
      catchup_interval_s: config.atproto.live.catchupIntervalMs / 1000,
      ...queued,
      decisions: await store().decisionCounts(name),
    };
  };
  const wrap = (fn: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response, next: NextFunction) => fn(req, res).catch(next);

  router.get(
    '/',
    wrap(async (_req, res) => {
      res.json({ agents: await Promise.all(config.atproto.agents.map(view)), trigger: running.get(ctx)?.trigger?.stats() ?? null });
    }),
  );
  router.get(
    '/:name',
    wrap(async (req, res) => {
      res.json({ ...(await view(agentOf(req))), trigger: running.get(ctx)?.trigger?.stats() ?? null });
    }),
  );
  for (const action of ['pause', 'resume'] as const) {
    router.post(
      `/:name/${action}`,
      wrap(async (req, res) => {
        const name = agentOf(req);
        const reason = typeof req.body?.reason === 'string' ? req.body.reason.slice(0, 500) : undefined;
        await store().setPaused(name, action === 'pause', res.locals.caller?.owner ?? 'local', reason);
        const processor = running.get(ctx)?.processor;
        await processor?.refreshPaused(true);
        ctx.logger.info(`agent autonomy ${action}d`, { feature: 'atproto', agent: name, by: res.locals.caller?.owner ?? 'local' });
        if (action === 'resume') void processor?.sweepNow?.();
        res.json(await view(name));
      }),
    );
  }
  router.get(
    '/:name/decisions',
    wrap(async (req, res) => {
      const name = agentOf(req);
      const limit = Math.min(1000, Math.max(1, Number.parseInt(String(req.query.limit ?? '50'), 10) || 50));
      const status = typeof req.query.status === 'string' && req.query.status ? req.query.status : undefined;
      res.json({ agent: name, decisions: (await store().decisions(name, limit, status)).map(decisionView) });
    }),
  );
  return router;
}
