/**
 * RATE_LIMIT_RPM counters shared by every app replica (`rate_limits`, migration 040): one
 * row per bucket (a key, or an address without keys) and fixed minute.
 */
import type pg from 'pg';

/** Counts one request in the bucket's window; returns the window's count including it. */
export async function countRequest(db: pg.Pool, bucket: string, windowStart: Date): Promise<number> {
  const r = await db.query<{ count: number }>(
    `insert into rate_limits (bucket, window_start, count) values ($1, $2, 1)
     on conflict (bucket, window_start) do update set count = rate_limits.count + 1
     returning count`,
    [bucket, windowStart],
  );
  return r.rows[0]!.count;
}

/** Deletes the counters of windows that started before `before`. */
export async function deleteRateWindowsBefore(db: pg.Pool, before: Date): Promise<void> {
  await db.query(`delete from rate_limits where window_start < $1`, [before]);
}
