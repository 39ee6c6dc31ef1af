/**
 * Usage and token budgets per key owner and UTC day, counted in Postgres (src/db/usage.ts:
 * `usage_daily`, migration 061) so every replica shares one count: one upsert per request after the
 * model answered (`recordUsage`), and a budget check before the model is called
 * (`checkBudget`). GET /v1/usage reads the rows (`usageRouter`).
 *
 * For other /v1 routes (e.g. the Responses API): call `meter.check(owner)` before the
 * model call (or mount `meter.guard()` after the JSON body parser) and
 * `meter.record(owner, usage)` once per request after it, with `usageOwner(...)` as the
 * owner. The check cannot know the tokens of calls still running, so concurrent requests
 * near the budget overshoot it by at most what those in-flight calls use (see docs/api.md).
 */
import { answeringModel } from '../mastra/answering-model';
import { Router, type RequestHandler } from 'express';
import type pg from 'pg';
import { budgetFor, type BudgetConfig } from '../config';
import { addUsage, tokensUsedOn, usageDays } from '../db/usage';
import type { Logger } from '../logger';
import { userKey } from './auth';
import { errors, OpenAIError } from './openai/errors';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** Token counts in OpenAI's names; missing counts are 0. */
export interface TokenUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

const DAY_MS = 86_400_000;
/** The widest date range GET /v1/usage answers. */
export const MAX_USAGE_DAYS = 366;

/** `YYYY-MM-DD` of the UTC day of `now`. */
export function utcDay(now = Date.now()): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** Whole seconds (at least 1) until the next 00:00 UTC. */
export function secondsUntilUtcMidnight(now = Date.now()): number {
  return Math.max(1, Math.ceil((Math.floor(now / DAY_MS) * DAY_MS + DAY_MS - now) / 1000));
}

/** The owner usage is counted for: the API key's owner, or in keyless development the request's `user` (else `anonymous`). */
export function usageOwner(keyOwner: string | undefined, user: string | undefined): string {
  // Any string may be a `user`: the same bounded form as its memory resource (auth.ts userKey).
  return keyOwner ?? (user ? userKey(user) : 'anonymous');
}

/**
 * The owner usage is counted for, from a memory resource (a synced message's owner_id):
 * with API keys the key owner (owner ids hold no `:`, so `owner:user` → `owner`), keyless
 * the resource itself (the bounded `user`, as usageOwner gives it).
 */
export function usageOwnerOfResource(resourceId: string, keyed: boolean): string {
  if (!keyed) return resourceId;
  const i = resourceId.indexOf(':');
  return i === -1 ? resourceId : resourceId.slice(0, i);
}

const count = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.floor(n) : 0);

/** Adds one request and its tokens to the owner's row of today (UTC), and to the answering model's: one statement. */
export async function recordUsage(db: Queryable, owner: string, usage: TokenUsage | undefined, now = Date.now(), model?: string): Promise<void> {
  const prompt = count(usage?.prompt_tokens);
  const completion = count(usage?.completion_tokens);
  const total = count(usage?.total_tokens) || prompt + completion;
  await addUsage(db, owner, utcDay(now), { prompt, completion, total }, model);
}

/** Tokens the owner used today (UTC). */
export async function tokensUsedToday(db: Queryable, owner: string, now = Date.now()): Promise<number> {
  return tokensUsedOn(db, owner, utcDay(now));
}

/** Throws 429 `budget_exceeded` (retry-after = seconds to 00:00 UTC) when the owner's budget for today is used up. */
export async function checkBudget(db: Queryable, budgets: BudgetConfig, owner: string, now = Date.now()): Promise<void> {
  const budget = budgetFor(budgets, owner);
  if (budget <= 0) return;
  const used = await tokensUsedToday(db, owner, now);
  if (used >= budget) throw errors.budgetExceeded(secondsUntilUtcMidnight(now), budget, used);
}

/** The budget check and the usage count of one app, with its database and logger. */
export class UsageMeter {
  constructor(
    private readonly db: pg.Pool,
    private readonly budgets: BudgetConfig,
    private readonly logger: Logger,
    /** An agent's primary model (`provider/model`): the one a request counts under unless a fallback answered. */
    private readonly modelOf?: (agent: string) => string,
  ) {}

  /**
   * Refuses the request when the owner's budget is used up. A database failure lets the
   * request through (logged): an outage of the counter must not stop every chat.
   */
  async check(owner: string): Promise<void> {
    if (budgetFor(this.budgets, owner) <= 0) return;
    try {
      await checkBudget(this.db, this.budgets, owner);
    } catch (err) {
      if (err instanceof OpenAIError) throw err;
      this.logger.warn('usage counter unavailable; budget not checked', { error: err });
    }
  }

