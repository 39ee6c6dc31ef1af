/** The synced `tasks` table: server-side writes (agents' tools); devices write theirs through uploads. */
import type pg from 'pg';

export type TaskStatus = 'open' | 'in_progress' | 'done' | 'cancelled';

export async function insertTask(db: pg.Pool, t: { id: string; ownerId: string; title: string; status: TaskStatus; dueAt: string | null; createdBy: string }): Promise<void> {
  await db.query(`insert into tasks (id, owner_id, title, status, due_at, created_by) values ($1, $2, $3, $4, $5, $6)`, [t.id, t.ownerId, t.title, t.status, t.dueAt, t.createdBy]);
}

/**
 * Changes one of the owner's tasks: title and status when given, due_at when `dueAt` is
 * not undefined (null clears it). Undefined when the owner has no task with this id.
 */
export async function updateTask(
  db: pg.Pool,
  ownerId: string,
  id: string,
  change: { title?: string; status?: TaskStatus; dueAt?: string | null },
): Promise<{ id: string; title: string; status: TaskStatus } | undefined> {
  const r = await db.query<{ id: string; title: string; status: TaskStatus }>(
    `update tasks set title = coalesce($3, title), status = coalesce($4, status),
       due_at = case when $5 then $6::timestamptz else due_at end, updated_at = now()
     where id = $1 and owner_id = $2 returning id, title, status`,
    [id, ownerId, change.title ?? null, change.status ?? null, change.dueAt !== undefined, change.dueAt ?? null],
  );
  return r.rows[0];
}
