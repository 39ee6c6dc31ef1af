-- AT Protocol: replies by other accounts in the threads the agents take part in, as
-- seen on the firehose (src/features/atproto/firehose.ts). Thread reads without an
-- AppView list them next to the agents' own replies (atproto_posts). A reply is kept
-- when its thread is known when it arrives: the root or parent is an agent's post, the
-- root of a thread an agent posted in, or the root of a mention of an agent.
create table if not exists atproto_thread_replies (
  uri        text primary key,
  did        text not null,
  cid        text not null,
  text       text not null default '',
  root_uri   text not null,
  parent_uri text not null,
  automated  boolean not null default false,
  created_at timestamptz not null default now(),
  indexed_at timestamptz not null default now()
);
create index if not exists atproto_thread_replies_parent on atproto_thread_replies (parent_uri, created_at);
create index if not exists atproto_thread_replies_root on atproto_thread_replies (root_uri, created_at);
create index if not exists atproto_mentions_root on atproto_mentions (root_uri);
