/**
 * The AT tools against the real embedded PLC + PDS (one network for the whole file):
 * every tool, records read back and validated against the app.bsky lexicons, facets'
 * byte offsets, deep replies, long text, dry-run, bad input, sessions, the feed
 * generator over XRPC, /ready, the social agent on /v1, and a restart that keeps it all.
 */
import { AtpAgent } from '@atproto/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atprotoClients, atprotoToolDeps } from '../../src/features/atproto';
import { createAtprotoTools } from '../../src/tools/atproto';
import { lastUserText, pendingToolResult } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';
import { account, assertValidPost, createPerson, getPost, listPosts, png, postAs } from '../../harness/atproto';

let ts: TestSystem;
let alice: Awaited<ReturnType<typeof createPerson>>;
type Tools = ReturnType<typeof createAtprotoTools>;
let tools: Tools;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const call = async (name: keyof Tools, input: Record<string, unknown>): Promise<any> => (tools[name] as any).execute(input, {});

const bytes = (s: string) => Buffer.from(s, 'utf8');
const sliceBytes = (s: string, start: number, end: number) => bytes(s).subarray(start, end).toString('utf8');

beforeAll(async () => {
  ts = await startTestSystem({ env: { ATPROTO_AUTOREPLY: '0' } });
  alice = await createPerson(ts.system, 'alice');
  tools = createAtprotoTools(atprotoToolDeps(ts.system.ctx));
});
afterAll(async () => {
  await ts?.stop();
});

describe('embedded network and identity', () => {
  it('creates the social account with a DID in the PLC and an automated profile; /ready checks the PDS', async () => {
    const social = account(ts.system);
    expect(social.handle).toBe('social.agents.test');
    expect(social.did).toMatch(/^did:plc:/);
    const doc = await (await fetch(`${ts.system.ctx.urls.plcUrl}/${social.did}`)).json();
    expect(doc.service[0].serviceEndpoint).toBe(ts.system.ctx.urls.pdsUrl);
    const ready = await (await fetch(`${ts.system.url}/ready`)).json();
    expect(ready.services.pds.ok).toBe(true);
    const row = await ts.system.ctx.db.query('select handle, did from agents where name = $1', ['social']);
    expect(row.rows[0]).toEqual({ handle: social.handle, did: social.did });
    const profile = await call('atproto-read-profile', { actor: social.handle, limit: 0 });
    expect(profile).toMatchObject({ ok: true, did: social.did, handle: social.handle, automated: true });
  });

  it('logs in again when the session is rejected, without failing the call', async () => {
    const session = await atprotoClients(ts.system.ctx).session('social');
    session.session!.accessJwt = 'not-a-valid-jwt';
    const r = await call('atproto-post', { text: 'still here after a bad session' });
    expect(r.ok).toBe(true);
  });
});

