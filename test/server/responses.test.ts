/**
 * OpenAI's Responses API on the agents (/v1/responses), as app developers use it: the
 * official OpenAI SDK and the OpenAI Agents SDK against the running server, real
 * embedded Postgres underneath. Upstream is THE SCRIPTED MODEL (harness/scripted-model.ts,
 * a Chat Completions wire server): the only stand-in; its recorded `requests` show what
 * the agent really sent the model.
 *
 * Every answer the SDK clients of t.client() got (JSON, every stream event, every error) is
 * validated against the OpenAI OpenAPI document's schemas (harness/openai-spec.ts, checked in
 * afterAll); `expectResponseShape` also checks the required fields by hand.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { Agent, OpenAIProvider, Runner, tool } from '@openai/agents';
import { generateText, stepCountIs, streamText, tool as aiTool } from 'ai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { echoScript, lastUserText, pendingToolResult, startScriptedModel, textOf, type ChatRequest } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

const ALICE = 'sk-one-alice-responses-01';
const BOB = 'sk-one-bob-responses-0002';
const CAROL = 'sk-one-carol-responses-03';
let t: TestSystem;
let alice: OpenAI;
let bob: OpenAI;
// A 1x1 PNG and a 1x1 GIF; a local image server that OUTBOUND_ALLOW_HOSTS allows (as in images.test.ts).
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const IMAGE_MAX = 4096;
let images: http.Server;
let imageBase: string;
let imageFetches = 0;

beforeAll(async () => {
  images = http.createServer((req, res) => {
    imageFetches++;
    if (req.url === '/cat.gif') return void res.writeHead(200, { 'content-type': 'image/gif' }).end(GIF);
    if (req.url === '/page.html') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
    if (req.url === '/huge.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.concat([PNG, Buffer.alloc(IMAGE_MAX * 4)]));
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => images.listen(0, '127.0.0.1', r));
  imageBase = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
  // Core only (FEATURES=none); two key owners for the ownership tests.
  t = await startTestSystem({
    env: {
      FEATURES: 'none',
      MODEL_TIMEOUT_MS: '3000',
      BODY_LIMIT: '256kb',
      API_KEYS: `${ALICE}:alice,${BOB}:bob,${CAROL}:carol`,
      AGENT_USERS_ASSISTANT: 'alice,bob',
      RATE_LIMIT_RPM: '0',
      IMAGE_MAX_BYTES: String(IMAGE_MAX),
      OUTBOUND_ALLOW_HOSTS: imageBase.replace('http://', ''),
      IMAGE_FETCH_TIMEOUT_MS: '2000',
    },
  });
  alice = t.client(ALICE);
  bob = t.client(BOB);
});
afterAll(async () => {
  const violations = t ? await t.spec.settled() : [];
  await t?.stop();
  images?.closeAllConnections();
  await new Promise((r) => images?.close(r));
  expect(violations).toEqual([]);
});
beforeEach(() => {
  t.model.setScript(echoScript);
});

const userTexts = (req: ChatRequest) => req.messages.filter((m) => m.role === 'user').map((m) => textOf(m.content));

/** The fields the OpenAPI document's `Response` schema requires, and the usage details `ResponseUsage` requires. */
function expectResponseShape(r: Record<string, unknown>) {
  for (const k of ['id', 'object', 'created_at', 'error', 'incomplete_details', 'instructions', 'model', 'tools', 'output', 'parallel_tool_calls', 'metadata', 'tool_choice', 'temperature', 'top_p']) {
    expect(r, k).toHaveProperty(k);
  }
  expect(r.object).toBe('response');
  expect(r.id).toMatch(/^resp_[A-Za-z0-9]+$/);
  if (r.usage) {
    expect(r.usage).toMatchObject({
      input_tokens: expect.any(Number),
      output_tokens: expect.any(Number),
      total_tokens: expect.any(Number),
      input_tokens_details: { cached_tokens: expect.any(Number), cache_write_tokens: expect.any(Number) },
      output_tokens_details: { reasoning_tokens: expect.any(Number) },
    });
  }
  for (const item of r.output as Array<Record<string, unknown>>) {
    if (item.type === 'message') {
      expect(item).toMatchObject({ id: expect.any(String), role: 'assistant', status: expect.any(String) });
      for (const c of item.content as Array<Record<string, unknown>>) expect(c).toMatchObject({ type: 'output_text', text: expect.any(String), annotations: [], logprobs: [] });
    } else {
      expect(item).toMatchObject({ type: 'function_call', call_id: expect.any(String), name: expect.any(String), arguments: expect.any(String) });
    }
  }
}

describe('POST /v1/responses', () => {
  it('answers a string input with a completed response, usage and output_text', async () => {
    const r = await alice.responses.create({ model: 'assistant', input: 'hello there' });
    expectResponseShape(r as never);
    expect(r.status).toBe('completed');
    expect(r.model).toBe('assistant');
    expect(r.output_text).toBe('Echo: hello there');
    expect(r.output).toHaveLength(1);
    // The scripted model counts words of every message it was sent: usage is carried through, not invented.
    const up = t.model.requests.at(-1)!;
    const promptWords = up.messages.reduce((n, m) => n + (textOf(m.content).match(/\S+/g) ?? []).length, 0);
    expect(r.usage).toMatchObject({ input_tokens: promptWords, output_tokens: 3, total_tokens: promptWords + 3 });
    expect(r.conversation?.id).toMatch(/^[0-9a-f-]{36}$/);
    const { response } = await alice.responses.create({ model: 'assistant', input: 'x', previous_response_id: r.id }).withResponse();
    expect(response.headers.get('x-thread-id')).toBe(r.conversation!.id);
  });

  it('takes message items (string and input_text content), instructions and system/developer items', async () => {
    const r = await alice.responses.create({
      model: 'assistant',
      instructions: 'Answer in French.',
      input: [
        { role: 'developer', content: 'Be brief.' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'part one, ' }, { type: 'input_text', text: 'part two' }] },
      ],
      temperature: 0.3,
      top_p: 0.5,
      max_output_tokens: 77,
      metadata: { ticket: 'T-1' },
    });
    expect(r.output_text).toBe('Echo: part one, part two');
    expect(r).toMatchObject({ instructions: 'Answer in French.', temperature: 0.3, top_p: 0.5, max_output_tokens: 77, metadata: { ticket: 'T-1' } });
    const up = t.model.requests.at(-1)!;
    const system = up.messages.filter((m) => m.role === 'system').map((m) => textOf(m.content)).join('\n');
    expect(system).toContain('Answer in French.');
    expect(system).toContain('Be brief.');
    expect(lastUserText(up)).toBe('part one, part two');
    expect(up.temperature).toBe(0.3);
    expect(up.top_p).toBe(0.5);
    expect(up.max_tokens ?? up.max_completion_tokens).toBe(77);
  });

  it('reports status incomplete when the model stops at its token limit', async () => {
    t.model.setScript(() => ({ text: 'cut off mid', finishReason: 'length' }));
    const r = await alice.responses.create({ model: 'assistant', input: 'long please', max_output_tokens: 3 });
    expect(r.status).toBe('incomplete');
    expect(r.incomplete_details).toEqual({ reason: 'max_output_tokens' });
  });

  it('passes reasoning.effort and parallel_tool_calls upstream, and accepts provider hints it ignores', async () => {
    const r = await alice.responses.create({ model: 'assistant', input: 'think', reasoning: { effort: 'low' }, parallel_tool_calls: false, service_tier: 'auto', prompt_cache_key: 'k1' });
    expect(r.reasoning).toMatchObject({ effort: 'low' });
    expect(r.parallel_tool_calls).toBe(false);
    const up = t.model.requests.at(-1)!;
    expect(up.reasoning_effort).toBe('low');
    expect(up.parallel_tool_calls).toBe(false);
    await alice.responses.create({ model: 'assistant', input: 'no tools now', tool_choice: 'none' });
    // Mastra honours `none` by offering the model no tools at all.
    expect(t.model.requests.at(-1)!.tools ?? []).toEqual([]);
    const f = { type: 'function' as const, name: 'pick_me', parameters: { type: 'object', properties: {} }, strict: false };
    t.model.setScript(() => ({ toolCalls: [{ name: 'pick_me', arguments: {} }] }));
    const forced = await alice.responses.create({ model: 'assistant', input: 'forced', tools: [f], tool_choice: { type: 'function', name: 'pick_me' } });
    expect(t.model.requests.at(-1)!.tool_choice).toEqual({ type: 'function', function: { name: 'pick_me' } });
    expect(forced.output.map((o) => o.type)).toEqual(['function_call']);
    expect(forced.tool_choice).toEqual({ type: 'function', name: 'pick_me' });
  });

  it('keeps status incomplete and incomplete_details on the stored response', async () => {
    t.model.setScript(() => ({ text: 'cut off', finishReason: 'length' }));
    const r = await alice.responses.create({ model: 'assistant', input: 'long', max_output_tokens: 2 });
    const got = await alice.responses.retrieve(r.id);
    expect(got).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, completed_at: null, max_output_tokens: 2 });
  });

  it("runs the agent's own tools server-side; the client sees only the final answer", async () => {
    t.model.setScript((req) => {
      const last = req.messages.at(-1)!;
      if (last.role === 'tool') return { text: `The answer is ${JSON.parse(textOf(last.content)).result}.` };
      return { toolCalls: [{ name: 'calculate', arguments: { expression: '(17 + 4) * 2' } }] };
    });
    const r = await alice.responses.create({ model: 'assistant', input: 'what is (17+4)*2?' });
    expect(r.output_text).toBe('The answer is 42.');
    expect(r.output.map((o) => o.type)).toEqual(['message']);
  });
});

