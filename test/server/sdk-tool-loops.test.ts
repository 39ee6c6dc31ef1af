/**
 * Client-side tool loops as the popular SDKs run them against /v1/chat/completions: the
 * openai SDK's runTools helper, LangChain's ChatOpenAI with bindTools and a manual loop,
 * and the AI SDK's generateText / streamText with client-executed tools. Real server and
 * Postgres; the only stand-in is THE SCRIPTED MODEL upstream (harness/scripted-model.ts),
 * which calls the client tool first and answers with the tool's result after.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { AIMessage, HumanMessage, ToolMessage, type BaseMessage } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { textOf, type ChatRequest } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

let t: TestSystem;
const KEY = 'sk-sdk-loops-0001';

beforeAll(async () => {
  t = await startTestSystem({ env: { FEATURES: 'none', API_KEYS: `${KEY}:dev` } });
});
afterAll(async () => {
  await t?.stop();
});

/** The scripted model: calls get_weather({city: 'Paris'}) first; after the result, answers with it. */
const weatherScript = (req: ChatRequest) => {
  const last = req.messages.at(-1)!;
  if (last.role === 'tool') return { text: `Paris: ${textOf(last.content)}` };
  return { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] };
};
beforeEach(() => t.model.setScript(weatherScript));

const weatherParams: Record<string, unknown> = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
const baseURL = () => `${t.system.url}/v1`;

/** The last upstream request carried the client's tool result paired with the model's call. */
function expectPairedResult(content: string) {
  const up = t.model.requests.at(-1)!;
  const call = up.messages.find((m) => m.role === 'assistant' && m.tool_calls?.length)!.tool_calls![0]!;
  const result = up.messages.find((m) => m.role === 'tool')!;
  expect(result.tool_call_id).toBe(call.id);
  expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Paris' });
  expect(textOf(result.content)).toContain(content);
}

describe('SDK tool loops', () => {
  it('openai SDK: chat.completions.runTools runs the client tool and returns the final answer', async () => {
    const seen: unknown[] = [];
    const runner = t.client(KEY).chat.completions.runTools({
      model: 'assistant',
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather of a city',
            parameters: weatherParams,
            parse: JSON.parse,
            function: (args: { city: string }) => {
              seen.push(args);
              return `sunny in ${args.city}`;
            },
          },
        },
      ],
    });
    const answer = await runner.finalContent();
    expect(answer).toBe('Paris: sunny in Paris');
    expect(seen).toEqual([{ city: 'Paris' }]);
    expectPairedResult('sunny in Paris');
  });

  it('openai SDK: runTools with stream: true', async () => {
    const runner = t.client(KEY).chat.completions.runTools({
      model: 'assistant',
      stream: true,
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Current weather of a city', parameters: weatherParams, parse: JSON.parse, function: () => 'cloudy' } }],
    });
    expect(await runner.finalContent()).toBe('Paris: cloudy');
  });

  it('LangChain: ChatOpenAI.bindTools and a manual tool loop', async () => {
    const llm = new ChatOpenAI({ model: 'assistant', configuration: { baseURL: baseURL() }, apiKey: KEY, maxRetries: 0 });
    const withTools = llm.bindTools([{ type: 'function', function: { name: 'get_weather', description: 'Current weather of a city', parameters: weatherParams } }]);
    const messages: BaseMessage[] = [new HumanMessage('weather in Paris?')];
    let reply = (await withTools.invoke(messages)) as AIMessage;
    for (let i = 0; i < 3 && reply.tool_calls?.length; i++) {
      messages.push(reply);
      for (const call of reply.tool_calls) messages.push(new ToolMessage({ tool_call_id: call.id!, content: `rain in ${(call.args as { city: string }).city}` }));
      reply = (await withTools.invoke(messages)) as AIMessage;
    }
    expect(reply.content).toBe('Paris: rain in Paris');
    expectPairedResult('rain in Paris');
  });

  it('AI SDK: generateText with a client-executed tool and stopWhen: stepCountIs(3)', async () => {
    const openai = createOpenAI({ baseURL: baseURL(), apiKey: KEY });
    const calls: string[] = [];
    const r = await generateText({
      model: openai.chat('assistant'),
      prompt: 'weather in Paris?',
      tools: {
        get_weather: tool({
          description: 'Current weather of a city',
          inputSchema: z.object({ city: z.string() }),
          execute: async ({ city }) => {
            calls.push(city);
            return `snow in ${city}`;
          },
        }),
      },
      stopWhen: stepCountIs(3),
    });
    expect(calls).toEqual(['Paris']);
    expect(r.text).toBe('Paris: snow in Paris');
    expect(r.steps.length).toBe(2);
    expectPairedResult('snow in Paris');
  });

  it('AI SDK: streamText with a client-executed tool', async () => {
    const openai = createOpenAI({ baseURL: baseURL(), apiKey: KEY });
    const r = streamText({
      model: openai.chat('assistant'),
      prompt: 'weather in Paris?',
      tools: { get_weather: tool({ inputSchema: z.object({ city: z.string() }), execute: async ({ city }) => `hail in ${city}` }) },
      stopWhen: stepCountIs(3),
    });
    let text = '';
    for await (const d of r.textStream) text += d;
    expect(text).toBe('Paris: hail in Paris');
    expectPairedResult('hail in Paris');
  });
});