  /**
   * `check` and `record` for a memory resource (chat through sync: a synced message's
   * owner), in the AnswerBudget shape of src/workflows/powersync/answer-message.ts.
   */
  forResources(keyed: boolean) {
    return {
      check: (resourceId: string) => this.check(usageOwnerOfResource(resourceId, keyed)),
      record: (resourceId: string, u: { inputTokens?: number; outputTokens?: number; totalTokens?: number } | undefined, agent?: string) =>
        this.record(usageOwnerOfResource(resourceId, keyed), u && { prompt_tokens: u.inputTokens, completion_tokens: u.outputTokens, total_tokens: u.totalTokens }, agent),
    };
  }

  /**
   * Counts one request; never throws (a failure is logged). With `agent`, it is also
   * counted under the model that answered: the fallback noted in this request's context
   * (src/mastra/answering-model.ts), else the agent's primary model.
   */
  async record(owner: string, usage: TokenUsage | undefined, agent?: string): Promise<void> {
    const model = answeringModel().id ?? (agent && this.modelOf ? this.modelOf(agent) : undefined);
    try {
      await recordUsage(this.db, owner, usage, Date.now(), model);
    } catch (err) {
      this.logger.warn('usage not recorded', { owner, error: err });
    }
  }

  /** Express middleware form of `check` (after the JSON body parser: keyless callers are counted by the body's `user`). */
  guard(): RequestHandler {
    return (req, res, next) => {
      const user = (req.body as { user?: unknown } | undefined)?.user;
      this.check(usageOwner(res.locals.caller?.owner, typeof user === 'string' ? user : undefined)).then(() => next(), next);
    };
  }
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const OWNER = /^[A-Za-z0-9_.@:-]{1,256}$/;

function dateParam(q: Record<string, unknown>, name: string): number | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !DATE.test(v)) throw errors.invalidBody(`Invalid value for '${name}': a date as YYYY-MM-DD (UTC) is expected.`, name);
  const t = Date.parse(`${v}T00:00:00Z`);
  if (Number.isNaN(t) || utcDay(t) !== v) throw errors.invalidBody(`Invalid value for '${name}': ${v} is not a calendar date.`, name);
  return t;
}

function stringParam(q: Record<string, unknown>, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !OWNER.test(v)) throw errors.invalidBody(`Invalid value for '${name}': 1-256 letters, digits and _ . @ : - are expected.`, name);
  return v;
}

export interface UsageRouterDeps {
  db: pg.Pool;
  /** With API keys: the owners who may read anyone's usage (`?owner=`). */
  adminUsers: Set<string>;
  keyless: boolean;
}

/**
 * GET /usage: `{object: 'usage', owner, start_date, end_date, days: [{date, requests,
 * prompt_tokens, completion_tokens, total_tokens}]}` for the caller, days with usage only,
 * oldest first. `start_date`/`end_date` (YYYY-MM-DD, UTC, inclusive; default the last 30
 * days to today, at most 366 days). `owner`: admins only (anyone without API keys);
 * keyless development names the owner with `user` as chat requests do.
 */
export function usageRouter(deps: UsageRouterDeps): Router {
  const router = Router();
  router.get('/usage', async (req, res, next) => {
    try {
      const q = req.query as Record<string, unknown>;
      const caller = res.locals.caller?.owner;
      const asked = stringParam(q, 'owner');
      const user = stringParam(q, 'user');
      if (user !== undefined && !deps.keyless) throw errors.invalidBody("Invalid value for 'user': with API keys, usage is counted per key owner; ask for another owner with 'owner' (ADMIN_USERS only).", 'user');
      let owner = usageOwner(caller, user);
      if (asked !== undefined && asked !== owner) {
        if (!deps.keyless && !deps.adminUsers.has(caller ?? '')) throw new OpenAIError(403, "Only ADMIN_USERS may read another owner's usage.", 'permission_error', 'forbidden', 'owner');
        owner = asked;
      }
      const today = Date.parse(`${utcDay()}T00:00:00Z`);
      const end = dateParam(q, 'end_date') ?? today;
      const start = dateParam(q, 'start_date') ?? end - 29 * DAY_MS;
      if (start > end) throw errors.invalidBody("Invalid value for 'start_date': it must not be after end_date.", 'start_date');
      if ((end - start) / DAY_MS + 1 > MAX_USAGE_DAYS) throw errors.invalidBody(`Invalid value for 'start_date': at most ${MAX_USAGE_DAYS} days per request.`, 'start_date');
      const days = await usageDays(deps.db, owner, utcDay(start), utcDay(end));
      res.json({ object: 'usage', owner, start_date: utcDay(start), end_date: utcDay(end), days });
    } catch (err) {
      next(err);
    }
  });
  return router;
}
