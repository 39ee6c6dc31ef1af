/** API keys, per-key rate limits and an unreachable model, as a client meets them. */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../services/lib/net';
import { startTestSystem, type TestSystem } from '../../harness/system';

const ALICE = 'sk-one-alice-0123456789';
const BOB = 'sk-one-bob-9876543210';
const LIMITED = 'sk-one-limited-55555';
const OPS = 'sk-one-ops-admin-777777';
let t: TestSystem;

beforeAll(async () => {
  t = await startTestSystem({ env: { FEATURES: 'none', API_KEYS: `${ALICE}:alice,${BOB}:bob,${LIMITED}:lim,${OPS}:ops`, ADMIN_USERS: 'ops', RATE_LIMIT_RPM: '5' } });
});
afterAll(async () => {
  await t?.stop();
});

describe('API keys', () => {
  it('401 without a key, in OpenAI format', async () => {
    const r = await fetch(`${t.system.url}/v1/models`);
    expect(r.status).toBe(401);
    expect((await r.json()).error).toMatchObject({ type: 'invalid_request_error', code: 'missing_api_key', param: null });
  });

  it('401 for a wrong key, without echoing it', async () => {
    const err = await t.client('sk-wrong-key-abcdef').models.list().catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err.code).toBe('invalid_api_key');
    expect(JSON.stringify(err.error)).not.toContain('sk-wrong-key-abcdef');
  });

  it("opens Mastra's /api routes (every user's memory) only to ADMIN_USERS", async () => {
    expect((await fetch(`${t.system.url}/api/agents`)).status).toBe(401);
    const user = await fetch(`${t.system.url}/api/memory/threads?resourceId=bob&agentId=assistant`, { headers: { authorization: `Bearer ${ALICE}` } });
    expect(user.status).toBe(403);
    expect((await user.json()).error.code).toBe('forbidden');
    const ok = await fetch(`${t.system.url}/api/agents`, { headers: { authorization: `Bearer ${OPS}` } });
    expect(ok.status).toBe(200);
    expect(Object.keys(await ok.json())).toContain('assistant');
  });

  it("uses the key's owner as the memory resource: one user's thread is invisible to another", async () => {
    const alice = t.client(ALICE);
    const bob = t.client(BOB);
    const first = await alice.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'alice private' }] }).withResponse();
    const threadId = first.response.headers.get('x-thread-id')!;
    const thread = await t.system.runtime.memory.getThreadById({ threadId });
    expect(thread?.resourceId).toBe('alice');
    const err = await bob.chat.completions
      .create({ model: 'assistant', messages: [{ role: 'user', content: 'show me' }] }, { headers: { 'x-thread-id': threadId } })
      .catch((e) => e);
    expect(err.status).toBe(404);
    // The `user` field names an end user of the key's owner, never another key's owner.
    const asBob = await alice.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'hi' }], user: 'bob' }).withResponse();
    const t2 = await t.system.runtime.memory.getThreadById({ threadId: asBob.response.headers.get('x-thread-id')! });
    expect(t2?.resourceId).toBe('alice:bob');
  });
});

describe('rate limits', () => {
  it('answers 429 with retry-after once a key exceeds its requests per minute', async () => {
    const limited = t.client(LIMITED);
    for (let i = 0; i < 5; i++) await limited.models.list();
    const err = await limited.models.list().catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.code).toBe('rate_limit_exceeded');
    expect(Number(err.headers.get('retry-after'))).toBeGreaterThan(0);
    // Other keys are not affected.
    await expect(t.client(BOB).models.list()).resolves.toBeTruthy();
  });
});

describe('unreachable model', () => {
  it('503 upstream_unavailable when nothing listens at OPENAI_BASE_URL', async () => {
    const port = await freePort();
    const down = await startTestSystem({ env: { FEATURES: 'none', OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1` } });
    try {
      const err = await down.client().chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
      expect(err.status).toBe(503);
      expect(err.error).toMatchObject({ type: 'upstream_error', code: 'upstream_unavailable' });
    } finally {
      await down.stop();
    }
  });
});