describe('posting', () => {
  it('writes rich text with mention, link and hashtag facets at the right UTF-8 byte offsets', async () => {
    const text = 'Grüße 🎉 @alice.agents.test — read https://example.com/a?b=1 #café';
    const r = await call('atproto-post', { text, langs: ['de', 'en'] });
    expect(r).toMatchObject({ ok: true, split: false, dryRun: false });
    const rec = await getPost(ts.system, r.uri);
    assertValidPost(rec);
    expect(rec.text).toBe(text);
    expect(rec.langs).toEqual(['de', 'en']);
    expect(rec.labels.values).toEqual([{ val: 'bot' }]);
    const byType = Object.fromEntries(rec.facets.map((f: any) => [f.features[0].$type.split('#')[1], f]));
    expect(sliceBytes(text, byType.mention.index.byteStart, byType.mention.index.byteEnd)).toBe('@alice.agents.test');
    expect(byType.mention.features[0].did).toBe(alice.did);
    expect(sliceBytes(text, byType.link.index.byteStart, byType.link.index.byteEnd)).toBe('https://example.com/a?b=1');
    expect(byType.link.features[0].uri).toBe('https://example.com/a?b=1');
    expect(sliceBytes(text, byType.tag.index.byteStart, byType.tag.index.byteEnd)).toBe('#café');
    expect(byType.tag.features[0].tag).toBe('café');
  });

  it('posts an image with alt text and aspect ratio, and the blob is served by the PDS', async () => {
    const image = png(30, 20);
    const r = await call('atproto-post', { text: 'a tiny picture', image: { data: image.toString('base64'), alt: 'a grey rectangle' } });
    expect(r.ok).toBe(true);
    const rec = await getPost(ts.system, r.uri);
    assertValidPost(rec);
    expect(rec.embed.$type).toBe('app.bsky.embed.images');
    expect(rec.embed.images[0]).toMatchObject({ alt: 'a grey rectangle', aspectRatio: { width: 30, height: 20 } });
    const cid = rec.embed.images[0].image.ref.$link ?? rec.embed.images[0].image.ref.toString();
    const blob = await fetch(`${ts.system.ctx.urls.pdsUrl}/xrpc/com.atproto.sync.getBlob?did=${account(ts.system).did}&cid=${cid}`);
    expect(Buffer.from(await blob.arrayBuffer()).equals(image)).toBe(true);
  });

  it('quotes a post and attaches a link card', async () => {
    const original = await postAs(alice, 'quote me');
    const q = await call('atproto-post', { text: 'worth reading', quoteUri: original.uri });
    const qrec = await getPost(ts.system, q.uri);
    assertValidPost(qrec);
    expect(qrec.embed).toMatchObject({ $type: 'app.bsky.embed.record', record: { uri: original.uri, cid: original.cid } });
    const l = await call('atproto-post', { text: 'a link', link: { uri: 'https://example.org/', title: 'Example', description: 'An example' } });
    const lrec = await getPost(ts.system, l.uri);
    assertValidPost(lrec);
    expect(lrec.embed).toMatchObject({ $type: 'app.bsky.embed.external', external: { uri: 'https://example.org/', title: 'Example' } });
    const both = await call('atproto-post', { text: 'quote with picture', quoteUri: original.uri, image: { data: png(4, 4).toString('base64'), alt: 'dot' } });
    const brec = await getPost(ts.system, both.uri);
    assertValidPost(brec);
    expect(brec.embed.$type).toBe('app.bsky.embed.recordWithMedia');
  });

  it('replies with the right root and parent refs deep in a thread, and reads the thread back without an AppView', async () => {
    const root = await postAs(alice, 'thread root');
    const a1 = await call('atproto-reply', { parentUri: root.uri, text: 'first answer' });
    const a1rec = await getPost(ts.system, a1.uri);
    expect(a1rec.reply).toEqual({ root, parent: root });
    const b = await postAs(alice, 'follow-up', { root, parent: { uri: a1.uri, cid: a1.cid } });
    const a2 = await call('atproto-reply', { parentUri: b.uri, text: 'second answer' });
    const a2rec = await getPost(ts.system, a2.uri);
    assertValidPost(a2rec);
    expect(a2rec.reply).toEqual({ root, parent: b });

    const thread = await call('atproto-read-thread', { uri: a2.uri });
    expect(thread).toMatchObject({ ok: true, rootUri: root.uri, source: 'repos', truncated: false });
    expect(thread.ancestors.map((p: any) => p.text)).toEqual(['thread root', 'first answer', 'follow-up']);
    expect(thread.ancestors[0].author).toEqual({ did: alice.did, handle: 'alice.agents.test' });
    expect(thread.ancestors[1].automated).toBe(true);
    expect(thread.post.text).toBe('second answer');
    const fromB = await call('atproto-read-thread', { uri: b.uri });
    expect(fromB.replies.map((r: any) => r.uri)).toEqual([a2.uri]);
  });

  it('splits text over 300 graphemes into a self-reply thread, or refuses it, as asked', async () => {
    const long = Array.from({ length: 70 }, (_, i) => `Sentence ${i} is here.`).join(' ');
    const split = await call('atproto-post', { text: long, longText: 'split' });
    expect(split).toMatchObject({ ok: true, split: true, longText: 'split' });
    expect(split.posts.length).toBeGreaterThan(1);
    const recs = await Promise.all(split.posts.map((p: any) => getPost(ts.system, p.uri)));
    for (const r of recs) {
      assertValidPost(r);
      expect([...new Intl.Segmenter().segment(r.text)].length).toBeLessThanOrEqual(300);
    }
    expect(recs.map((r) => r.text).join(' ')).toBe(long);
    expect(recs[1].reply).toEqual({ root: { uri: split.posts[0].uri, cid: split.posts[0].cid }, parent: { uri: split.posts[0].uri, cid: split.posts[0].cid } });
    expect(recs[2]?.reply?.parent?.uri ?? split.posts[1].uri).toBe(split.posts[1].uri);

    const before = (await listPosts(ts.system, account(ts.system).did)).length;
    const refused = await call('atproto-post', { text: long, longText: 'refuse' });
    expect(refused.ok).toBe(false);
    expect(refused.error.code).toBe('TEXT_TOO_LONG');
    expect(refused.error.message).toMatch(/300/);
    expect((await listPosts(ts.system, account(ts.system).did)).length).toBe(before);
  });
});

