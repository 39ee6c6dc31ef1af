-- The /v1 turn mirror (src/stores/powersync/turn-mirror.ts): a completed turn is queued
-- here before its response is sent (one insert) and copied into conversations +
-- messages by a background drainer in any app process (FOR UPDATE SKIP LOCKED: each
-- row once; the copy and the delete commit together). Not in the powersync publication.
create table if not exists turn_mirror_queue (
  id          bigserial primary key,
  turn        jsonb not null,
  queued_at   timestamptz not null default clock_timestamp()
);