describe('streaming', () => {
  it('sends the Responses event sequence with sequence numbers, ending in response.completed', async () => {
    t.model.setScript(() => ({ text: 'one two three four' }));
    const stream = await alice.responses.create({ model: 'assistant', input: 'count', stream: true });
    const events: Array<Record<string, unknown> & { type: string; sequence_number: number }> = [];
    for await (const e of stream) events.push(e as never);
    const types = events.map((e) => e.type);
    const deltas = types.filter((x) => x === 'response.output_text.delta').length;
    expect(deltas).toBeGreaterThan(1);
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array(deltas).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
    expect(text).toBe('one two three four');
    const done = events.at(-1)!.response as Record<string, unknown>;
    expectResponseShape(done);
    expect(done.status).toBe('completed');
    expect(done.output_text).toBe('one two three four');
    expect((events[0]!.response as { status: string }).status).toBe('in_progress');
    // The streamed response is stored like any other.
    const again = await alice.responses.retrieve(done.id as string);
    expect(again.output_text).toBe('one two three four');
  });

  it('a model that fails before its first token gets an HTTP error status; the stored response is failed', async () => {
    t.model.setScript(() => ({ error: { status: 429, message: 'slow down' } }));
    const err = await alice.responses.create({ model: 'assistant', input: 'x', stream: true }).catch((e) => e);
    expect(err.status).toBe(503);
    expect(err.error.code).toBe('upstream_rate_limited');
  });
});

describe('failures and cancellation', () => {
  const latestRow = async () =>
    (await t.system.ctx.db.query<{ id: string; status: string; error: { code: string; message: string } | null }>("select id, status, error from responses where owner = 'alice' order by created_at desc limit 1")).rows[0]!;

  it('a failed model call is a 5xx in OpenAI shape, and the stored response is failed with its error', async () => {
    t.model.setScript(() => ({ error: { status: 500, message: 'upstream exploded: sk-test-upstream-secret-0001' } }));
    const err = await alice.responses.create({ model: 'assistant', input: 'x' }).catch((e) => e);
    expect(err.status).toBe(502);
    expect(err.error).toMatchObject({ type: 'upstream_error', code: 'upstream_error' });
    const row = await latestRow();
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ code: 'server_error' });
    const got = await alice.responses.retrieve(row.id);
    expect(got.status).toBe('failed');
    expect(JSON.stringify(got)).not.toContain('sk-test-upstream-secret-0001');
  });

  it('a client that disconnects cancels the run and the upstream call; the stored response is cancelled', async () => {
    const before = t.model.aborted;
    let calls = 0;
    t.model.setScript(() => {
      calls++;
      return { hang: true };
    });
    for (const stream of [false, true]) {
      const ac = new AbortController();
      const n = calls;
      const p = alice.responses.create({ model: 'assistant', input: 'wait', stream }, { signal: ac.signal }).catch((e) => e);
      while (calls === n) await new Promise((r) => setTimeout(r, 20));
      ac.abort();
      await p;
      let row = await latestRow();
      for (let i = 0; i < 100 && row.status === 'in_progress'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        row = await latestRow();
      }
      expect({ stream, status: row.status }).toEqual({ stream, status: 'cancelled' });
    }
    // Both upstream calls were cancelled long before the 3 s model timeout would end them.
    expect(t.model.aborted).toBe(before + 2);
  });

  it('store:false writes no response row and, without conversation, claims no memory thread', async () => {
    const count = async (table: string) => Number((await t.system.ctx.db.query(`select count(*) as n from ${table}`)).rows[0].n);
    const before = [await count('responses'), await count('thread_owners'), await count('mastra_threads'), await count('mastra_messages')];
    const r = await alice.responses.create({ model: 'assistant', input: 'leave no trace', store: false });
    expect(r.output_text).toBe('Echo: leave no trace');
    expect([await count('responses'), await count('thread_owners'), await count('mastra_threads'), await count('mastra_messages')]).toEqual(before);
    expect(userTexts(t.model.requests.at(-1)!)).toEqual(['leave no trace']);
  });
});

describe('a stream that fails after its first output', () => {
  it('ends with response.failed and an error event; the stored response is failed', async () => {
    // A second system whose upstream is THE SCRIPTED MODEL writing one word every 1.5 s,
    // with a 3 s model timeout: the first words arrive, then the upstream call times out.
    const slow = await startScriptedModel({ chunkDelayMs: 1500, script: () => ({ text: 'one two three four five six seven eight' }) });
    const t2 = await startTestSystem({ env: { FEATURES: 'none', OPENAI_BASE_URL: slow.url, MODEL_TIMEOUT_MS: '3000' } });
    try {
      const stream = await t2.client().responses.create({ model: 'assistant', input: 'go', stream: true });
      const events: Array<{ type: string; sequence_number: number; response?: { id: string; status: string; error: unknown } }> = [];
      const err = await (async () => {
        for await (const e of stream) events.push(e as never);
      })().catch((e) => e);
      const types = events.map((e) => e.type);
      expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
      expect(types).toContain('response.output_text.delta');
      expect(types.at(-1)).toBe('response.failed');
      expect(events.at(-1)!.response).toMatchObject({ status: 'failed', error: { code: 'server_error' } });
      // The SDK turns the final `error` event into an APIError.
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect(err.error).toMatchObject({ code: 'upstream_timeout' });
      const stored = await t2.client().responses.retrieve(events.at(-1)!.response!.id);
      expect(stored.status).toBe('failed');
      // What was streamed before the failure is kept, marked incomplete.
      const streamed = events.filter((e) => e.type === 'response.output_text.delta').map((e) => (e as unknown as { delta: string }).delta).join('');
      expect(stored.output[0]).toMatchObject({ type: 'message', status: 'incomplete', content: [{ type: 'output_text', text: streamed }] });
      expect(streamed.length).toBeGreaterThan(0);
    } finally {
      await t2.stop();
      await slow.close();
    }
  }, 60_000);
});