describe('reacting', () => {
  it('likes, reposts, follows (once), unfollows and deletes its own post', async () => {
    const post = await postAs(alice, 'like me');
    const like = await call('atproto-like', { uri: post.uri });
    const likeRec = await getPost(ts.system, like.uri);
    expect(likeRec).toMatchObject({ $type: 'app.bsky.feed.like', subject: { uri: post.uri, cid: post.cid } });
    const repost = await call('atproto-repost', { uri: post.uri });
    expect(await getPost(ts.system, repost.uri)).toMatchObject({ $type: 'app.bsky.feed.repost', subject: { uri: post.uri, cid: post.cid } });

    const f1 = await call('atproto-follow', { actor: '@alice.agents.test' });
    expect(f1).toMatchObject({ ok: true, did: alice.did, alreadyFollowing: false });
    expect(await getPost(ts.system, f1.uri)).toMatchObject({ $type: 'app.bsky.graph.follow', subject: alice.did });
    const f2 = await call('atproto-follow', { actor: alice.did });
    expect(f2).toMatchObject({ ok: true, alreadyFollowing: true, uri: f1.uri });
    const un = await call('atproto-unfollow', { actor: 'alice.agents.test' });
    expect(un).toMatchObject({ ok: true, removed: true });
    const pds = new AtpAgent({ service: ts.system.ctx.urls.pdsUrl! });
    const follows = await pds.com.atproto.repo.listRecords({ repo: account(ts.system).did, collection: 'app.bsky.graph.follow' });
    expect(follows.data.records).toHaveLength(0);

    const mine = await call('atproto-post', { text: 'delete me' });
    const del = await call('atproto-delete-post', { uri: mine.uri });
    expect(del).toMatchObject({ ok: true, deleted: true });
    await expect(getPost(ts.system, mine.uri)).rejects.toThrow(/not/i);
    const notMine = await call('atproto-delete-post', { uri: post.uri });
    expect(notMine.error.code).toBe('NOT_OWN_POST');
    expect(await getPost(ts.system, post.uri)).toMatchObject({ text: 'like me' });
  });

  it('reads a profile and the recent posts of another account', async () => {
    await postAs(alice, 'alice says hi');
    const p = await call('atproto-read-profile', { actor: 'alice.agents.test', limit: 3 });
    expect(p).toMatchObject({ ok: true, did: alice.did, handle: 'alice.agents.test', automated: false });
    expect(p.posts.length).toBe(3);
    expect(p.posts[0].text).toBe('alice says hi');
  });
});

