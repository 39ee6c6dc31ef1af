/**
 * Transcript keys (table transcript_threads, migration 060): a key a resent transcript
 * carries (src/conversations/transcript.ts computes them) → the thread it continues.
 * Keys are written with `on conflict do nothing`: the first thread a key named keeps it.
 */
import type pg from 'pg';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** The threads that `keys` name for `resourceId`, by key. */
export async function lookupTranscriptKeys(db: Queryable, keys: string[], resourceId: string): Promise<Map<string, string>> {
  const r = await db.query<{ key: string; thread_id: string }>('select key, thread_id from transcript_threads where key = any($1) and resource_id = $2', [keys, resourceId]);
  return new Map(r.rows.map((row) => [row.key, row.thread_id]));
}

/** Stores key → thread unless the key is taken; resolves to the thread id when it was stored. */
export async function storeTranscriptKey(db: Queryable, key: string, resourceId: string, threadId: string): Promise<string | undefined> {
  const r = await db.query<{ thread_id: string }>(
    'insert into transcript_threads (key, thread_id, resource_id) values ($1, $2, $3) on conflict (key) do nothing returning thread_id',
    [key, threadId, resourceId],
  );
  return r.rows[0]?.thread_id;
}
