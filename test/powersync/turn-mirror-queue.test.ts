/**
 * The turn-mirror queue drained by several processes at once (each a pool of its own,
 * as separate app processes would be): every turn lands exactly once, in order.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBareSystem, type BareSystem } from '../../harness/system';
import { drainTurnMirrors, enqueueTurnMirror } from '../../src/stores/powersync/turn-mirror';

let s: BareSystem;
beforeAll(async () => {
  s = await startBareSystem({ prefix: 'one-agents-mirrorq-', env: { FEATURES: 'none' } });
});
afterAll(async () => {
  await s?.stop();
});

describe('turn mirror queue', () => {
  it('is drained exactly once by concurrent drainers (FOR UPDATE SKIP LOCKED)', async () => {
    const db = s.system.ctx.db;
    const n = 60;
    for (let i = 0; i < n; i++) {
      await enqueueTurnMirror(db, { agent: 'assistant', resourceId: 'mq-user', threadId: `mq-thread-${i % 3}`, userMessages: [`q${i}`], reply: `a${i}` });
      // Turns of one thread are a model call apart in real life; here at least 3 ms (2 messages per turn, 1 ms apart).
      await new Promise((r) => setTimeout(r, 1));
    }
    const pools = Array.from({ length: 3 }, () => new pg.Pool({ connectionString: s.system.ctx.urls.databaseUrl, max: 1 }));
    // A client's connection closing at Postgres shutdown is an 'error' event, not a test failure.
    for (const p of pools) p.on('error', () => undefined);
    try {
      // Drain until the queue is empty (a turn whose conversation another drainer was
      // creating at the same moment stays queued for the next round).
      let deleted = 0;
      const left = async () => (await db.query('select count(*)::int as n from turn_mirror_queue')).rows[0].n as number;
      for (let round = 0; round < 20 && (await left()) > 0; round++) {
        const counts = await Promise.all(
          pools.map(async (p) => {
            let mine = 0;
            for (let got = -1; got !== 0; ) mine += got = await drainTurnMirrors(p, 4);
            return mine;
          }),
        );
        deleted += counts.reduce((a, b) => a + b, 0);
      }
      expect(deleted).toBe(n);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    expect((await db.query('select count(*)::int as n from turn_mirror_queue')).rows[0].n).toBe(0);
    const rows = await db.query<{ thread_id: string; role: string; content: string }>(
      "select c.thread_id, m.role, m.content from messages m join conversations c on c.id = m.conversation_id where c.owner_id = 'mq-user' order by c.thread_id, m.created_at",
    );
    expect(rows.rows).toHaveLength(2 * n);
    // Per thread: the turns in the order they were queued, each question before its answer.
    for (let t = 0; t < 3; t++) {
      const got = rows.rows.filter((r) => r.thread_id === `mq-thread-${t}`).map((r) => r.content);
      const want = Array.from({ length: n }, (_, i) => i)
        .filter((i) => i % 3 === t)
        .flatMap((i) => [`q${i}`, `a${i}`]);
      expect(got).toEqual(want);
    }
  });
});
