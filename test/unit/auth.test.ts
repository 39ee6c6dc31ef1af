/**
 * API keys and rate limits (src/server/auth.ts, docs/security.md "API keys"): which
 * Authorization headers are accepted, what the caller's identity and rate-limit bucket
 * are, and the limiter's sliding window, keyless buckets and clean-up.
 */
import type { NextFunction, Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { authMiddleware, createAuth, RateLimiter, resolveResource } from '../../src/server/auth';
import { OpenAIError } from '../../src/server/openai/errors';

const KEY = 'sk-alice-0123456789';
const OTHER = 'sk-bob-9876543210';
const keys = new Map([
  [KEY, 'alice'],
  [OTHER, 'bob'],
]);

function req(authorization?: string, ip?: string, remoteAddress?: string): Request {
  return {
    get: (name: string) => (name.toLowerCase() === 'authorization' ? authorization : undefined),
    ip,
    socket: { remoteAddress },
  } as unknown as Request;
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(OpenAIError);
    expect((e as OpenAIError).status).toBe(401);
    return (e as OpenAIError).code;
  }
  return undefined;
}

describe('Authorization: Bearer <key>', () => {
  const auth = createAuth(keys);

  it('accepts the key, in any case of "Bearer", with extra spaces around it', () => {
    for (const h of [`Bearer ${KEY}`, `bearer ${KEY}`, `BEARER ${KEY}`, `Bearer    ${KEY}`, `Bearer\t${KEY}`, `Bearer ${KEY}   `]) {
      expect(auth(req(h)).owner, h).toBe('alice');
    }
    expect(auth(req(`Bearer ${OTHER}`)).owner).toBe('bob');
  });

  it('answers missing_api_key when there is no header or it is not exactly "Bearer <key>"', () => {
    for (const h of [undefined, '', 'Bearer', 'Bearer ', `XBearer ${KEY}`, `Bearer ${KEY} junk`, `Basic ${KEY}`, KEY, `Bearer${KEY}`, ` Bearer ${KEY}`, `Token ${KEY}`]) {
      expect(codeOf(() => auth(req(h))), String(h)).toBe('missing_api_key');
    }
  });

  it('answers invalid_api_key for an unknown key, a prefix or an extension of a key, or another case', () => {
    for (const k of ['sk-nobody-000000000', KEY.slice(0, -1), `${KEY}x`, KEY.toUpperCase()]) {
      expect(codeOf(() => auth(req(`Bearer ${k}`))), k).toBe('invalid_api_key');
    }
  });

  it("buckets a keyed caller by a hash of the key: one per key, never the key itself, whatever the caller's address", () => {
    const a1 = auth(req(`Bearer ${KEY}`, '10.0.0.1'));
    const a2 = auth(req(`bearer  ${KEY}`, '10.0.0.2'));
    const b = auth(req(`Bearer ${OTHER}`, '10.0.0.1'));
    expect(a1.bucket).toMatch(/^key:[0-9a-f]{16}$/);
    expect(a2.bucket).toBe(a1.bucket);
    expect(b.bucket).not.toBe(a1.bucket);
    expect(a1.bucket).not.toContain(KEY);
  });

  it('keyless development: anonymous callers, one bucket per client address', () => {
    const open = createAuth(new Map());
    expect(open(req(undefined, '127.0.0.1'))).toEqual({ bucket: 'ip:127.0.0.1' });
    // No key is checked, even a wrong one.
    expect(open(req('Bearer whatever', '::1'))).toEqual({ bucket: 'ip:::1' });
    expect(open(req(undefined, undefined, '127.0.0.2'))).toEqual({ bucket: 'ip:127.0.0.2' });
    expect(open(req(undefined, undefined, undefined))).toEqual({ bucket: 'ip:unknown' });
  });
});

