/** The synced `artifacts` table: what agents produced for a user (posts, pinned files, archives). */
import type pg from 'pg';

export interface ArtifactRow {
  id: string;
  kind: string;
  title: string | null;
  cid: string | null;
  at_uri: string | null;
  created_at: Date;
}

export async function insertArtifact(
  db: pg.Pool,
  a: { id: string; ownerId: string; agent: string | null; kind: string; title: string | null; cid: string | null; atUri: string | null; sizeBytes: number | null },
): Promise<void> {
  await db.query(
    `insert into artifacts (id, owner_id, agent, kind, title, cid, at_uri, size_bytes) values ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [a.id, a.ownerId, a.agent, a.kind, a.title, a.cid, a.atUri, a.sizeBytes],
  );
}

/** The owner's artifacts, newest first; only those of `kind` when given. */
export async function listArtifacts(db: pg.Pool, ownerId: string, opts: { kind: string | null; limit: number }): Promise<ArtifactRow[]> {
  const r = await db.query<ArtifactRow>(
    `select id, kind, title, cid, at_uri, created_at from artifacts where owner_id = $1 and ($2::text is null or kind = $2)
      order by created_at desc, id limit $3`,
    [ownerId, opts.kind, opts.limit],
  );
  return r.rows;
}
