/**
 * Thread ownership under concurrency: two API keys sending the same NEW x-thread-id at
 * the same moment, through two app processes' servers on one Postgres. Exactly one
 * wins (200), the other gets 404 thread_not_found (never 502), and the thread holds
 * only the winner's messages.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from '../../harness/system';

const ALICE = 'sk-one-alice-race-0001';
const BOB = 'sk-one-bob-race-0002';
let a: TestSystem;
let b: TestSystem;

beforeAll(async () => {
  const env = { FEATURES: 'none', API_KEYS: `${ALICE}:alice,${BOB}:bob`, RATE_LIMIT_RPM: '0' };
  a = await startTestSystem({ env });
  // A second app on the same Postgres: correctness may not rest on one process's memory.
  b = await startTestSystem({ env: { ...env, DATABASE_URL: a.system.ctx.urls.databaseUrl } });
});
afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

async function send(client: OpenAI, threadId: string, text: string) {
  try {
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: text }] }, { headers: { 'x-thread-id': threadId } });
    return { status: 200, code: null as string | null };
  } catch (e) {
    const err = e as InstanceType<typeof OpenAI.APIError>;
    return { status: err.status ?? 0, code: (err.code as string | null) ?? null };
  }
}

describe('thread claims', () => {
  it('two keys racing for the same new x-thread-id: exactly one 200, one 404, only the winner in the thread (20 rounds)', async () => {
    for (let round = 0; round < 20; round++) {
      const threadId = `race-${round}-${Date.now()}`;
      const [ra, rb] = await Promise.all([send(a.client(ALICE), threadId, `alice says ${round}`), send(b.client(BOB), threadId, `bob says ${round}`)]);
      const results = [ra, rb];
      expect(results.map((r) => r.status).sort()).toEqual([200, 404]);
      expect(results.find((r) => r.status === 404)!.code).toBe('thread_not_found');
      const winner = ra.status === 200 ? 'alice' : 'bob';
      const loser = winner === 'alice' ? 'bob' : 'alice';
      const thread = await a.system.runtime.memory.getThreadById({ threadId });
      expect(thread?.resourceId).toBe(winner);
      const { messages } = await a.system.runtime.memory.recall({ threadId, resourceId: winner });
      const texts = JSON.stringify(messages);
      expect(texts).toContain(`${winner} says ${round}`);
      expect(texts).not.toContain(`${loser} says ${round}`);
      // The winner keeps its thread; the loser stays refused.
      expect((await send((winner === 'alice' ? a : b).client(winner === 'alice' ? ALICE : BOB), threadId, 'again')).status).toBe(200);
      expect(await send((loser === 'alice' ? a : b).client(loser === 'alice' ? ALICE : BOB), threadId, 'me too')).toEqual({ status: 404, code: 'thread_not_found' });
    }
  });

  it("a stranger naming another key's thread never takes its run lease: the owner's turns are not held up (two replicas)", async () => {
    const threadId = `lease-${Date.now()}`;
    expect((await send(a.client(ALICE), threadId, 'mine')).status).toBe(200);
    // Bob hammers Alice's thread on both replicas while Alice talks on it.
    let stop = false;
    const hammer = async (t: TestSystem) => {
      const seen: Array<{ status: number; code: string | null }> = [];
      while (!stop) seen.push(await send(t.client(BOB), threadId, 'let me in'));
      return seen;
    };
    const hammers = [hammer(a), hammer(b), hammer(a)];
    for (let i = 0; i < 6; i++) expect((await send((i % 2 ? b : a).client(ALICE), threadId, `turn ${i}`)).status).toBe(200);
    stop = true;
    const seen = (await Promise.all(hammers)).flat();
    expect(seen.length).toBeGreaterThan(3);
    expect(new Set(seen.map((r) => `${r.status} ${r.code}`))).toEqual(new Set(['404 thread_not_found']));
    // No lease row was ever Bob's: none is left behind (Alice's turns above would have waited, then 400 conversation_locked).
    expect((await a.system.ctx.db.query('select 1 from response_thread_runs where thread_id = $1', [threadId])).rowCount).toBe(0);
    const { messages } = await a.system.runtime.memory.recall({ threadId, resourceId: 'alice' });
    expect(JSON.stringify(messages)).not.toContain('let me in');
  });
});
