/**
 * Archives of an agent's data pinned on IPFS (the synced `archives` table, created with the
 * synced schema in src/stores/powersync/migrations/001_synced_schema.sql): one row per
 * archive with its CID and size; verified_at once its content was read back and re-hashed.
 */
import type pg from 'pg';

/** Records an archive; returns its creation time. */
export async function insertArchive(db: pg.Pool, a: { id: string; ownerId: string; agent: string; kind: string; cid: string; sizeBytes: number }): Promise<Date> {
  const row = await db.query<{ created_at: Date }>(
    'insert into archives (id, owner_id, agent, kind, cid, size_bytes) values ($1, $2, $3, $4, $5, $6) returning created_at',
    [a.id, a.ownerId, a.agent, a.kind, a.cid, a.sizeBytes],
  );
  return row.rows[0]!.created_at;
}

/** The CID and size of an archive, if it exists. */
export async function archiveById(db: pg.Pool, id: string): Promise<{ cid: string; size_bytes: string } | undefined> {
  const row = await db.query<{ cid: string; size_bytes: string }>('select cid, size_bytes from archives where id = $1', [id]);
  return row.rows[0];
}

/** Sets verified_at to now; returns it. */
export async function markArchiveVerified(db: pg.Pool, id: string): Promise<Date> {
  const upd = await db.query<{ verified_at: Date }>('update archives set verified_at = now() where id = $1 returning verified_at', [id]);
  return upd.rows[0]!.verified_at;
}
