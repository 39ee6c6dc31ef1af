/** The readiness probe of the shared database: one round trip. */
import type pg from 'pg';

export async function pingDatabase(db: pg.Pool): Promise<void> {
  await db.query('select 1');
}
