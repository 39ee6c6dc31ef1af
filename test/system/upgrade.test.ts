/**
 * Upgrade path (issue 22 item 9): a database left by the previous release (commit ae85d9c,
 * test/fixtures/upgrade/ae85d9c.sql, made by make-fixture.ts there with that release's
 * own migrations and stores) starts under the current code. The app's start-up step that
 * migrates (src/system createContext) runs on it; migrations only go forward, never
 * re-run a recorded one, and the old rows read back through the current stores.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDataDir } from '../../harness/system';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../services/postgres/embedded';
import { AtprotoStore } from '../../src/stores/atproto/store';
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

  it("the compose init script gives a previous release's volume its PLC and PowerSync roles (idempotent)", async () => {
    // As the previous release's compose left the volume: databases plc and powersync_storage
    // owned by POSTGRES_USER, with tables (the PLC's and PowerSync's own) in them.
    const u = (db: string) => Object.assign(new URL(pgh.url), { pathname: `/${db}` }).toString();
    const admin = new pg.Client({ connectionString: pgh.url });
    await admin.connect();
    await admin.query('create database plc');
    await admin.query('create database powersync_storage');
    await admin.end();
    for (const [db, sql] of [
      ['plc', 'create table operations (id serial primary key, did text)'],
      ['powersync_storage', 'create schema powersync; create table powersync.bucket_data (id bigserial primary key)'],
    ] as const) {
      const c = new pg.Client({ connectionString: u(db) });
      await c.connect();
      await c.query(sql);
      await c.end();
    }
    // The script as the image runs it (psql on POSTGRES_DB), here with Debian's psql over TCP.
    const pgBin = readdirSync('/usr/lib/postgresql').map((v) => `/usr/lib/postgresql/${v}/bin`).find((d) => readdirSync(d).includes('psql'));
    expect(pgBin, "Debian's postgresql client (scripts/test-prereqs.sh)").toBeTruthy();
    const pgUrl = new URL(pgh.url);
    const env = {
      PATH: `${pgBin}:/usr/bin:/bin`,
      PGHOST: '127.0.0.1',
      PGPORT: pgUrl.port,
      PGPASSWORD: decodeURIComponent(pgUrl.password),
      POSTGRES_USER: decodeURIComponent(pgUrl.username),
      POSTGRES_DB: 'upgraded',
      PLC_DB_PASSWORD: 'plc-secret-1',
      POWERSYNC_DB_PASSWORD: 'ps-secret-1',
    };
    const script = path.join(__dirname, '..', '..', 'services', 'postgres', 'init-roles.sh');
    for (let i = 0; i < 2; i++) execFileSync('bash', [script], { env, stdio: 'pipe' });

    const as = (user: string, password: string, db: string) => {
      const x = new URL(u(db));
      x.username = user;
      x.password = password;
      return new pg.Client({ connectionString: x.toString() });
    };
    const plc = as('plc', 'plc-secret-1', 'plc');
    await plc.connect();
    try {
      await plc.query("insert into operations(did) values ('did:plc:x')");
      const owners = (await plc.query("select tableowner from pg_tables where schemaname = 'public'")).rows.map((r) => r.tableowner);
      expect(owners).toEqual(['plc']);
      await plc.query('create table plc_migration_check (id int)'); // the PLC's migrations create tables
    } finally {
      await plc.end();
    }
    const ps = as('powersync', 'ps-secret-1', 'powersync_storage');
    await ps.connect();
    try {
      await ps.query('insert into powersync.bucket_data default values');
      await ps.query('create table powersync.more (id int)');
    } finally {
      await ps.end();
    }
    // The replication source: the restored app tables are readable by powersync.
    const src = as('powersync', 'ps-secret-1', 'upgraded');
    await src.connect();
    try {
      expect((await src.query('select count(*)::int as n from messages')).rows[0].n).toBe(2);
      const role = (await src.query("select rolreplication, rolbypassrls, rolsuper from pg_roles where rolname = 'powersync'")).rows[0];
      expect(role).toEqual({ rolreplication: true, rolbypassrls: true, rolsuper: false });
    } finally {
      await src.end();
    }
  }, 120_000);
});

