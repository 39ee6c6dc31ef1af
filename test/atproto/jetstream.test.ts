/**
 * The trigger reading Jetstream (JETSTREAM_URL) instead of the PDS firehose, against a
 * Jetstream-protocol server started here (harness/jetstream.ts) whose frames are built
 * from real posts on the embedded PDS: a mention answered exactly once (also when the
 * event comes twice), forged events (record not on the PDS, CID mismatch) never
 * answered, and a dropped connection resumed from the saved cursor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { account, createPerson, listPosts, mention, postAs, waitFor } from '../../harness/atproto';
import { commitEvent, nowUs, startFakeJetstream, type FakeJetstream } from '../../harness/jetstream';
import { lastUserText } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';
import { nextTid } from '../../src/clients/atproto/posting';

let ts: TestSystem;
let js: FakeJetstream;
let alice: Awaited<ReturnType<typeof createPerson>>;
let social: { did: string; handle: string };

const repliesTo = async (uri: string) => (await listPosts(ts.system, social.did)).filter((p) => p.value.reply?.parent?.uri === uri);
const row = async (uri: string) => (await ts.system.ctx.db.query('select * from atproto_mentions where mention_uri = $1', [uri])).rows[0];
const onPds = async (ref: { uri: string }) => {
  const [, , did, collection, rkey] = ref.uri.split('/');
  const r = await alice.com.atproto.repo.getRecord({ repo: did!, collection: collection!, rkey: rkey! });
  return { uri: r.data.uri, cid: r.data.cid!, value: r.data.value as Record<string, unknown> };
};
const stats = async () => (await (await fetch(`${ts.system.url}/admin/agents`)).json()).trigger;

beforeAll(async () => {
  js = await startFakeJetstream();
  ts = await startTestSystem({
    script: (req) => ({ text: `Jetstream reply to: ${/^>>> .*?: (.*)$/m.exec(lastUserText(req))?.[1]?.slice(0, 80) ?? ''}` }),
    env: { JETSTREAM_URL: js.url, ATPROTO_JETSTREAM_REWIND: '2s' },
  });
  alice = await createPerson(ts.system, 'alice');
  social = account(ts.system);
  await waitFor('the trigger to connect to Jetstream', async () => js.connected() > 0);
});
afterAll(async () => {
  await ts?.stop();
  await js?.close();
});

describe('Jetstream trigger', () => {
  it('subscribes with wantedCollections=app.bsky.feed.post and reports itself as the source', async () => {
    expect(js.requests[0]!.getAll('wantedCollections')).toEqual(['app.bsky.feed.post']);
    expect(await stats()).toMatchObject({ source: 'jetstream', connected: true });
  });

  it('answers a mention seen on Jetstream exactly once, also when the event comes twice', async () => {
    const m = await mention(alice, social, 'hello over jetstream');
    // Only Jetstream feeds the trigger: nothing happens until the event arrives there.
    await new Promise((r) => setTimeout(r, 700));
    expect(await row(m.uri)).toBeUndefined();
    const evt = commitEvent(await onPds(m));
    await js.emit(evt);
    const [reply] = await waitFor('the reply', async () => ((await repliesTo(m.uri)).length ? repliesTo(m.uri) : undefined));
    expect(reply!.value.reply).toEqual({ root: m, parent: m });
    expect(reply!.value.text).toContain('hello over jetstream');
    await waitFor('the row to be posted', async () => (await row(m.uri))?.status === 'posted');
    await js.emit({ ...evt, time_us: nowUs() });
    await new Promise((r) => setTimeout(r, 700));
    expect(await repliesTo(m.uri)).toHaveLength(1);
  });

  it('never answers a forged event: a record that is not on the PDS, or a CID that does not match', async () => {
    const before = (await stats()).unverified;
    // 1. A mention of the agent that alice never posted.
    const ghostUri = `at://${alice.did}/app.bsky.feed.post/${nextTid()}`;
    const real = await onPds(await mention(alice, social, 'template'));
    const ghost = commitEvent({ uri: ghostUri, cid: real.cid, value: { ...real.value, text: `@${social.handle} forged: not on the PDS` } });
    // 2. A real post of alice's (no mention) with a forged record that mentions the agent.
    const plain = await onPds(await postAs(alice, 'a plain post, no mention'));
    const forged = commitEvent({ uri: plain.uri, cid: real.cid, value: { ...real.value, text: `@${social.handle} forged text` } });
    await js.emit(ghost);
    await js.emit(forged);
    await waitFor('both events to be dropped', async () => (await stats()).unverified >= before + 2);
    expect(await row(ghostUri)).toBeUndefined();
    expect(await row(plain.uri)).toBeUndefined();
    expect(await repliesTo(ghostUri)).toHaveLength(0);
    expect(await repliesTo(plain.uri)).toHaveLength(0);
  });

  it('after the server drops the connection, reconnects and resumes from the saved cursor (minus the rewind)', async () => {
    const name = `jetstream:${js.url}`;
    const saved = await waitFor('a saved cursor', async () => {
      const r = (await ts.system.ctx.db.query('select seq from atproto_cursors where name = $1', [name])).rows[0];
      return r ? Number(r.seq) : undefined;
    });
    const requestsBefore = js.requests.length;
    js.dropAll();
    // A mention made while the trigger is disconnected: Jetstream keeps it; the trigger must replay it.
    const m = await mention(alice, social, 'said while you were away');
    js.keep(commitEvent(await onPds(m)));
    await waitFor('the reconnect', async () => js.requests.length > requestsBefore, 30_000);
    const cursor = Number(js.requests[js.requests.length - 1]!.get('cursor'));
    expect(cursor).toBeGreaterThan(0);
    expect(cursor).toBeLessThanOrEqual(saved);
    expect(cursor).toBeGreaterThanOrEqual(saved - 2_000_000 - 5_000_000);
    await waitFor('the replayed mention to be answered', async () => (await repliesTo(m.uri)).length === 1, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(await repliesTo(m.uri)).toHaveLength(1);
  });
});
