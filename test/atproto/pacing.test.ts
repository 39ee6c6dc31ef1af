/**
 * Pacing the agents' writes to the PDS's rate limits (src/clients/atproto/pacing.ts,
 * src/stores/atproto/write-budget.ts, docs/atproto.md "Pacing").
 *
 * (a) Real embedded Postgres, PLC and PDS with ATPROTO_WRITE_POINTS_PER_HOUR=9: three
 *     posts (3 points each) pass, the fourth is refused RATE_LIMITED before reaching the
 *     PDS; a second set of AT clients on the same database (another replica) shares the
 *     budget; a mention that cannot be answered gets the decision reason `rate` and is
 *     answered once the budget allows. THE SCRIPTED MODEL drafts the reply.
 * (b) The 429 / header logic against a tiny HTTP server in this file: A STAND-IN FOR THE
 *     PDS'S RATE LIMITER (it answers as @atproto/pds does when over its limit: 429 with
 *     ratelimit-* headers), since the embedded PDS's limits (5000 points an hour) cannot
 *     be reached in a test. Budgets and PDS state are in the same real Postgres.
 * (c) Malformed headers never crash and never make it wait longer than the cap.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atprotoClients, atprotoToolDeps } from '../../src/features/atproto';
import { createAtprotoClients, type AtprotoClients } from '../../src/clients/atproto/clients';
import { RateLimitedError, toAtprotoError } from '../../src/clients/atproto/errors';
import { MAX_RESET_AHEAD_MS, MAX_RETRY_WAIT_MS, pacedFetch, parseReset, waitOf } from '../../src/clients/atproto/pacing';
import { WriteBudgetStore } from '../../src/stores/atproto/write-budget';
import { createAtprotoTools } from '../../src/tools/atproto';
import { readAccounts } from '../../services/atproto/accounts';
import { startTestSystem, type TestSystem } from '../../harness/system';
import { account, createPerson, listPosts, mention, waitFor } from '../../harness/atproto';
import { lastUserText } from '../../harness/scripted-model';

let ts: TestSystem;
let tools: ReturnType<typeof createAtprotoTools>;
let social: { did: string; handle: string };
let budget: WriteBudgetStore;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const post = async (text: string): Promise<any> => (tools['atproto-post'] as any).execute({ text }, {});

beforeAll(async () => {
  ts = await startTestSystem({
    script: (req) => ({ text: `Pacing reply to: ${(/^>>> .*?: (.*)$/m.exec(lastUserText(req))?.[1] ?? '').slice(0, 80)}` }),
    env: { ATPROTO_WRITE_POINTS_PER_HOUR: '9' },
  });
  tools = createAtprotoTools(atprotoToolDeps(ts.system.ctx));
  social = account(ts.system);
  budget = new WriteBudgetStore(ts.system.ctx.db);
  // The hour window is a UTC calendar hour: (a) must not straddle one, or its points would
  // reset halfway. Close to the turn of the hour, start just after it instead.
  const toNextHour = 3_600_000 - (Date.now() % 3_600_000);
  if (toNextHour < 150_000) await new Promise((r) => setTimeout(r, toNextHour + 1000));
}, 300_000);
afterAll(async () => {
  await ts?.stop();
});

describe('the write budget on the real embedded PDS (9 points an hour)', () => {
  let second: AtprotoClients;
  let secondPool: pg.Pool;
  afterAll(async () => {
    await secondPool?.end();
  });

  it('three posts pass, the fourth is refused RATE_LIMITED and never reaches the PDS; another replica shares the budget', async () => {
    const ctx = ts.system.ctx;
    expect((await budget.state(social.did))?.hour_points ?? 0).toBe(0);
    // Another replica: its own pool and its own AT clients (own session) on the same database and PDS.
    secondPool = new pg.Pool({ connectionString: ctx.urls.databaseUrl, max: 2 });
    second = createAtprotoClients({
      config: ctx.config.atproto,
      dataDir: ctx.config.dataDir,
      pdsUrl: ctx.urls.pdsUrl!,
      plcUrl: ctx.urls.plcUrl!,
      embedded: true,
      storedAccounts: () => readAccounts(ctx.config.dataDir, () => {}),
      logger: ctx.logger,
      db: secondPool,
    });
    await second.refreshAccounts();

    expect(await post('pacing one')).toMatchObject({ ok: true });
    // The second replica writes the second post through its own session.
    const agentB = await second.session('social');
    await agentB.post({ text: 'pacing two (replica B)', createdAt: new Date().toISOString() });
    expect(await post('pacing three')).toMatchObject({ ok: true });
    expect((await budget.state(social.did))?.hour_points).toBe(9);

    const fourth = await post('pacing four');
    expect(fourth).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED' } });
    expect(fourth.error.message).toMatch(/retry after \d{4}-\d\d-\d\dT/);
    // Replica B is refused too (the budget is in Postgres, not in either process).
    const refusedB = await agentB.post({ text: 'pacing five (replica B)', createdAt: new Date().toISOString() }).then(
      () => undefined,
      (err: unknown) => toAtprotoError(err, 'posting'),
    );
    expect(refusedB?.code).toBe('RATE_LIMITED');
    expect(refusedB).toBeInstanceOf(RateLimitedError);
    expect((refusedB as RateLimitedError).retryAt.getTime()).toBeGreaterThan(Date.now());

    const texts = (await listPosts(ts.system, social.did)).map((p) => p.value.text as string).filter((t) => t.startsWith('pacing'));
    expect(texts.sort()).toEqual(['pacing one', 'pacing three', 'pacing two (replica B)']);
    expect((await budget.state(social.did))?.hour_points).toBe(9);
  });

  it('a mention that meets the limit gets the decision reason `rate`, stays pending, and is answered once the budget allows', async () => {
    const alice = await createPerson(ts.system, 'alice');
    const m = await mention(alice, social, 'are you paced?');
    const row = await waitFor('the rate decision', async () => {
      const r = await atprotoClients(ts.system.ctx).store.getMention(m.uri, 'social');
      return r?.reason === 'rate' ? r : undefined;
    });
    expect(row.status).toBe('pending');
    expect(row.attempts).toBe(0);
    const decisions = await atprotoClients(ts.system.ctx).store.decisions('social', 50);
    expect(decisions.find((d) => d.mention_uri === m.uri)).toMatchObject({ status: 'pending', reason: 'rate' });
    // The recovery sweep leaves it until its retry time (kept as the row's lease)…
    const held = await ts.system.ctx.db.query<{ lease_until: Date }>('select lease_until from atproto_mentions where mention_uri = $1', [m.uri]);
    expect(held.rows[0]!.lease_until.getTime()).toBeGreaterThan(Date.now());
    expect((await listPosts(ts.system, social.did)).filter((p) => p.value.reply?.parent?.uri === m.uri)).toHaveLength(0);
    // …and once the window is over (simulated: the hour's points gone, the retry time passed) it is answered.
    await ts.system.ctx.db.query('delete from atproto_write_budget where did = $1', [social.did]);
    await ts.system.ctx.db.query('update atproto_mentions set lease_until = now() - interval \'1 second\' where mention_uri = $1', [m.uri]);
    const done = await waitFor('the held mention answered', async () => {
      const r = await atprotoClients(ts.system.ctx).store.getMention(m.uri, 'social');
      return r?.status === 'posted' ? r : undefined;
    }, 60_000);
    expect(done.reply_uri).toBeTruthy();
    expect((await listPosts(ts.system, social.did)).filter((p) => p.value.reply?.parent?.uri === m.uri)).toHaveLength(1);
  });
});

/** A STAND-IN FOR THE PDS'S RATE LIMITER: answers each request with the next queued answer. */
interface Answer {
  status: number;
  headers?: Record<string, string>;
}
function standIn() {
  const queue: Answer[] = [];
  const seen: Array<{ path: string; body: string }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ path: req.url ?? '', body });
      const a = queue.shift() ?? { status: 200 };
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(a.status === 200 ? '{"uri":"at://x/y/z","cid":"bafy"}' : '{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}');
    });
  });
  return {
    queue,
    seen,
    url: '',
    async start() {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      return this;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('429 and ratelimit-* headers (against the stand-in for the PDS limiter)', () => {
  let pds: Awaited<ReturnType<ReturnType<typeof standIn>['start']>>;
  beforeAll(async () => {
    pds = await standIn().start();
  });
  afterAll(async () => {
    await pds?.close();
  });
  let n = 0;
  /** A paced fetch for a fresh DID; its sleeps are recorded and return at once. */
  function paced(limits = { perHour: 5000, perDay: 35000 }) {
    const did = `did:plc:pacingtest${++n}${Date.now()}`;
    const sleeps: number[] = [];
    const f = pacedFetch(globalThis.fetch, { budget, limits, didOf: () => did, sleep: async (ms) => void sleeps.push(ms) });
    const write = (nsid = 'com.atproto.repo.createRecord', body: unknown = { repo: did, collection: 'app.bsky.feed.post', record: {} }) =>
      f(`${pds.url}/xrpc/${nsid}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { did, sleeps, write };
  }
  const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as RateLimitedError);

  it('stores ratelimit-remaining / -reset and refuses locally, until the reset, when fewer points remain than a write costs', async () => {
    const { did, write } = paced();
    const reset = Math.floor(Date.now() / 1000) + 600;
    pds.queue.push({ status: 200, headers: { 'ratelimit-limit': '5000', 'ratelimit-remaining': '2', 'ratelimit-reset': String(reset), 'ratelimit-policy': '5000;w=3600' } });
    expect((await write()).status).toBe(200);
    expect(await budget.state(did)).toMatchObject({ pds_remaining: 2, pds_reset_at: new Date(reset * 1000) });
    const before = pds.seen.length;
    const e = await refusal(write());
    expect(e).toBeInstanceOf(RateLimitedError);
    expect(e!.code).toBe('RATE_LIMITED');
    expect(e!.retryAt.getTime()).toBe(reset * 1000);
    expect(pds.seen.length).toBe(before); // not sent
    // A delete (1 point) still fits in the 2 the PDS said remain.
    expect((await write('com.atproto.repo.deleteRecord', { repo: did, collection: 'app.bsky.feed.post', rkey: 'x' })).status).toBe(200);
  });

  it('a 429 asking for a short wait is waited out and retried once', async () => {
    const { sleeps, write } = paced();
    pds.queue.push({ status: 429, headers: { 'retry-after': '1', 'ratelimit-remaining': '0' } }, { status: 200 });
    const before = pds.seen.length;
    expect((await write()).status).toBe(200);
    expect(sleeps).toEqual([1000]);
    expect(pds.seen.length - before).toBe(2);
    expect(JSON.parse(pds.seen.at(-1)!.body)).toMatchObject({ collection: 'app.bsky.feed.post' }); // the body was sent again
  });

  it('a second 429 after the wait, or a 429 asking for a long wait, refuses with RATE_LIMITED and its retry time', async () => {
    const a = paced();
    pds.queue.push({ status: 429, headers: { 'retry-after': '0' } }, { status: 429, headers: { 'retry-after': '0' } });
    let before = pds.seen.length;
    expect((await refusal(a.write()))?.code).toBe('RATE_LIMITED');
    expect(pds.seen.length - before).toBe(2);

    const b = paced();
    const reset = Math.floor(Date.now() / 1000) + 3600;
    pds.queue.push({ status: 429, headers: { 'ratelimit-limit': '5000', 'ratelimit-remaining': '0', 'ratelimit-reset': String(reset) } });
    before = pds.seen.length;
    const e = await refusal(b.write());
    expect(e?.code).toBe('RATE_LIMITED');
    expect(b.sleeps).toEqual([]);
    expect(pds.seen.length - before).toBe(1);
    expect(Math.abs(e!.retryAt.getTime() - reset * 1000)).toBeLessThanOrEqual(1000);
    // The PDS's word is kept: the next write is refused here, without a request.
    before = pds.seen.length;
    expect((await refusal(b.write()))?.code).toBe('RATE_LIMITED');
    expect(pds.seen.length).toBe(before);
  });

  it('applyWrites costs the sum of its operations (create 3, update 2, delete 1); uploadBlob is not charged to the repo budget', async () => {
    const { did, write } = paced({ perHour: 8, perDay: 100 });
    const ops = [{ $type: 'com.atproto.repo.applyWrites#create' }, { $type: 'com.atproto.repo.applyWrites#update' }, { $type: 'com.atproto.repo.applyWrites#delete' }];
    expect((await write('com.atproto.repo.applyWrites', { repo: did, writes: ops })).status).toBe(200);
    expect((await budget.state(did))?.hour_points).toBe(6);
    expect((await write('com.atproto.repo.uploadBlob', {})).status).toBe(200);
    expect((await budget.state(did))?.hour_points).toBe(6);
    expect((await refusal(write()))?.code).toBe('RATE_LIMITED'); // 6 + 3 > 8
    expect((await write('com.atproto.repo.putRecord', { repo: did })).status).toBe(200); // 6 + 2 = 8
  });

  it('reads and non-write calls pass untouched', async () => {
    const { did } = paced({ perHour: 1, perDay: 1 });
    const f = pacedFetch(globalThis.fetch, { budget, limits: { perHour: 1, perDay: 1 }, didOf: () => did });
    pds.queue.push({ status: 429, headers: { 'retry-after': '99999' } });
    expect((await f(`${pds.url}/xrpc/com.atproto.repo.getRecord?repo=${did}`)).status).toBe(429);
    expect(await budget.state(did)).toBeUndefined();
  });
});

describe('malformed rate-limit headers (stand-in for the PDS limiter)', () => {
  let pds: Awaited<ReturnType<ReturnType<typeof standIn>['start']>>;
  beforeAll(async () => {
    pds = await standIn().start();
  });
  afterAll(async () => {
    await pds?.close();
  });

  const bad = ['abc', '-5', '', ' ', '1e308', '99999999999999999999', 'NaN', 'Infinity', '0x10', '12abc', '-0', '1.5e3', 'Sat, 01 Jan 2000 00:00:00 GMT', 'Fri, 31 Dec 9999 23:59:59 GMT'];
  it.each(bad)('%j as retry-after, ratelimit-reset and ratelimit-remaining: no crash, no wait over the cap, retry time within a day', async (v) => {
    const did = `did:plc:malformed${Date.now()}${Math.random().toString(36).slice(2)}`;
    const sleeps: number[] = [];
    const f = pacedFetch(globalThis.fetch, { budget, limits: { perHour: 5000, perDay: 35000 }, didOf: () => did, sleep: async (ms) => void sleeps.push(ms) });
    const write = () => f(`${pds.url}/xrpc/com.atproto.repo.createRecord`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ repo: did }) });
    pds.queue.length = 0; // answers an earlier case did not need
    const h = { 'retry-after': v, 'ratelimit-reset': v, 'ratelimit-remaining': v };
    // A success with these headers: nothing stored that blocks, no crash.
    pds.queue.push({ status: 200, headers: h });
    expect((await write()).status).toBe(200);
    // A 429 with them (twice: the one retry, if it waits at all, meets the second).
    pds.queue.push({ status: 429, headers: h }, { status: 429, headers: h });
    const t0 = Date.now();
    const e = await write().then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(RateLimitedError);
    for (const s of sleeps) expect(s).toBeGreaterThanOrEqual(0);
    for (const s of sleeps) expect(s).toBeLessThanOrEqual(MAX_RETRY_WAIT_MS);
    expect(sleeps.length).toBeLessThanOrEqual(1);
    const retryAt = (e as RateLimitedError).retryAt.getTime();
    expect(Number.isFinite(retryAt)).toBe(true);
    expect(retryAt).toBeLessThanOrEqual(Date.now() + MAX_RESET_AHEAD_MS);
    expect(retryAt).toBeGreaterThanOrEqual(t0 - 1000);
  });

  it('parseReset / waitOf: only whole epoch seconds and delta seconds or HTTP dates count, capped to a day', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(parseReset(String(now / 1000 + 60), now)?.getTime()).toBe(now + 60_000);
    expect(parseReset(String(now / 1000 + 10 * 86_400), now)?.getTime()).toBe(now + MAX_RESET_AHEAD_MS);
    for (const v of ['abc', '-5', '', '1e308', 'NaN', '0']) expect(parseReset(v, now)).toBeUndefined();
    expect(parseReset(null, now)).toBeUndefined();
    expect(waitOf(new Headers({ 'retry-after': '2' }), now)).toBe(2000);
    expect(waitOf(new Headers({ 'retry-after': new Date(now + 5000).toUTCString() }), now)).toBe(5000);
    expect(waitOf(new Headers({ 'retry-after': '-1', 'ratelimit-reset': String(now / 1000 + 3) }), now)).toBe(3000);
    expect(waitOf(new Headers({ 'retry-after': '99999999999' }), now)).toBe(MAX_RESET_AHEAD_MS);
    expect(waitOf(new Headers({}), now)).toBeUndefined();
  });
});
