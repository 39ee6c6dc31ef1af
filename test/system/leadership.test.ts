/**
 * Leadership through Postgres (src/db/leadership.ts) on a real embedded Postgres: of
 * several contenders exactly one does the work; when the leader's database session dies
 * (what Postgres sees when its process is SIGKILLed) another one takes over within a few
 * poll intervals, and the old leader stops its work; a clean stop hands over at once.
 */
import fs from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDataDir } from '../../harness/system';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../services/postgres/embedded';
import { lead, type Leadership } from '../../src/db/leadership';
import { retryUniqueRace } from '../../src/db/retry';
import { createLogger } from '../../src/logger';

let pgh: EmbeddedPostgresHandle;
let dataDir: string;
let admin: pg.Pool;
const logger = createLogger('silent');

beforeAll(async () => {
  dataDir = await makeDataDir('one-agents-leadership-');
  pgh = await startEmbeddedPostgres({ dataDir });
  admin = new pg.Pool({ connectionString: pgh.url, max: 4 });
});
afterAll(async () => {
  await admin?.end();
  await pgh?.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
});

const until = async (cond: () => boolean, ms = 10_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
};

function contenders(n: number, name: string, pollMs = 150) {
  const running = new Set<number>();
  const starts: number[] = [];
  const all: Leadership[] = [];
  for (let i = 0; i < n; i++) {
    all.push(
      lead({
        databaseUrl: pgh.url,
        name,
        logger,
        pollMs,
        start: () => {
          running.add(i);
          starts.push(i);
          return () => void running.delete(i);
        },
      }),
    );
  }
  return { all, running, starts };
}

describe('leadership', () => {
  it('of three contenders exactly one runs the work, and keeps running it', async () => {
    const c = contenders(3, 'job-a');
    await Promise.all(c.all.map((l) => l.firstAttempt));
    await new Promise((r) => setTimeout(r, 600));
    expect(c.running.size).toBe(1);
    expect(c.starts).toHaveLength(1);
    expect(c.all.filter((l) => l.isLeader())).toHaveLength(1);
    await Promise.all(c.all.map((l) => l.stop()));
    expect(c.running.size).toBe(0);
  });

  it("moves to another contender when the leader's session dies, and the old leader stops its work", async () => {
    const c = contenders(3, 'job-b');
    await until(() => c.running.size === 1);
    const first = [...c.running][0]!;
    // What Postgres sees when the leader's process is killed: its session ends.
    await admin.query(
      `select pg_terminate_backend(l.pid) from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where l.locktype = 'advisory' and l.granted and a.application_name = 'one-agents-leader:job-b'`,
    );
    const took = await until(() => c.running.size === 1 && !c.running.has(first));
    expect(took).toBeLessThan(5_000);
    await until(() => !c.all[first]!.isLeader());
    expect(c.running.size).toBe(1);
    await Promise.all(c.all.map((l) => l.stop()));
  });

  it('a clean stop hands over to a waiting contender; different jobs lead independently', async () => {
    const c = contenders(2, 'job-c');
    const other = contenders(1, 'job-d');
    await until(() => c.running.size === 1 && other.running.size === 1);
    const first = [...c.running][0]!;
    await c.all[first]!.stop();
    await until(() => c.running.size === 1 && !c.running.has(first));
    expect(other.running.size).toBe(1);
    await Promise.all([...c.all, ...other.all].map((l) => l.stop()));
  });
});

describe('upserts racing on a table with two unique indexes', () => {
  it('retryUniqueRace turns the loser\'s unique violation into the update', async () => {
    await admin.query('create table race_agents (id text primary key, name text unique not null, n int not null default 0)');
    const upsert = () =>
      retryUniqueRace(() => admin.query(`insert into race_agents (id, name) values ($1, $1) on conflict (name) do update set n = race_agents.n + 1`, [`agent-${round}`]));
    let round = 0;
    for (; round < 30; round++) await Promise.all([upsert(), upsert(), upsert()]);
    const r = await admin.query<{ n: number }>('select n from race_agents order by id');
    expect(r.rows).toHaveLength(30);
    expect(r.rows.every((x) => x.n === 2)).toBe(true);
    // A unique violation that is not a race (always the same) still reaches the caller.
    await admin.query("insert into race_agents (id, name) values ('fixed', 'fixed-name')");
    await expect(retryUniqueRace(() => admin.query("insert into race_agents (id, name) values ('fixed', 'another-name')"))).rejects.toMatchObject({ code: '23505' });
  });
});