describe('bad input gets clear errors with stable codes', () => {
  it('unknown handle, bad URI, missing record, unknown mention, bad image', async () => {
    expect((await call('atproto-follow', { actor: 'nobody-here.agents.test' })).error).toMatchObject({ code: 'HANDLE_NOT_FOUND', message: expect.stringContaining('nobody-here.agents.test') });
    expect((await call('atproto-follow', { actor: 'not a handle!' })).error.code).toBe('HANDLE_NOT_FOUND');
    expect((await call('atproto-like', { uri: 'not-a-uri' })).error).toMatchObject({ code: 'BAD_URI' });
    expect((await call('atproto-reply', { parentUri: `at://${alice.did}/app.bsky.feed.like/3kabcdefghijk`, text: 'x' })).error.code).toBe('BAD_URI');
    expect((await call('atproto-read-thread', { uri: `at://${alice.did}/app.bsky.feed.post/3kaaaaaaaaaaa` })).error.code).toBe('RECORD_NOT_FOUND');
    const before = (await listPosts(ts.system, account(ts.system).did)).length;
    const m = await call('atproto-post', { text: 'hello @ghost.agents.test' });
    expect(m.error).toMatchObject({ code: 'HANDLE_NOT_FOUND', message: expect.stringContaining('ghost.agents.test') });
    expect((await call('atproto-post', { text: 'pic', image: { data: 'bm90IGFuIGltYWdl', alt: 'x' } })).error.code).toBe('BAD_IMAGE');
    expect((await call('atproto-post', { text: '   ' })).error.code).toBe('EMPTY_TEXT');
    expect((await listPosts(ts.system, account(ts.system).did)).length).toBe(before);
  });
});

describe('dry run', () => {
  it('records what would have been posted and writes nothing', async () => {
    const dry = createAtprotoTools({ ...atprotoToolDeps(ts.system.ctx), dryRun: true });
    const before = (await listPosts(ts.system, account(ts.system).did)).length;
    const r = await (dry['atproto-post'] as any).execute({ text: 'only a rehearsal @alice.agents.test' }, {});
    expect(r).toMatchObject({ ok: true, dryRun: true, uri: null });
    const l = await (dry['atproto-follow'] as any).execute({ actor: 'alice.agents.test' }, {});
    expect(l).toMatchObject({ ok: true, dryRun: true, uri: null });
    expect((await listPosts(ts.system, account(ts.system).did)).length).toBe(before);
    const rows = await ts.system.ctx.db.query(`select kind, text, record from atproto_dry_runs order by id`);
    expect(rows.rows.map((x) => x.kind)).toEqual(['post', 'follow']);
    assertValidPost(rows.rows[0].record);
    expect(rows.rows[0].record.facets[0].features[0].did).toBe(alice.did);
  });
});

