/**
 * The firehose trigger: subscribes to com.atproto.sync.subscribeRepos on the relay
 * (RELAY_URL) or the PDS itself with @atproto/sync, and turns posts that mention an
 * agent or reply to one into mention rows (Postgres) handed to the MentionProcessor.
 * The agents' own posts are indexed for the feed generator and the rate limits.
 *
 * The cursor is saved in Postgres only after an event's rows are written (MemoryRunner
 * advances it when every earlier event is done), so a restart or a dropped connection
 * resumes where it stopped; @atproto/sync reconnects with exponential backoff.
 */
import { IdResolver, MemoryCache } from '@atproto/identity';
import { Firehose, MemoryRunner, type Event } from '@atproto/sync';
import { clientOf, type AppContext } from '../../clients/context';
import type { AtprotoClients } from '../../clients/atproto/clients';
import type { MentionProcessor } from './mentions';
import type { NewMention } from '../../clients/atproto/store';

interface PostRecord {
  text?: string;
  createdAt?: string;
  facets?: Array<{ features?: Array<{ $type?: string; did?: string }> }>;
  reply?: { root: { uri: string; cid: string }; parent: { uri: string; cid: string } };
  embed?: { $type?: string; record?: { uri?: string }; };
  labels?: { values?: Array<{ val: string }> };
}

/** The agents a post is addressed to: mentioned by DID in a facet, or answered directly. */
export function addressedAgents(clients: AtprotoClients, authorDid: string, record: PostRecord): string[] {
  const dids = new Set<string>();
  for (const f of record.facets ?? []) for (const feat of f.features ?? []) if (feat.$type === 'app.bsky.richtext.facet#mention' && feat.did) dids.add(feat.did);
  const parent = record.reply?.parent.uri;
  if (parent?.startsWith('at://')) dids.add(parent.slice(5).split('/')[0]!);
  const out: string[] = [];
  for (const did of dids) {
    const acc = clients.accountByDid(did);
    if (acc && acc.did !== authorDid) out.push(acc.name);
  }
  return out;
}

export interface FirehoseTrigger {
  stop(): Promise<void>;
}

export async function startFirehoseTrigger(ctx: AppContext, processor: MentionProcessor): Promise<FirehoseTrigger> {
  const clients = clientOf(ctx, 'atproto');
  const store = clients.store;
  const logger = ctx.logger.child({ feature: 'atproto', part: 'firehose' });
  const cursorName = `firehose:${clients.firehoseUrl}`;
  const startCursor = await store.getCursor(cursorName);
  const runner = new MemoryRunner({ startCursor, setCursor: (seq) => store.setCursor(cursorName, seq) });

  const handleEvent = async (evt: Event) => {
    if (evt.event !== 'create' && evt.event !== 'delete') return;
    if (evt.collection !== 'app.bsky.feed.post') return;
    if (evt.event === 'delete') {
      if (!clients.accountByDid(evt.did)) await store.forgetThreadReply(evt.uri.toString());
      return;
    }
    const record = evt.record as unknown as PostRecord;
    const uri = evt.uri.toString();
    const own = clients.accountByDid(evt.did);
    if (own) {
      await store.recordPost({ uri, agent: own.name, did: evt.did, cid: evt.cid.toString(), text: record.text ?? '', rootUri: record.reply?.root.uri, parentUri: record.reply?.parent.uri, createdAt: record.createdAt });
    }
    for (const agent of addressedAgents(clients, evt.did, record)) {
      const acc = clients.account(agent);
      const m: NewMention = {
        mention_uri: uri,
        agent,
        agent_did: acc.did,
        author_did: evt.did,
        mention_cid: evt.cid.toString(),
        root_uri: record.reply?.root.uri ?? uri,
        root_cid: record.reply?.root.cid ?? evt.cid.toString(),
        text: record.text ?? '',
      };
      if (await store.addMention(m)) {
        logger.debug('mention', { agent, uri });
        processor.enqueue(uri, agent);
      }
    }
    // Other accounts' replies in the agents' threads: thread context without an AppView.
    const reply = record.reply;
    if (!own && reply?.root?.uri && reply.parent?.uri) {
      await store.indexThreadReply({
        uri,
        did: evt.did,
        cid: evt.cid.toString(),
        text: typeof record.text === 'string' ? record.text : '',
        rootUri: reply.root.uri,
        parentUri: reply.parent.uri,
        automated: !!record.labels?.values?.some((l) => l.val === 'bot'),
      });
    }
  };

  const firehose = new Firehose({
    service: clients.firehoseUrl,
    // Signing keys are cached; a commit that fails to verify makes @atproto/sync re-resolve the key.
    idResolver: new IdResolver({ plcUrl: clients.plcUrl, fetch: globalThis.fetch, didCache: new MemoryCache(5 * 60_000, 60 * 60_000) }),
    runner,
    filterCollections: ['app.bsky.feed.post'],
    excludeIdentity: true,
    excludeAccount: true,
    excludeSync: true,
    maxReconnectSeconds: 30,
    handleEvent,
    onError: (err) => logger.warn('firehose error', { error: err, cause: (err as { cause?: unknown }).cause }),
  });
  void firehose.start();
  logger.info('firehose subscribed', { service: clients.firehoseUrl, cursor: startCursor ?? 'live' });
  return {
    async stop() {
      // Firehose.destroy() only settles once its read loop sees the abort; a loop that
      // ended otherwise would hold shutdown forever, so both waits are bounded.
      const bounded = (p: Promise<unknown>) => Promise.race([p, new Promise((r) => setTimeout(r, 2000).unref())]);
      await bounded(firehose.destroy());
      await bounded(runner.destroy());
    },
  };
}
