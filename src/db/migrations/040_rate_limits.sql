-- RATE_LIMIT_RPM counted across every app replica (src/server/shared-limits.ts): requests
-- per bucket (a key, or an address without keys) and fixed minute.
create table if not exists rate_limits (
  bucket       text not null,
  window_start timestamptz not null,
  count        int not null,
  primary key (bucket, window_start)
);
