/**
 * The trigger's pure parts: durations, the LRU caches, the relevance filter (what is
 * decided before any decoding or verification) and the cursor tracker (never past
 * unfinished work; backpressure).
 */
import { describe, expect, it } from 'vitest';
import { loadConfig, parseDuration, replyModeOf } from '../../src/config';
import { Lru, LruDidCache, RelevanceFilter } from '../../src/features/atproto/relevance';
import { CursorTracker } from '../../src/features/atproto/trigger';
import { jetstreamSubscribeUrl } from '../../src/features/atproto/jetstream';

const AGENT = 'did:plc:agentagentagentagentagen';
const OTHER = 'did:plc:someoneelsesomeoneelseso';

describe('trigger parts', () => {
  it('parses durations and the autonomy variables', () => {
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('45')).toBe(45_000);
    expect(parseDuration('soon')).toBeUndefined();
    const c = loadConfig({ ATPROTO_REPLY_MODE_SOCIAL: 'mentions', ATPROTO_MAX_MENTION_AGE: '30m' });
    expect(c.atproto.live.maxMentionAgeMs).toBe(1_800_000);
    expect(replyModeOf(c.atproto.live, 'social')).toBe('mentions');
    expect(replyModeOf(c.atproto.live, 'other')).toBe('mentions+threads');
    expect(loadConfig({}).atproto.live.maxMentionAgeMs).toBe(3_600_000);
    expect(() => loadConfig({ ATPROTO_MAX_MENTION_AGE: 'a while' })).toThrow(/ATPROTO_MAX_MENTION_AGE/);
    expect(() => loadConfig({ ATPROTO_REPLY_MODE_SOCIAL: 'always' })).toThrow(/ATPROTO_REPLY_MODE_SOCIAL/);
  });

  it('LRU caches keep at most their size, evicting the least recently used', async () => {
    const l = new Lru<string, true>(2);
    l.set('a', true);
    l.set('b', true);
    l.get('a');
    l.set('c', true);
    expect([l.has('a'), l.has('b'), l.has('c'), l.size]).toEqual([true, false, true, 2]);
    const d = new LruDidCache(100);
    for (let i = 0; i < 500; i++) await d.cacheDid(`did:plc:${i}`, { id: `did:plc:${i}` } as never);
    expect(d.size).toBe(100);
    expect(await d.checkCache('did:plc:0')).toBeNull();
    expect((await d.checkCache('did:plc:499'))?.expired).toBe(false);
  });

  it('decides relevance from the bytes first, then from the record', () => {
    const f = new RelevanceFilter(1000);
    f.setAgents([AGENT]);
    expect(f.mayConcern(Buffer.from(`...${OTHER}... text`))).toBe(false);
    expect(f.mayConcern(Buffer.from(`...${AGENT}...`))).toBe(true);
    const mention = { text: 'hi', facets: [{ features: [{ $type: 'app.bsky.richtext.facet#mention', did: AGENT }] }] };
    expect(f.classify(mention)).toEqual({ mentioned: [AGENT], repliedTo: undefined, inThread: false });
    const agentPost = `at://${AGENT}/app.bsky.feed.post/3k`;
    const reply = { reply: { root: { uri: agentPost, cid: 'x' }, parent: { uri: agentPost, cid: 'x' } } };
    expect(f.classify(reply)).toMatchObject({ repliedTo: AGENT, inThread: true });
    const strangers = `at://${OTHER}/app.bsky.feed.post/1`;
    const elsewhere = { reply: { root: { uri: strangers, cid: 'x' }, parent: { uri: `at://${OTHER}/app.bsky.feed.post/2`, cid: 'x' } } };
    expect(f.isRelevant(f.classify(elsewhere))).toBe(false);
    // A reply root is only worth decoding for once thread roots are known.
    expect(f.mayConcern(Buffer.from([0x64, ...Buffer.from('root')]))).toBe(false);
    f.knownRoots.set(strangers, true);
    expect(f.mayConcern(Buffer.from([0x64, ...Buffer.from('root')]))).toBe(true);
    expect(f.classify(elsewhere).inThread).toBe(true);
    // Malformed records are not relevant and do not throw.
    expect(f.isRelevant(f.classify({ facets: 'nope' } as never))).toBe(false);
  });

  it('the cursor never passes unfinished work, and the tracker applies backpressure', async () => {
    const t = new CursorTracker(2, 10);
    t.seen(11);
    t.begin(12);
    t.seen(13);
    t.begin(14);
    expect(t.safe()).toBe(11);
    let roomy = false;
    const waiting = t.room().then(() => (roomy = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(roomy).toBe(false);
    t.end(12);
    await waiting;
    expect(roomy).toBe(true);
    expect(t.safe()).toBe(13);
    t.end(14);
    t.seen(15);
    expect(t.safe()).toBe(15);
  });

  it('builds Jetstream subscribe URLs', () => {
    expect(jetstreamSubscribeUrl('wss://js.example')).toBe('wss://js.example/subscribe?wantedCollections=app.bsky.feed.post');
    expect(jetstreamSubscribeUrl('https://js.example/subscribe', 123)).toBe('wss://js.example/subscribe?wantedCollections=app.bsky.feed.post&cursor=123');
  });
});