describe('conversation state', () => {
  it('previous_response_id continues the memory thread of that response', async () => {
    const first = await alice.responses.create({ model: 'assistant', input: 'my name is Ada' });
    const second = await alice.responses.create({ model: 'assistant', input: 'what is my name?', previous_response_id: first.id });
    expect(second.previous_response_id).toBe(first.id);
    expect(second.conversation?.id).toBe(first.conversation?.id);
    const up = t.model.requests.at(-1)!;
    expect(userTexts(up)).toEqual(['my name is Ada', 'what is my name?']);
    expect(up.messages.some((m) => m.role === 'assistant' && textOf(m.content) === 'Echo: my name is Ada')).toBe(true);
  });

  it('conversation names the memory thread; it is claimed for the caller', async () => {
    const conv = `conv_test_${Date.now()}`;
    await alice.responses.create({ model: 'assistant', input: 'first', conversation: conv });
    await alice.responses.create({ model: 'assistant', input: 'second', conversation: { id: conv } });
    expect(userTexts(t.model.requests.at(-1)!)).toEqual(['first', 'second']);
    const err = await bob.responses.create({ model: 'assistant', input: 'tell me', conversation: conv }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.error).toMatchObject({ code: 'conversation_not_found', param: 'conversation' });
  });

  it('refuses previous_response_id together with conversation', async () => {
    const first = await alice.responses.create({ model: 'assistant', input: 'a' });
    const err = await alice.responses.create({ model: 'assistant', input: 'b', previous_response_id: first.id, conversation: 'c1' }).catch((e) => e);
    expect(err.status).toBe(400);
    expect(err.error.param).toBe('conversation');
  });

  it('two users claiming the same new conversation id at once: exactly one gets it', async () => {
    const conv = `conv_race_${Date.now()}`;
    const results = await Promise.all([
      alice.responses.create({ model: 'assistant', input: 'mine', conversation: conv }).then(() => 'ok', (e) => e.status),
      bob.responses.create({ model: 'assistant', input: 'no, mine', conversation: conv }).then(() => 'ok', (e) => e.status),
    ]);
    expect(results.sort()).toEqual([404, 'ok']);
  });

  it('store:false is not retrievable, cannot be continued, and runs without memory', async () => {
    const r = await alice.responses.create({ model: 'assistant', input: 'ephemeral', store: false });
    expect((r as unknown as { store: boolean }).store).toBe(false);
    expect(r.output_text).toBe('Echo: ephemeral');
    expect(r.conversation).toBeNull();
    expect((await alice.responses.retrieve(r.id).catch((e) => e)).status).toBe(404);
    const err = await alice.responses.create({ model: 'assistant', input: 'more', previous_response_id: r.id }).catch((e) => e);
    expect(err.status).toBe(404);
    expect(err.error).toMatchObject({ code: 'response_not_found', param: 'previous_response_id' });
  });

  it('a second request on a conversation that is running is refused with conversation_locked; retried later it sees the first turn', async () => {
    const first = await alice.responses.create({ model: 'assistant', input: 'base' });
    // The scripted model holds the first continuation's answer until the second request has been answered.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = 0;
    t.model.setScript(async (req) => {
      if (lastUserText(req) === 'branch A') {
        held++;
        await gate;
      }
      return echoScript(req);
    });
    const a = alice.responses.create({ model: 'assistant', input: 'branch A', previous_response_id: first.id });
    while (held === 0) await new Promise((r) => setTimeout(r, 10));
    const before = t.model.requests.length;
    const err = await alice.responses.create({ model: 'assistant', input: 'branch B', previous_response_id: first.id }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.error).toMatchObject({ code: 'conversation_locked', param: 'previous_response_id', type: 'invalid_request_error' });
    const viaConversation = await alice.responses.create({ model: 'assistant', input: 'branch C', conversation: first.conversation!.id }).catch((e) => e);
    expect(viaConversation.error).toMatchObject({ code: 'conversation_locked', param: 'conversation' });
    expect(t.model.requests.length).toBe(before);
    release();
    expect((await a).output_text).toBe('Echo: branch A');
    const b = await alice.responses.create({ model: 'assistant', input: 'branch B', previous_response_id: first.id });
    expect(b.output_text).toBe('Echo: branch B');
    expect(userTexts(t.model.requests.at(-1)!)).toEqual(['base', 'branch A', 'branch B']);
  });

  it('a continuation sent the moment the previous response arrives is never refused (the lease is released before the answer is sent)', async () => {
    let prev = await alice.responses.create({ model: 'assistant', input: 'turn 0' });
    for (let i = 1; i <= 12; i++) {
      if (i % 2) {
        prev = await alice.responses.create({ model: 'assistant', input: `turn ${i}`, previous_response_id: prev.id });
      } else {
        const stream = await alice.responses.create({ model: 'assistant', input: `turn ${i}`, previous_response_id: prev.id, stream: true });
        for await (const e of stream) if (e.type === 'response.completed') prev = e.response;
      }
      expect(prev.output_text).toBe(`Echo: turn ${i}`);
    }
  });

  it('many continuations of one response at once: each is answered or refused, and the thread stays whole', async () => {
    const first = await alice.responses.create({ model: 'assistant', input: 'base' });
    const inputs = ['A', 'B', 'C', 'D', 'E', 'F'].map((x) => `branch ${x}`);
    const results = await Promise.all(
      inputs.map((input) => alice.responses.create({ model: 'assistant', input, previous_response_id: first.id }).then((r) => r.output_text, (e) => e.error?.code as string)),
    );
    const answered = inputs.filter((_, i) => results[i] === `Echo: ${inputs[i]}`);
    expect(results.filter((r) => !r.startsWith('Echo: ')).every((r) => r === 'conversation_locked')).toBe(true);
    expect(answered.length).toBeGreaterThan(0);
    // Every answered turn is in the thread once, with its own answer right after it (no merged or lost replies).
    await alice.responses.create({ model: 'assistant', input: 'after', conversation: first.conversation!.id });
    const turns = t.model.requests.at(-1)!.messages.filter((m) => m.role !== 'system').map((m) => `${m.role}:${textOf(m.content)}`);
    expect(turns.slice(0, 2)).toEqual(['user:base', 'assistant:Echo: base']);
    const middle = turns.slice(2, -1);
    expect(middle).toHaveLength(answered.length * 2);
    for (let i = 0; i < middle.length; i += 2) expect(middle[i + 1]).toBe(`assistant:Echo: ${middle[i]!.slice('user:'.length)}`);
    expect(middle.filter((_, i) => i % 2 === 0).map((m) => m.slice(5)).sort()).toEqual(answered.sort());
    expect(turns.at(-1)).toBe('user:after');
  });
});

