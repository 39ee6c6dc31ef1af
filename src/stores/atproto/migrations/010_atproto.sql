-- AT Protocol feature (src/features/atproto.ts): firehose cursors, the idempotency
-- record of every mention the agents answer, the agents' own posts (for rate limits
-- and the feed generator) and what dry-run mode would have posted.

create table if not exists atproto_cursors (
  name       text primary key,
  seq        bigint not null,
  updated_at timestamptz not null default now()
);

-- One row per (mention, agent): claimed before drafting, the reply's record key is
-- fixed before the write, so a crash between write and bookkeeping never posts twice.
create table if not exists atproto_mentions (
  mention_uri  text not null,
  agent        text not null,
  agent_did    text not null,
  author_did   text not null,
  mention_cid  text not null,
  root_uri     text not null,
  root_cid     text not null,
  text         text not null default '',
  status       text not null default 'pending'
               check (status in ('pending', 'running', 'awaiting_approval', 'posted', 'skipped', 'dry_run', 'failed')),
  reason       text,
  draft        text,
  reply_rkey   text,
  reply_uri    text,
  run_id       text,
  attempts     int not null default 0,
  lease_until  timestamptz,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  primary key (mention_uri, agent)
);
create index if not exists atproto_mentions_open on atproto_mentions (status) where status in ('pending', 'running');

create table if not exists atproto_posts (
  uri        text primary key,
  agent      text not null,
  did        text not null,
  cid        text not null,
  text       text not null default '',
  root_uri   text,
  parent_uri text,
  created_at timestamptz not null default now()
);
create index if not exists atproto_posts_agent_time on atproto_posts (agent, created_at desc);
create index if not exists atproto_posts_root on atproto_posts (root_uri);
create index if not exists atproto_posts_time on atproto_posts (created_at desc, uri desc);

create table if not exists atproto_dry_runs (
  id          bigserial primary key,
  agent       text not null,
  kind        text not null,
  mention_uri text,
  text        text not null,
  record      jsonb not null,
  created_at  timestamptz not null default now()
);
