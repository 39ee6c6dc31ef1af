-- Chat through sync, per-user concurrency (issue 21 item 4): one row per synced message an
-- app process is answering now, across replicas. A user holds at most
-- POWERSYNC_ANSWER_MAX_PER_USER rows; a row past expires_at (its process stopped) no longer
-- counts. Not synced to devices.
create table if not exists sync_answer_slots (
  message_id text primary key,
  owner_id   text not null,
  expires_at timestamptz not null
);
create index if not exists sync_answer_slots_owner on sync_answer_slots (owner_id, expires_at);
