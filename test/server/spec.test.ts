/**
 * OpenAI's published OpenAPI document (openai/openai-openapi, the commit recorded in
 * test/fixtures/openai-openapi/schemas.json) as the contract of /v1: every answer these
 * tests get (JSON bodies, every SSE chunk, every error) goes through the validating fetch
 * of harness/openai-spec.ts and must conform; and the request parameters do what
 * src/server/openai/params.ts says. The real system runs underneath (embedded Postgres,
 * API keys on); the only stand-in is the language model: THE SCRIPTED MODEL
 * (harness/scripted-model.ts), whose recorded requests show what reached the model.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { conformsTo, specFixture, validatingFetch } from '../../harness/openai-spec';
import { echoScript, textOf } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

const ALICE = 'sk-alice-spec-0001';
const BOB = 'sk-bob-spec-0002';
let t: TestSystem;
let alice: OpenAI;

beforeAll(async () => {
  t = await startTestSystem({ env: { FEATURES: 'none', MODEL_TIMEOUT_MS: '1500', BODY_LIMIT: '1mb', API_KEYS: `${ALICE}:alice,${BOB}:bob` } });
  alice = t.client(ALICE);
});
afterAll(async () => {
  await t?.stop();
});
beforeEach(() => {
  t.model.setScript(echoScript);
});
afterEach(async () => {
  // Every answer of every test conforms to OpenAI's schemas.
  const v = await t.spec.settled();
  expect(v, JSON.stringify(v, null, 2).slice(0, 3000)).toEqual([]);
});

const hi = [{ role: 'user' as const, content: 'hi' }];
/** A raw POST through the validating fetch (for bodies the SDK would not send). */
const post = (body: unknown, key = ALICE, path = '/v1/chat/completions') =>
  t.spec.fetch(`${t.system.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const errorOf = async (r: Response) => ((await r.json()) as { error: { message: string; type: string; param: string | null; code: string } }).error;

describe('the schemas and the validator', () => {
  it('come from the recorded commit of openai/openai-openapi', () => {
    expect(specFixture.source).toMatchObject({ repository: 'openai/openai-openapi', commit: 'f85dbe223d40e1a31cba812ab2d755c7e98a92a3' });
    for (const name of ['CreateChatCompletionResponse', 'CreateChatCompletionStreamResponse', 'ErrorResponse', 'ListModelsResponse', 'Model', 'CreateChatCompletionRequest', 'Response', 'ResponseStreamEvent', 'ResponseItemList', 'CreateResponse'])
      expect(specFixture.schemas[name], name).toBeTruthy();
  });

  it('catch known-bad objects, with readable errors', () => {
    const good = { id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'x', refusal: null }, logprobs: null, finish_reason: 'stop' }] };
    expect(conformsTo('CreateChatCompletionResponse', good)).toEqual({ ok: true, errors: [] });
    // What this server used to send: `system_fingerprint: null` (the spec types it as a string).
    expect(conformsTo('CreateChatCompletionResponse', { ...good, system_fingerprint: null }).errors).toEqual(['/system_fingerprint must be string']);
    expect(conformsTo('CreateChatCompletionResponse', { ...good, choices: [{ ...good.choices[0], finish_reason: 'done' }] }).errors[0]).toMatch(/^\/choices\/0\/finish_reason must be equal to one of the allowed values/);
    expect(conformsTo('ErrorResponse', { error: { message: 'm', type: 't', code: 'c' } }).errors).toEqual(["/error must have required property 'param'"]);
    expect(conformsTo('Model', { id: 'a', object: 'model', created: '1', owned_by: 'o' }).errors).toEqual(['/created must be integer']);
    // A union told apart by `type` reports the errors of the branch it names.
    expect(conformsTo('ResponseStreamEvent', { type: 'response.output_text.delta', delta: 3 }).errors).toContain('[ResponseTextDeltaEvent] /delta must be string');
    // `nullable: true` (OpenAPI 3.0 style in the document) allows null.
    expect(conformsTo('CreateChatCompletionStreamResponse', { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: {}, finish_reason: null }], usage: null }).ok).toBe(true);
  });

  it('the validating fetch records every violation of a server that breaks the contract', async () => {
    // A deliberately wrong /v1 (not our server): a model without `created`, a chunk with a
    // numeric id, an error without `param`.
    const bad = http.createServer((req, res) => {
      if (req.url === '/v1/models/x') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"x","object":"model","owned_by":"o"}');
      if (req.url === '/v1/chat/completions')
        return void res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: {"id":1,"object":"chat.completion.chunk","created":1,"model":"m","choices":[]}\n\ndata: [DONE]\n\n');
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"no","type":"x","code":null}}');
    });
    await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
    try {
      const rec = validatingFetch();
      const c = new OpenAI({ baseURL: `http://127.0.0.1:${(bad.address() as AddressInfo).port}/v1`, apiKey: 'k', fetch: rec.fetch, maxRetries: 0 });
      await c.models.retrieve('x');
      for await (const _ of await c.chat.completions.create({ model: 'm', messages: hi, stream: true })) void _;
      await c.models.retrieve('y').catch(() => undefined);
      const v = await rec.settled();
      expect(v.map((x) => [x.path, x.schema, x.errors])).toEqual([
        ['/v1/models/x', 'Model', ["(root) must have required property 'created'"]],
        ['/v1/chat/completions', 'CreateChatCompletionStreamResponse', ['/id must be string']],
        ['/v1/models/y', 'ErrorResponse', ["/error must have required property 'param'"]],
      ]);
    } finally {
      bad.closeAllConnections();
      await new Promise((r) => bad.close(r));
    }
  });
});

