/**
 * What Mastra Studio needs from our server when it is served from another origin
 * (`mastra studio -s <port>`, docs/development.md "Studio against a running server"):
 *
 * - `GET /` answers 200: Studio checks that its server is up by fetching the base URL.
 * - CORS on `/` and `/api/*` for Studio's origin. Keyless (loopback-only development):
 *   any loopback origin. With API_KEYS: only the origins in STUDIO_ORIGINS, and the
 *   request itself still needs an admin's key (Studio sends it as `Authorization`).
 *   Preflights are answered here, before authentication, as browsers send no key on them.
 */
import type { RequestHandler } from 'express';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function loopbackOrigin(origin: string): boolean {
  try {
    const u = new URL(origin);
    return (u.protocol === 'http:' || u.protocol === 'https:') && LOOPBACK.has(u.hostname);
  } catch {
    return false;
  }
}

export function studioCors(opts: { keyless: boolean; origins: string[] }): RequestHandler {
  const listed = new Set(opts.origins);
  return (req, res, next) => {
    if (!(req.path === '/' || req.path === '/api' || req.path.startsWith('/api/'))) return next();
    res.vary('Origin');
    const origin = req.get('origin');
    const allowed = origin !== undefined && (listed.has(origin) || (opts.keyless && loopbackOrigin(origin)));
    if (allowed) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
    if (req.method === 'OPTIONS' && req.get('access-control-request-method')) {
      if (!allowed) return void res.status(403).end();
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', req.get('access-control-request-headers') ?? 'authorization, content-type');
      res.setHeader('Access-Control-Max-Age', '600');
      return void res.status(204).end();
    }
    next();
  };
}

/** `GET /`: where things are; Studio's reachability check. */
export const rootInfo: RequestHandler = (_req, res) => {
  res.json({ name: 'one-agents', api: '/v1', mastra: '/api', health: '/health', ready: '/ready' });
};
