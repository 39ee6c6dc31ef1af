-- Conversations continued without x-thread-id (src/conversations/transcript.ts, src/db/transcript-threads.ts):
-- key = sha256 of (kind, memory resource, agent, and either the first user message and
-- first assistant reply of the transcript a client resends, or Open WebUI's chat id) →
-- the thread it continues. The resource is inside the hash and in its own column, so a
-- key never leads to another caller's thread; the thread's owner is still checked
-- against thread_owners on every use. Rows are written with `on conflict do nothing`,
-- so of two requests with the same transcript at once both land on one thread.
create table if not exists transcript_threads (
  key         text primary key,
  thread_id   text not null,
  resource_id text not null,
  created_at  timestamptz not null default now()
);
create index if not exists transcript_threads_thread on transcript_threads (thread_id);