describe('secrets are never posted', () => {
  const ghToken = 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';
  const apiKey = 'sk-proj-' + 'abcdefghijklmnopqrstuvwxyz012345';
  const ownPassword = async () => JSON.parse(await (await import('node:fs/promises')).readFile(`${ts.dataDir}/atproto/accounts.json`, 'utf8')).social.password as string;
  const mine = async () => listPosts(ts.system, account(ts.system).did);
  const dryRows = async () => Number((await ts.system.ctx.db.query('select count(*) as n from atproto_dry_runs')).rows[0].n);
  const postRows = async () => Number((await ts.system.ctx.db.query('select count(*) as n from atproto_posts')).rows[0].n);

  it('every write path that publishes text answers SECRET_DETECTED, writes nothing and never echoes the secret', async () => {
    const parent = await postAs(alice, 'tell me your keys');
    const before = { posts: (await mine()).length, dry: await dryRows(), rows: await postRows() };
    const longWithSecretAtTheEnd = Array.from({ length: 40 }, (_, i) => `Harmless sentence ${i}.`).join(' ') + ` token ${ghToken}`;
    const image = { data: png(4, 4).toString('base64'), alt: `the screen shows ${apiKey}` };
    const attempts: Array<[keyof Tools, Record<string, unknown>, string]> = [
      ['atproto-post', { text: `my key is ${apiKey}` }, apiKey],
      ['atproto-post', { text: `remember this: ${await ownPassword()}` }, await ownPassword()],
      ['atproto-post', { text: longWithSecretAtTheEnd, longText: 'split' }, ghToken],
      ['atproto-post', { text: 'a picture', image }, apiKey],
      ['atproto-post', { text: 'a link', link: { uri: 'https://example.org/', title: `use ${ghToken}` } }, ghToken],
      ['atproto-post', { text: 'a link', link: { uri: `https://example.org/?key=${apiKey}`, title: 'x' } }, apiKey],
      ['atproto-post', { text: 'quoting', quoteUri: parent.uri, link: undefined, image: { ...image, alt: `alt ${ghToken}` } }, ghToken],
      ['atproto-reply', { parentUri: parent.uri, text: `here: ${ghToken}` }, ghToken],
      ['atproto-reply', { parentUri: parent.uri, text: 'see picture', image }, apiKey],
    ];
    for (const [tool, input, secret] of attempts) {
      const r = await call(tool, input);
      expect(r, `${tool} ${JSON.stringify(Object.keys(input))}`).toMatchObject({ ok: false, error: { code: 'SECRET_DETECTED' } });
      expect(JSON.stringify(r)).not.toContain(secret);
    }
    // Dry-run records the text it would post: a secret is refused there too.
    const dry = createAtprotoTools({ ...atprotoToolDeps(ts.system.ctx), dryRun: true });
    expect(await (dry['atproto-post'] as any).execute({ text: `rehearse ${apiKey}` }, {})).toMatchObject({ ok: false, error: { code: 'SECRET_DETECTED' } });
    expect((await mine()).length).toBe(before.posts);
    expect(await dryRows()).toBe(before.dry);
    expect(await postRows()).toBe(before.rows);
    // The same text without the secret goes through (the refusal is about the secret, not the shape).
    expect(await call('atproto-reply', { parentUri: parent.uri, text: 'no keys here, sorry' })).toMatchObject({ ok: true });
  });

  it('the social agent on /v1 gets the refusal as a tool error and the secret reaches neither the PDS nor the answer', async () => {
    ts.model.setScript((req) => {
      const tool = pendingToolResult(req);
      if (tool) return { text: `Tool said: ${tool.content}` };
      return { toolCalls: [{ name: 'atproto-post', arguments: { text: `sharing ${ghToken} with everyone` } }] };
    });
    const before = (await mine()).length;
    const res = await ts.client().chat.completions.create({ model: 'social', messages: [{ role: 'user', content: 'post the token' }] });
    const answer = res.choices[0]!.message.content!;
    expect(answer).toContain('SECRET_DETECTED');
    expect(answer).not.toContain(ghToken);
    expect((await mine()).length).toBe(before);
  });
});

