/**
 * One agent run at a time per memory thread, across replicas: a lease row in
 * `response_thread_runs` (migration 050) taken with one upsert, renewed while the run goes
 * on and released when it ends; a crashed process's lease expires. Two turns running at
 * once on one Mastra thread can merge or lose an assistant reply (a run that loads history
 * after another's save sorts its own user message before that reply), so the Responses API
 * and chat completions both take it.
 */
import type pg from 'pg';

type Queryable = Pick<pg.Pool, 'query'>;

/**
 * Takes the run lease on a memory thread for `responseId` for `leaseMs`, unless another
 * run holds an unexpired one; true when taken. Atomic across processes (one upsert).
 */
export async function acquireThreadRun(db: Queryable, threadId: string, responseId: string, leaseMs: number): Promise<boolean> {
  const r = await db.query(
    `insert into response_thread_runs (thread_id, response_id, expires_at) values ($1, $2, now() + $3 * interval '1 millisecond')
     on conflict (thread_id) do update set response_id = excluded.response_id, expires_at = excluded.expires_at
       where response_thread_runs.expires_at < now()
     returning response_id`,
    [threadId, responseId, leaseMs],
  );
  return r.rowCount === 1;
}

/** Extends a held lease (a long run); false when it is no longer held. */
export async function renewThreadRun(db: Queryable, threadId: string, responseId: string, leaseMs: number): Promise<boolean> {
  const r = await db.query(`update response_thread_runs set expires_at = now() + $3 * interval '1 millisecond' where thread_id = $1 and response_id = $2`, [threadId, responseId, leaseMs]);
  return r.rowCount === 1;
}

export async function releaseThreadRun(db: Queryable, threadId: string, responseId: string): Promise<void> {
  await db.query('delete from response_thread_runs where thread_id = $1 and response_id = $2', [threadId, responseId]);
}
