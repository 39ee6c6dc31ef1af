-- Requests and tokens per key owner and UTC day (src/server/usage.ts), counted across
-- every app replica: one upsert per request after the model answered. Budgets
-- (BUDGET_TOKENS_PER_DAY) are checked against total_tokens before the model is called.
create table if not exists usage_daily (
  owner             text not null,
  day               date not null,
  requests          bigint not null default 0,
  prompt_tokens     bigint not null default 0,
  completion_tokens bigint not null default 0,
  total_tokens      bigint not null default 0,
  primary key (owner, day)
);