describe('answers conform to the spec', () => {
  it('chat completion JSON: no system_fingerprint, usage, logprobs null', async () => {
    const r = await alice.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'hello' }] });
    expect(r).not.toHaveProperty('system_fingerprint');
    expect(r.choices[0]!.logprobs).toBeNull();
    expect(r.usage?.total_tokens).toBeGreaterThan(0);
    expect(t.spec.checked).toBeGreaterThan(0);
  });

  it('stream without include_usage: no usage key at all; with it: usage null until the usage chunk', async () => {
    const plain = [];
    for await (const c of await alice.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'a b c' }], stream: true })) plain.push(c);
    expect(plain.length).toBeGreaterThan(2);
    expect(plain.every((c) => !('usage' in c) && !('system_fingerprint' in c))).toBe(true);

    const withUsage = [];
    for await (const c of await alice.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'a b c' }], stream: true, stream_options: { include_usage: true } })) withUsage.push(c);
    const last = withUsage.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage?.completion_tokens).toBeGreaterThan(0);
    expect(withUsage.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it('models list and retrieve', async () => {
    const list = await alice.models.list();
    expect(list.data.length).toBeGreaterThan(0);
    await alice.models.retrieve(list.data[0]!.id);
  });

  it('every error path reachable from a client: 400, 401, 404, 413, 502, 503, 504', async () => {
    const statuses: number[] = [];
    const call = async (p: Promise<unknown>) => statuses.push(((await p.catch((e) => e)) as { status: number }).status);
    await call(alice.chat.completions.create({ model: 'assistant', messages: [] }));
    await call(alice.chat.completions.create({ model: 'assistant', messages: hi, temperature: 9 }));
    await call(post('{"model": "assistant", "messages": ['));
    await call(t.client('sk-wrong-key-0000').models.list());
    await call(t.spec.fetch(`${t.system.url}/v1/models`));
    await call(alice.models.retrieve('no-such-agent'));
    await call(alice.chat.completions.create({ model: 'no-such-agent', messages: hi }));
    await call(alice.chat.completions.create({ model: 'assistant', messages: hi }, { headers: { 'x-thread-id': 'not a valid id' } }));
    await call(post({}, ALICE, '/v1/embeddings'));
    await call(post({ model: 'assistant', messages: [{ role: 'user', content: 'x'.repeat(1_100_000) }] }));
    t.model.setScript(() => ({ error: { status: 500, message: 'boom' } }));
    await call(alice.chat.completions.create({ model: 'assistant', messages: hi }));
    t.model.setScript(() => ({ error: { status: 429, message: 'slow' } }));
    await call(alice.chat.completions.create({ model: 'assistant', messages: hi, stream: true }));
    t.model.setScript(() => ({ hang: true }));
    await call(alice.chat.completions.create({ model: 'assistant', messages: hi }));
    expect(statuses).toEqual([400, 400, 400, 401, 401, 404, 404, 400, 404, 413, 502, 503, 504]);
    // Raw fetch answers are Response objects (status read above); every body was checked as ErrorResponse.
    expect(t.spec.checked).toBeGreaterThan(10);
  });
});

describe('a stream that fails after its first token', () => {
  it('ends with an error event in the ErrorResponse shape, which the SDK raises', async () => {
    t.model.setScript(() => ({ breakAfter: 'partial answer' }));
    let text = '';
    const err = await (async () => {
      for await (const c of await alice.chat.completions.create({ model: 'assistant', messages: hi, stream: true })) text += c.choices[0]?.delta?.content ?? '';
    })().catch((e) => e);
    expect(text).toBe('partial answer');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.error).toMatchObject({ type: expect.any(String), code: expect.stringMatching(/^upstream_/) });
    // The raw event stream: the error event was checked against ErrorResponse by the validating fetch.
    const checkedBefore = t.spec.checked;
    const raw = await post({ model: 'assistant', messages: hi, stream: true });
    const events = (await raw.text()).split('\n\n').filter(Boolean);
    expect(events.at(-1)).toMatch(/^data: \{"error":/);
    await t.spec.settled();
    expect(t.spec.checked).toBeGreaterThan(checkedBefore + 1);
  });
});

