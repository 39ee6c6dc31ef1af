/**
 * Scheduled posts' rows (migrations/070_schedule_slots.sql): one row per ATPROTO_SCHEDULE
 * entry with the anchor its interval slots count from, and one row per slot claimed. A
 * slot is posted only by whoever inserts its row (INSERT … ON CONFLICT DO NOTHING), so
 * two overlapping leaders cannot both post it.
 */
import type pg from 'pg';

/**
 * The entry's anchor: fixed by the first process to start the entry, read by everyone
 * after; slot rows older than 30 days are dropped (they only need to outlive any overlap
 * of leaders).
 */
export async function scheduleAnchor(db: pg.Pool, key: string, entry: string, now: Date): Promise<Date> {
  await db.query('insert into atproto_schedules (schedule_key, entry, anchor) values ($1, $2, $3) on conflict do nothing', [key, entry, now]);
  const row = await db.query<{ anchor: Date }>('select anchor from atproto_schedules where schedule_key = $1', [key]);
  await db.query("delete from atproto_schedule_slots where schedule_key = $1 and slot < now() - interval '30 days'", [key]);
  return row.rows[0]!.anchor;
}

/** Claims a slot for `claimedBy`; false when another process claimed it first. */
export async function claimScheduleSlot(db: pg.Pool, key: string, slot: Date, claimedBy: string): Promise<boolean> {
  const claim = await db.query('insert into atproto_schedule_slots (schedule_key, slot, claimed_by) values ($1, $2, $3) on conflict do nothing', [key, slot, claimedBy]);
  return !!claim.rowCount;
}

/** Records how a claimed slot ended ('posted' with the post's URI, or 'failed'). */
export async function finishScheduleSlot(db: pg.Pool, key: string, slot: Date, status: string, postUri: string | null): Promise<void> {
  await db.query('update atproto_schedule_slots set status = $3, post_uri = $4 where schedule_key = $1 and slot = $2', [key, slot, status, postUri]);
}

/** Whether a slot was claimed already (by any process). */
export async function scheduleSlotTaken(db: pg.Pool, key: string, slot: Date): Promise<boolean> {
  const taken = await db.query('select 1 from atproto_schedule_slots where schedule_key = $1 and slot = $2', [key, slot]);
  return !!taken.rowCount;
}
