-- Tool calls of a streamed run (docs/powersync.md "Streamed replies and runs"): a row
-- per call the model makes, 'running' while the tool runs, then 'done' / 'failed', or
-- 'stopped' / 'failed' with its run. Server-written only; synced to the owner.
create table if not exists agent_tool_calls (
  id              text primary key,
  owner_id        text not null,
  run_id          text not null,
  conversation_id text not null,
  reply_id        text not null,
  name            text not null,
  -- JSON, cut to 4000 characters
  arguments       text,
  -- the tool's output as JSON, cut to 4000 characters (null when it failed)
  result          text,
  status          text not null default 'running' check (status in ('running', 'done', 'failed', 'stopped')),
  started_at      timestamptz not null default now(),
  ended_at        timestamptz
);
create index if not exists agent_tool_calls_owner on agent_tool_calls (owner_id);
create index if not exists agent_tool_calls_run on agent_tool_calls (run_id);

do $$
begin
  if not exists (select 1 from pg_publication_tables where pubname = 'powersync' and tablename = 'agent_tool_calls') then
    alter publication powersync add table agent_tool_calls;
  end if;
end
$$;
