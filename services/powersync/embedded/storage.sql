-- Storage of the embedded PowerSync stand-in (services/powersync/embedded): its bucket
-- log, the current bucket membership of every replicated row, per-bucket checksums,
-- replication progress and write checkpoints. Unused when POWERSYNC_URL points at the
-- real PowerSync Service (it keeps its own storage). Applied by the stand-in at start
-- (every statement is idempotent), under an advisory lock.

create table if not exists powersync_state (
  id            int primary key default 1 check (id = 1),
  last_op_id    bigint not null default 0,
  lsn           pg_lsn not null default '0/0',
  snapshot_done boolean not null default false,
  rules_hash    text
);
insert into powersync_state (id) values (1) on conflict do nothing;

-- The bucket log: every operation ever sent, in op_id order per bucket.
create table if not exists powersync_oplog (
  bucket      text not null,
  op_id       bigint not null,
  op          text not null check (op in ('PUT', 'REMOVE', 'MOVE', 'CLEAR')),
  object_type text,
  object_id   text,
  data        text,
  checksum    bigint not null,
  primary key (bucket, op_id)
);

-- Which bucket rows every source row is in right now (to emit REMOVE when it leaves).
create table if not exists powersync_current (
  source_table text not null,
  source_key   text not null,
  bucket       text not null,
  object_type  text not null,
  object_id    text not null,
  checksum     bigint not null,
  primary key (source_table, source_key, bucket, object_type, object_id)
);

create table if not exists powersync_buckets (
  bucket     text primary key,
  last_op_id bigint not null,
  checksum   bigint not null,
  op_count   bigint not null
);

-- Write checkpoints (legacy /write-checkpoint2.json and /sync/checkpoint-request):
-- acknowledged once replication has passed `lsn`.
create table if not exists powersync_write_checkpoints (
  user_id       text not null,
  client_id     text not null,
  checkpoint    bigint not null,
  lsn           pg_lsn not null,
  created_at    timestamptz not null default now(),
  primary key (user_id, client_id, checkpoint)
);

create sequence if not exists powersync_write_checkpoint_seq;
