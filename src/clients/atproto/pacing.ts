/**
 * Pacing the agents' writes to their PDS's rate limits (docs/atproto.md "Pacing").
 *
 * The PDS (@atproto/pds rate-limits.js) limits repo writes per account: 5000 points an
 * hour and 35000 a day, a create costing 3, an update (putRecord) 2, a delete 1
 * (applyWrites: the sum of its operations); over the limit it answers 429 with
 * `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset` (epoch seconds) and
 * `ratelimit-policy` headers. uploadBlob has a limit of its own (1000 a day), not these.
 *
 * `pacedFetch` wraps an agent session's fetch. Before a repo write it reserves the points
 * in Postgres (WriteBudgetStore: shared by every replica; ATPROTO_WRITE_POINTS_PER_HOUR /
 * _PER_DAY, default the PDS's limits) and refuses with RATE_LIMITED, without calling the
 * PDS, when the budget or the PDS's last word (remaining < cost before the reset) says
 * no. After every repo write it stores the PDS's `ratelimit-remaining` / `-reset`. On a
 * 429 (any write, uploadBlob too) it waits and retries once when `retry-after` /
 * `ratelimit-reset` asks for at most `maxWaitMs`, else refuses with RATE_LIMITED. Header
 * values are never trusted: malformed, negative or far-future ones are ignored or capped.
 */
import type { Logger } from '../../logger';
import type { WriteBudgetStore, WriteLimits } from '../../stores/atproto/write-budget';
import { RateLimitedError } from './errors';

/** Points the PDS charges per repo write method (applyWrites: per operation, below). */
export const WRITE_POINTS: Record<string, number> = {
  'com.atproto.repo.createRecord': 3,
  'com.atproto.repo.putRecord': 2,
  'com.atproto.repo.deleteRecord': 1,
};
const APPLY_WRITES = 'com.atproto.repo.applyWrites';
const UPLOAD_BLOB = 'com.atproto.repo.uploadBlob';
/** A 429 asking to wait at most this long is waited out and retried once. */
export const MAX_RETRY_WAIT_MS = 3000;
/** The longest PDS write window (a day): a reset further ahead is capped to it. */
export const MAX_RESET_AHEAD_MS = 24 * 60 * 60_000;
/** When a 429 names no usable time: try again after this. */
const DEFAULT_RETRY_MS = 60_000;

/** Points an applyWrites body costs (create 3, update 2, delete 1); an unreadable body counts as one create. */
export function applyWritesPoints(body: unknown): number {
  const writes = (body as { writes?: unknown })?.writes;
  if (!Array.isArray(writes) || writes.length === 0) return 3;
  let points = 0;
  for (const w of writes) {
    const t = typeof (w as { $type?: unknown })?.$type === 'string' ? ((w as { $type: string }).$type) : '';
    points += t.endsWith('#delete') ? 1 : t.endsWith('#update') ? 2 : 3;
  }
  return points;
}

/** `ratelimit-reset` (epoch seconds) → a time, or undefined when malformed; capped to now + a day. */
export function parseReset(value: string | null, nowMs: number): Date | undefined {
  if (value === null || !/^\s*\d{1,15}(\.\d+)?\s*$/.test(value)) return undefined;
  const ms = Number(value) * 1000;
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return new Date(Math.min(ms, nowMs + MAX_RESET_AHEAD_MS));
}

/** `ratelimit-remaining` → a count, or undefined when malformed. */
export function parseRemaining(value: string | null): number | undefined {
  if (value === null || !/^\s*\d{1,9}\s*$/.test(value)) return undefined;
  return Number(value);
}

/** How long a 429 asks to wait: `retry-after` (seconds or an HTTP date), else `ratelimit-reset`; capped to a day; undefined when neither is usable. */
export function waitOf(headers: Headers, nowMs: number): number | undefined {
  const ra = headers.get('retry-after')?.trim();
  if (ra) {
    if (/^\d{1,15}$/.test(ra)) return Math.min(Number(ra) * 1000, MAX_RESET_AHEAD_MS);
    // Only an IMF-fixdate (RFC 9110), not whatever Date.parse makes of "-1" or "12abc".
    const at = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(ra) ? Date.parse(ra) : NaN;
    if (Number.isFinite(at)) return Math.min(Math.max(0, at - nowMs), MAX_RESET_AHEAD_MS);
  }
  const reset = parseReset(headers.get('ratelimit-reset'), nowMs);
  if (reset) return Math.max(0, reset.getTime() - nowMs);
  return undefined;
}

