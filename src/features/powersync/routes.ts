/**
 * The backend endpoints PowerSync clients need, under /powersync:
 *   GET  /powersync/jwks.json    public keys the sync service verifies tokens with (no auth)
 *   GET|POST /powersync/credentials  {endpoint, token, user_id, expires_at} for the caller
 *   POST /powersync/upload       applies a CRUD batch (see upload.ts for statuses)
 * Everything but the JWKS needs the same API key as /v1 (src/server/auth.ts). The user
 * is the caller's memory resource, exactly as on /v1: the key owner, owner:user when a
 * `user` is given, or the `user` itself in keyless development mode.
 */
import express, { type Request, type Router } from 'express';
import type { AppContext } from '../../clients/context';
import { mayUseAgent } from '../../config';
import { authMiddleware, resolveResource, type Limiter } from '../../server/auth';
import { errorSender } from '../../server/errors';
import { errors, OpenAIError } from '../../server/openai/errors';
import type { TokenKeys } from '../../clients/powersync/keys';
import { applyCrudBatch, UploadError, type UploadResult } from '../../clients/powersync/upload';

const USER = /^[A-Za-z0-9_.@:-]{1,128}$/;

export interface PowerSyncRouteDeps {
  ctx: AppContext;
  keys: TokenKeys;
  knownAgents: () => Set<string>;
  onUploaded: (userId: string, result: UploadResult) => void;
  /** The server's rate limiter: /powersync counts against the same per-key bucket as /v1. */
  limiter: Limiter;
}

/** The synced data's user: the caller's memory resource, exactly as on /v1. */
function resourceOf(req: Request, owner: string | undefined): string {
  const raw = (req.query.user ?? (req.body as { user?: unknown } | undefined)?.user) as unknown;
  if (raw !== undefined && (typeof raw !== 'string' || !USER.test(raw))) throw errors.invalidBody('user must be 1-128 letters, digits or _ . @ : -', 'user');
  const user = resolveResource(owner, raw as string | undefined);
  if (!owner && raw === undefined) throw errors.invalidBody('Without API keys (development mode) say who you are: ?user=<id>.', 'user');
  return user;
}

export function createPowerSyncRouter(d: PowerSyncRouteDeps): Router {
  const { ctx, keys } = d;
  const c = ctx.config;
  const router = express.Router();
  router.get('/jwks.json', (_req, res) => {
    res.setHeader('cache-control', 'public, max-age=300');
    res.json(keys.jwks);
  });
  router.use(authMiddleware(c.apiKeys, d.limiter, c.rateLimitRpm));
  router.use(express.json({ limit: c.bodyLimit }));

  const credentials: express.RequestHandler = async (req, res) => {
    const userId = resourceOf(req, res.locals.caller?.owner);
    const endpoint = c.powersync.publicUrl ?? ctx.urls.powersyncUrl;
    if (!endpoint) throw new OpenAIError(503, 'The sync service is not running.', 'server_error', 'sync_unavailable');
    const { token, expiresAt } = await keys.sign({ sub: userId, audience: c.powersync.audience, ttlSeconds: c.powersync.tokenTtlSeconds });
    res.setHeader('cache-control', 'no-store');
    res.json({ endpoint, token, user_id: userId, expires_at: new Date(expiresAt * 1000).toISOString() });
  };
  router.get('/credentials', credentials);
  router.post('/credentials', credentials);

  router.post('/upload', async (req, res) => {
    const userId = resourceOf(req, res.locals.caller?.owner);
    const owner = res.locals.caller?.owner;
    const result = await applyCrudBatch(ctx.db, userId, req.body, d.knownAgents(), (agent) => mayUseAgent(c, owner, agent));
    d.onUploaded(userId, result);
    res.json({ applied: result.applied });
  });

  router.use((req, _res, next) => next(errors.routeNotFound(req.method, req.originalUrl)));
  router.use(
    errorSender({
      logger: ctx.logger,
      bodyLimit: c.bodyLimit,
      what: 'powersync endpoint',
      own: (err) => (err instanceof UploadError ? { status: err.status, body: err.toJSON() } : undefined),
      // 5xx and 429 are worth retrying; everything else is not.
      decorate: (j, status) => ({ error: { ...j.error, retryable: status >= 500 || status === 429 } }),
    }),
  );
  return router;
}