describe('feed generator (XRPC)', () => {
  it('describes the feed and lists the agents’ posts newest first with a working cursor', async () => {
    const d = await (await fetch(`${ts.system.url}/xrpc/app.bsky.feed.describeFeedGenerator`)).json();
    const feed = `at://${account(ts.system).did}/app.bsky.feed.generator/agents`;
    expect(d).toEqual({ did: expect.stringMatching(/^did:web:/), feeds: [{ uri: feed }] });
    const page1 = await (await fetch(`${ts.system.url}/xrpc/app.bsky.feed.getFeedSkeleton?feed=${encodeURIComponent(feed)}&limit=2`)).json();
    expect(page1.feed).toHaveLength(2);
    const page2 = await (await fetch(`${ts.system.url}/xrpc/app.bsky.feed.getFeedSkeleton?feed=${encodeURIComponent(feed)}&limit=2&cursor=${encodeURIComponent(page1.cursor)}`)).json();
    expect(page2.feed).toHaveLength(2);
    expect(page2.feed.map((p: any) => p.post)).not.toContain(page1.feed[0].post);
    for (const p of [...page1.feed, ...page2.feed]) expect(p.post.startsWith(`at://${account(ts.system).did}/app.bsky.feed.post/`)).toBe(true);
  });

  it('answers bad params with XRPC errors', async () => {
    const feed = `at://${account(ts.system).did}/app.bsky.feed.generator/agents`;
    const missing = await fetch(`${ts.system.url}/xrpc/app.bsky.feed.getFeedSkeleton`);
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: 'InvalidRequest' });
    const tooMany = await fetch(`${ts.system.url}/xrpc/app.bsky.feed.getFeedSkeleton?feed=${encodeURIComponent(feed)}&limit=1000`);
    expect(tooMany.status).toBe(400);
    const unknown = await fetch(`${ts.system.url}/xrpc/app.bsky.feed.getFeedSkeleton?feed=${encodeURIComponent(`at://${alice.did}/app.bsky.feed.generator/x`)}`);
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ error: 'UnknownFeed' });
    const badCursor = await fetch(`${ts.system.url}/xrpc/app.bsky.feed.getFeedSkeleton?feed=${encodeURIComponent(feed)}&cursor=zzz`);
    expect(await badCursor.json()).toMatchObject({ error: 'BadCursor' });
    // A method this server does not serve is the caller's mistake: 404, not XRPC's default 501.
    const nope = await fetch(`${ts.system.url}/xrpc/app.bsky.feed.getTimeline`);
    expect(nope.status).toBe(404);
    expect(await nope.json()).toMatchObject({ error: 'MethodNotImplemented' });
  });
});

describe('the social agent on /v1', () => {
  it('posts through its tool when the model calls it, and never shows secrets', async () => {
    ts.model.setScript((req) => {
      const tool = pendingToolResult(req);
      if (tool) return { text: `Done: ${tool.content}` };
      return { toolCalls: [{ name: 'atproto-post', arguments: { text: lastUserText(req).replace('Please post: ', '') } }] };
    });
    const res = await ts.client().chat.completions.create({ model: 'social', messages: [{ role: 'user', content: 'Please post: Hello from the social agent #oneagents' }] });
    const answer = res.choices[0]!.message.content!;
    expect(answer).toMatch(/"ok":true/);
    const posts = await listPosts(ts.system, account(ts.system).did);
    const mine = posts.find((p) => p.value.text === 'Hello from the social agent #oneagents');
    expect(mine).toBeDefined();
    assertValidPost(mine!.value);
    const secrets = JSON.parse(await (await import('node:fs/promises')).readFile(`${ts.dataDir}/atproto/accounts.json`, 'utf8'));
    expect(answer).not.toContain(secrets.social.password);
  });
});

describe('restart', () => {
  it('keeps the accounts, DIDs, posts and the PDS port', async () => {
    const before = account(ts.system);
    const pdsUrl = ts.system.ctx.urls.pdsUrl;
    const count = (await listPosts(ts.system, before.did)).length;
    await ts.restart();
    tools = createAtprotoTools(atprotoToolDeps(ts.system.ctx));
    expect(ts.system.ctx.urls.pdsUrl).toBe(pdsUrl);
    expect(account(ts.system)).toEqual(before);
    expect((await listPosts(ts.system, before.did)).length).toBe(count);
    const r = await call('atproto-post', { text: 'after restart' });
    expect(r.ok).toBe(true);
    const relogin = new AtpAgent({ service: pdsUrl! });
    await relogin.login({ identifier: 'alice.agents.test', password: 'pw-alice-0123456789' });
    expect(relogin.session!.did).toBe(alice.did);
  });
});