describe('authMiddleware', () => {
  async function run(mw: ReturnType<typeof authMiddleware>, r: Request) {
    const res = { locals: {} } as Response;
    let arg: unknown = 'not called';
    await mw(r, res, ((e?: unknown) => (arg = e)) as NextFunction);
    return { caller: res.locals.caller, arg };
  }

  it('sets the caller and continues; a bad key is passed on as the 401', async () => {
    const mw = authMiddleware(keys, new RateLimiter(10), 10);
    const ok = (await run(mw, req(`Bearer ${KEY}`)));
    expect(ok.arg).toBeUndefined();
    expect(ok.caller?.owner).toBe('alice');
    const bad = (await run(mw, req('Bearer nope-nope-nope')));
    expect(bad.caller).toBeUndefined();
    expect(bad.arg).toBeInstanceOf(OpenAIError);
    expect((bad.arg as OpenAIError).code).toBe('invalid_api_key');
  });

  it('answers 429 rate_limit_exceeded with retry-after once the key used its requests per minute', async () => {
    const mw = authMiddleware(keys, new RateLimiter(2), 2);
    expect((await run(mw, req(`Bearer ${KEY}`))).arg).toBeUndefined();
    expect((await run(mw, req(`Bearer ${KEY}`))).arg).toBeUndefined();
    const third = (await run(mw, req(`Bearer ${KEY}`)));
    expect(third.caller).toBeUndefined();
    const e = third.arg as OpenAIError;
    expect(e).toBeInstanceOf(OpenAIError);
    expect([e.status, e.code, e.type]).toEqual([429, 'rate_limit_exceeded', 'requests']);
    expect(Number(e.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(e.message).toContain('2 requests per minute');
    // Another key has its own bucket.
    expect((await run(mw, req(`Bearer ${OTHER}`))).arg).toBeUndefined();
  });

  it('turns an unexpected failure into a 500 without detail', async () => {
    const mw = authMiddleware(keys, new RateLimiter(2), 2);
    const broken = { get: () => { throw new Error('boom sk-secret'); } } as unknown as Request;
    const e = (await run(mw, broken)).arg as OpenAIError;
    expect(e).toBeInstanceOf(OpenAIError);
    expect([e.status, e.code]).toEqual([500, 'internal_error']);
    expect(e.message).not.toContain('boom');
  });
});

describe('RateLimiter', () => {
  it('frees a slot exactly one window after the request that took it', () => {
    const rl = new RateLimiter(1);
    expect(rl.take('k', 1_000)).toBe(0);
    expect(rl.take('k', 60_999)).toBe(1);
    expect(rl.take('k', 61_000)).toBe(0);
  });

  it('answers the whole seconds until the oldest request leaves the window', () => {
    const rl = new RateLimiter(3, 10_000);
    expect(rl.take('k', 0)).toBe(0);
    expect(rl.take('k', 2_000)).toBe(0);
    expect(rl.take('k', 4_000)).toBe(0);
    expect(rl.take('k', 4_500)).toBe(6); // 5.5 s → 6
    expect(rl.take('k', 9_999)).toBe(1);
    // A refused request does not take a slot: at 10 s only the first one has left.
    expect(rl.take('k', 10_000)).toBe(0);
    expect(rl.take('k', 10_000)).toBe(2);
  });

  it('keeps keyless (per-address) buckets apart from each other and from keyed ones', () => {
    const rl = new RateLimiter(1);
    expect(rl.take('ip:127.0.0.1', 0)).toBe(0);
    expect(rl.take('ip:127.0.0.2', 0)).toBe(0);
    expect(rl.take('key:0123456789abcdef', 0)).toBe(0);
    expect(rl.take('ip:127.0.0.1', 1)).toBeGreaterThan(0);
  });

  it('rpm 0 turns limits off', () => {
    const rl = new RateLimiter(0);
    for (let i = 0; i < 1000; i++) expect(rl.take('k', i)).toBe(0);
  });

  it('uses the real clock when no time is given', () => {
    const rl = new RateLimiter(1);
    expect(rl.take('k')).toBe(0);
    expect(rl.take('k')).toBe(60);
  });

  it('drops buckets with no request in the window once more than 10 000 exist, keeping live ones', () => {
    const rl = new RateLimiter(2);
    const size = () => (rl as unknown as { hits: Map<string, number[]> }).hits.size;
    // 'live': one request that has left the window by the sweep, one that has not.
    rl.take('live', 0);
    rl.take('live', 30_000);
    for (let i = 0; i < 9_998; i++) rl.take(`old${i}`, 0);
    expect(size()).toBe(9_999);
    // 10 000 buckets: no sweep yet (sweeping is linear, not done on every request).
    rl.take('new1', 60_000);
    expect(size()).toBe(10_000);
    // The 10 001st: every bucket whose requests all left the window goes.
    rl.take('new2', 60_000);
    expect(size()).toBe(3);
    // The live bucket kept its request from 30 s: one more fits, then it is limited.
    expect(rl.take('live', 60_500)).toBe(0);
    expect(rl.take('live', 60_600)).toBeGreaterThan(0);
    expect(rl.take('old0', 60_500)).toBe(0);
  });
});

describe('resolveResource: whose memory a request uses', () => {
  it("is the key's owner, owner:user when a user is named, or the user (else anonymous) without keys", () => {
    expect(resolveResource('alice', undefined)).toBe('alice');
    expect(resolveResource('alice', 'u1')).toBe('alice:u1');
    expect(resolveResource('alice', '')).toBe('alice');
    expect(resolveResource(undefined, 'u1')).toBe('u1');
    expect(resolveResource(undefined, undefined)).toBe('anonymous');
  });
});
