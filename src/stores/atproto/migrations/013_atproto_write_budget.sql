-- Pacing the agents' repo writes to the PDS's rate limits (src/clients/atproto/pacing.ts,
-- src/stores/atproto/write-budget.ts, docs/atproto.md "Pacing"): per account (DID), the
-- points spent in the current hour and day (create 3, update 2, delete 1, as the PDS
-- counts them), and what the PDS itself last said (ratelimit-remaining / ratelimit-reset),
-- shared by every replica: one statement reserves points or refuses.
create table if not exists atproto_write_budget (
  did           text primary key,
  hour_start    timestamptz not null,
  hour_points   integer not null default 0,
  day_start     timestamptz not null,
  day_points    integer not null default 0,
  pds_remaining integer,
  pds_reset_at  timestamptz,
  updated_at    timestamptz not null default now()
);
