-- AT Protocol autonomy controls (src/features/atproto/autonomy.ts, docs/atproto.md):
-- when the post a mention row answers was made (event time: firehose commit time,
-- Jetstream time_us, else the record's createdAt), for ATPROTO_MAX_MENTION_AGE and
-- catch-up pacing; and each agent's paused flag, shared by every replica.
alter table atproto_mentions add column if not exists event_time timestamptz;
create index if not exists atproto_mentions_agent_updated on atproto_mentions (agent, updated_at desc);

create table if not exists atproto_agent_state (
  agent      text primary key,
  paused     boolean not null default false,
  reason     text,
  updated_by text,
  updated_at timestamptz not null default now()
);
