-- Chat through sync: messages a device wrote that wait for their agent's answer
-- (the answerer's sweep). Databases migrated before this file got it from the
-- PowerSync stand-in's storage schema; `if not exists` keeps both paths safe.
create index if not exists messages_pending on messages (created_at) where status in ('pending', 'answering');
