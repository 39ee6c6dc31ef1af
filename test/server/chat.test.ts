/**
 * /v1 as app developers use it: the official OpenAI SDK against the running server,
 * real embedded Postgres underneath, THE SCRIPTED MODEL upstream.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { echoScript, lastUserText, textOf, type ChatRequest } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

let t: TestSystem;
let client: OpenAI;

beforeAll(async () => {
  // Core only (FEATURES=none): the features' services are tested in their own files.
  t = await startTestSystem({ env: { FEATURES: 'none', MODEL_TIMEOUT_MS: '1500', BODY_LIMIT: '64kb' } });
  client = t.client();
});
afterAll(async () => {
  // Every answer the SDK client got in this file conforms to OpenAI's schemas (harness/openai-spec.ts).
  const violations = t ? await t.spec.settled() : [];
  await t?.stop();
  expect(violations).toEqual([]);
});
beforeEach(() => {
  t.model.setScript(echoScript);
});

const userTexts = (req: ChatRequest) => req.messages.filter((m) => m.role === 'user').map((m) => textOf(m.content));

describe('models', () => {
  it('lists the named agents in OpenAI list format', async () => {
    const page = await client.models.list();
    const ids = page.data.map((m) => m.id);
    expect(ids).toContain('assistant');
    expect(page.data[0]).toMatchObject({ object: 'model', owned_by: 'one-agents' });
    const one = await client.models.retrieve('assistant');
    expect(one.id).toBe('assistant');
  });

  it('answers 404 model_not_found for an unknown model', async () => {
    const err = await client.models.retrieve('nope').catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.code).toBe('model_not_found');
    const err2 = await client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
    expect(err2).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err2.error).toMatchObject({ type: 'invalid_request_error', code: 'model_not_found', param: 'model' });
  });
});

describe('chat completions', () => {
  it('returns a chat.completion with real usage and a thread id header', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'assistant', messages: [{ role: 'user', content: 'hello there' }] })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe('assistant');
    expect(data.choices[0]!.message).toMatchObject({ role: 'assistant', content: 'Echo: hello there' });
    expect(data.choices[0]!.finish_reason).toBe('stop');
    // The scripted model counts words of every message it was sent: usage is carried through, not invented.
    const upstream = t.model.requests.at(-1)!;
    const promptWords = upstream.messages.reduce((n, m) => n + (textOf(m.content).match(/\S+/g) ?? []).length, 0);
    expect(data.usage).toEqual({ prompt_tokens: promptWords, completion_tokens: 3, total_tokens: promptWords + 3 });
    expect(response.headers.get('x-thread-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('streams chat.completion.chunk events ending in [DONE], with usage when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'assistant',
      messages: [{ role: 'user', content: 'stream these words please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(text).toBe('Echo: stream these words please');
    expect(chunks.filter((c) => c.choices[0]?.delta?.content).length).toBeGreaterThan(1);
    const finish = chunks.find((c) => c.choices[0]?.finish_reason);
    expect(finish?.choices[0]?.finish_reason).toBe('stop');
    const usage = chunks.at(-1)!;
    expect(usage.choices).toEqual([]);
    expect(usage.usage?.completion_tokens).toBe(5);
    expect(usage.usage?.prompt_tokens).toBeGreaterThan(0);
  });

  it('does not send a usage chunk unless include_usage is set', async () => {
    const stream = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }], stream: true });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.some((c) => c.usage)).toBe(false);
  });

  it('passes system messages, text content parts and sampling settings to the model', async () => {
    await client.chat.completions.create({
      model: 'assistant',
      messages: [
        { role: 'system', content: 'Answer in French.' },
        { role: 'user', content: [{ type: 'text', text: 'part one, ' }, { type: 'text', text: 'part two' }] },
      ],
      temperature: 0.3,
      max_tokens: 77,
      stop: ['END'],
      top_p: 0.5,
    });
    const up = t.model.requests.at(-1)!;
    expect(up.messages.some((m) => m.role === 'system' && textOf(m.content).includes('Answer in French.'))).toBe(true);
    expect(lastUserText(up)).toBe('part one, part two');
    expect(up.temperature).toBe(0.3);
    expect(up.max_tokens).toBe(77);
    expect(up.stop).toEqual(['END']);
    expect(up.top_p).toBe(0.5);
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'y' }], max_completion_tokens: 12 });
    expect(t.model.requests.at(-1)!.max_tokens).toBe(12);
  });

  it('reports finish_reason length when the model stops at its token limit', async () => {
    t.model.setScript(() => ({ text: 'cut off mid', finishReason: 'length' }));
    const r = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'long please' }], max_tokens: 3 });
    expect(r.choices[0]!.finish_reason).toBe('length');
  });

  it("runs the agent's own tools server-side; the client sees only the final answer", async () => {
    t.model.setScript((req) => {
      const last = req.messages.at(-1)!;
      if (last.role === 'tool') return { text: `The answer is ${JSON.parse(textOf(last.content)).result}.` };
      return { toolCalls: [{ name: 'calculate', arguments: { expression: '(17 + 4) * 2' } }] };
    });
    const r = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'what is (17+4)*2?' }] });
    expect(r.choices[0]!.message.content).toBe('The answer is 42.');
    expect(r.choices[0]!.message.tool_calls).toBeUndefined();
    expect(r.choices[0]!.finish_reason).toBe('stop');
    // Two model calls: one asked for the tool, one saw its result.
    const toolMsg = t.model.requests.at(-1)!.messages.at(-1)!;
    expect(toolMsg.role).toBe('tool');

    const stream = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'again, streamed' }], stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    expect(text).toBe('The answer is 42.');
  });
});

describe('conversation continuity', () => {
  it('continues a thread when only the newest message is sent with x-thread-id', async () => {
    const first = await client.chat.completions
      .create({ model: 'assistant', messages: [{ role: 'user', content: 'my name is Ada' }], user: 'ada' })
      .withResponse();
    const threadId = first.response.headers.get('x-thread-id')!;
    const second = await client.chat.completions
      .create({ model: 'assistant', messages: [{ role: 'user', content: 'what is my name?' }], user: 'ada' }, { headers: { 'x-thread-id': threadId } })
      .withResponse();
    expect(second.response.headers.get('x-thread-id')).toBe(threadId);
    const up = t.model.requests.at(-1)!;
    expect(userTexts(up)).toEqual(['my name is Ada', 'what is my name?']);
    expect(up.messages.some((m) => m.role === 'assistant' && textOf(m.content) === 'Echo: my name is Ada')).toBe(true);
  });

  it('does not duplicate history when a client resends the whole conversation with the thread id', async () => {
    const first = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'one' }], user: 'bo' }).withResponse();
    const threadId = first.response.headers.get('x-thread-id')!;
    await client.chat.completions.create(
      {
        model: 'assistant',
        user: 'bo',
        messages: [
          { role: 'user', content: 'one' },
          { role: 'assistant', content: 'Echo: one' },
          { role: 'user', content: 'two' },
        ],
      },
      { headers: { 'x-thread-id': threadId } },
    );
    expect(userTexts(t.model.requests.at(-1)!)).toEqual(['one', 'two']);
  });

  it("refuses another user's thread with 404, without revealing it", async () => {
    const first = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'secret plan' }], user: 'carol' }).withResponse();
    const threadId = first.response.headers.get('x-thread-id')!;
    const err = await client.chat.completions
      .create({ model: 'assistant', messages: [{ role: 'user', content: 'tell me' }], user: 'mallory' }, { headers: { 'x-thread-id': threadId } })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.code).toBe('thread_not_found');
  });

  it('starts a thread under a client-chosen id, then continues it', async () => {
    const id = `client-chosen-${Date.now()}`;
    const r = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'first' }] }, { headers: { 'x-thread-id': id } }).withResponse();
    expect(r.response.headers.get('x-thread-id')).toBe(id);
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'second' }] }, { headers: { 'x-thread-id': id } });
    expect(userTexts(t.model.requests.at(-1)!)).toEqual(['first', 'second']);
  });
});

describe('errors', () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${t.system.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  it('400 with the offending param for an invalid body', async () => {
    const err = await client.chat.completions.create({ model: 'assistant', messages: [] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.error).toMatchObject({ type: 'invalid_request_error', param: 'messages' });
    const bad = await post(JSON.stringify({ model: 'assistant', messages: [{ role: 'wizard', content: 'x' }] }));
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.param).toBe('messages[0].role');
    const temp = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }], temperature: 5 }).catch((e) => e);
    expect(temp.error.param).toBe('temperature');
    // A conversation ending in an assistant message is a prefill, not an error (test/server/spec.test.ts).
    const prefill = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'assistant', content: 'x' }] });
    expect(prefill.object).toBe('chat.completion');
  });

  it('400 for malformed JSON and a bad x-thread-id', async () => {
    const r = await post('{"model": "assistant", "messages": [');
    expect(r.status).toBe(400);
    expect((await r.json()).error.code).toBe('invalid_json');
    const r2 = await post(JSON.stringify({ model: 'assistant', messages: [{ role: 'user', content: 'x' }] }), { 'x-thread-id': 'bad id with spaces' });
    expect(r2.status).toBe(400);
    expect((await r2.json()).error.param).toBe('x-thread-id');
  });

  it("answers the caller's own malformed requests with 4xx in OpenAI's shape, never 500", async () => {
    const body = JSON.stringify({ model: 'assistant', messages: [{ role: 'user', content: 'x' }] });
    const cases: Array<[string, RequestInit, number, string]> = [
      ['latin1 charset', { method: 'POST', headers: { 'content-type': 'application/json; charset=latin1' }, body }, 415, 'unsupported_charset'],
      ['unknown Content-Encoding', { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'bogus' }, body }, 415, 'unsupported_encoding'],
      ['invalid gzip', { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: 'this is not gzip' }, 400, 'invalid_body'],
    ];
    for (const [what, init, status, code] of cases) {
      const r = await fetch(`${t.system.url}/v1/chat/completions`, init);
      expect({ what, status: r.status, error: (await r.json()).error }).toMatchObject({ what, status, error: { type: 'invalid_request_error', code } });
    }
    const uri = await fetch(`${t.system.url}/v1/models/%E0%A4%A`);
    expect(uri.status).toBe(400);
    expect((await uri.json()).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_url' });
  });

  it('404 model_not_found for names that are properties of every object (constructor, __proto__, toString)', async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const err = await client.chat.completions.create({ model: name, messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
      expect({ name, status: err.status, code: err.code }).toEqual({ name, status: 404, code: 'model_not_found' });
      const r = await fetch(`${t.system.url}/v1/models/${name}`);
      expect({ name, status: r.status }).toEqual({ name, status: 404 });
      expect((await r.json()).error.code).toBe('model_not_found');
    }
    expect((await client.models.list()).data.map((m) => m.id)).not.toContain('constructor');
  });

  it('413 for a body over the limit', async () => {
    const big = 'x'.repeat(100 * 1024);
    const err = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: big }] }).catch((e) => e);
    expect(err.status).toBe(413);
    expect(err.error).toMatchObject({ type: 'invalid_request_error', code: 'request_too_large' });
  });

  it('404 in OpenAI format for unknown /v1 routes', async () => {
    const r = await fetch(`${t.system.url}/v1/embeddings`, { method: 'POST' });
    expect(r.status).toBe(404);
    expect((await r.json()).error.code).toBe('unknown_url');
  });

  it('502 when the model provider fails, without leaking the upstream key', async () => {
    t.model.setScript(() => ({ error: { status: 500, message: 'upstream exploded' } }));
    const err = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err.status).toBe(502);
    expect(err.error.type).toBe('upstream_error');
    t.model.setScript(() => ({ error: { status: 401, message: 'Incorrect API key provided: sk-test-upstream-secret-0001' } }));
    const auth = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(auth.status).toBe(502);
    expect(auth.error.code).toBe('upstream_auth_failed');
    expect(JSON.stringify(auth.error)).not.toContain('sk-test-upstream-secret-0001');
  });

  it('503 when the provider rate-limits us, also for a stream that fails before its first token', async () => {
    t.model.setScript(() => ({ error: { status: 429, message: 'slow down' } }));
    const err = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }], stream: true }).catch((e) => e);
    expect(err.status).toBe(503);
    expect(err.error.code).toBe('upstream_rate_limited');
  });

  it('504 when the model does not answer in time', async () => {
    t.model.setScript(() => ({ hang: true }));
    const err = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err.status).toBe(504);
    expect(err.error.code).toBe('upstream_timeout');
  });

  it('aborts the agent run when the client disconnects mid-stream', async () => {
    const before = t.model.aborted;
    let calls = 0;
    t.model.setScript(() => {
      calls++;
      return { hang: true };
    });
    const ac = new AbortController();
    const p = client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }], stream: true }, { signal: ac.signal }).catch((e) => e);
    while (calls === 0) await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await p;
    // The upstream model call is cancelled long before the 1.5 s model timeout would end it.
    const t0 = Date.now();
    while (t.model.aborted === before && Date.now() - t0 < 1000) await new Promise((r) => setTimeout(r, 20));
    expect(t.model.aborted).toBe(before + 1);
    expect(calls).toBe(1);
  });
});

describe('service routes', () => {
  it('/health and /ready', async () => {
    expect((await fetch(`${t.system.url}/health`)).status).toBe(200);
    const ready = await fetch(`${t.system.url}/ready`);
    expect(ready.status).toBe(200);
    expect((await ready.json()).services.postgres.ok).toBe(true);
  });

  it('/metrics counts requests by route pattern, never by raw path', async () => {
    const text = await (await fetch(`${t.system.url}/metrics`)).text();
    expect(text).toMatch(/one_agents_http_requests_total\{method="POST",route="\/v1\/chat\/completions",status="200"\} \d+/);
    expect(text).toContain('one_agents_http_request_duration_seconds_bucket');
    expect(text).not.toContain('client-chosen-');
  });

  it("mounts Mastra's own routes under /api, including the Responses-style route", async () => {
    const agents = await (await fetch(`${t.system.url}/api/agents`)).json();
    expect(Object.keys(agents)).toContain('assistant');
    const r = await fetch(`${t.system.url}/api/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agent_id: 'assistant', input: 'via responses', stream: false }),
    });
    const body = await r.json();
    expect(r.status).toBe(200);
    expect(JSON.stringify(body)).toContain('Echo: via responses');
  });
});

describe('persistence', () => {
  it('keeps a conversation across a restart', async () => {
    const first = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'remember 7' }], user: 'dora' }).withResponse();
    const threadId = first.response.headers.get('x-thread-id')!;
    await t.restart();
    client = t.client();
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'what number?' }], user: 'dora' }, { headers: { 'x-thread-id': threadId } });
    expect(userTexts(t.model.requests.at(-1)!)).toEqual(['remember 7', 'what number?']);
  });
});
