/**
 * One agent run at a time per memory thread, across replicas: a lease row in
 * `response_thread_runs` (migration 050) taken with one upsert, renewed while the run goes
 * on and released when it ends; a crashed process's lease expires. Two turns running at
 * once on one Mastra thread can merge or lose an assistant reply (a run that loads history
 * after another's save sorts its own user message before that reply), so every turn takes
 * it (src/conversations/lease.ts: chat completions, the Responses API, the sync answerer).
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

/**
 * A thread's owner (thread_owners) and, when that owner is `resourceId`, the run lease on
 * it for `runId` (as acquireThreadRun): one statement where a continued turn needed two
 * round trips. `leased` is false when the thread has no owner, another owner, or a run
 * holding an unexpired lease; nobody but the owner can take (and so block) the lease.
 */
export async function ownerAndLease(db: Queryable, threadId: string, resourceId: string, runId: string, leaseMs: number): Promise<{ owner: string | undefined; leased: boolean }> {
  const r = await db.query<{ owner: string | null; leased: number }>(
    `with owner as (select resource_id from thread_owners where thread_id = $1),
     lease as (
       insert into response_thread_runs (thread_id, response_id, expires_at)
       select $1, $3, now() + $4 * interval '1 millisecond' from owner where resource_id = $2
       on conflict (thread_id) do update set response_id = excluded.response_id, expires_at = excluded.expires_at
         where response_thread_runs.expires_at < now()
       returning 1
     )
     select (select resource_id from owner) as owner, (select count(*) from lease)::int as leased`,
    [threadId, resourceId, runId, leaseMs],
  );
  return { owner: r.rows[0]?.owner ?? undefined, leased: (r.rows[0]?.leased ?? 0) > 0 };
}
