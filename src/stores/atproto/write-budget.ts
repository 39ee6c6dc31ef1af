/**
 * The agents' write budget on their PDS (migrations/013_atproto_write_budget.sql), shared
 * by every replica: points spent per account (DID) in the current UTC hour and day, and
 * what the PDS last said in its `ratelimit-remaining` / `ratelimit-reset` headers.
 * `reserve` is one atomic statement: it takes the points or refuses, so two replicas
 * writing for the same account never overspend together.
 */
import type pg from 'pg';

export interface WriteLimits {
  perHour: number;
  perDay: number;
}

export type Reservation = { ok: true; hourPoints: number; dayPoints: number } | { ok: false; retryAt: Date; why: 'hour' | 'day' | 'pds' };

export class WriteBudgetStore {
  constructor(private db: pg.Pool) {}

  /** Takes `cost` points for `did` in the current hour and day, or refuses (nothing taken). */
  async reserve(did: string, cost: number, limits: WriteLimits): Promise<Reservation> {
    const r = await this.db.query<{ hour_points: number; day_points: number }>(
      `with w as (select date_trunc('hour', now(), 'UTC') as h, date_trunc('day', now(), 'UTC') as d)
       insert into atproto_write_budget as b (did, hour_start, hour_points, day_start, day_points)
       select $1::text, w.h, $2::int, w.d, $2::int from w where $2::int <= $3::int and $2::int <= $4::int
       on conflict (did) do update set
         hour_points = (case when b.hour_start = excluded.hour_start then b.hour_points else 0 end) + $2,
         hour_start = excluded.hour_start,
         day_points = (case when b.day_start = excluded.day_start then b.day_points else 0 end) + $2,
         day_start = excluded.day_start,
         pds_remaining = case when b.pds_reset_at > now() then b.pds_remaining - $2 else null end,
         updated_at = now()
       where (case when b.hour_start = excluded.hour_start then b.hour_points else 0 end) + $2 <= $3
         and (case when b.day_start = excluded.day_start then b.day_points else 0 end) + $2 <= $4
         and not (b.pds_reset_at > now() and b.pds_remaining is not null and b.pds_remaining < $2)
       returning hour_points, day_points`,
      [did, cost, limits.perHour, limits.perDay],
    );
    const row = r.rows[0];
    if (row) return { ok: true, hourPoints: row.hour_points, dayPoints: row.day_points };
    // Refused: when the blocking window ends (the latest of the blocking ones).
    const q = await this.db.query<{ pds: Date | null; hour: Date | null; day: Date | null; next_hour: Date; next_day: Date }>(
      `select case when b.pds_reset_at > now() and b.pds_remaining < $2::int then b.pds_reset_at end as pds,
              case when b.hour_start = date_trunc('hour', now(), 'UTC') and b.hour_points + $2::int > $3::int then b.hour_start + interval '1 hour' end as hour,
              case when b.day_start = date_trunc('day', now(), 'UTC') and b.day_points + $2::int > $4::int then b.day_start + interval '1 day' end as day,
              date_trunc('hour', now(), 'UTC') + interval '1 hour' as next_hour, date_trunc('day', now(), 'UTC') + interval '1 day' as next_day
       from (select 1) one left join atproto_write_budget b on b.did = $1::text`,
      [did, cost, limits.perHour, limits.perDay],
    );
    const x = q.rows[0]!;
    if (cost > limits.perDay || x.day) return { ok: false, retryAt: x.day ?? x.next_day, why: 'day' };
    if (cost > limits.perHour || x.hour) return { ok: false, retryAt: x.hour ?? x.next_hour, why: 'hour' };
    if (x.pds) return { ok: false, retryAt: x.pds, why: 'pds' };
    // The window turned between the two statements: try again right away.
    return { ok: false, retryAt: new Date(), why: 'hour' };
  }

  /**
   * What the PDS said after a write: `remaining` points until `resetAt`. Of two answers
   * for the same window the lower count wins (answers may arrive out of order).
   */
  async recordPds(did: string, remaining: number, resetAt: Date): Promise<void> {
    await this.db.query(
      `insert into atproto_write_budget as b (did, hour_start, day_start, pds_remaining, pds_reset_at)
       values ($1, date_trunc('hour', now(), 'UTC'), date_trunc('day', now(), 'UTC'), $2, $3)
       on conflict (did) do update set
         pds_remaining = case when b.pds_reset_at = excluded.pds_reset_at then least(b.pds_remaining, excluded.pds_remaining) else excluded.pds_remaining end,
         pds_reset_at = excluded.pds_reset_at,
         updated_at = now()`,
      [did, remaining, resetAt],
    );
  }

  async state(did: string): Promise<{ hour_points: number; day_points: number; pds_remaining: number | null; pds_reset_at: Date | null } | undefined> {
    const r = await this.db.query(
      `select case when hour_start = date_trunc('hour', now(), 'UTC') then hour_points else 0 end as hour_points,
              case when day_start = date_trunc('day', now(), 'UTC') then day_points else 0 end as day_points,
              pds_remaining, pds_reset_at
       from atproto_write_budget where did = $1`,
      [did],
    );
    return r.rows[0];
  }
}
