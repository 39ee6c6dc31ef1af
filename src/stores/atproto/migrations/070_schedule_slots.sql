-- Scheduled posts (ATPROTO_SCHEDULE) exactly once per slot across app replicas
-- (src/features/atproto/schedule.ts). A schedule is keyed by its entry text
-- (agent|when|topic, hashed); `anchor` is when an interval schedule was first started,
-- so every leader computes the same slots (anchor + k * interval) instead of restarting
-- the interval after a failover. A slot is posted only by whoever inserts its row
-- (INSERT … ON CONFLICT DO NOTHING), so two overlapping leaders cannot both post it.
create table if not exists atproto_schedules (
  schedule_key text primary key,
  entry        text not null,
  anchor       timestamptz not null,
  created_at   timestamptz not null default now()
);

create table if not exists atproto_schedule_slots (
  schedule_key text not null references atproto_schedules(schedule_key) on delete cascade,
  slot         timestamptz not null,
  claimed_by   text not null,
  claimed_at   timestamptz not null default now(),
  -- 'claimed' until the workflow ends, then 'posted' or 'failed' (a claimed slot whose
  -- process died stays 'claimed': it is not posted again, at most once per slot).
  status       text not null default 'claimed',
  post_uri     text,
  primary key (schedule_key, slot)
);
