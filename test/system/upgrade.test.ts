/**
 * Upgrade path (issue 22 item 9): a database left by the previous release (commit ae85d9c,
 * test/fixtures/upgrade/ae85d9c.sql, made by make-fixture.ts there with that release's
 * own migrations and stores) starts under the current code. The app's start-up step that
 * migrates (src/system createContext) runs on it; migrations only go forward, never
 * re-run a recorded one, and the old rows read back through the current stores.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDataDir } from '../../harness/system';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../services/postgres/embedded';
import { AtprotoStore } from '../../src/clients/atproto/store';
import { loadConfig } from '../../src/config';
import { getResponse } from '../../src/db/responses';
import { claimThread, threadOwner } from '../../src/db/threads';
import { createLogger } from '../../src/logger';
import { createContext } from '../../src/system';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'upgrade', 'ae85d9c.sql');
let pgh: EmbeddedPostgresHandle;
let dataDir: string;
let url: string;
const stops: Array<() => unknown> = [];

beforeAll(async () => {
  dataDir = await makeDataDir('one-agents-upgrade-');
  pgh = await startEmbeddedPostgres({ dataDir, database: 'postgres' });
  const admin = new pg.Client({ connectionString: pgh.url });
  await admin.connect();
  await admin.query('create database upgraded');
  await admin.end();
  const u = new URL(pgh.url);
  u.pathname = '/upgraded';
  url = u.toString();
  // Restore the old release's database (plain SQL, as pg_dump --inserts wrote it).
  const restore = new pg.Client({ connectionString: url });
  await restore.connect();
  await restore.query(await fs.readFile(FIXTURE, 'utf8'));
  await restore.end();
}, 120_000);

afterAll(async () => {
  for (const s of stops.reverse()) await s();
  await pgh?.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}, 60_000);

describe('upgrade from the previous release (ae85d9c)', () => {
  it('the current start-up migrates its database forward and reads the old rows', async () => {
    const before = new pg.Client({ connectionString: url });
    await before.connect();
    const old = (await before.query<{ name: string }>('select name from one_agents_migrations order by name')).rows.map((r) => r.name);
    await before.end();
    expect(old).toContain('070_schedule_slots.sql');

    const config = loadConfig({ DATA_DIR: dataDir, DATABASE_URL: url, FEATURES: 'none', LOG_LEVEL: 'silent' });
    const ctx = await createContext(config, createLogger('silent'), { databaseUrl: url }, (_name, stop) => stops.push(stop));
    const db = ctx.db;
    // Forward only: every old migration is still recorded once, none ran again.
    const after = (await db.query<{ name: string; n: number }>('select name, count(*)::int as n from one_agents_migrations group by name order by name')).rows;
    expect(after.filter((r) => old.includes(r.name)).map((r) => r.name)).toEqual(old);
    expect(after.every((r) => r.n === 1)).toBe(true);

    // The old rows, through the current code.
    const resp = await getResponse(db, 'resp_1', 'alice');
    expect(resp).toMatchObject({ status: 'completed', agent: 'assistant', threadId: 'thread-1', usage: { input_tokens: 3, output_tokens: 1 } });
    expect(resp!.output).toEqual([{ type: 'message', content: [{ type: 'output_text', text: 'hello' }] }]);
    expect(await threadOwner(db, 'thread-1')).toBe('alice');
    expect(await claimThread(db, 'thread-1', 'mallory')).toBe(false);
    const at = new AtprotoStore(db);
    expect(await at.getCursor('firehose')).toBe(4242);
    expect(await at.getMention('at://did:plc:stranger/app.bsky.feed.post/3k1', 'social')).toMatchObject({ author_did: 'did:plc:stranger', text: '@social what is the tide doing?' });
    expect(await at.agentState('social')).toMatchObject({ paused: true, reason: 'upgrade fixture', updated_by: 'ops' });
    expect((await at.repliesTo('at://did:plc:stranger/app.bsky.feed.post/3k1')).map((r) => r.text)).toEqual(['Echo: tide']);
    const msgs = await db.query('select role, content from messages where conversation_id = $1 order by created_at', ['conv-1']);
    expect(msgs.rows).toEqual([
      { role: 'user', content: 'when is high water?' },
      { role: 'assistant', content: '06:12' },
    ]);
    // New writes work on the upgraded schema.
    expect(await at.addMention({ mention_uri: 'at://did:plc:stranger/app.bsky.feed.post/3k9', agent: 'social', agent_did: 'did:plc:social', author_did: 'did:plc:stranger', mention_cid: 'bafyreid', root_uri: 'at://did:plc:stranger/app.bsky.feed.post/3k9', root_cid: 'bafyreid', text: 'again' })).toBe(true);
    // The devices' publication survived the restore.
    expect((await db.query("select count(*)::int as n from pg_publication_tables where pubname = 'powersync' and tablename = 'messages'")).rows[0].n).toBe(1);
  }, 120_000);
});