describe('parameters (src/server/openai/params.ts)', () => {
  it('passes reasoning_effort, verbosity, logit_bias and web_search_options to the model', async () => {
    await alice.chat.completions.create({
      model: 'assistant',
      messages: hi,
      reasoning_effort: 'low',
      verbosity: 'high',
      logit_bias: { '50256': -100, '11': 5 },
      web_search_options: { search_context_size: 'low' },
    });
    const up = t.model.requests.at(-1)!;
    expect(up.reasoning_effort).toBe('low');
    expect(up.verbosity).toBe('high');
    expect(up.logit_bias).toEqual({ '50256': -100, '11': 5 });
    expect(up.web_search_options).toEqual({ search_context_size: 'low' });
    // Not asked for: not sent.
    await alice.chat.completions.create({ model: 'assistant', messages: hi, reasoning_effort: null });
    const plain = t.model.requests.at(-1)!;
    for (const k of ['reasoning_effort', 'verbosity', 'logit_bias', 'web_search_options']) expect(plain, k).not.toHaveProperty(k);
  });

  it('refuses what it cannot honour with 400 unsupported_parameter naming it', async () => {
    const refused: Array<[string, unknown]> = [
      ['logprobs', true],
      ['top_logprobs', 3],
      ['n', 2],
      ['modalities', ['text', 'audio']],
      ['audio', { voice: 'alloy', format: 'mp3' }],
      ['prediction', { type: 'content', content: 'x' }],
      ['moderation', { model: 'omni-moderation-latest' }],
      ['top_k', 40],
      ['min_p', 0.1],
    ];
    const before = t.model.requests.length;
    for (const [param, value] of refused) {
      const r = await post({ model: 'assistant', messages: hi, [param]: value });
      expect({ param, status: r.status }).toEqual({ param, status: 400 });
      const e = await errorOf(r);
      expect(e).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_parameter', param });
      expect(e.message).toContain(`'${param}'`);
    }
    expect(t.model.requests.length).toBe(before);
  });

  it('accepts the defaults of refused parameters and the bookkeeping ones, and names ignored unknown keys', async () => {
    const r = await post({
      model: 'assistant',
      messages: hi,
      logprobs: false,
      top_logprobs: null,
      n: 1,
      modalities: ['text'],
      audio: null,
      metadata: { app: 'x' },
      store: true,
      service_tier: 'auto',
      prompt_cache_key: 'k',
      safety_identifier: 's',
      stream_options: null,
      // Open WebUI-style extras: not OpenAI's, ignored, named back.
      chat_id: 'c1',
      session_id: 's1',
      features: { web_search: false },
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-ignored-params')).toBe('chat_id, session_id, features');
    await r.json();
  });

  it('answers malformed and huge values of the new parameters with 400 naming them, never 5xx', async () => {
    const cases: Array<[string, unknown]> = [
      ['reasoning_effort', 'ultra'],
      ['verbosity', 3],
      ['logit_bias', { abc: 1 }],
      ['logit_bias', { '1': 101 }],
      ['logit_bias', Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [String(i), 1]))],
      ['logprobs', 'yes'],
      ['top_logprobs', 21],
      ['n', 0],
      ['n', 1.5],
      ['modalities', ['video']],
      ['web_search_options', 'on'],
      ['user', 5],
    ];
    for (const [param, value] of cases) {
      const r = await post({ model: 'assistant', messages: hi, [param]: value });
      expect({ param, value: JSON.stringify(value).slice(0, 40), status: r.status }).toMatchObject({ param, status: 400 });
      expect((await errorOf(r)).param ?? '').toMatch(new RegExp(`^${param}`));
    }
  });
});

