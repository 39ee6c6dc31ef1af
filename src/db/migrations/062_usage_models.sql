-- The same counts as usage_daily, split by the model that answered (`provider/model` as
-- configured; with MODEL_FALLBACKS the fallback that answered). Written in the same
-- statement as usage_daily (src/db/usage.ts addUsage), so the two never disagree.
create table if not exists usage_daily_models (
  owner             text not null,
  day               date not null,
  model             text not null,
  requests          bigint not null default 0,
  prompt_tokens     bigint not null default 0,
  completion_tokens bigint not null default 0,
  total_tokens      bigint not null default 0,
  primary key (owner, day, model)
);
