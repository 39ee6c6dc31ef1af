/**
 * Plain chat through the popular client libraries other than the openai SDK, unmodified:
 * LangChain's ChatOpenAI (invoke, stream, a thread continued with a default header) and
 * the AI SDK's OpenAI provider (generateText, streamText, structured output with
 * generateObject). Real server and Postgres; the only stand-in is THE SCRIPTED MODEL
 * upstream (harness/scripted-model.ts), whose recorded requests show what reached the model.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateObject, generateText, streamText } from 'ai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { echoScript, lastUserText, textOf } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

let t: TestSystem;
const KEY = 'sk-clients-test-0001';

beforeAll(async () => {
  t = await startTestSystem({ env: { FEATURES: 'none', API_KEYS: `${KEY}:dev` } });
});
afterAll(async () => {
  await t?.stop();
});
beforeEach(() => t.model.setScript(echoScript));

const baseURL = () => `${t.system.url}/v1`;
/** THE SCRIPTED MODEL counts a reply's words as its completion tokens. */
const words = (s: string) => s.split(/\s+/).filter(Boolean).length;
const upstreamTexts = () => t.model.requests.at(-1)!.messages.filter((m) => m.role === 'user' || m.role === 'assistant').map((m) => textOf(m.content));

describe('LangChain (@langchain/openai ChatOpenAI)', () => {
  it('invoke answers with the agent and reports token usage', async () => {
    const llm = new ChatOpenAI({ model: 'assistant', configuration: { baseURL: baseURL() }, apiKey: KEY, maxRetries: 0 });
    const reply = await llm.invoke('hello from langchain');
    expect(reply.content).toBe('Echo: hello from langchain');
    expect(reply.usage_metadata?.output_tokens).toBe(words('Echo: hello from langchain'));
    expect(reply.usage_metadata?.total_tokens).toBeGreaterThan(reply.usage_metadata!.output_tokens);
  });

  it('stream yields the reply in chunks', async () => {
    const llm = new ChatOpenAI({ model: 'assistant', configuration: { baseURL: baseURL() }, apiKey: KEY, maxRetries: 0, streaming: true });
    let text = '';
    let chunks = 0;
    for await (const chunk of await llm.stream('stream this please')) {
      text += String(chunk.content);
      chunks++;
    }
    expect(text).toBe('Echo: stream this please');
    expect(chunks).toBeGreaterThan(1);
  });

  it('continues a thread named in a default x-thread-id header: the model sees the earlier turn', async () => {
    const threadId = `lc-${Date.now()}`;
    const llm = new ChatOpenAI({ model: 'assistant', configuration: { baseURL: baseURL(), defaultHeaders: { 'x-thread-id': threadId } }, apiKey: KEY, maxRetries: 0 });
    await llm.invoke('my name is Ada');
    const second = await llm.invoke('what is my name?');
    expect(second.content).toBe('Echo: what is my name?');
    expect(upstreamTexts()).toEqual(['my name is Ada', 'Echo: my name is Ada', 'what is my name?']);
  });
});

describe('AI SDK (@ai-sdk/openai, chat model)', () => {
  it('generateText answers with the agent and its usage', async () => {
    const openai = createOpenAI({ baseURL: baseURL(), apiKey: KEY });
    const r = await generateText({ model: openai.chat('assistant'), prompt: 'hello from the ai sdk' });
    expect(r.text).toBe('Echo: hello from the ai sdk');
    expect(r.usage.outputTokens).toBe(words(r.text));
    expect(r.finishReason).toBe('stop');
  });

  it('streamText streams the reply', async () => {
    const openai = createOpenAI({ baseURL: baseURL(), apiKey: KEY });
    const r = streamText({ model: openai.chat('assistant'), prompt: 'a streamed hello' });
    let text = '';
    for await (const delta of r.textStream) text += delta;
    expect(text).toBe('Echo: a streamed hello');
    expect((await r.usage).outputTokens).toBe(words(text));
  });

  it('generateObject: the schema reaches the model as response_format and the JSON reply is parsed', async () => {
    t.model.setScript((req) => ({ text: JSON.stringify({ city: lastUserText(req).includes('Paris') ? 'Paris' : 'unknown', days: 3 }) }));
    const openai = createOpenAI({ baseURL: baseURL(), apiKey: KEY });
    const r = await generateObject({ model: openai.chat('assistant'), schema: z.object({ city: z.string(), days: z.number().int() }), prompt: 'Plan 3 days in Paris.' });
    expect(r.object).toEqual({ city: 'Paris', days: 3 });
    const format = t.model.requests.at(-1)!.response_format as { type: string; json_schema?: { schema?: unknown } } | undefined;
    expect(format?.type).toBe('json_schema');
    expect(format?.json_schema?.schema).toMatchObject({ type: 'object', required: expect.arrayContaining(['city', 'days']) });
  });
});
