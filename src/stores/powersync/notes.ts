/** The synced `notes` table: server-side writes (agents' tools); devices write theirs through uploads. */
import type pg from 'pg';

export async function insertNote(db: pg.Pool, n: { id: string; ownerId: string; title: string; body: string; createdBy: string }): Promise<void> {
  await db.query(`insert into notes (id, owner_id, title, body, created_by) values ($1, $2, $3, $4, $5)`, [n.id, n.ownerId, n.title, n.body, n.createdBy]);
}
