/**
 * The firehose trigger: reads com.atproto.sync.subscribeRepos from the relay
 * (RELAY_URL) or the PDS itself and turns posts that mention an agent or reply to one
 * into mention rows (Postgres) handed to the MentionProcessor; the agents' own posts and
 * other accounts' replies in their threads are indexed.
 *
 * Cheap first, verified later: a frame is decoded (CBOR header + body, the CAR stays
 * bytes); commits without an app.bsky.feed.post op are passed over; a post by someone
 * else is only decoded when its CAR bytes contain an agent's DID or a reply root while
 * thread roots are known (RelevanceFilter.mayConcern), and only a post that then
 * concerns the agents has its commit signature and MST proof checked (the author's DID
 * resolved through a bounded cache). Nothing unverified is written or answered.
 *
 * The cursor saved in Postgres never passes an unfinished relevant event (CursorTracker);
 * while `ATPROTO_TRIGGER_MAX_PENDING` relevant events are in work the socket is not
 * read (backpressure through @atproto/ws-client's high-water mark); reconnects back off
 * exponentially up to 30 s and resume from the safe cursor (stream-reader.ts, shared with
 * the Jetstream reader).
 */
import { IdResolver } from '@atproto/identity';
import { decode, decodeAll } from '@atproto/lex-cbor';
import { readCar, RepoVerificationError } from '@atproto/repo';
import { parseCommitAuthenticated } from '@atproto/sync';
import { clientOf, type AppContext } from '../../clients/context';
import type { MentionProcessor } from './mentions';
import { LruDidCache, type PostRecord } from './relevance';
import { startStreamReader } from './stream-reader';
import { UnverifiedEvent, type Trigger } from './trigger';

const POST = 'app.bsky.feed.post';
const POST_PREFIX = `${POST}/`;

interface CommitOp {
  action: 'create' | 'update' | 'delete';
  path: string;
  cid: { toString(): string; equals(o: unknown): boolean } | null;
}
interface CommitBody {
  seq: number;
  repo: string;
  time: string;
  rev: string;
  commit: unknown;
  ops: CommitOp[];
  blocks: Uint8Array;
  tooBig?: boolean;
}

export async function startFirehoseTrigger(ctx: AppContext, processor: MentionProcessor): Promise<Trigger> {
  const clients = clientOf(ctx, 'atproto');
  const live = ctx.config.atproto.live;
  const url = clients.firehoseUrl;
  const didCache = new LruDidCache(live.cacheSize);
  const idResolver = new IdResolver({ plcUrl: clients.plcUrl, timeout: 5000, fetch: globalThis.fetch, didCache });
  const matchPost = (col: string) => col === POST;

  return startStreamReader(ctx, processor, {
    name: 'firehose',
    service: url,
    cursorName: `firehose:${url}`,
    dataMode: 'binary',
    connectUrl: (c) => `${url}/xrpc/com.atproto.sync.subscribeRepos${c !== undefined ? `?cursor=${c}` : ''}`,
    stats: (s) => ({ ...s, caches: { ...s.caches, didDocuments: didCache.size } }),
    handler: ({ core, tracker, hadCursor }) => {
      const { logger, filter } = core;

      /** Verifies the commit (signature + MST proofs of its post ops) and applies its posts. */
      const verifyAndApply = async (body: CommitBody) => {
        let verified;
        try {
          verified = await parseCommitAuthenticated(idResolver, body as never, matchPost);
        } catch (err) {
          if (err instanceof RepoVerificationError || (err as Error)?.name === 'DidNotFoundError' || /could not resolve|no atproto signing key|did not found/i.test(String((err as Error)?.message)))
            throw new UnverifiedEvent(`commit ${body.seq} by ${body.repo}: ${(err as Error).message}`);
          throw err;
        }
        for (const evt of verified) {
          if (evt.event === 'create') await core.apply({ action: 'create', did: evt.did, uri: evt.uri.toString(), cid: evt.cid.toString(), record: evt.record as PostRecord, time: new Date(body.time) });
          else if (evt.event === 'delete') await core.apply({ action: 'delete', did: evt.did, uri: evt.uri.toString(), time: new Date(body.time) });
        }
      };

      /** Decides from the commit alone whether it concerns the agents (no DID resolution, no signature). */
      const relevant = async (body: CommitBody): Promise<boolean> => {
        const postOps = body.ops.filter((op) => op.path.startsWith(POST_PREFIX));
        if (!postOps.length) return false;
        if (filter.isAgent(body.repo)) return true;
        for (const op of postOps) {
          if (op.action === 'delete') {
            if (filter.indexedReplies.has(`at://${body.repo}/${op.path}`)) return true;
            continue;
          }
          if (op.action !== 'create' || !op.cid || !filter.mayConcern(body.blocks)) continue;
          const car = await readCar(body.blocks, { skipCidVerification: true });
          const bytes = car.blocks.get(op.cid as never);
          if (!bytes) continue;
          const record = decode(bytes) as PostRecord;
          if (record && typeof record === 'object' && filter.isRelevant(filter.classify(record))) return true;
        }
        return false;
      };

      return async (chunk) => {
        let header: { op?: number; t?: string };
        let body: Record<string, unknown>;
        try {
          const frame = decodeAll(chunk as Uint8Array);
          header = frame.next().value as typeof header;
          body = frame.next().value as typeof body;
        } catch (err) {
          logger.warn('undecodable firehose frame', { error: err });
          return;
        }
        if (header?.op !== 1) {
          logger.warn('firehose error frame', { error: body?.error, message: body?.message });
          return;
        }
        const seq = typeof body.seq === 'number' ? body.seq : undefined;
        if (seq === undefined) return;
        await core.anchor(seq, hadCursor);
        core.counters.events++;
        if (typeof body.time === 'string') core.lastEventTime = Date.parse(body.time);
        if (header.t === '#commit') {
          const c = body as unknown as CommitBody;
          let isRelevant = false;
          try {
            isRelevant = await relevant(c);
          } catch (err) {
            logger.debug('unparsable commit passed over', { seq, error: err });
          }
          if (isRelevant) await core.schedule(seq, c.repo, () => verifyAndApply(c));
          else tracker.seen(seq);
        } else {
          // A changed identity may have a new signing key or PDS: forget the cached document.
          if (header.t === '#identity' && typeof body.did === 'string') await didCache.clearEntry(body.did);
          tracker.seen(seq);
        }
      };
    },
  });
}
