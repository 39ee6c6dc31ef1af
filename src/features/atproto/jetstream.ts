/**
 * The Jetstream trigger (JETSTREAM_URL): the same trigger reading Jetstream's JSON
 * events instead of the relay's CBOR firehose, subscribed with
 * `wantedCollections=app.bsky.feed.post`:
 *   {"did","time_us","kind":"commit","commit":{"rev","operation","collection","rkey","record","cid"}}
 *   {"did","time_us","kind":"identity","identity":{…}}  {"did","time_us","kind":"account","account":{…}}
 * Its cursor is time_us, saved in atproto_cursors (`jetstream:<url>`); a (re)connect
 * resumes ATPROTO_JETSTREAM_REWIND before the safe cursor (replayed events are
 * de-duplicated by the mention rows), with exponential backoff up to 30 s (stream-reader.ts,
 * shared with the firehose reader).
 *
 * Jetstream events carry no signature: a relevant one is confirmed against its author's
 * PDS (com.atproto.repo.getRecord; the CID must match, a deletion must be gone) before
 * anything is written, and the PDS's record is the one used. Unconfirmed events are
 * dropped and counted, never answered.
 */
import { clientOf, type AppContext } from '../../clients/context';
import type { MentionProcessor } from './mentions';
import type { PostRecord } from './relevance';
import { startStreamReader } from './stream-reader';
import { UnverifiedEvent, type Trigger } from './trigger';

const POST = 'app.bsky.feed.post';

interface JetstreamEvent {
  did?: string;
  time_us?: number;
  kind?: string;
  commit?: { rev?: string; operation?: 'create' | 'update' | 'delete'; collection?: string; rkey?: string; record?: PostRecord; cid?: string };
}

/** The subscribe URL of a Jetstream base (`wss://host` or `wss://host/subscribe`). */
export function jetstreamSubscribeUrl(base: string, cursor?: number): string {
  const u = new URL(base.replace(/^http/i, 'ws'));
  if (!u.pathname.endsWith('/subscribe')) u.pathname = `${u.pathname.replace(/\/$/, '')}/subscribe`;
  u.searchParams.set('wantedCollections', POST);
  if (cursor !== undefined) u.searchParams.set('cursor', String(cursor));
  else u.searchParams.delete('cursor');
  return u.toString();
}

export async function startJetstreamTrigger(ctx: AppContext, processor: MentionProcessor): Promise<Trigger> {
  const clients = clientOf(ctx, 'atproto');
  const live = ctx.config.atproto.live;
  const base = live.jetstreamUrl!;

  return startStreamReader(ctx, processor, {
    name: 'jetstream',
    service: base,
    cursorName: `jetstream:${base}`,
    dataMode: 'text',
    connectUrl: (c) => jetstreamSubscribeUrl(base, c === undefined ? undefined : Math.max(0, c - live.jetstreamRewindMs * 1000)),
    handler: ({ core, tracker, hadCursor }) => {
      const { logger, filter } = core;

      /** Confirms the event on the author's PDS and applies the PDS's version of it. */
      const confirmAndApply = async (did: string, uri: string, op: 'create' | 'delete', cid: string | undefined, time: Date) => {
        const found = await clients.findRecord<PostRecord>(uri).catch((err) => {
          const code = (err as { code?: string }).code;
          if (code === 'DID_NOT_FOUND' || code === 'HANDLE_NOT_FOUND' || code === 'BAD_URI') throw new UnverifiedEvent(`${uri}: ${(err as Error).message}`);
          throw err;
        });
        if (op === 'delete') {
          if (found) throw new UnverifiedEvent(`${uri}: deletion reported, but the record is still on the author's PDS`);
          await core.apply({ action: 'delete', did, uri, time });
          return;
        }
        if (!found) throw new UnverifiedEvent(`${uri}: not on the author's PDS`);
        if (found.cid !== cid) throw new UnverifiedEvent(`${uri}: CID ${cid} does not match the PDS's ${found.cid}`);
        await core.apply({ action: 'create', did, uri, cid: found.cid, record: found.value, time });
      };

      return async (text) => {
        let evt: JetstreamEvent;
        try {
          evt = JSON.parse(text as string) as JetstreamEvent;
        } catch {
          logger.warn('undecodable jetstream frame');
          return;
        }
        const t = evt.time_us;
        if (typeof t !== 'number' || typeof evt.did !== 'string') return;
        await core.anchor(t, hadCursor);
        core.counters.events++;
        core.lastEventTime = Math.floor(t / 1000);
        const c = evt.commit;
        if (evt.kind !== 'commit' || !c || c.collection !== POST || typeof c.rkey !== 'string') {
          tracker.seen(t);
          return;
        }
        const did = evt.did;
        const uri = `at://${did}/${POST}/${c.rkey}`;
        const time = new Date(t / 1000);
        let relevant = false;
        let op: 'create' | 'delete' = 'create';
        if (filter.isAgent(did)) relevant = c.operation === 'create' || c.operation === 'delete';
        if (c.operation === 'delete') {
          op = 'delete';
          relevant = filter.indexedReplies.has(uri);
        } else if (c.operation === 'create' && !relevant && c.record && typeof c.record === 'object') {
          relevant = filter.isRelevant(filter.classify(c.record));
        }
        if (filter.isAgent(did) && c.operation === 'delete') relevant = false; // own deletions: nothing to do
        if (relevant) await core.schedule(t, did, () => confirmAndApply(did, uri, op, c.cid, time));
        else tracker.seen(t);
      };
    },
  });
}
