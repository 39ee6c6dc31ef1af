-- Stored responses of POST /v1/responses (src/server/openai/responses/, src/db/responses.ts).
-- One row per response created with `store` true (the default); `store: false` writes no row.
-- `owner` is the API key's owner (`anonymous` without API_KEYS): every read, delete and
-- `previous_response_id` lookup filters by it, so another owner's id looks exactly like an
-- unknown one. `resource` is the memory resource the response ran for (the owner, or
-- `owner:user`); `thread_id` the memory thread (claimed in thread_owners) that a
-- continuation (`previous_response_id`) runs on.
create table if not exists responses (
  id                   text primary key,
  owner                text not null,
  resource             text not null,
  agent                text not null,
  thread_id            text,
  previous_response_id text,
  status               text not null,
  created_at           timestamptz not null default now(),
  completed_at         timestamptz,
  -- The request's echoed settings (instructions, temperature, metadata, tools, …).
  request              jsonb not null default '{}'::jsonb,
  input_items          jsonb not null default '[]'::jsonb,
  output               jsonb not null default '[]'::jsonb,
  usage                jsonb,
  incomplete_details   jsonb,
  store                boolean not null default true,
  error                jsonb
);
create index if not exists responses_owner_created on responses (owner, created_at);

-- One run at a time per memory thread (src/db/thread-runs.ts acquireThreadRun): a run holds
-- a lease on its thread, renewed while it runs; a second request on a leased thread is
-- refused (400 conversation_locked) instead of loading a history the first run is about to
-- change (two concurrent turns on one Mastra thread lose or merge assistant messages). A
-- lease of a crashed process expires on its own.
create table if not exists response_thread_runs (
  thread_id   text primary key,
  response_id text not null,
  expires_at  timestamptz not null
);
