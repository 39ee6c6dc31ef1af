/**
 * The app's schema migrations: every src/db/migrations/*.sql in file-name order,
 * each once, in its own transaction, recorded in one_agents_migrations. Safe to run
 * from several processes at once (an advisory lock serialises them).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { projectPath } from '../util/paths';

export const MIGRATIONS_DIR = projectPath('src', 'db', 'migrations');
const LOCK_KEY = 7_240_001;

export async function migrate(db: pg.Pool, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const client = await db.connect();
  const applied: string[] = [];
  try {
    await client.query('select pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query('create table if not exists one_agents_migrations (name text primary key, applied_at timestamptz not null default now())');
    const done = new Set((await client.query<{ name: string }>('select name from one_agents_migrations')).rows.map((r) => r.name));
    for (const file of files) {
      if (done.has(file)) continue;
      const sql = await fs.readFile(path.join(dir, file), 'utf8');
      try {
        await client.query('begin');
        await client.query(sql);
        await client.query('insert into one_agents_migrations(name) values ($1)', [file]);
        await client.query('commit');
        applied.push(file);
      } catch (err) {
        await client.query('rollback');
        throw new Error(`migration ${file} failed: ${(err as Error).message}`);
      }
    }
  } finally {
    await client.query('select pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => {});
    client.release();
  }
  return applied;
}
