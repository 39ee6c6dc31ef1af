/**
 * The backend endpoints PowerSync clients need, under /powersync:
 *   GET  /powersync/jwks.json    public keys the sync service verifies tokens with (no auth)
 *   GET|POST /powersync/credentials  {endpoint, token, user_id, expires_at} for the caller
 *   POST /powersync/upload       applies a CRUD batch (see upload.ts for statuses)
 * Everything but the JWKS needs the same API key as /v1 (src/server/auth.ts). The user
 * is the caller's memory resource, exactly as on /v1: the key owner, owner:user when a
 * `user` is given, or the `user` itself in keyless development mode.
 */
import express, { type ErrorRequestHandler, type Request, type Router } from 'express';
import type { AppContext } from '../../context';
import { authMiddleware, RateLimiter } from '../../server/auth';
import { resolveResource } from '../../server/openai/chat';
import { errors, OpenAIError } from '../../server/openai/errors';
import type { TokenKeys } from './keys';
import { applyCrudBatch, UploadError, type UploadResult } from './upload';

const USER = /^[A-Za-z0-9_.@:-]{1,128}$/;

export interface SyncRouteDeps {
  ctx: AppContext;
  keys: TokenKeys;
  knownAgents: () => Set<string>;
  onUploaded: (userId: string, result: UploadResult) => void;
}

function userOf(req: Request, owner: string | undefined): string {
  const raw = (req.query.user ?? (req.body as { user?: unknown } | undefined)?.user) as unknown;
  if (raw !== undefined && (typeof raw !== 'string' || !USER.test(raw))) throw errors.invalidBody('user must be 1-128 letters, digits or _ . @ : -', 'user');
  const user = resolveResource(owner, raw as string | undefined);
  if (!owner && raw === undefined) throw errors.invalidBody('Without API keys (development mode) say who you are: ?user=<id>.', 'user');
  return user;
}

export function createSyncRouter(d: SyncRouteDeps): Router {
  const { ctx, keys } = d;
  const c = ctx.config;
  const router = express.Router();
  router.get('/jwks.json', (_req, res) => {
    res.setHeader('cache-control', 'public, max-age=300');
    res.json(keys.jwks);
  });
  router.use(authMiddleware(c.apiKeys, new RateLimiter(c.rateLimitRpm), c.rateLimitRpm));
  router.use(express.json({ limit: c.bodyLimit }));

  const credentials: express.RequestHandler = async (req, res) => {
    const userId = userOf(req, res.locals.caller?.owner);
    const endpoint = c.powersync.publicUrl ?? ctx.urls.powersyncUrl;
    if (!endpoint) throw new OpenAIError(503, 'The sync service is not running.', 'server_error', 'sync_unavailable');
    const { token, expiresAt } = await keys.sign({ sub: userId, audience: c.powersync.audience, ttlSeconds: c.powersync.tokenTtlSeconds });
    res.setHeader('cache-control', 'no-store');
    res.json({ endpoint, token, user_id: userId, expires_at: new Date(expiresAt * 1000).toISOString() });
  };
  router.get('/credentials', credentials);
  router.post('/credentials', credentials);

  router.post('/upload', async (req, res) => {
    const userId = userOf(req, res.locals.caller?.owner);
    const result = await applyCrudBatch(ctx.db, userId, req.body, d.knownAgents());
    d.onUploaded(userId, result);
    res.json({ applied: result.applied });
  });

  router.use((req, _res, next) => next(errors.routeNotFound(req.method, req.originalUrl)));
  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    let status: number;
    let body: unknown;
    if (err instanceof UploadError) {
      status = err.status;
      body = err.toJSON();
    } else {
      let e: OpenAIError;
      if (err instanceof OpenAIError) e = err;
      else if (err?.type === 'entity.too.large') e = errors.tooLarge(c.bodyLimit);
      else if (err?.type === 'entity.parse.failed') e = errors.badJson();
      else {
        ctx.logger.error('powersync endpoint failed', { path: req.path, error: err });
        e = errors.internal();
      }
      for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
      status = e.status;
      const j = e.toJSON();
      // 5xx and 429 are worth retrying; everything else is not.
      body = { error: { ...j.error, retryable: status >= 500 || status === 429 } };
    }
    if (res.headersSent) return void res.end();
    res.status(status).json(body);
  };
  router.use(onError);
  return router;
}
