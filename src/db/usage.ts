/**
 * Requests and tokens per key owner and UTC day (`usage_daily`, migration 061), shared by
 * every app replica: one upsert per request, reads by day. src/server/usage.ts keeps the
 * budgets and GET /v1/usage on top of these.
 */
import type pg from 'pg';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * Adds one request and its token counts to the owner's row of `day` (YYYY-MM-DD) and,
 * when the answering model is known, to that model's row of the day: one statement.
 */
export async function addUsage(db: Queryable, owner: string, day: string, tokens: { prompt: number; completion: number; total: number }, model?: string): Promise<void> {
  await db.query(
    `with daily as (
       insert into usage_daily (owner, day, requests, prompt_tokens, completion_tokens, total_tokens) values ($1, $2, 1, $3, $4, $5)
       on conflict (owner, day) do update set requests = usage_daily.requests + 1,
         prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
         completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens,
         total_tokens = usage_daily.total_tokens + excluded.total_tokens)
     insert into usage_daily_models (owner, day, model, requests, prompt_tokens, completion_tokens, total_tokens)
       select $1, $2, $6::text, 1, $3, $4, $5 where $6::text is not null
     on conflict (owner, day, model) do update set requests = usage_daily_models.requests + 1,
       prompt_tokens = usage_daily_models.prompt_tokens + excluded.prompt_tokens,
       completion_tokens = usage_daily_models.completion_tokens + excluded.completion_tokens,
       total_tokens = usage_daily_models.total_tokens + excluded.total_tokens`,
    [owner, day, tokens.prompt, tokens.completion, tokens.total, model ?? null],
  );
}

/** Tokens the owner used on `day` (0 without a row). */
export async function tokensUsedOn(db: Queryable, owner: string, day: string): Promise<number> {
  const r = await db.query<{ total_tokens: string }>('select total_tokens from usage_daily where owner = $1 and day = $2', [owner, day]);
  return Number(r.rows[0]?.total_tokens ?? 0);
}

export interface UsageCounts {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface UsageDay extends UsageCounts {
  date: string;
  /** The day's counts by the model that answered (requests counted before this split existed are in no model). */
  models: Record<string, UsageCounts>;
}

type CountRow = { requests: string; prompt_tokens: string; completion_tokens: string; total_tokens: string };
const counts = (row: CountRow): UsageCounts => ({
  requests: Number(row.requests),
  prompt_tokens: Number(row.prompt_tokens),
  completion_tokens: Number(row.completion_tokens),
  total_tokens: Number(row.total_tokens),
});

/** The owner's days with usage from `startDay` to `endDay` (inclusive), oldest first. */
export async function usageDays(db: Queryable, owner: string, startDay: string, endDay: string): Promise<UsageDay[]> {
  const [daily, byModel] = await Promise.all([
    db.query<CountRow & { date: string }>(
      `select to_char(day, 'YYYY-MM-DD') as date, requests, prompt_tokens, completion_tokens, total_tokens
       from usage_daily where owner = $1 and day between $2 and $3 order by day`,
      [owner, startDay, endDay],
    ),
    db.query<CountRow & { date: string; model: string }>(
      `select to_char(day, 'YYYY-MM-DD') as date, model, requests, prompt_tokens, completion_tokens, total_tokens
       from usage_daily_models where owner = $1 and day between $2 and $3 order by day, model`,
      [owner, startDay, endDay],
    ),
  ]);
  const models = new Map<string, Record<string, UsageCounts>>();
  for (const row of byModel.rows) {
    const day = models.get(row.date) ?? {};
    day[row.model] = counts(row);
    models.set(row.date, day);
  }
  return daily.rows.map((row) => ({ date: row.date, ...counts(row), models: models.get(row.date) ?? {} }));
}
