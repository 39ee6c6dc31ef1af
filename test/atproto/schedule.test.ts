/**
 * Scheduled posts on the real embedded network with the scripted model: an interval
 * schedule from ATPROTO_SCHEDULE posts on its own and stops at shutdown; the
 * scheduled-post workflow refuses key material (SECRET_DETECTED, nothing written) and
 * splits long text into a self-reply thread like the post tool.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitText } from '../../src/clients/atproto/posting';
import { lastUserText, type Script } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';
import { account, assertValidPost, listPosts, waitFor } from '../../harness/atproto';

const TOKEN = 'xoxb-' + '123456789012-abcdefghijklmnop';
const LONG = Array.from({ length: 12 }, (_, i) => `Scheduled thought ${i} about tides and the moon.`).join(' ');
const SEA = 'The sea covers most of the planet. #sea';

const script: Script = (req) => {
  const prompt = lastUserText(req);
  if (prompt.includes('about: LEAK')) return { text: `Our bot token: ${TOKEN}` };
  if (prompt.includes('about: LONG')) return { text: LONG };
  if (prompt.includes('about: the sea')) return { text: SEA };
  return { text: 'unexpected prompt' };
};
const seaPrompts = () => ts.model.requests.filter((r) => lastUserText(r).includes('about: the sea')).length;

let ts: TestSystem;
beforeAll(async () => {
  ts = await startTestSystem({ script, env: { ATPROTO_AUTOREPLY: '0', ATPROTO_SCHEDULE: 'social|every 10s|the sea' } });
});
afterAll(async () => {
  await ts?.stop();
});

async function runScheduled(topic: string) {
  const run = await ts.system.runtime.mastra.getWorkflow('scheduled-post' as never).createRun();
  return (await run.start({ inputData: { agent: 'social', topic } })) as any;
}

describe('scheduled posts', () => {
  it('refuses a scheduled post holding a secret with SECRET_DETECTED and writes nothing', async () => {
    const before = (await listPosts(ts.system, account(ts.system).did)).length;
    const res = await runScheduled('LEAK');
    expect(res.status).toBe('failed');
    expect(String(res.error?.message ?? res.error)).toContain('SECRET_DETECTED');
    expect(JSON.stringify(res)).not.toContain(TOKEN);
    const after = await listPosts(ts.system, account(ts.system).did);
    expect(after.length).toBe(before);
    expect(after.some((p) => JSON.stringify(p.value).includes(TOKEN))).toBe(false);
  });

  it('splits a long scheduled post into a self-reply thread', async () => {
    const res = await runScheduled('LONG');
    expect(res.status).toBe('success');
    const mine = await listPosts(ts.system, account(ts.system).did);
    const first = mine.find((p) => p.uri === res.result.uri)!;
    expect(first.value.reply).toBeUndefined();
    const parts = splitText(LONG);
    expect(parts.length).toBeGreaterThan(1);
    const thread = [first];
    for (;;) {
      const next = mine.find((p) => p.value.reply?.parent?.uri === thread[thread.length - 1]!.uri);
      if (!next) break;
      thread.push(next);
    }
    expect(thread.map((p) => p.value.text)).toEqual(parts);
    for (const p of thread.slice(1)) expect(p.value.reply.root).toEqual({ uri: first.uri, cid: first.cid });
  });

  it('an interval schedule posts on its own, and stops at shutdown', async () => {
    const post = await waitFor(
      'the scheduled post',
      async () => (await listPosts(ts.system, account(ts.system).did)).find((p) => p.value.text === SEA),
      30_000,
    );
    assertValidPost(post.value);
    expect(post.value.labels.values).toEqual([{ val: 'bot' }]);
    const row = await ts.system.ctx.db.query('select agent from atproto_posts where uri = $1', [post.uri]);
    expect(row.rows[0]).toEqual({ agent: 'social' });
    await ts.system.stop();
    const asked = seaPrompts();
    expect(asked).toBeGreaterThanOrEqual(1);
    // One interval and a margin after shutdown: the schedule asked the model nothing more.
    await new Promise((r) => setTimeout(r, 11_000));
    expect(seaPrompts()).toBe(asked);
  });
});
