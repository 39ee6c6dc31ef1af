/**
 * API keys and per-key rate limits. With API_KEYS set, every /v1 and /api request
 * needs `Authorization: Bearer <key>`; the key's owner is the caller's identity. With
 * no keys (allowed only on loopback), callers are anonymous and limits apply per IP.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { errors, OpenAIError } from './openai/errors';

/** A `user` kept as it is in a resource id; any other string is stored as its digest. */
const PLAIN_USER = /^[A-Za-z0-9_.@:-]{1,256}$/;

/**
 * The form of a caller-named `user` inside a resource id: the string itself when it is
 * 1-256 of A-Z a-z 0-9 _ . @ : - (as before, so existing threads stay theirs), otherwise
 * `sha256~` + the base64url SHA-256 of its UTF-8 bytes. The `~` cannot occur in a plain
 * form, so no plain user names another one's digest; any string (a base64 hash with
 * `+ / =`, a name with spaces, control characters, megabytes) becomes a short, printable id.
 */
export function userKey(user: string): string {
  return PLAIN_USER.test(user) ? user : `sha256~${createHash('sha256').update(user, 'utf8').digest('base64url')}`;
}

/**
 * The memory resource (the user) a request acts for: the key owner, `owner:user` when
 * the caller names a `user`, or the `user` itself in keyless development mode (see
 * userKey). Owners (API_KEYS) have no `:`, so `owner:` fences every user of one key off
 * from every other key's owner and users.
 */
export function resolveResource(owner: string | undefined, user: string | null | undefined): string {
  if (owner) return user ? `${owner}:${userKey(user)}` : owner;
  return user ? userKey(user) : 'anonymous';
}

export interface Caller {
  /** The API key's owner, or undefined in keyless development mode. */
  owner?: string;
  /** Rate-limit bucket: a hash of the key, or the client address. */
  bucket: string;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      caller?: Caller;
    }
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function createAuth(apiKeys: Map<string, string>) {
  const entries = [...apiKeys].map(([key, owner]) => ({ hash: digest(key), owner }));
  return function authenticate(req: Request): Caller {
    if (entries.length === 0) return { bucket: `ip:${req.ip ?? req.socket.remoteAddress ?? 'unknown'}` };
    const header = req.get('authorization') ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw errors.missingKey();
    const h = digest(m[1]!);
    const hit = entries.find((e) => timingSafeEqual(e.hash, h));
    if (!hit) throw errors.badKey();
    return { owner: hit.owner, bucket: `key:${h.toString('hex').slice(0, 16)}` };
  };
}

/** A fixed-size sliding window of request times per bucket. `rpm` 0 turns limits off. */
/** Counts requests per bucket: in this process (RateLimiter) or in Postgres for every replica (PgRateLimiter). */
export interface Limiter {
  /** Records a request; resolves to the seconds to wait when over the limit, else 0. */
  take(bucket: string): number | Promise<number>;
}

export class RateLimiter implements Limiter {
  private hits = new Map<string, number[]>();
  constructor(private readonly rpm: number, private readonly windowMs = 60_000) {}

  /** Records a request; returns seconds to wait when over the limit, else 0. */
  take(bucket: string, now = Date.now()): number {
    if (this.rpm <= 0) return 0;
    const list = (this.hits.get(bucket) ?? []).filter((t) => t > now - this.windowMs);
    if (list.length >= this.rpm) {
      this.hits.set(bucket, list);
      return Math.max(1, Math.ceil((list[0]! + this.windowMs - now) / 1000));
    }
    list.push(now);
    this.hits.set(bucket, list);
    if (this.hits.size > 10_000) this.sweep(now);
    return 0;
  }

  private sweep(now: number) {
    for (const [k, v] of this.hits) if (!v.some((t) => t > now - this.windowMs)) this.hits.delete(k);
  }
}

export function authMiddleware(apiKeys: Map<string, string>, limiter: Limiter, rpm: number) {
  const authenticate = createAuth(apiKeys);
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      const caller = authenticate(req);
      const wait = await limiter.take(caller.bucket);
      if (wait > 0) throw errors.rateLimited(wait, rpm);
      res.locals.caller = caller;
      next();
    } catch (err) {
      next(err instanceof OpenAIError ? err : errors.internal());
    }
  };
}
