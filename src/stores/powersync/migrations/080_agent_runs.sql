-- Streamed replies and runs you can stop (docs/powersync.md "Streamed replies and runs").
-- An agent run answering a synced user message: one row per attempt, synced to the
-- owner's devices. The server writes every column; a device may only set
-- stop_requested (src/clients/powersync/upload.ts), and the running process polls it
-- (src/stores/powersync/agent-runs.ts), so a stop uploaded to any replica reaches the
-- replica that runs the model through Postgres.
create table if not exists agent_runs (
  id              text primary key,
  owner_id        text not null,
  conversation_id text not null,
  -- the user message being answered and the assistant message being written
  message_id      text not null,
  reply_id        text not null,
  agent           text not null,
  model           text,
  status          text not null default 'running' check (status in ('running', 'done', 'failed', 'stopped')),
  -- 1 once a device asked to stop the run (never reset)
  stop_requested  integer not null default 0 check (stop_requested in (0, 1)),
  error           text,
  input_tokens    integer,
  output_tokens   integer,
  started_at      timestamptz not null default now(),
  ended_at        timestamptz
);
create index if not exists agent_runs_owner on agent_runs (owner_id, started_at desc);
create index if not exists agent_runs_reply on agent_runs (reply_id) where status = 'running';

do $$
begin
  if not exists (select 1 from pg_publication_tables where pubname = 'powersync' and tablename = 'agent_runs') then
    alter publication powersync add table agent_runs;
  end if;
end
$$;
