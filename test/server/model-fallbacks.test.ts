/**
 * MODEL_FALLBACKS through /v1 with the official client: two scripted models behind one
 * endpoint, `primary` failing the way the user's message says and `backup` answering.
 * The switch happens only before the first token; a request the next model would
 * refuse as well (a plain 400) and an answer that breaks off after text are not
 * retried on another model; AGENT_FALLBACKS_<NAME>=none turns it off for one agent.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastUserText, type ScriptReply } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

const KEY = 'sk-one-fallback-user-01';
let t: TestSystem;

function primaryReply(text: string): ScriptReply | undefined {
  if (text.includes('[429]')) return { error: { status: 429, message: 'Rate limit reached for requests' } };
  if (text.includes('[503]')) return { error: { status: 503, message: 'upstream overloaded' } };
  if (text.includes('[ctx]')) return { error: { status: 400, message: "This model's maximum context length is 8192 tokens." } };
  if (text.includes('[bad]')) return { error: { status: 400, message: 'Invalid value for temperature' } };
  if (text.includes('[hang]')) return { hang: true };
  if (text.includes('[break]')) return { breakAfter: 'Partial ans' };
  return undefined;
}

beforeAll(async () => {
  t = await startTestSystem({
    env: {
      API_KEYS: `${KEY}:fallback-user`,
      RATE_LIMIT_RPM: '0',
      MODEL: 'openai/primary',
      MODEL_FALLBACKS: 'openai/backup, openai/primary',
      AGENT_FALLBACKS_ARCHIVIST: 'none',
      MODEL_TIMEOUT_MS: '1500',
    },
  });
  t.model.setScript((req) => {
    const text = lastUserText(req);
    if (req.model === 'primary') return primaryReply(text) ?? { text: `primary: ${text}` };
    return { text: `backup: ${text}` };
  });
});
afterAll(async () => {
  await t?.stop();
});

const modelsAsked = (from: number) => t.model.requests.slice(from).map((r) => r.model);

describe('model fallbacks', () => {
  it('the primary answers when it can; the backup is never asked', async () => {
    const before = t.model.requests.length;
    const r = await t.client(KEY).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'hello' }] });
    expect(r.choices[0]!.message.content).toBe('primary: hello');
    expect(modelsAsked(before)).toEqual(['primary']);
  });

  for (const [tag, why] of [
    ['[429]', 'rate limited'],
    ['[503]', 'a 5xx'],
    ['[ctx]', 'a context-length refusal'],
    ['[hang]', 'a timeout'],
  ] as const) {
    for (const stream of [false, true]) {
      it(`${why} before the first token: the backup answers (${stream ? 'streaming' : 'JSON'})`, async () => {
        const before = t.model.requests.length;
        const content = `${tag} what is new`;
        let text = '';
        if (stream) {
          const s = await t.client(KEY).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content }], stream: true });
          for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
        } else {
          const r = await t.client(KEY).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content }] });
          text = r.choices[0]!.message.content ?? '';
        }
        expect(text).toBe(`backup: ${content}`);
        expect(modelsAsked(before)).toEqual(['primary', 'backup']);
      });
    }
  }

  it("the response's model field and the usage rows name the model that answered", async () => {
    type Counts = { requests: number; total_tokens: number };
    const usageToday = async () => {
      const r = await fetch(`${t.system.url}/v1/usage`, { headers: { authorization: `Bearer ${KEY}` } });
      expect(r.status).toBe(200);
      const day = ((await r.json()) as { days: Array<{ date: string; requests: number; models: Record<string, Counts> }> }).days.at(-1);
      return { requests: day?.requests ?? 0, models: day?.models ?? {} };
    };
    const before = await usageToday();
    const client = t.client(KEY);

    // The primary answers: the agent's name, as asked.
    const plain = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'plain' }] });
    expect(plain.model).toBe('assistant');
    // The backup answers: its id, in JSON, in every chunk of a stream that carries the answer, and on the Responses API.
    const json = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: '[503] json' }] });
    expect(json.model).toBe('openai/backup');
    const s = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: '[429] stream' }], stream: true });
    const chunkModels = new Set<string>();
    for await (const c of s) if (c.choices[0]?.delta?.content) chunkModels.add(c.model);
    expect([...chunkModels]).toEqual(['openai/backup']);
    const resp = await client.responses.create({ model: 'assistant', input: '[503] responses' });
    expect(resp.model).toBe('openai/backup');
    expect(resp.output_text).toBe('backup: [503] responses');

    const after = await usageToday();
    const delta = (id: string) => (after.models[id]?.requests ?? 0) - (before.models[id]?.requests ?? 0);
    expect({ primary: delta('openai/primary'), backup: delta('openai/backup'), all: after.requests - before.requests }).toEqual({ primary: 1, backup: 3, all: 4 });
    expect(after.models['openai/backup']!.total_tokens).toBeGreaterThan(before.models['openai/backup']?.total_tokens ?? 0);
  });

  it("the turn's trace names the model that answered (the agent run span's responseModel, as the upstream reported it)", async () => {
    const db = t.system.ctx.db;
    const tables = (await db.query<{ t: string }>("select table_name as t from information_schema.tables where table_schema = 'mastra_observability'")).rows.map((r) => r.t);
    expect(tables.length).toBeGreaterThan(0);
    /** Span rows that hold `needle` and name `model` as responseModel (a row as text doubles the JSON's quotes). */
    const spans = async (needle: string, model: string) => {
      let n = 0;
      for (const table of tables)
        n += (await db.query<{ n: number }>(`select count(*)::int as n from mastra_observability."${table}" x where x::text like $1 and x::text ~ $2`, [`%${needle}%`, `responseModel"+: "+${model}"`])).rows[0]!.n;
      return n;
    };
    const client = t.client(KEY);
    const tag = `trace-${Date.now()}`;
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: `[503] ${tag}-fallback` }] });
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: `${tag}-primary` }] });
    // Spans are exported in batches: wait until both turns' spans are in the store.
    for (let i = 0; i < 400 && ((await spans(`${tag}-fallback`, 'backup')) === 0 || (await spans(`${tag}-primary`, 'primary')) === 0); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await spans(`${tag}-fallback`, 'backup')).toBeGreaterThan(0);
    expect(await spans(`${tag}-primary`, 'primary')).toBeGreaterThan(0);
    // And never the other way round.
    expect(await spans(`${tag}-fallback`, 'primary')).toBe(0);
    expect(await spans(`${tag}-primary`, 'backup')).toBe(0);
  });

  it('a request every model would refuse (a plain 400) is not tried on the backup', async () => {
    const before = t.model.requests.length;
    const err = await t.client(KEY).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: '[bad] hi' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(modelsAsked(before)).toEqual(['primary']);
  });

  it('an answer that breaks off after its first words never switches model mid-answer', async () => {
    const before = t.model.requests.length;
    const s = await t.client(KEY).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: '[break] tell me' }], stream: true });
    let text = '';
    const outcome = await (async () => {
      for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
    })().then(
      () => 'ended',
      () => 'errored',
    );
    expect(text).not.toContain('backup');
    expect(modelsAsked(before)).toEqual(['primary']);
    expect(['ended', 'errored']).toContain(outcome);
  });

  it('AGENT_FALLBACKS_<NAME>=none: that agent has no fallback', async () => {
    const before = t.model.requests.length;
    const err = await t.client(KEY).chat.completions.create({ model: 'archivist', messages: [{ role: 'user', content: '[429] hi' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(modelsAsked(before)).toEqual(['primary']);
  });
});
