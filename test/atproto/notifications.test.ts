/**
 * The notifications source (the fallback when neither a relay nor Jetstream is
 * reachable). Without an AppView it cannot run end to end here, so the poller is driven
 * against a small HTTP server answering app.bsky.notification.listNotifications in the
 * lexicon's shape (read through @atproto/api), with notifications built from real posts
 * on the embedded PDS: a mention is answered once, a forged notification (CID mismatch)
 * is dropped, and the cursor (newest indexedAt) is kept in atproto_cursors.
 */
import http from 'node:http';
import { AtpAgent } from '@atproto/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { account, createPerson, listPosts, mention, postAs, waitFor } from '../../harness/atproto';
import { startTestSystem, type TestSystem } from '../../harness/system';
import { running } from '../../src/features/atproto/autonomy';
import { pollNotificationsOnce } from '../../src/features/atproto/notifications';
import { CursorTracker, TriggerCore } from '../../src/features/atproto/trigger';

let ts: TestSystem;
let server: http.Server;
let appview: AtpAgent;
let alice: Awaited<ReturnType<typeof createPerson>>;
let social: { did: string; handle: string };
const served: unknown[] = [];

const repliesTo = async (uri: string) => (await listPosts(ts.system, social.did)).filter((p) => p.value.reply?.parent?.uri === uri);
const row = async (uri: string) => (await ts.system.ctx.db.query('select * from atproto_mentions where mention_uri = $1', [uri])).rows[0];
const notification = async (ref: { uri: string; cid: string }, reason: 'mention' | 'reply' | 'like', cid = ref.cid) => {
  const [, , did, collection, rkey] = ref.uri.split('/');
  const rec = await alice.com.atproto.repo.getRecord({ repo: did!, collection: collection!, rkey: rkey! });
  return { uri: ref.uri, cid, author: { did: alice.did, handle: alice.handle }, reason, record: rec.data.value, isRead: false, indexedAt: new Date().toISOString(), labels: [] };
};

beforeAll(async () => {
  // The firehose trigger is off: only the poller feeds mentions in.
  ts = await startTestSystem({ script: () => ({ text: 'Answered from a notification.' }), env: { ATPROTO_AUTOREPLY: '0' } });
  alice = await createPerson(ts.system, 'alice');
  social = account(ts.system);
  server = http.createServer((req, res) => {
    if (!req.url?.startsWith('/xrpc/app.bsky.notification.listNotifications')) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ notifications: [...served].reverse(), seenAt: new Date().toISOString() }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  appview = new AtpAgent({ service: `http://127.0.0.1:${(server.address() as { port: number }).port}` });
});
afterAll(async () => {
  server?.close();
  await ts?.stop();
});

describe('notifications poller', () => {
  it('answers a mention from listNotifications once, drops a forged one, keeps its cursor', async () => {
    const ctx = ts.system.ctx;
    const core = new TriggerCore(ctx, running.get(ctx)!.processor!, new CursorTracker(1), 'notifications');
    const list = async (_agent: string, params: { limit: number; cursor?: string }) => (await appview.app.bsky.notification.listNotifications(params)).data;

    const m = await mention(alice, social, 'found through notifications');
    const plain = await postAs(alice, 'not a mention at all');
    served.push(await notification(plain, 'like'));
    served.push(await notification(m, 'mention'));
    // A mention notification whose CID is not the PDS's: never answered.
    const other = await mention(alice, social, 'the real text');
    served.push(await notification(other, 'mention', plain.cid));

    expect(await pollNotificationsOnce(core, 'social', list)).toBe(1);
    expect(core.counters.unverified).toBe(1);
    await waitFor('the reply', async () => (await repliesTo(m.uri)).length === 1);
    await waitFor('the row to be posted', async () => (await row(m.uri))?.status === 'posted');
    expect(await row(other.uri)).toBeUndefined();
    const cursor = (await ctx.db.query(`select seq from atproto_cursors where name = 'notifications:social'`)).rows[0];
    expect(Number(cursor.seq)).toBeGreaterThan(Date.now() - 60_000);

    // Polling again finds nothing new; no second reply.
    expect(await pollNotificationsOnce(core, 'social', list)).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    expect(await repliesTo(m.uri)).toHaveLength(1);
  });
});
