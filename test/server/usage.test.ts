/**
 * Usage per key owner and UTC day and token budgets (src/server/usage.ts), across two
 * app servers on one Postgres, through the official openai client. Upstream is THE
 * SCRIPTED MODEL (harness/scripted-model.ts), which reports whitespace-word token counts.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { estimateUsage } from '../../harness/openai-wire';
import { echoScript, type ChatRequest } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';
import { budgetFor } from '../../src/config';
import { secondsUntilUtcMidnight, utcDay } from '../../src/server/usage';

const ALICE = 'sk-one-alice-usage-0001';
const BOB = 'sk-one-bob-usage-000002';
const CAROL = 'sk-one-carol-usage-00003';
const DAVE = 'sk-one-dave-usage-000005';
const OPS = 'sk-one-ops-usage-0000004';
let a: TestSystem;
let b: TestSystem;

beforeAll(async () => {
  const env = {
    FEATURES: 'none',
    RATE_LIMIT_RPM: '0',
    API_KEYS: `${ALICE}:alice,${BOB}:bob,${CAROL}:carol.c,${OPS}:ops,${DAVE}:dave`,
    ADMIN_USERS: 'ops',
    BUDGET_TOKENS_PER_DAY: '1000000',
    BUDGET_TOKENS_PER_DAY_CAROL_C: '5',
    BUDGET_TOKENS_PER_DAY_OPS: '0',
    BUDGET_TOKENS_PER_DAY_DAVE: '1',
  };
  a = await startTestSystem({ env });
  b = await startTestSystem({ env: { ...env, DATABASE_URL: a.system.ctx.urls.databaseUrl } });
});
afterAll(async () => {
  await b?.stop();
  await a?.stop();
});
beforeEach(() => {
  a.model.setScript(echoScript);
  b.model.setScript(echoScript);
});

const get = (t: TestSystem, path: string, key: string) => fetch(`${t.system.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
const today = async (t: TestSystem, key: string, query = '') => {
  const r = await get(t, `/v1/usage${query}`, key);
  expect(r.status).toBe(200);
  const body = await r.json();
  return { body, day: body.days.find((d: { date: string }) => d.date === utcDay()) ?? { requests: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } };
};
const reported = (req: ChatRequest, text: string) => estimateUsage(req.messages as never, text, 0);

describe('usage', () => {
  it('counts JSON and streamed calls with the tokens the model reported, on either replica', async () => {
    const before = (await today(a, ALICE)).day;
    const r = await a.client(ALICE).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'count these four words' }] });
    const json = reported(a.model.requests.at(-1)!, r.choices[0]!.message.content!);
    expect(r.usage).toMatchObject(json);

    const stream = await b.client(ALICE).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'and stream these' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      if (c.usage) usage = c.usage;
    }
    const streamed = reported(b.model.requests.at(-1)!, text);
    expect(usage).toMatchObject(streamed);

    const after = (await today(b, ALICE)).day;
    expect(after.requests - before.requests).toBe(2);
    expect(after.prompt_tokens - before.prompt_tokens).toBe(json.prompt_tokens + streamed.prompt_tokens);
    expect(after.completion_tokens - before.completion_tokens).toBe(json.completion_tokens + streamed.completion_tokens);
    expect(after.total_tokens - before.total_tokens).toBe(json.total_tokens + streamed.total_tokens);
  });

  it('counts a stream the client abandoned', async () => {
    const before = (await today(a, ALICE)).day;
    a.model.setScript(() => ({ hang: true }));
    const ctl = new AbortController();
    const pending = fetch(`${a.system.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ALICE}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'assistant', messages: [{ role: 'user', content: 'never answered' }], stream: true }),
      signal: ctl.signal,
    }).catch(() => undefined);
    while (a.model.requests.at(-1)?.messages.at(-1)?.content !== 'never answered') await new Promise((r) => setTimeout(r, 20));
    ctl.abort();
    await pending;
    let after = before;
    for (let i = 0; i < 200 && after.requests === before.requests; i++) {
      await new Promise((r) => setTimeout(r, 25));
      after = (await today(a, ALICE)).day;
    }
    expect(after.requests).toBe(before.requests + 1);
  });

  it('GET /v1/usage: own usage; admins may ask for anyone; others get 403', async () => {
    await b.client(BOB).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'bob counts' }] });
    const own = await today(a, BOB);
    expect(own.body.object).toBe('usage');
    expect(own.body.owner).toBe('bob');
    expect(own.day.requests).toBeGreaterThanOrEqual(1);
    const admin = await today(a, OPS, '?owner=bob');
    expect(admin.body.owner).toBe('bob');
    expect(admin.day).toEqual(own.day);
    const denied = await get(a, '/v1/usage?owner=alice', BOB);
    expect(denied.status).toBe(403);
    const e = (await denied.json()).error;
    expect(e.type).toBe('permission_error');
    expect(e.param).toBe('owner');
    // Asking for oneself by name is fine.
    expect((await get(a, '/v1/usage?owner=bob', BOB)).status).toBe(200);
    expect((await get(a, '/v1/usage', 'sk-wrong-key-000000')).status).toBe(401);
  });

  it('malformed query parameters are 400 invalid_request_error', async () => {
    const far = utcDay(Date.now() - 400 * 86_400_000);
    for (const [q, param] of [
      ['?start_date=2026-13-01', 'start_date'],
      ['?start_date=2026-02-30', 'start_date'],
      ['?end_date=yesterday', 'end_date'],
      ['?start_date=2026-05-02&end_date=2026-05-01', 'start_date'],
      [`?start_date=${far}`, 'start_date'],
      ['?owner=a%20b', 'owner'],
      [`?owner=${'x'.repeat(300)}`, 'owner'],
      ['?owner=a&owner=b', 'owner'],
      ['?start_date=', 'start_date'],
      ['?user=someone', 'user'],
    ] as const) {
      const r = await get(a, `/v1/usage${q}`, OPS);
      expect(r.status, q).toBe(400);
      const e = (await r.json()).error;
      expect(e.type).toBe('invalid_request_error');
      expect(e.param, q).toBe(param);
    }
    const range = await get(a, '/v1/usage?start_date=2026-01-01&end_date=2026-01-31', OPS);
    expect(range.status).toBe(200);
    expect(await range.json()).toMatchObject({ start_date: '2026-01-01', end_date: '2026-01-31', days: [] });
  });
});

describe('budgets', () => {
  it('per-owner budgets from BUDGET_TOKENS_PER_DAY_<OWNER> (owner upper-cased, other characters _)', () => {
    const budgets = a.system.ctx.config.budgets;
    expect(budgetFor(budgets, 'carol.c')).toBe(5);
    expect(budgetFor(budgets, 'ops')).toBe(0);
    expect(budgetFor(budgets, 'alice')).toBe(1_000_000);
  });

  it('429 budget_exceeded with retry-after to the UTC day end once the budget is used, on every replica, before the model is called', async () => {
    const carol = a.client(CAROL);
    await carol.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'one two three four five six' }] });
    const calls = a.model.requests.length + b.model.requests.length;
    for (const t of [a, b]) {
      // The server's count lies between the seconds left before and after its answer (whole seconds, rounded up).
      const atMost = secondsUntilUtcMidnight();
      const r = await fetch(`${t.system.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CAROL}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'assistant', messages: [{ role: 'user', content: 'over budget' }], stream: true }),
      });
      expect(r.status).toBe(429);
      const retry = Number(r.headers.get('retry-after'));
      expect(retry).toBeGreaterThanOrEqual(secondsUntilUtcMidnight());
      expect(retry).toBeLessThanOrEqual(atMost);
      const e = (await r.json()).error;
      expect(e.code).toBe('budget_exceeded');
      expect(e.type).toBe('tokens');
      expect(e.message).toContain(`${retry}s`);
    }
    // An Open WebUI task is refused the same way.
    const task = await fetch(`${b.system.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CAROL}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'assistant', messages: [{ role: 'user', content: '### Task:\nGenerate a title\n{ "title": "x" }\n<chat_history>\nUSER: hi\n</chat_history>' }] }),
    });
    expect(task.status).toBe(429);
    expect(a.model.requests.length + b.model.requests.length).toBe(calls);
    // The official client surfaces it as a RateLimitError with the code.
    await expect(b.client(CAROL).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 429, code: 'budget_exceeded' });
    // Other owners are untouched; an unlimited owner (0) too.
    expect((await b.client(BOB).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'still fine' }] })).choices[0]!.message.content).toBe('Echo: still fine');
    expect((await b.client(OPS).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'unlimited' }] })).choices[0]!.message.content).toBe('Echo: unlimited');
  });

  it('Open WebUI task requests are counted too', async () => {
    const before = (await today(a, BOB)).day;
    const r = await b.client(BOB).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: '### Task:\nGenerate tags\n{ "tags": [] }\n<chat_history>\nUSER: hi\n</chat_history>' }] });
    const after = (await today(a, BOB)).day;
    expect(after.requests - before.requests).toBe(1);
    expect(after.total_tokens - before.total_tokens).toBe(r.usage!.total_tokens);
  });
});

describe('budgets under concurrency', () => {
  it('requests racing near the budget all pass the check, overshooting by at most their own tokens; then the owner is refused', async () => {
    const before = (await today(a, OPS, '?owner=dave')).day;
    expect(before.total_tokens).toBe(0);
    const rs = await Promise.all(
      [a, b, a, b].map((t, i) =>
        fetch(`${t.system.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${DAVE}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'assistant', messages: [{ role: 'user', content: `racing request number ${i}` }] }),
        }),
      ),
    );
    const ok = rs.filter((r) => r.status === 200);
    expect(rs.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    const tokens = (await Promise.all(ok.map((r) => r.json()))).reduce((n, body) => n + body.usage.total_tokens, 0);
    const after = (await today(b, OPS, '?owner=dave')).day;
    // The overshoot: exactly the tokens of the calls that were in flight when the budget was reached.
    expect(after.total_tokens).toBe(tokens);
    expect(after.requests).toBe(ok.length);
    const next = await a.client(DAVE).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(next).toMatchObject({ status: 429, code: 'budget_exceeded' });
  });
});

describe('keyless development', () => {
  let k: TestSystem;
  beforeAll(async () => {
    k = await startTestSystem({ env: { FEATURES: 'none', RATE_LIMIT_RPM: '0', DATABASE_URL: a.system.ctx.urls.databaseUrl, BUDGET_TOKENS_PER_DAY_LEE: '1' } });
  });
  afterAll(async () => {
    await k?.stop();
  });

  it("usage is counted per `user` and read with ?user= (or ?owner=); a budget applies per user", async () => {
    const client = k.client();
    const r = await client.chat.completions.create({ model: 'assistant', user: 'kim', messages: [{ role: 'user', content: 'keyless kim' }] });
    const kim = await (await fetch(`${k.system.url}/v1/usage?user=kim`)).json();
    expect(kim.owner).toBe('kim');
    expect(kim.days.find((d: { date: string }) => d.date === utcDay()).total_tokens).toBe(r.usage!.total_tokens);
    expect((await (await fetch(`${k.system.url}/v1/usage?owner=kim`)).json()).days).toEqual(kim.days);
    await client.chat.completions.create({ model: 'assistant', user: 'lee', messages: [{ role: 'user', content: 'lee once' }] });
    await expect(client.chat.completions.create({ model: 'assistant', user: 'lee', messages: [{ role: 'user', content: 'lee twice' }] })).rejects.toMatchObject({ status: 429, code: 'budget_exceeded' });
    expect((await client.chat.completions.create({ model: 'assistant', user: 'kim', messages: [{ role: 'user', content: 'kim again' }] })).choices[0]!.message.content).toBe('Echo: kim again');
    expect((await fetch(`${k.system.url}/v1/usage?user=not%20valid`)).status).toBe(400);
  });
});
