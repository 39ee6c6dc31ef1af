/**
 * Migration files are collected from src/db/migrations and every
 * src/stores/<service>/migrations and applied in file-name order across all of them; a
 * file name is a migration's identity in one_agents_migrations, so it must be unique.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrationDirs, migrationFiles } from '../../src/db/migrate';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'migrations-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function folder(rel: string, names: string[]): string {
  const dir = path.join(tmp, rel);
  fs.mkdirSync(dir, { recursive: true });
  for (const n of names) fs.writeFileSync(path.join(dir, n), `-- ${n}\n`);
  return dir;
}

describe('migration files', () => {
  it('are sorted by file name across folders (not folder by folder)', async () => {
    const db = folder('order/db/migrations', ['031_b.sql', '061_d.sql', 'notes.txt']);
    folder('order/stores/x/migrations', ['001_a.sql', '070_e.sql']);
    folder('order/stores/y/migrations', ['030_a.sql', '030_z.sql', '040_c.sql']);
    fs.mkdirSync(path.join(tmp, 'order/stores/no-migrations'), { recursive: true });
    const dirs = migrationDirs(db, path.join(tmp, 'order/stores'));
    expect(dirs).toEqual([db, path.join(tmp, 'order/stores/x/migrations'), path.join(tmp, 'order/stores/y/migrations')]);
    const files = await migrationFiles(dirs);
    expect(files.map((f) => f.name)).toEqual(['001_a.sql', '030_a.sql', '030_z.sql', '031_b.sql', '040_c.sql', '061_d.sql', '070_e.sql']);
    expect(files.find((f) => f.name === '040_c.sql')!.path).toBe(path.join(tmp, 'order/stores/y/migrations/040_c.sql'));
  });

  it('refuses a file name found in two folders', async () => {
    const a = folder('dup/db/migrations', ['010_x.sql', '020_same.sql']);
    const b = folder('dup/stores/s/migrations', ['020_same.sql']);
    await expect(migrationFiles([a, b])).rejects.toThrow(/020_same\.sql exists twice/);
  });

  it('without a stores folder only the app-wide migrations are read', () => {
    const db = folder('nostores/db/migrations', ['001_a.sql']);
    expect(migrationDirs(db, path.join(tmp, 'nostores/stores'))).toEqual([db]);
  });

  it("the project's migrations keep the names and global order of the release (existing databases)", async () => {
    // The order every existing database was migrated in, when all files lived in src/db/migrations.
    // Later migrations may be added anywhere in the order; these keep their names and relative order.
    const released = [
      '001_synced_schema.sql',
      '010_atproto.sql',
      '011_atproto_thread_replies.sql',
      '012_atproto_autonomy.sql',
      '020_messages_pending.sql',
      '030_ipfs_pins.sql',
      '030_turn_mirror_queue.sql',
      '031_thread_owners.sql',
      '040_rate_limits.sql',
      '050_responses.sql',
      '060_transcript_threads.sql',
      '061_usage.sql',
      '070_schedule_slots.sql',
    ];
    const names = (await migrationFiles()).map((f) => f.name);
    expect(names.filter((n) => released.includes(n))).toEqual(released);
    expect(names.length).toBeGreaterThan(released.length); // e.g. 062_usage_models.sql came later
  });
});
