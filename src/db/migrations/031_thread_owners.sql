-- Who owns each memory thread: an x-thread-id on /v1, a synced conversation's thread_id.
-- A thread is claimed with `insert … on conflict do nothing` (src/db/threads.ts), so of
-- two callers naming the same new thread at once exactly one wins, whichever app
-- process each reached. Not replicated to devices.
create table if not exists thread_owners (
  thread_id   text primary key,
  resource_id text not null,
  created_at  timestamptz not null default now()
);
-- Threads that already have a synced conversation keep its owner. Threads known only to
-- Mastra's memory are claimed for their memory owner on first use (src/conversations/owners.ts).
insert into thread_owners (thread_id, resource_id)
  select thread_id, owner_id from conversations
  on conflict (thread_id) do nothing;
