/**
 * Autonomy controls on the real embedded network (firehose trigger, scripted model):
 * catch-up after downtime (a mention older than ATPROTO_MAX_MENTION_AGE is recorded
 * skipped with its reason; the backlog is answered at most one reply per
 * ATPROTO_CATCHUP_INTERVAL), reply modes, pause/resume through the admin routes (a
 * mention while paused is held pending and answered after resume), the decisions
 * route, and admin-only access when API keys are set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { account, createPerson, listPosts, mention, postAs, waitFor } from '../../harness/atproto';
import { lastUserText } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

let ts: TestSystem;
let alice: Awaited<ReturnType<typeof createPerson>>;
let social: { did: string; handle: string };
/** When the model was asked to draft each backlog reply (the runs' progress, not their finishing times). */
const drafted: number[] = [];

const repliesTo = async (uri: string) => (await listPosts(ts.system, social.did)).filter((p) => p.value.reply?.parent?.uri === uri);
const row = async (uri: string) => (await ts.system.ctx.db.query('select * from atproto_mentions where mention_uri = $1', [uri])).rows[0];
const admin = (path: string, init: RequestInit = {}, key?: string) =>
  fetch(`${ts.system.url}/admin/agents${path}`, { ...init, headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) } });

beforeAll(async () => {
  ts = await startTestSystem({
    script: (req) => {
      const marked = /^>>> .*?: (.*)$/m.exec(lastUserText(req))?.[1] ?? '';
      if (marked.includes('backlog mention')) drafted.push(Date.now());
      return { text: `Autonomous reply to: ${marked.slice(0, 80)}` };
    },
    env: { ATPROTO_MAX_POSTS_PER_HOUR: '0', ATPROTO_MAX_REPLIES_PER_THREAD: '0' },
  });
  alice = await createPerson(ts.system, 'alice');
  social = account(ts.system);
});
afterAll(async () => {
  await ts?.stop();
});

