/**
 * The app's schema migrations: the app-wide tables' (src/db/migrations/*.sql) and each
 * backing-service store's (src/stores/<service>/migrations/*.sql), applied together in
 * file-name order across all folders, each once, in its own transaction, recorded by file
 * name in one_agents_migrations. A file name is unique across the folders (a name is a
 * migration's identity in existing databases). Safe to run from several processes at
 * once (an advisory lock serialises them).
 */
import { existsSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { projectPath } from '../util/paths';

/** The app-wide tables' migrations (threads, usage, rate limits, responses, …). */
export const MIGRATIONS_DIR = projectPath('src', 'db', 'migrations');
/** Each backing service's store keeps its migrations in `<STORES_DIR>/<service>/migrations`. */
export const STORES_DIR = projectPath('src', 'stores');
const LOCK_KEY = 7_240_001;

export interface MigrationFile {
  /** The file name: the migration's identity in one_agents_migrations. */
  name: string;
  path: string;
}

/** src/db/migrations and every src/stores/<service>/migrations that exists. */
export function migrationDirs(dbDir = MIGRATIONS_DIR, storesDir = STORES_DIR): string[] {
  if (!existsSync(storesDir)) return [dbDir];
  const stores = readdirSync(storesDir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => path.join(storesDir, e.name, 'migrations'))
    .filter((d) => existsSync(d))
    .sort();
  return [dbDir, ...stores];
}

/** Every *.sql of the folders, sorted by file name across all of them; a name found twice is an error. */
export async function migrationFiles(dirs: string[] = migrationDirs()): Promise<MigrationFile[]> {
  const byName = new Map<string, MigrationFile>();
  for (const dir of dirs) {
    for (const name of (await fs.readdir(dir)).filter((f) => f.endsWith('.sql'))) {
      const seen = byName.get(name);
      if (seen) throw new Error(`migration ${name} exists twice: ${seen.path} and ${path.join(dir, name)} (file names must be unique across migration folders)`);
      byName.set(name, { name, path: path.join(dir, name) });
    }
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function migrate(db: pg.Pool, dirs: string[] = migrationDirs()): Promise<string[]> {
  const files = await migrationFiles(dirs);
  const client = await db.connect();
  const applied: string[] = [];
  try {
    await client.query('select pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query('create table if not exists one_agents_migrations (name text primary key, applied_at timestamptz not null default now())');
    const done = new Set((await client.query<{ name: string }>('select name from one_agents_migrations')).rows.map((r) => r.name));
    for (const file of files) {
      if (done.has(file.name)) continue;
      const sql = await fs.readFile(file.path, 'utf8');
      try {
        await client.query('begin');
        await client.query(sql);
        await client.query('insert into one_agents_migrations(name) values ($1)', [file.name]);
        await client.query('commit');
        applied.push(file.name);
      } catch (err) {
        await client.query('rollback');
        throw new Error(`migration ${file.name} failed: ${(err as Error).message}`);
      }
    }
  } finally {
    await client.query('select pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => {});
    client.release();
  }
  return applied;
}