describe('retrieve, delete, input items', () => {
  it('retrieves, lists input items, deletes; a deleted id is 404 everywhere', async () => {
    const r = await alice.responses.create({
      model: 'assistant',
      input: [
        { role: 'user', content: 'one' },
        { role: 'assistant', content: 'Echo: one' },
        { role: 'user', content: 'two' },
      ],
    });
    const got = await alice.responses.retrieve(r.id);
    expectResponseShape(got as never);
    expect(got).toMatchObject({ id: r.id, status: 'completed', output_text: 'Echo: two' });
    expect(got.output).toEqual(r.output);
    expect(got.usage).toEqual(r.usage);

    const items = await alice.responses.inputItems.list(r.id);
    expect(items.data.map((i) => (i as { role: string }).role)).toEqual(['user', 'assistant', 'user']); // desc: newest first
    const asc = await alice.responses.inputItems.list(r.id, { order: 'asc', limit: 2 });
    expect(asc.data.map((i) => (i as { content: Array<{ text: string }> }).content[0]!.text)).toEqual(['one', 'Echo: one']);
    expect(asc.has_more).toBe(true);
    const next = await alice.responses.inputItems.list(r.id, { order: 'asc', limit: 2, after: asc.data[1]!.id });
    expect(next.data.map((i) => (i as { content: Array<{ text: string }> }).content[0]!.text)).toEqual(['two']);
    expect(next.has_more).toBe(false);

    expect(await alice.responses.delete(r.id)).toEqual({ id: r.id, object: 'response', deleted: true });
    for (const call of [() => alice.responses.retrieve(r.id), () => alice.responses.inputItems.list(r.id), () => alice.responses.delete(r.id)]) {
      const err = await call().catch((e) => e);
      expect(err.status).toBe(404);
      expect(err.error.code).toBe('response_not_found');
    }
    const cont = await alice.responses.create({ model: 'assistant', input: 'x', previous_response_id: r.id }).catch((e) => e);
    expect(cont.status).toBe(404);
  });

  it('DELETE answers the spec shape', async () => {
    const r = await alice.responses.create({ model: 'assistant', input: 'to delete' });
    const res = await fetch(`${t.system.url}/v1/responses/${r.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ALICE}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: r.id, object: 'response', deleted: true });
  });

  it("another owner's response id is 404 exactly like an unknown one, on every route", async () => {
    const r = await alice.responses.create({ model: 'assistant', input: 'private' });
    const before = t.model.requests.length;
    const attempts = [
      () => bob.responses.retrieve(r.id),
      () => bob.responses.inputItems.list(r.id),
      () => bob.responses.delete(r.id),
      () => bob.responses.create({ model: 'assistant', input: 'continue hers', previous_response_id: r.id }),
    ];
    const unknown = await bob.responses.retrieve('resp_doesnotexist').catch((e) => e);
    for (const call of attempts) {
      const err = await call().catch((e) => e);
      expect(err.status).toBe(404);
      expect(err.error.code).toBe('response_not_found');
      expect(err.error.message).toBe(unknown.error.message);
    }
    expect(t.model.requests.length).toBe(before);
    // Still hers.
    expect((await alice.responses.retrieve(r.id)).output_text).toBe('Echo: private');
    // /metrics counts the routes by pattern, never by response id.
    const metrics = await (await fetch(`${t.system.url}/metrics`, { headers: { authorization: `Bearer ${ALICE}` } })).text();
    expect(metrics).toContain('route="/v1/responses/:id"');
    expect(metrics).not.toContain(r.id);
  });
});

describe('bad input', () => {
  const post = (body: unknown, key = ALICE) =>
    fetch(`${t.system.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  it('answers malformed bodies with 400 naming the param, never 5xx, without calling the model or claiming a thread', async () => {
    const before = t.model.requests.length;
    const claims = async () => Number((await t.system.ctx.db.query('select count(*) as n from thread_owners')).rows[0].n);
    const claimsBefore = await claims();
    const cases: Array<[unknown, string | null]> = [
      [{ model: 'assistant' }, 'input'],
      [{ input: 'x' }, 'model'],
      [{ model: 'assistant', input: [] }, 'input'],
      [{ model: 'assistant', input: [42] }, 'input[0]'],
      [{ model: 'assistant', input: [{ role: 'wizard', content: 'x' }] }, 'input[0].role'],
      [{ model: 'assistant', input: [{ role: 'user', content: [{ type: 'input_file', file_data: 'x' }] }] }, 'input[0].content[0].type'],
      [{ model: 'assistant', input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file_1' }] }] }, 'input[0].content[0].file_id'],
      [{ model: 'assistant', input: [{ role: 'user', content: [{ type: 'input_image' }] }] }, 'input[0].content[0].image_url'],
      [{ model: 'assistant', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 42 }] }] }, 'input[0].content[0].image_url'],
      [{ model: 'assistant', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'ultra' }] }] }, 'input[0].content[0].detail'],
      [{ model: 'assistant', input: [{ role: 'user', content: [{ type: 'input_text', text: 'x' }, { type: 'input_image', image_url: 'data:text/html;base64,PGI+' }] }] }, 'input[0].content[1].image_url'],
      [{ model: 'assistant', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'data:image/png;base64,not base64!' }] }] }, 'input[0].content[0].image_url'],
      [{ model: 'assistant', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'ftp://example.com/a.png' }] }] }, 'input[0].content[0].image_url'],
      [{ model: 'assistant', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'http://10.0.0.1/a.png' }] }] }, 'input[0].content[0].image_url'],
      [{ model: 'assistant', input: [{ role: 'system', content: [{ type: 'input_image', image_url: 'data:image/png;base64,AAAA' }] }, { role: 'user', content: 'x' }] }, 'input[0].content[0].type'],
      [{ model: 'assistant', input: [{ type: 'function_call_output', call_id: 'c1', output: [{ type: 'input_image', image_url: 'data:image/png;base64,AAAA' }] }] }, 'input[0].output[0].type'],
      [{ model: 'assistant', input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0].type'],
      [{ model: 'assistant', input: [{ role: 'assistant', content: 'last word' }] }, 'input'],
      [{ model: 'assistant', input: 'x', temperature: 5 }, 'temperature'],
      [{ model: 'assistant', input: 'x', text: { format: { type: 'json_schema', name: 'x' } } }, 'text.format.schema'],
      [{ model: 'assistant', input: 'x', text: { format: { type: 'json_schema', name: 'bad name!', schema: {} } } }, 'text.format.name'],
      [{ model: 'assistant', input: 'x', text: { format: { type: 'json_schema', name: 'x', schema: { type: 'object', properties: 'nope' } } } }, 'text.format.schema'],
      [{ model: 'assistant', input: 'x', text: { format: { type: 'json_schema', name: 'x', schema: { type: 'object', description: 'y'.repeat(70_000) } } } }, 'text.format.schema'],
      [{ model: 'assistant', input: 'x', text: { format: { type: 'yaml' } } }, 'text.format.type'],
      [{ model: 'assistant', input: 'x', text: { format: { type: 'json_schema', name: 'deep', schema: JSON.parse('{"items":'.repeat(40) + '{}' + '}'.repeat(40)) } } }, 'text.format.schema'],
      [{ model: 'assistant', input: 'x', text: { format: 'json' } }, 'text.format'],
      [{ model: 'assistant', input: 'x', tool_choice: 'required' }, 'tool_choice'],
      [{ model: 'assistant', input: 'x', tools: [{ type: 'web_search' }] }, 'tools[0].type'],
      [{ model: 'assistant', input: 'x', tools: [{ type: 'file_search', vector_store_ids: [] }] }, 'tools[0].type'],
      [{ model: 'assistant', input: 'x', tools: [{ type: 'mcp', server_label: 'x' }] }, 'tools[0].type'],
      [{ model: 'assistant', input: 'x', tools: [{ type: 'function', name: 'bad name!' }] }, 'tools[0].name'],
      [{ model: 'assistant', input: 'x', tool_choice: { type: 'function', name: 'nope' } }, 'tool_choice.name'],
      [{ model: 'assistant', input: 'x', background: true }, 'background'],
      [{ model: 'assistant', input: 'x', reasoning: { summary: 'auto' } }, 'reasoning.summary'],
      [{ model: 'assistant', input: 'x', metadata: { k: 'v'.repeat(600) } }, 'metadata.k'],
      [{ model: 'assistant', input: 'x', conversation: 'bad id with spaces' }, 'conversation'],
      [{ model: 'assistant', input: [{ type: 'function_call_output', call_id: 'call_1', output: 'x' }] }, 'input[0].call_id'],
      [{ model: 'assistant', input: 'x', tools: [{ type: 'function', name: 'calculate', parameters: { type: 'object' } }] }, 'tools[0].name'],
      [{ model: 'assistant', input: 'x', tools: [{ type: 'function', name: 'f' }, { type: 'function', name: 'f' }] }, 'tools[1].name'],
      [{ model: 'assistant', input: 'x', tools: [{ type: 'function', name: 'f', parameters: { description: 'y'.repeat(20_000) } }] }, 'tools[0].parameters'],
      [{ model: 'assistant', input: 'x', previous_response_id: 42 }, 'previous_response_id'],
      [{ model: 'assistant', input: 'x', frequency_penalty: 1 }, 'frequency_penalty'],
      [{ model: 'assistant', input: 'x', include: ['reasoning.encrypted_content'] }, 'include'],
      [[1, 2], null],
    ];
    for (const [body, param] of cases) {
      const r = await post(body);
      const json = await r.json();
      expect({ body, status: r.status, param: json.error?.param }).toEqual({ body, status: 400, param });
      expect(json.error.type).toBe('invalid_request_error');
    }
    const unknownParam = await (await post({ model: 'assistant', input: 'x', frequency_penalty: 1 })).json();
    expect(unknownParam.error).toMatchObject({ code: 'unknown_parameter', param: 'frequency_penalty' });
    const bad = await post('{"model": "assistant", "input": [');
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe('invalid_json');
    expect(t.model.requests.length).toBe(before);
    expect(await claims()).toBe(claimsBefore);
  });

  it("refuses function parameters that are not a usable object JSON Schema, before any model call", async () => {
    const before = t.model.requests.length;
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 40; i++) deep = { type: 'object', properties: { a: deep } };
    const cases: Array<[unknown, string]> = [
      [{ type: 'array', items: { type: 'string' } }, 'tools[0].parameters.type'],
      [{ type: 'banana' }, 'tools[0].parameters.type'],
      [{ type: 'object', properties: { a: { type: 'banana' } } }, 'tools[0].parameters'],
      [{ type: 'object', properties: { a: { $ref: '#/definitions/nope' } } }, 'tools[0].parameters'],
      [{ type: 'object', properties: { a: { $ref: 'http://169.254.169.254/schema' } } }, 'tools[0].parameters'],
      [{ type: 'object', definitions: { a: { $ref: '#/definitions/a' } }, properties: { x: { $ref: '#/definitions/a' } } }, 'tools[0].parameters'],
      [deep, 'tools[0].parameters'],
    ];
    for (const [parameters, param] of cases) {
      const r = await post({ model: 'assistant', input: 'x', tools: [{ type: 'function', name: 'f', parameters }] });
      expect({ parameters, status: r.status, param: (await r.json()).error?.param }).toEqual({ parameters, status: 400, param });
    }
    // A body nested 40 000 levels deep is refused before anything walks it recursively.
    const nested = `{"model":"assistant","input":"x","tools":[{"type":"function","name":"f","parameters":${'{"a":'.repeat(40_000)}1${'}'.repeat(40_000)}}]}`;
    const r = await post(nested);
    expect(r.status).toBe(400);
    expect((await r.json()).error.code).toBe('invalid_value');
    expect(t.model.requests.length).toBe(before);
  });

  it('takes regular expressions of a function schema out of what runs here, and still echoes them', async () => {
    // `pattern` would be compiled by Mastra and run on model-written arguments on this server.
    const parameters = { type: 'object', properties: { code: { type: 'string', pattern: '^(a+)+$' }, bad: { type: 'string', pattern: '(' } }, patternProperties: { '^x': { type: 'string' } } };
    const r = await alice.responses.create({ model: 'assistant', input: 'x', tools: [{ type: 'function', name: 'lookup', parameters, strict: false }] });
    expect(r.status).toBe('completed');
    expect((r.tools[0] as { parameters: unknown }).parameters).toEqual(parameters);
    const offered = t.model.requests.at(-1)!.tools!.find((x) => x.function.name === 'lookup')!;
    expect(JSON.stringify(offered.function.parameters)).not.toContain('pattern');
    // (Mastra's schema layer rewrites optional properties as nullable ones.)
    expect(Object.keys((offered.function.parameters as { properties: object }).properties)).toEqual(['code', 'bad']);
  });

  it('stores NUL and lone surrogates (input, instructions, metadata keys and values) as U+FFFD, never a 500', async () => {
    const r = await alice.responses.create({ model: 'assistant', input: 'nul \u0000 and \ud800 here', instructions: 'be \udc00 kind', metadata: { ['k\u0000\ud800']: 'v\u0000' } });
    expect(r.status).toBe('completed');
    const got = await alice.responses.retrieve(r.id);
    expect(got.metadata).toEqual({ 'k\ufffd\ufffd': 'v\ufffd' });
    expect(got.instructions).toBe('be \ufffd kind');
    const items = await alice.responses.inputItems.list(r.id);
    expect((items.data[0] as { content: Array<{ text: string }> }).content[0]!.text).toBe('nul \ufffd and \ufffd here');
    // A literal backslash-u text is not an escape and stays as it was.
    const lit = await alice.responses.create({ model: 'assistant', input: 'x', metadata: { k: '\\u0000 \\\\ud800' } });
    expect((await alice.responses.retrieve(lit.id)).metadata).toEqual({ k: '\\u0000 \\\\ud800' });
  });

  it('bounds the input: too many items is a 400, a body over BODY_LIMIT a 413', async () => {
    const many = Array.from({ length: 257 }, () => ({ role: 'user', content: 'x' }));
    const r = await post({ model: 'assistant', input: many });
    expect(r.status).toBe(400);
    expect((await r.json()).error).toMatchObject({ param: 'input', code: 'invalid_value' });
    const huge = await post({ model: 'assistant', input: 'x'.repeat(300 * 1024) });
    expect(huge.status).toBe(413);
    expect((await huge.json()).error.code).toBe('request_too_large');
  });

  it('unknown model 404, bad limit/order on input_items 400, unknown ids 404', async () => {
    expect((await alice.responses.create({ model: 'nope', input: 'x' }).catch((e) => e)).error.code).toBe('model_not_found');
    for (const id of ['resp_unknown', 'not-a-response-id', '%00', 'resp_' + 'a'.repeat(500)]) {
      const r = await fetch(`${t.system.url}/v1/responses/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${ALICE}` } });
      expect({ id, status: r.status }).toEqual({ id, status: 404 });
    }
    const r = await alice.responses.create({ model: 'assistant', input: 'x' });
    for (const q of ['limit=0', 'limit=101', 'limit=abc', 'order=sideways', 'after=msg_nope']) {
      const res = await fetch(`${t.system.url}/v1/responses/${r.id}/input_items?${q}`, { headers: { authorization: `Bearer ${ALICE}` } });
      expect({ q, status: res.status }).toEqual({ q, status: 400 });
    }
  });

  it('403 agent_forbidden for an agent the key owner may not use, without calling the model', async () => {
    const before = t.model.requests.length;
    for (const stream of [false, true]) {
      const err = await t.client(CAROL).responses.create({ model: 'assistant', input: 'hi', stream }).catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(err.error).toMatchObject({ code: 'agent_forbidden', param: 'model' });
    }
    expect(t.model.requests.length).toBe(before);
  });

  it("previous_response_id of the same key owner's other `user` is 404", async () => {
    const r = await alice.responses.create({ model: 'assistant', input: 'for ada only', user: 'ada' });
    const err = await alice.responses.create({ model: 'assistant', input: 'peek', user: 'eve', previous_response_id: r.id }).catch((e) => e);
    expect(err.status).toBe(404);
    expect(err.error.code).toBe('response_not_found');
    const ok = await alice.responses.create({ model: 'assistant', input: 'again', user: 'ada', previous_response_id: r.id });
    expect(ok.output_text).toBe('Echo: again');
  });

  it('needs an API key like every /v1 route', async () => {
    const r = await fetch(`${t.system.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'assistant', input: 'x' }) });
    expect(r.status).toBe(401);
  });
});

describe('function tools', () => {
  const weatherTool = { type: 'function' as const, name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false }, strict: true };

  it('ends the run with a function_call; the next request carries function_call_output with previous_response_id', async () => {
    t.model.setScript((req) => {
      const tool = pendingToolResult(req);
      if (tool) return { text: `It is ${tool.content} there.` };
      return { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] };
    });
    const first = await alice.responses.create({ model: 'assistant', input: 'weather in Paris?', tools: [weatherTool] });
    expectResponseShape(first as never);
    const call = first.output.find((o) => o.type === 'function_call')!;
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', arguments: JSON.stringify({ city: 'Paris' }) });
    // The model was offered the client tool beside the agent's own.
    const offered = t.model.requests.at(-1)!.tools!.map((x) => x.function.name);
    expect(offered).toEqual(expect.arrayContaining(['get_weather', 'calculate']));

    const second = await alice.responses.create({
      model: 'assistant',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: (call as { call_id: string }).call_id, output: 'sunny, 21 C' }],
      tools: [weatherTool],
    });
    expect(second.output_text).toBe('It is sunny, 21 C there.');
    const up = t.model.requests.at(-1)!;
    expect(userTexts(up)).toContain('weather in Paris?');
    expect(up.messages.at(-1)).toMatchObject({ role: 'tool' });
    const items = await alice.responses.inputItems.list(second.id);
    expect(items.data).toEqual([{ id: expect.stringMatching(/^fco_/), type: 'function_call_output', status: 'completed', call_id: (call as { call_id: string }).call_id, output: 'sunny, 21 C' }]);

    // The same exchange as a full transcript, without previous_response_id.
    const full = await alice.responses.create({
      model: 'assistant',
      input: [
        { role: 'user', content: 'weather in Paris?' },
        { type: 'function_call', call_id: 'call_abc', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call_output', call_id: 'call_abc', output: 'rainy' },
      ],
      tools: [weatherTool],
    });
    expect(full.output_text).toBe('It is rainy there.');
    const fullUp = t.model.requests.at(-1)!;
    expect(fullUp.messages.find((m) => m.role === 'assistant')?.tool_calls?.[0]).toMatchObject({ id: 'call_abc', function: { name: 'get_weather' } });
  });

  it('streams function_call items', async () => {
    t.model.setScript(() => ({ toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] }));
    const stream = await alice.responses.create({ model: 'assistant', input: 'weather in Oslo?', tools: [weatherTool], stream: true });
    const events: Array<{ type: string; response?: { output: Array<{ type: string }> } }> = [];
    for await (const e of stream) events.push(e as never);
    const types = events.map((e) => e.type);
    expect(types).toContain('response.function_call_arguments.done');
    expect(types.at(-1)).toBe('response.completed');
    expect(events.at(-1)!.response!.output.map((o) => o.type)).toEqual(['function_call']);
  });
});

describe('OpenAI Agents SDK', () => {
  function runner() {
    const client = new OpenAI({ baseURL: `${t.system.url}/v1`, apiKey: ALICE, maxRetries: 0 });
    return new Runner({ modelProvider: new OpenAIProvider({ openAIClient: client as never, useResponses: true }), tracingDisabled: true });
  }

  it('runs an agent (model = agent name) through the Responses API', async () => {
    const agent = new Agent({ name: 'helper', instructions: 'Be helpful.', model: 'assistant' });
    const result = await runner().run(agent, 'hi from the agents sdk');
    expect(result.finalOutput).toBe('Echo: hi from the agents sdk');
    const up = t.model.requests.at(-1)!;
    expect(up.messages.some((m) => m.role === 'system' && textOf(m.content).includes('Be helpful.'))).toBe(true);
  });

  it('runs an agent loop with a function tool: the SDK executes it and the next turn uses the result', async () => {
    t.model.setScript((req) => {
      const tool = pendingToolResult(req);
      if (tool) return { text: `Final: ${tool.content}` };
      return { toolCalls: [{ name: 'lookup_stock', arguments: { sku: 'A-7' } }] };
    });
    let executed = 0;
    const lookup = tool({
      name: 'lookup_stock',
      description: 'Stock level of a product',
      parameters: z.object({ sku: z.string() }),
      execute: async ({ sku }) => {
        executed++;
        return `${sku}: 12 in stock`;
      },
    });
    const agent = new Agent({ name: 'shop', instructions: 'Use tools.', model: 'assistant', tools: [lookup] });
    const result = await runner().run(agent, 'how many A-7?');
    expect(executed).toBe(1);
    expect(result.finalOutput).toBe('Final: A-7: 12 in stock');
  });

  it('streams a run, and continues server-side state with previousResponseId (tool results sent as function_call_output only)', async () => {
    const agent = new Agent({ name: 'helper', instructions: 'Be helpful.', model: 'assistant' });
    const streamed = await runner().run(agent, 'streamed hello', { stream: true });
    let text = '';
    for await (const chunk of streamed.toTextStream()) text += chunk;
    await streamed.completed;
    expect(text).toBe('Echo: streamed hello');
    expect(streamed.finalOutput).toBe('Echo: streamed hello');

    t.model.setScript((req) => {
      const tool = pendingToolResult(req);
      if (tool) return { text: `Remembered ${userTexts(req).join(' + ')}; tool said ${tool.content}` };
      if (lastUserText(req) === 'use the tool') return { toolCalls: [{ name: 'ping', arguments: {} }] };
      return echoScript(req);
    });
    const ping = tool({ name: 'ping', description: 'Ping', parameters: z.object({}), execute: async () => 'pong' });
    const withTool = new Agent({ name: 'pinger', instructions: 'Use tools.', model: 'assistant', tools: [ping] });
    const first = await runner().run(withTool, 'my name is Ada');
    const before = t.model.requests.length;
    const second = await runner().run(withTool, 'use the tool', { previousResponseId: first.lastResponseId });
    expect(second.finalOutput).toBe('Remembered my name is Ada + use the tool; tool said pong');
    expect(t.model.requests.length).toBe(before + 2);
  });
});

describe('other Responses API clients', () => {
  it("the OpenAI SDK's responses.stream helper assembles the final response from the events", async () => {
    t.model.setScript(() => ({ text: 'helper stream text' }));
    const final = await alice.responses.stream({ model: 'assistant', input: 'x' }).finalResponse();
    expect(final.output_text).toBe('helper stream text');
    expect(final.status).toBe('completed');
  });

  it("the AI SDK's OpenAI Responses model (generateText, streamText)", async () => {
    const provider = createOpenAI({ baseURL: `${t.system.url}/v1`, apiKey: ALICE });
    const r = await generateText({ model: provider.responses('assistant'), prompt: 'from the ai sdk' });
    expect(r.text).toBe('Echo: from the ai sdk');
    expect(r.usage.outputTokens).toBe(5);
    const s = streamText({ model: provider.responses('assistant'), prompt: 'streamed from the ai sdk' });
    let text = '';
    for await (const part of s.textStream) text += part;
    expect(text).toBe('Echo: streamed from the ai sdk');
  });

  it("the AI SDK's tool loop: the SDK executes the function and sends its result back", async () => {
    t.model.setScript((req) => {
      const tool = pendingToolResult(req);
      if (tool) return { text: `Total: ${tool.content}` };
      return { toolCalls: [{ name: 'add', arguments: { a: 2, b: 3 } }] };
    });
    const provider = createOpenAI({ baseURL: `${t.system.url}/v1`, apiKey: ALICE });
    const r = await generateText({
      model: provider.responses('assistant'),
      prompt: 'add 2 and 3',
      tools: { add: aiTool({ description: 'Adds', inputSchema: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => String(a + b) }) },
      stopWhen: stepCountIs(3),
    });
    expect(r.text).toBe('Total: 5');
  });

  it('LangChain ChatOpenAI with useResponsesApi', async () => {
    const chat = new ChatOpenAI({ model: 'assistant', apiKey: ALICE, configuration: { baseURL: `${t.system.url}/v1` }, useResponsesApi: true, maxRetries: 0 });
    const msg = await chat.invoke('from langchain');
    expect(msg.text).toBe('Echo: from langchain');
  });
});

describe('usage and budgets', () => {
  const usageOf = async (key: string) => {
    const r = await fetch(`${t.system.url}/v1/usage`, { headers: { authorization: `Bearer ${key}` } });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { days: Array<{ requests: number; prompt_tokens: number; completion_tokens: number; total_tokens: number }> };
    return body.days.reduce((a, d) => ({ requests: a.requests + d.requests, total: a.total + d.total_tokens }), { requests: 0, total: 0 });
  };

  it('counts each response (JSON and streamed) with the tokens it reports, for its key owner only', async () => {
    const before = await usageOf(ALICE);
    const bobBefore = await usageOf(BOB);
    const r = await alice.responses.create({ model: 'assistant', input: 'count me' });
    const stream = await alice.responses.create({ model: 'assistant', input: 'count me too', stream: true });
    let streamed = 0;
    for await (const e of stream) if (e.type === 'response.completed') streamed = e.response.usage!.total_tokens;
    const after = await usageOf(ALICE);
    expect(after.requests - before.requests).toBe(2);
    expect(after.total - before.total).toBe(r.usage!.total_tokens + streamed);
    expect(r.usage!.total_tokens).toBeGreaterThan(0);
    expect(await usageOf(BOB)).toEqual(bobBefore);
  });
});

// ---- structured output, images, tool_choice none: the modules shared with chat completions ----
// Upstream is THE SCRIPTED MODEL: it writes the "model's" reply, valid or not, and its recorded
// requests show what reached the model (response_format, image parts, tools).

const person = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 } },
  required: ['name', 'age'],
  additionalProperties: false,
};
const asPerson = { format: { type: 'json_schema' as const, name: 'person', schema: person, strict: true } };

async function apiErrorOf(p: Promise<unknown>) {
  const err = (await p.catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
  expect(err).toBeInstanceOf(OpenAI.APIError);
  return err;
}
async function eventsOf(stream: AsyncIterable<unknown>) {
  const events: Array<{ type: string; delta?: string; response?: { id: string; status: string; error: unknown; text?: unknown; output_text?: string } }> = [];
  const err = await (async () => {
    for await (const e of stream) events.push(e as never);
  })().catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
  return { events, types: events.map((e) => e.type), err };
}

describe('text.format (structured output)', () => {
  it('json_schema: sent to the model as response_format, a valid reply passes, the format is echoed', async () => {
    t.model.setScript(() => ({ text: '{"name":"Ada","age":36}' }));
    const r = await alice.responses.create({ model: 'assistant', input: 'who?', text: asPerson });
    expectResponseShape(r as never);
    expect(JSON.parse(r.output_text)).toEqual({ name: 'Ada', age: 36 });
    expect(r.status).toBe('completed');
    expect(r.text?.format).toEqual(asPerson.format);
    expect(t.model.requests.at(-1)!.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'person', schema: person, strict: true } });
    expect((await alice.responses.retrieve(r.id)).text?.format).toEqual(asPerson.format);
  });

  it('json_schema: a reply that does not match, or is no JSON, is a 502 invalid_model_output; the stored response is failed', async () => {
    for (const text of ['{"name":"Ada"}', '{"name":"Ada","age":-1}', '{"name":"Ada","age":3,"x":1}', 'Ada, 36', '']) {
      t.model.setScript(() => ({ text }));
      const e = await apiErrorOf(alice.responses.create({ model: 'assistant', input: 'who?', text: asPerson }));
      expect(e.status, text).toBe(502);
      expect(e.error, text).toMatchObject({ type: 'upstream_error', code: 'invalid_model_output', param: 'text.format' });
    }
    const row = (await t.system.ctx.db.query(`select status, error from responses order by created_at desc limit 1`)).rows[0];
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ code: 'server_error' });
    expect(String(row.error.message)).toContain('does not conform to text.format');
  });

  it('json_schema streamed: a valid reply completes; an invalid one ends with response.failed and an invalid_model_output error event', async () => {
    t.model.setScript(() => ({ text: '{"name": "Ada", "age": 36}' }));
    const ok = await eventsOf(await alice.responses.create({ model: 'assistant', input: 'who?', text: asPerson, stream: true }));
    expect(ok.err).toBeUndefined();
    expect(ok.types.at(-1)).toBe('response.completed');
    expect(ok.events.at(-1)!.response!.text).toMatchObject({ format: asPerson.format });
    expect(JSON.parse(ok.events.at(-1)!.response!.output_text!)).toEqual({ name: 'Ada', age: 36 });

    t.model.setScript(() => ({ text: '{"name": "Ada"}' }));
    const bad = await eventsOf(await alice.responses.create({ model: 'assistant', input: 'who?', text: asPerson, stream: true }));
    expect(bad.types).toContain('response.output_text.delta');
    expect(bad.types.at(-1)).toBe('response.failed');
    expect(bad.events.at(-1)!.response).toMatchObject({ status: 'failed', error: { code: 'server_error' } });
    expect(bad.err).toBeInstanceOf(OpenAI.APIError);
    expect(bad.err!.error).toMatchObject({ code: 'invalid_model_output' });
    expect((await alice.responses.retrieve(bad.events.at(-1)!.response!.id)).status).toBe('failed');
  });

  it('text.format patterns run on the linear engine (an exponential one answers); a backreference is a 400 naming text.format.schema (issue 21 item 2)', async () => {
    const fmt = (pattern: string) => ({ format: { type: 'json_schema' as const, name: 'x', schema: { type: 'object', properties: { s: { type: 'string', pattern } } } } });
    // V8's backtracking engine needs about 2^40 steps for this: the old code never answered.
    t.model.setScript(() => ({ text: JSON.stringify({ s: `${'a'.repeat(40)}!` }) }));
    const e = await apiErrorOf(alice.responses.create({ model: 'assistant', input: 'who?', text: fmt('^(a|a)*$') }));
    expect(e.error).toMatchObject({ code: 'invalid_model_output', param: 'text.format' });
    t.model.setScript(() => ({ text: JSON.stringify({ s: 'aaaa' }) }));
    expect(JSON.parse((await alice.responses.create({ model: 'assistant', input: 'who?', text: fmt('^(a|a)*$') })).output_text)).toEqual({ s: 'aaaa' });
    const bad = await apiErrorOf(alice.responses.create({ model: 'assistant', input: 'who?', text: fmt('^(a)\\1$') }));
    expect(bad.status).toBe(400);
    expect(bad.error).toMatchObject({ type: 'invalid_request_error', param: 'text.format.schema' });
  });

  it('json_object: an object passes, anything else is invalid_model_output', async () => {
    t.model.setScript(() => ({ text: '{"ok":true}' }));
    const r = await alice.responses.create({ model: 'assistant', input: 'json please', text: { format: { type: 'json_object' } } });
    expect(JSON.parse(r.output_text)).toEqual({ ok: true });
    expect(r.text?.format).toEqual({ type: 'json_object' });
    expect(t.model.requests.at(-1)!.response_format).toEqual({ type: 'json_object' });
    for (const text of ['[1,2]', '"str"', 'not json']) {
      t.model.setScript(() => ({ text }));
      const e = await apiErrorOf(alice.responses.create({ model: 'assistant', input: 'json please', text: { format: { type: 'json_object' } } }));
      expect(e.error, text).toMatchObject({ code: 'invalid_model_output', param: 'text.format' });
    }
  });

  it('text.format text is the default; a client tool call is handed back without the format check', async () => {
    t.model.setScript(() => ({ text: 'plain words' }));
    const r = await alice.responses.create({ model: 'assistant', input: 'hi', text: { format: { type: 'text' } } });
    expect(r.output_text).toBe('plain words');
    expect(t.model.requests.at(-1)!.response_format).toBeUndefined();
    t.model.setScript(() => ({ toolCalls: [{ name: 'lookup', arguments: { q: 'x' } }] }));
    const call = await alice.responses.create({ model: 'assistant', input: 'look it up', text: asPerson, tools: [{ type: 'function', name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } }, strict: false }] });
    expect(call.output.map((o) => o.type)).toEqual(['function_call']);
  });

  it('the openai SDK: responses.parse with zodTextFormat gets output_parsed', async () => {
    t.model.setScript(() => ({ text: '{"city":"Bergen","rain":true}' }));
    const r = await alice.responses.parse({ model: 'assistant', input: 'rain in Bergen?', text: { format: zodTextFormat(z.object({ city: z.string(), rain: z.boolean() }), 'weather') } });
    expect(r.output_parsed).toEqual({ city: 'Bergen', rain: true });
    expect((t.model.requests.at(-1)!.response_format as { json_schema: { name: string; strict: boolean } }).json_schema).toMatchObject({ name: 'weather', strict: true });
  });

  it('the OpenAI Agents SDK: an agent with an outputType (zod) sends text.format json_schema and gets the parsed object', async () => {
    t.model.setScript(() => ({ text: '{"city":"Oslo","temperature":-3}' }));
    const client = new OpenAI({ baseURL: `${t.system.url}/v1`, apiKey: ALICE, maxRetries: 0 });
    const runner = new Runner({ modelProvider: new OpenAIProvider({ openAIClient: client as never, useResponses: true }), tracingDisabled: true });
    const agent = new Agent({ name: 'weather', instructions: 'Answer as JSON.', model: 'assistant', outputType: z.object({ city: z.string(), temperature: z.number() }) });
    const result = await runner.run(agent, 'weather in Oslo?');
    expect(result.finalOutput).toEqual({ city: 'Oslo', temperature: -3 });
    const rf = t.model.requests.at(-1)!.response_format as { type: string; json_schema: { name: string; schema: { properties: Record<string, unknown> } } };
    expect(rf.type).toBe('json_schema');
    expect(Object.keys(rf.json_schema.schema.properties).sort()).toEqual(['city', 'temperature']);
  });
});

describe('input_image', () => {
  const dataUrl = (b: Buffer, type = 'image/png') => `data:${type};base64,${b.toString('base64')}`;
  const withImage = (url: string, detail: 'auto' | 'low' | 'high' = 'low') => [{ role: 'user' as const, content: [{ type: 'input_text' as const, text: 'what is this?' }, { type: 'input_image' as const, image_url: url, detail }] }];
  /** The image parts of the last user message the model received. */
  function upstreamImages() {
    const user = t.model.requests.at(-1)!.messages.filter((m) => m.role === 'user').at(-1)!;
    return (Array.isArray(user.content) ? user.content : []).filter((p) => p.type === 'image_url').map((p) => (p as unknown as { image_url: { url: string } }).image_url.url);
  }

  it('a data: URL reaches the model as an image part; input_items lists the part as sent', async () => {
    const r = await alice.responses.create({ model: 'assistant', input: withImage(dataUrl(PNG), 'high') });
    expect(r.output_text).toBe('Echo: what is this?');
    expect(upstreamImages()).toEqual([dataUrl(PNG)]);
    const items = await alice.responses.inputItems.list(r.id);
    expect(items.data[0]).toMatchObject({ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'what is this?' }, { type: 'input_image', image_url: dataUrl(PNG), detail: 'high' }] });
  });

  it('an http URL is fetched through the outbound guard and sent to the model as data (streamed too)', async () => {
    const before = imageFetches;
    await alice.responses.create({ model: 'assistant', input: withImage(`${imageBase}/cat.gif`) });
    expect(imageFetches).toBe(before + 1);
    expect(upstreamImages()).toEqual([dataUrl(GIF, 'image/gif')]);
    const s = await eventsOf(await alice.responses.create({ model: 'assistant', input: withImage(`${imageBase}/cat.gif`, 'auto'), stream: true }));
    expect(s.types.at(-1)).toBe('response.completed');
    expect(upstreamImages()).toEqual([dataUrl(GIF, 'image/gif')]);
  });

  it('a later turn on the thread carries no image bytes (memory keeps a placeholder)', async () => {
    const first = await alice.responses.create({ model: 'assistant', input: withImage(dataUrl(PNG)) });
    await alice.responses.create({ model: 'assistant', input: 'and now?', previous_response_id: first.id });
    expect(JSON.stringify(t.model.requests.at(-1)!.messages)).not.toContain(PNG.toString('base64').slice(0, 40));
  });

  it('refuses bad images as chat completions does (invalid_image / invalid_image_url), before the model is called', async () => {
    const before = t.model.requests.length;
    const cases: Array<[string, string]> = [
      [`${imageBase}/page.html`, 'invalid_image'],
      [`${imageBase}/huge.png`, 'invalid_image_url'], // the guard stops reading at IMAGE_MAX_BYTES, as on chat completions
      [`${imageBase}/missing.png`, 'invalid_image_url'],
      ['http://169.254.169.254/latest/meta-data', 'invalid_image_url'],
      [dataUrl(Buffer.concat([PNG, Buffer.alloc(IMAGE_MAX)])), 'invalid_image'],
      [dataUrl(GIF, 'image/png'), 'invalid_image'],
      ['not a url', 'invalid_image_url'],
    ];
    for (const [url, code] of cases) {
      const e = await apiErrorOf(alice.responses.create({ model: 'assistant', input: withImage(url) }));
      expect(e.status, url).toBe(400);
      expect(e.error, url).toMatchObject({ type: 'invalid_request_error', code, param: 'input[0].content[1].image_url' });
      expect(JSON.stringify(e.error)).not.toContain('169.254.169.254/latest');
    }
    // Streamed: the same 400 before any event.
    const e = await apiErrorOf(alice.responses.create({ model: 'assistant', input: withImage(`${imageBase}/page.html`), stream: true }));
    expect(e.status).toBe(400);
    expect(t.model.requests.length).toBe(before);
  });

  it('at most 8 image URLs per request', async () => {
    const content = Array.from({ length: 9 }, () => ({ type: 'input_image' as const, image_url: `${imageBase}/cat.gif`, detail: 'auto' as const }));
    const e = await apiErrorOf(alice.responses.create({ model: 'assistant', input: [{ role: 'user', content }] }));
    expect(e.error).toMatchObject({ code: 'invalid_value', param: 'input[0].content[8].image_url' });
  });
});

describe('tool_choice "none"', () => {
  it('the model is offered no tools and not even the agent\'s own tools run', async () => {
    // The scripted model ignores tool_choice and calls the agent's calculator anyway.
    let calls = 0;
    t.model.setScript((req) => {
      calls++;
      if (req.messages.at(-1)!.role === 'tool') return { text: `ran: ${textOf(req.messages.at(-1)!.content)}` };
      return { toolCalls: [{ name: 'calculate', arguments: { expression: '1+1' } }] };
    });
    const weather = { type: 'function' as const, name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false };
    const r = await alice.responses.create({ model: 'assistant', input: '1+1?', tools: [weather], tool_choice: 'none' });
    expect(t.model.requests.at(-calls)!.tools).toBeUndefined();
    expect(r.output.map((o) => o.type)).toEqual(['message']);
    expect(r.output_text).toContain('tool_choice is \\"none\\": no tool may run');
    for (const req of t.model.requests.slice(-calls)) {
      const results = req.messages.filter((m) => m.role === 'tool').map((m) => textOf(m.content));
      expect(results.some((x) => /"result":\s*2\b/.test(x))).toBe(false);
    }
  });
});