describe('autonomy controls', () => {
  it('catch-up after downtime: an old mention is recorded skipped with the reason, the backlog is paced', async () => {
    // The trigger has a saved cursor (a first start without one reads live).
    await postAs(alice, 'warming up the firehose');
    await waitFor('a saved cursor', async () => (await ts.system.ctx.db.query('select 1 from atproto_cursors')).rowCount);
    ts.env.ATPROTO_AUTOREPLY = '0';
    await ts.restart();
    const old = await mention(alice, social, 'posted long before the restart');
    await new Promise((r) => setTimeout(r, 13_000));
    const backlog: Array<{ uri: string; cid: string }> = [];
    for (let i = 0; i < 3; i++) backlog.push(await mention(alice, social, `backlog mention ${i}`));
    Object.assign(ts.env, { ATPROTO_AUTOREPLY: '1', ATPROTO_MAX_MENTION_AGE: '12s', ATPROTO_CATCHUP_LAG: '100ms', ATPROTO_CATCHUP_INTERVAL: '2s' });
    await ts.restart();
    try {
      const skipped = await waitFor('the old mention to be skipped', async () => ((await row(old.uri))?.status === 'skipped' ? row(old.uri) : undefined));
      expect(skipped.reason).toMatch(/too old.*ATPROTO_MAX_MENTION_AGE 12 s/);
      expect(await repliesTo(old.uri)).toHaveLength(0);
      const rows = await waitFor('the backlog to be answered', async () => {
        const rs = await Promise.all(backlog.map((m) => row(m.uri)));
        return rs.every((r) => r?.status === 'posted') ? rs : undefined;
      }, 30_000);
      for (const m of backlog) expect(await repliesTo(m.uri)).toHaveLength(1);
      // Runs start one per interval (2 s) instead of all at once (4 at a time, within a few
      // hundred ms). Measured at drafting, so the first run's cold start (login) narrows one gap.
      expect(drafted).toHaveLength(3);
      expect(drafted[1]! - drafted[0]!).toBeGreaterThanOrEqual(1000);
      expect(drafted[2]! - drafted[1]!).toBeGreaterThanOrEqual(1000);
      expect(drafted[2]! - drafted[0]!).toBeGreaterThanOrEqual(3000);
      for (const r of rows) expect(r.event_time).not.toBeNull();
    } finally {
      for (const k of ['ATPROTO_MAX_MENTION_AGE', 'ATPROTO_CATCHUP_LAG', 'ATPROTO_CATCHUP_INTERVAL']) delete ts.env[k];
      await ts.restart();
    }
  });

  it('reply mode "mentions" answers mentions but not bare replies; "off" answers nothing and says why', async () => {
    ts.env.ATPROTO_REPLY_MODE_SOCIAL = 'mentions';
    await ts.restart();
    try {
      const m = await mention(alice, social, 'mode mentions: answer me');
      const [ours] = await waitFor('the reply', async () => ((await repliesTo(m.uri)).length ? repliesTo(m.uri) : undefined));
      const bare = await postAs(alice, 'a reply without a mention', { root: m, parent: { uri: ours!.uri, cid: ours!.cid } });
      await waitFor('the bare reply to be recorded skipped', async () => (await row(bare.uri))?.status === 'skipped');
      expect((await row(bare.uri)).reason).toMatch(/reply mode "mentions"/);
      expect(await repliesTo(bare.uri)).toHaveLength(0);
      // It is still indexed as thread context.
      expect((await ts.system.ctx.db.query('select 1 from atproto_thread_replies where uri = $1', [bare.uri])).rowCount).toBe(1);

      ts.env.ATPROTO_REPLY_MODE_SOCIAL = 'off';
      await ts.restart();
      const off = await mention(alice, social, 'mode off: do not answer');
      await waitFor('the mention to be recorded skipped', async () => (await row(off.uri))?.status === 'skipped');
      expect((await row(off.uri)).reason).toMatch(/reply mode off/);
      expect((await (await admin('/social')).json()).reply_mode).toBe('off');
      await new Promise((r) => setTimeout(r, 300));
      expect(await repliesTo(off.uri)).toHaveLength(0);
    } finally {
      delete ts.env.ATPROTO_REPLY_MODE_SOCIAL;
      await ts.restart();
    }
  });

  it('pause holds mentions (pending, not answered); resume answers them; the decisions route lists every decision', async () => {
    const p = await admin('/social/pause', { method: 'POST', body: JSON.stringify({ reason: 'incident review' }) });
    expect(p.status).toBe(200);
    expect(await p.json()).toMatchObject({ name: 'social', paused: true, autonomy: 'paused', paused_reason: 'incident review' });
    const m = await mention(alice, social, 'said while paused');
    await waitFor('the mention row', async () => row(m.uri));
    await new Promise((r) => setTimeout(r, 1500));
    expect((await row(m.uri)).status).toBe('pending');
    expect(await repliesTo(m.uri)).toHaveLength(0);
    const listed = await (await admin('/')).json();
    expect(listed.agents.find((a: { name: string }) => a.name === 'social')).toMatchObject({ paused: true });
    expect(listed.trigger).toMatchObject({ source: 'firehose', connected: true });

    const r = await admin('/social/resume', { method: 'POST' });
    expect(await r.json()).toMatchObject({ paused: false, autonomy: 'running' });
    await waitFor('the held mention to be answered', async () => (await repliesTo(m.uri)).length === 1);
    await waitFor('the row to be posted', async () => (await row(m.uri))?.status === 'posted');

    const d = await (await admin('/social/decisions?limit=100')).json();
    const mine = d.decisions.find((x: { mention_uri: string }) => x.mention_uri === m.uri);
    expect(mine).toMatchObject({ status: 'posted', answered: true, author_did: alice.did });
    expect(mine.reply_uri).toMatch(/^at:\/\//);
    expect(d.decisions.some((x: { status: string; reason: string }) => x.status === 'skipped' && /reply mode off/.test(x.reason))).toBe(true);
    const onlySkipped = await (await admin('/social/decisions?status=skipped&limit=2')).json();
    expect(onlySkipped.decisions.length).toBeLessThanOrEqual(2);
    expect(onlySkipped.decisions.every((x: { status: string }) => x.status === 'skipped')).toBe(true);
    expect((await admin('/nobody/pause', { method: 'POST' })).status).toBe(404);
  });

  it('with API keys, only ADMIN_USERS may use the admin routes (401 without a key, 403 for others)', async () => {
    Object.assign(ts.env, { API_KEYS: 'admin-key-0001:root,user-key-0001:bob', ADMIN_USERS: 'root' });
    await ts.restart();
    try {
      expect((await admin('/')).status).toBe(401);
      const denied = await admin('/social/pause', { method: 'POST' }, 'user-key-0001');
      expect(denied.status).toBe(403);
      expect((await denied.json()).error.code).toBe('forbidden');
      expect((await admin('/social/decisions', {}, 'user-key-0001')).status).toBe(403);
      expect((await admin('/social', {}, 'admin-key-0001')).status).toBe(200);
      const paused = await admin('/social/pause', { method: 'POST' }, 'admin-key-0001');
      expect(await paused.json()).toMatchObject({ paused: true, changed_by: 'root' });
      expect((await admin('/social/resume', { method: 'POST' }, 'admin-key-0001')).status).toBe(200);
    } finally {
      delete ts.env.API_KEYS;
      delete ts.env.ADMIN_USERS;
    }
  });
});
