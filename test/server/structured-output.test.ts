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
