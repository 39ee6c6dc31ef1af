/**
 * A feed generator served with @atproto/xrpc-server on /xrpc: the agents' posts,
 * newest first (indexed from the firehose and from the tools' own writes).
 *   app.bsky.feed.describeFeedGenerator → { did, feeds: [at://<agent did>/app.bsky.feed.generator/agents] }
 *   app.bsky.feed.getFeedSkeleton?feed=…&limit=…&cursor=… → { feed: [{ post }], cursor }
 * Params and outputs are validated against the app.bsky lexicons; bad input gets an
 * XRPC error body ({ error, message }) with the right status.
 */
import { schemas } from '@atproto/api';
import type { LexiconDoc } from '@atproto/lexicon';
import { ResponseType } from '@atproto/xrpc';
import { createServer, InvalidRequestError, XRPCError, type Server } from '@atproto/xrpc-server';
import { clientOf, type AppContext } from '../../clients/context';
import type { AtprotoClients } from '../../clients/atproto/clients';

export const FEED_RKEY = 'agents';

export function feedUri(clients: AtprotoClients): string | undefined {
  const publisher = clients.accounts()[0];
  return publisher ? `at://${publisher.did}/app.bsky.feed.generator/${FEED_RKEY}` : undefined;
}

/** did:web of this server, from its public URL (FEEDGEN_DID overrides). */
export function serviceDid(ctx: AppContext): string {
  if (ctx.config.atproto.feedGeneratorDid) return ctx.config.atproto.feedGeneratorDid;
  const url = new URL(ctx.urls.publicUrl ?? `http://localhost:${ctx.config.port}`);
  return `did:web:${encodeURIComponent(url.host)}`;
}

function parseCursor(cursor: string): { createdAt: string; uri: string } {
  const idx = cursor.indexOf('::');
  const ms = Number(cursor.slice(0, idx));
  const uri = cursor.slice(idx + 2);
  if (idx <= 0 || !Number.isInteger(ms) || ms < 0 || !uri.startsWith('at://')) throw new InvalidRequestError('malformed cursor', 'BadCursor');
  return { createdAt: new Date(ms).toISOString(), uri };
}

export function createFeedGenerator(ctx: AppContext): Server {
  const clients = clientOf(ctx, 'atproto');
  const store = clients.store;
  const server = createServer(schemas as LexiconDoc[], {
    validateResponse: true,
    // Any other /xrpc/* method is answered in XRPC's format, not as an HTML/OpenAI 404:
    // a 4xx (the caller asked for what is not here), not XRPC's default 501.
    catchall: (req, _res, next) =>
      next(new XRPCError(ResponseType.XRPCNotSupported, `${req.path.slice(1)} is not served here; this server is a feed generator`, 'MethodNotImplemented')),
  });
  server.router.disable('x-powered-by');

  server.method('app.bsky.feed.describeFeedGenerator', async () => {
    const uri = feedUri(clients);
    return { encoding: 'application/json', body: { did: serviceDid(ctx), feeds: uri ? [{ uri }] : [] } };
  });

  server.method('app.bsky.feed.getFeedSkeleton', async ({ params }) => {
    const { feed, limit, cursor } = params as { feed: string; limit?: number; cursor?: string };
    if (feed !== feedUri(clients)) throw new InvalidRequestError(`this server does not generate the feed ${feed}`, 'UnknownFeed');
    const rows = await store.feed({ limit: limit ?? 50, before: cursor ? parseCursor(cursor) : undefined });
    const last = rows[rows.length - 1];
    return {
      encoding: 'application/json',
      body: { feed: rows.map((r) => ({ post: r.uri })), cursor: last && rows.length === (limit ?? 50) ? `${last.created_at.getTime()}::${last.uri}` : undefined },
    };
  });
  return server;
}