describe('user, prefill, system-only and refusal parts', () => {
  it('takes any user string (base64 with + / =, spaces, long) and keeps each one its own memory', async () => {
    const users = ['aGFzaGVkK2lk/dXNlcg==', 'Ada Lovelace', 'ü'.repeat(300), 'x'.repeat(10_000)];
    const threads: string[] = [];
    for (const user of users) {
      const r = await alice.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: `I am ${user.slice(0, 10)}` }], user }).withResponse();
      threads.push(r.response.headers.get('x-thread-id')!);
      const thread = await t.system.runtime.memory.getThreadById({ threadId: threads.at(-1)! });
      expect(thread?.resourceId).toMatch(/^alice:sha256~[A-Za-z0-9_-]{43}$/);
    }
    const ids = await Promise.all(threads.map(async (id) => (await t.system.runtime.memory.getThreadById({ threadId: id }))?.resourceId));
    expect(new Set(ids).size).toBe(users.length);
    // The same string continues its thread; another key's owner with the same user string cannot.
    const again = await alice.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'me again' }], user: users[0] }, { headers: { 'x-thread-id': threads[0]! } });
    expect(again.choices[0]!.message.content).toBe('Echo: me again');
    const bob = await t.client(BOB).chat.completions.create({ model: 'assistant', messages: hi, user: users[0] }, { headers: { 'x-thread-id': threads[0]! } }).catch((e) => e);
    expect(bob.status).toBe(404);
    // A user string that spells another user's digest is itself digested: no way into it.
    const spoof = await alice.chat.completions.create({ model: 'assistant', messages: hi, user: ids[0]!.slice('alice:'.length) }, { headers: { 'x-thread-id': threads[0]! } }).catch((e) => e);
    expect(spoof.status).toBe(404);
  });

  it('honours a prefill: a final assistant message is sent last, for the model to continue', async () => {
    t.model.setScript((req) => ({ text: req.messages.at(-1)!.role === 'assistant' ? 'continued' : 'fresh' }));
    const r = await alice.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'Write a haiku' }, { role: 'assistant', content: 'Autumn moon' }] });
    expect(r.choices[0]!.message.content).toBe('continued');
    const last = t.model.requests.at(-1)!.messages.at(-1)!;
    expect([last.role, textOf(last.content)]).toEqual(['assistant', 'Autumn moon']);
    let streamed = '';
    for await (const c of await alice.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'Another' }, { role: 'assistant', content: 'Spring rain' }], stream: true })) streamed += c.choices[0]?.delta?.content ?? '';
    expect(streamed).toBe('continued');
    // An empty final assistant message prefills nothing.
    await alice.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: '' }] });
    expect(t.model.requests.at(-1)!.messages.at(-1)!.role).toBe('user');
    // With x-thread-id and the whole history resent: only the new user turn and the prefill are new.
    const first = await alice.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'one' }] }).withResponse();
    const thread = first.response.headers.get('x-thread-id')!;
    await alice.chat.completions.create(
      { model: 'assistant', messages: [{ role: 'user', content: 'one' }, { role: 'assistant', content: first.data.choices[0]!.message.content! }, { role: 'user', content: 'two' }, { role: 'assistant', content: 'Well,' }] },
      { headers: { 'x-thread-id': thread } },
    );
    const up = t.model.requests.at(-1)!.messages.filter((m) => m.role !== 'system').map((m) => `${m.role}:${textOf(m.content)}`);
    expect(up).toEqual(['user:one', 'assistant:fresh', 'user:two', 'assistant:Well,']);
  });

  it('runs a conversation of only a system message with it as the instructions', async () => {
    t.model.setScript((req) => ({ text: `saw ${req.messages.map((m) => m.role).join(',')}` }));
    const r = await alice.chat.completions.create({ model: 'assistant', messages: [{ role: 'system', content: 'Say hello.' }] });
    expect(r.choices[0]!.message.content).toMatch(/^saw system/);
    const up = t.model.requests.at(-1)!;
    expect(up.messages.some((m) => m.role === 'system' && textOf(m.content).includes('Say hello.'))).toBe(true);
    expect(up.messages.some((m) => m.role === 'user')).toBe(false);
  });

  it('accepts assistant refusal content parts and the refusal field, as the assistant’s words in the history', async () => {
    const r = await post({
      model: 'assistant',
      messages: [
        { role: 'user', content: 'do the bad thing' },
        { role: 'assistant', content: [{ type: 'refusal', refusal: 'I cannot help with that.' }] },
        { role: 'user', content: 'then something else' },
        { role: 'assistant', content: null, refusal: 'Still no.' },
        { role: 'user', content: 'ok, hi' },
      ],
    });
    expect(r.status).toBe(200);
    await r.json();
    const texts = t.model.requests.at(-1)!.messages.filter((m) => m.role === 'assistant').map((m) => textOf(m.content));
    expect(texts).toEqual(['I cannot help with that.', 'Still no.']);
    // A refusal part anywhere but an assistant message is refused.
    const bad = await post({ model: 'assistant', messages: [{ role: 'user', content: [{ type: 'refusal', refusal: 'x' }] }] });
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).param).toBe('messages[0].content[0]');
  });
});
