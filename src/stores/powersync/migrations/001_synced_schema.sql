-- What users see on their devices (synced by PowerSync; see services/powersync).
-- Primary keys are text UUIDs (PowerSync's `id`); owner_id scopes rows to one user
-- (the memory resource id of the conversation: API key owner, or owner:user).

create table if not exists agents (
  id          text primary key,
  name        text not null unique,
  description text not null default '',
  handle      text,
  did         text,
  updated_at  timestamptz not null default now()
);

create table if not exists conversations (
  id         text primary key,
  owner_id   text not null,
  agent      text not null,
  thread_id  text not null unique,
  title      text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists conversations_owner on conversations (owner_id);

create table if not exists messages (
  id              text primary key,
  owner_id        text not null,
  conversation_id text not null,
  role            text not null check (role in ('user', 'assistant', 'system')),
  content         text not null,
  -- 'pending' for a device-written user message not yet answered, 'answered' after
  status          text,
  created_at      timestamptz not null default now()
);
create index if not exists messages_owner on messages (owner_id);
create index if not exists messages_conversation on messages (conversation_id, created_at);

create table if not exists artifacts (
  id         text primary key,
  owner_id   text not null,
  agent      text,
  kind       text not null,
  title      text,
  cid        text,
  at_uri     text,
  size_bytes bigint,
  metadata   text,
  created_at timestamptz not null default now()
);
create index if not exists artifacts_owner on artifacts (owner_id, created_at desc);

create table if not exists notes (
  id         text primary key,
  owner_id   text not null,
  title      text not null default '',
  body       text not null default '',
  created_by text not null default 'user',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists notes_owner on notes (owner_id);

create table if not exists tasks (
  id         text primary key,
  owner_id   text not null,
  title      text not null,
  status     text not null default 'open' check (status in ('open', 'in_progress', 'done', 'cancelled')),
  due_at     timestamptz,
  created_by text not null default 'user',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists tasks_owner on tasks (owner_id);

-- IPFS archives of an agent's data (AT repo CAR, conversations JSON).
create table if not exists archives (
  id          text primary key,
  owner_id    text not null,
  agent       text not null,
  kind        text not null check (kind in ('at-repo', 'conversations')),
  cid         text not null,
  size_bytes  bigint not null,
  created_at  timestamptz not null default now(),
  verified_at timestamptz
);
create index if not exists archives_owner on archives (owner_id, created_at desc);

do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'powersync') then
    create publication powersync for table agents, conversations, messages, artifacts, notes, tasks, archives;
  end if;
end
$$;
