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
});