export interface PacingOptions {
  budget: WriteBudgetStore;
  limits: WriteLimits;
  /** The account the session writes for (its DID, once logged in). */
  didOf: () => string | undefined;
  logger?: Logger;
  /** Waits before the one retry after a 429 (tests record the waits). */
  sleep?: (ms: number) => Promise<void>;
  maxWaitMs?: number;
  now?: () => number;
}

const nsidOf = (url: string): string | undefined => {
  const p = URL.canParse(url) ? new URL(url).pathname : '';
  return p.startsWith('/xrpc/') ? p.slice('/xrpc/'.length) : undefined;
};

export function pacedFetch(inner: typeof fetch, o: PacingOptions): typeof fetch {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const maxWait = o.maxWaitMs ?? MAX_RETRY_WAIT_MS;
  const now = o.now ?? Date.now;

  return async (input, init) => {
    const req = input instanceof Request && !init ? input : new Request(input, init);
    const nsid = req.method === 'POST' ? nsidOf(req.url) : undefined;
    const isRepoWrite = !!nsid && (nsid in WRITE_POINTS || nsid === APPLY_WRITES);
    if (!isRepoWrite && nsid !== UPLOAD_BLOB) return inner(req);

    const body = req.body ? await req.arrayBuffer() : undefined;
    const did = o.didOf() ?? repoOf(body);
    const send = () => inner(req.url, { method: req.method, headers: req.headers, body, signal: req.signal, redirect: req.redirect });

    if (isRepoWrite && did) {
      const cost = nsid === APPLY_WRITES ? applyWritesPoints(jsonOf(body)) : WRITE_POINTS[nsid!]!;
      const r = await o.budget.reserve(did, cost, o.limits);
      if (!r.ok) {
        const what = r.why === 'pds' ? 'the PDS said its write limit is reached' : `the account's write budget for this ${r.why} is spent (ATPROTO_WRITE_POINTS_PER_${r.why.toUpperCase()}=${r.why === 'hour' ? o.limits.perHour : o.limits.perDay})`;
        throw new RateLimitedError(`${nsid} not sent: ${what}`, r.retryAt);
      }
    }

    let res = await send();
    if (res.status === 429) {
      const wait = waitOf(res.headers, now());
      await remember(res);
      if (wait === undefined || wait > maxWait) {
        await res.body?.cancel().catch(() => {});
        throw new RateLimitedError(`${nsid}: the PDS answered 429 (rate limited)`, new Date(now() + (wait ?? DEFAULT_RETRY_MS)));
      }
      await res.body?.cancel().catch(() => {});
      o.logger?.info('PDS rate limit: waiting before one retry', { nsid, waitMs: wait });
      await sleep(wait);
      res = await send();
      if (res.status === 429) {
        const again = waitOf(res.headers, now());
        await remember(res);
        await res.body?.cancel().catch(() => {});
        throw new RateLimitedError(`${nsid}: the PDS answered 429 (rate limited) again after waiting`, new Date(now() + (again ?? DEFAULT_RETRY_MS)));
      }
    }
    await remember(res);
    return res;

    /** Stores what the PDS said about the repo-write limit (uploadBlob's headers are about another limit). */
    async function remember(r: Response): Promise<void> {
      if (!isRepoWrite || !did) return;
      const t = now();
      let remaining = parseRemaining(r.headers.get('ratelimit-remaining'));
      let reset = parseReset(r.headers.get('ratelimit-reset'), t);
      if (r.status === 429) {
        remaining = 0;
        const w = waitOf(r.headers, t);
        reset = new Date(t + (w ?? DEFAULT_RETRY_MS));
      }
      if (remaining === undefined || !reset || reset.getTime() <= t) return;
      await o.budget.recordPds(did, remaining, reset).catch((err) => o.logger?.warn('could not store the PDS rate-limit headers', { error: err }));
    }
  };
}

function jsonOf(body: ArrayBuffer | undefined): unknown {
  if (!body || body.byteLength > 5 * 1024 * 1024) return undefined;
  try {
    return JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return undefined;
  }
}

function repoOf(body: ArrayBuffer | undefined): string | undefined {
  const repo = (jsonOf(body) as { repo?: unknown } | undefined)?.repo;
  return typeof repo === 'string' && repo.startsWith('did:') ? repo : undefined;
}
