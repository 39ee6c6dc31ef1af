/**
 * response_format on POST /v1/chat/completions (text, json_object, json_schema) against the
 * running server with real Postgres. The only stand-in is THE SCRIPTED MODEL upstream
 * (harness/scripted-model.ts): it writes the "model's" reply, valid or not, and its recorded
 * requests show that the format reached the model.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { echoScript } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

let t: TestSystem;
let client: OpenAI;

beforeAll(async () => {
  t = await startTestSystem({ env: { FEATURES: 'none' } });
  client = t.client();
});
afterAll(async () => {
  await t?.stop();
});
beforeEach(() => t.model.setScript(echoScript));

const person = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 } },
  required: ['name', 'age'],
  additionalProperties: false,
};
const asPerson = { type: 'json_schema' as const, json_schema: { name: 'person', schema: person, strict: true } };
const ask = [{ role: 'user' as const, content: 'who?' }];

async function apiError(p: Promise<unknown>) {
  const err = (await p.catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
  expect(err).toBeInstanceOf(OpenAI.APIError);
  return err;
}

describe('response_format json_schema', () => {
  it('sends the format to the model and passes a valid reply on', async () => {
    t.model.setScript(() => ({ text: '{"name":"Ada","age":36}' }));
    const r = await client.chat.completions.create({ model: 'assistant', messages: ask, response_format: asPerson });
    expect(JSON.parse(r.choices[0]!.message.content!)).toEqual({ name: 'Ada', age: 36 });
    expect(r.choices[0]!.finish_reason).toBe('stop');
    expect(t.model.requests.at(-1)!.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'person', schema: person, strict: true } });
  });

  it('a reply that does not match the schema, or is no JSON, is a 502 invalid_model_output', async () => {
    for (const text of ['{"name":"Ada"}', '{"name":"Ada","age":-1}', '{"name":"Ada","age":3,"x":1}', 'Ada, 36', '']) {
      t.model.setScript(() => ({ text }));
      const e = await apiError(client.chat.completions.create({ model: 'assistant', messages: ask, response_format: asPerson }));
      expect(e.status, text).toBe(502);
      expect(e.error, text).toMatchObject({ type: 'upstream_error', code: 'invalid_model_output', param: 'response_format' });
    }
  });

  it('streams a valid reply; an invalid one ends with an error event instead of the finish chunk', async () => {
    t.model.setScript(() => ({ text: '{"name": "Ada", "age": 36}' }));
    const ok = await client.chat.completions.create({ model: 'assistant', messages: ask, response_format: asPerson, stream: true });
    let text = '';
    let finish: string | null | undefined;
    for await (const c of ok) {
      text += c.choices[0]?.delta?.content ?? '';
      finish ??= c.choices[0]?.finish_reason;
    }
    expect(JSON.parse(text)).toEqual({ name: 'Ada', age: 36 });
    expect(finish).toBe('stop');

    t.model.setScript(() => ({ text: '{"name": "Ada", "age": "old"}' }));
    const bad = await client.chat.completions.create({ model: 'assistant', messages: ask, response_format: asPerson, stream: true });
    const finishes: unknown[] = [];
    const err = await (async () => {
      for await (const c of bad) if (c.choices[0]?.finish_reason) finishes.push(c.choices[0].finish_reason);
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({ code: 'invalid_model_output' });
    expect(finishes).toEqual([]);
  });

  it('a client tool call is handed back without checking it against the format', async () => {
    t.model.setScript(() => ({ toolCalls: [{ name: 'lookup', arguments: { q: 'x' } }] }));
    const r = await client.chat.completions.create({
      model: 'assistant',
      messages: ask,
      response_format: asPerson,
      tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }],
    });
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('refuses a schema that does not compile, is huge or too deep, or is missing (400 naming the param)', async () => {
    const bad = async (schema: unknown) => {
      const e = await apiError(client.chat.completions.create({ model: 'assistant', messages: ask, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: schema as never } } }));
      expect(e.status).toBe(400);
      expect(e.error).toMatchObject({ type: 'invalid_request_error', param: 'response_format.json_schema.schema' });
    };
    await bad({ type: 'objekt' });
    await bad({ type: 'object', properties: { a: { $ref: '#/$defs/missing' } } });
    await bad({ type: 'object', properties: { a: { minimum: 'three' } } });
    await bad({ type: 'object', properties: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`p${i}`, { type: 'string', description: 'x'.repeat(30) }])) });
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 40; i++) deep = { type: 'object', properties: { x: deep } };
    await bad(deep);
    await bad(undefined);
    const e = await apiError(client.chat.completions.create({ model: 'assistant', messages: ask, response_format: { type: 'json_schema', json_schema: { name: 'has space', schema: person } } }));
    expect(e.error).toMatchObject({ param: 'response_format.json_schema.name' });
    expect(t.model.requests.filter((r) => r.response_format && JSON.stringify(r.response_format).includes('objekt'))).toEqual([]);
  });
});

describe('response_format json_object and text', () => {
  it('json_object: asks the model for JSON and requires an object', async () => {
    t.model.setScript(() => ({ text: '{"ok": true}' }));
    const r = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'answer in JSON' }], response_format: { type: 'json_object' } });
    expect(JSON.parse(r.choices[0]!.message.content!)).toEqual({ ok: true });
    expect(t.model.requests.at(-1)!.response_format).toEqual({ type: 'json_object' });
    for (const text of ['[1, 2]', '"str"', 'not json', '{"a": ']) {
      t.model.setScript(() => ({ text }));
      const e = await apiError(client.chat.completions.create({ model: 'assistant', messages: ask, response_format: { type: 'json_object' } }));
      expect(e.status, text).toBe(502);
      expect(e.error, text).toMatchObject({ code: 'invalid_model_output' });
    }
  });

  it('text: nothing is sent or checked', async () => {
    t.model.setScript(() => ({ text: 'plain words' }));
    const r = await client.chat.completions.create({ model: 'assistant', messages: ask, response_format: { type: 'text' } });
    expect(r.choices[0]!.message.content).toBe('plain words');
    expect(t.model.requests.at(-1)!.response_format).toBeUndefined();
  });
});

describe('caller patterns and schema cost (issue 21 items 2 and 3)', () => {
  const fmt = (schema: Record<string, unknown>) => ({ type: 'json_schema' as const, json_schema: { name: 'x', schema } });

  it('patternProperties and pattern run on the linear engine: an exponential pattern answers, and still applies', async () => {
    const schema = { type: 'object', patternProperties: { '^(a|a)*$': { type: 'integer' } }, properties: { s: { type: 'string', pattern: '^(a|a)*$' } } };
    // V8's backtracking engine needs about 2^40 steps for each of these: the old code never answered.
    const key = `${'a'.repeat(40)}!`;
    t.model.setScript(() => ({ text: JSON.stringify({ [key]: 'not checked: the key does not match' }) }));
    const r = await client.chat.completions.create({ model: 'assistant', messages: ask, response_format: fmt(schema) });
    expect(JSON.parse(r.choices[0]!.message.content!)).toEqual({ [key]: 'not checked: the key does not match' });
    t.model.setScript(() => ({ text: JSON.stringify({ s: key }) }));
    const e = await apiError(client.chat.completions.create({ model: 'assistant', messages: ask, response_format: fmt(schema) }));
    expect(e.error).toMatchObject({ code: 'invalid_model_output', param: 'response_format' });
    t.model.setScript(() => ({ text: JSON.stringify({ aaaa: 'not an integer' }) }));
    const e2 = await apiError(client.chat.completions.create({ model: 'assistant', messages: ask, response_format: fmt(schema) }));
    expect(e2.error).toMatchObject({ code: 'invalid_model_output', param: 'response_format' });
  });

  it('a pattern with a backreference or lookaround is a 400 naming the param, before the model runs', async () => {
    const before = t.model.requests.length;
    for (const p of ['^(a)\\1$', '^(?=a)a$', '(?<!x)y']) {
      const e = await apiError(client.chat.completions.create({ model: 'assistant', messages: ask, response_format: fmt({ type: 'object', properties: { s: { type: 'string', pattern: p } } }) }));
      expect(e.status, p).toBe(400);
      expect(e.error, p).toMatchObject({ type: 'invalid_request_error', param: 'response_format.json_schema.schema' });
      expect(e.message, p).toMatch(/pattern cannot be used/);
    }
    expect(t.model.requests.length).toBe(before);
  });

  it('a schema of thousands of trivial properties is a 400 about its size before the model runs (was a stack overflow, or a 500 after the model)', async () => {
    const before = t.model.requests.length;
    // Both under the 64 KB byte limit: the count of subschemas is what refuses them.
    for (const [n, type] of [[2000, 'string'], [2700, 'null']] as const) {
      const props = Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i.toString(36)}`, { type }]));
      const e = await apiError(client.chat.completions.create({ model: 'assistant', messages: ask, response_format: fmt({ type: 'object', properties: props }) }));
      expect(e.status, String(n)).toBe(400);
      expect(e.error, String(n)).toMatchObject({ type: 'invalid_request_error', param: 'response_format.json_schema.schema' });
      expect(e.message, String(n)).toMatch(/more than 256 objects/);
    }
    expect(t.model.requests.length).toBe(before);
  });
});
