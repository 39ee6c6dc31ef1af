/**
 * Client-side tools on POST /v1/chat/completions (tools, tool_choice, parallel_tool_calls,
 * legacy functions/function_call) against the running server with real Postgres. The only
 * stand-in is THE SCRIPTED MODEL upstream (harness/scripted-model.ts): it decides when the
 * "model" calls a tool, and its recorded requests show what the model was sent.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { echoScript, textOf, type ChatRequest } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

let t: TestSystem;
let client: OpenAI;

beforeAll(async () => {
  t = await startTestSystem({ env: { FEATURES: 'none', API_KEYS: 'sk-alice-key-1:alice,sk-bob-key-22:bob' } });
  client = t.client('sk-alice-key-1');
});
afterAll(async () => {
  await t?.stop();
});
beforeEach(() => {
  t.model.setScript(echoScript);
});

const weather: OpenAI.Chat.ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Current weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

/** Calls get_weather first; after a tool result, answers with it. */
const weatherScript = (req: ChatRequest) => {
  const last = req.messages.at(-1)!;
  if (last.role === 'tool') return { text: `It is ${textOf(last.content)}.` };
  return { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] };
};

const fnCall = (c: OpenAI.Chat.ChatCompletionMessageToolCall) => c as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;

async function apiError(p: Promise<unknown>) {
  const err = (await p.catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
  expect(err).toBeInstanceOf(OpenAI.APIError);
  return err;
}

/** The assistant tool call and tool message the model was sent last, paired by id. */
function pairedToolTurn(req: ChatRequest) {
  const assistant = req.messages.find((m) => m.role === 'assistant' && m.tool_calls?.length);
  const tool = req.messages.find((m) => m.role === 'tool');
  return { call: assistant?.tool_calls?.[0], tool };
}

describe('client tools', () => {
  it('hands a client tool call back (finish_reason tool_calls) and offers the client tool beside the agent tools', async () => {
    t.model.setScript(weatherScript);
    const r = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'weather in Paris?' }], tools: [weather] });
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    const msg = r.choices[0]!.message;
    expect(msg.content).toBeNull();
    expect(msg.tool_calls).toEqual([{ id: expect.any(String), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
    const up = t.model.requests.at(-1)!;
    const offered = up.tools!.map((x) => x.function.name);
    expect(offered).toContain('get_weather');
    expect(offered).toContain('calculate'); // the agent's own tool is still there
    expect(up.tools!.find((x) => x.function.name === 'get_weather')!.function.parameters).toMatchObject({ properties: { city: { type: 'string' } }, required: ['city'] });
  });

  it('continues without x-thread-id: the whole transcript (assistant tool_calls + tool message) reaches the model', async () => {
    t.model.setScript(weatherScript);
    const first = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'weather?' }], tools: [weather] });
    const call = first.choices[0]!.message.tool_calls![0]!;
    const r = await client.chat.completions.create({
      model: 'assistant',
      tools: [weather],
      messages: [{ role: 'user', content: 'weather?' }, first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: 'sunny, 21 C' }],
    });
    expect(r.choices[0]!.message.content).toBe('It is sunny, 21 C.');
    expect(r.choices[0]!.finish_reason).toBe('stop');
    const { call: sent, tool } = pairedToolTurn(t.model.requests.at(-1)!);
    expect(sent).toMatchObject({ id: call.id, function: { name: 'get_weather' } });
    expect(JSON.parse(sent!.function.arguments)).toEqual({ city: 'Paris' });
    expect(tool).toMatchObject({ tool_call_id: call.id });
    expect(textOf(tool!.content)).toBe('sunny, 21 C');
  });

  it('continues with x-thread-id: the tool result is added to the thread, paired with the stored call', async () => {
    t.model.setScript(weatherScript);
    const { data: first, response } = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'weather here?' }], tools: [weather] }).withResponse();
    const thread = response.headers.get('x-thread-id')!;
    const call = first.choices[0]!.message.tool_calls![0]!;
    // Only the new messages (text parts in the tool message too).
    const r = await client.chat.completions.create(
      { model: 'assistant', tools: [weather], messages: [{ role: 'tool', tool_call_id: call.id, content: [{ type: 'text', text: 'rainy' }] }] },
      { headers: { 'x-thread-id': thread } },
    );
    expect(r.choices[0]!.message.content).toBe('It is rainy.');
    const up = t.model.requests.at(-1)!;
    const { call: sent, tool } = pairedToolTurn(up);
    expect(sent?.id).toBe(call.id);
    expect(JSON.parse(sent!.function.arguments)).toEqual({ city: 'Paris' });
    expect(tool?.tool_call_id).toBe(call.id);
    expect(textOf(tool!.content)).toBe('rainy');
    expect(up.messages.filter((m) => m.role === 'user').map((m) => textOf(m.content))).toEqual(['weather here?']);

    // The next turn sees the whole exchange once, in order.
    t.model.setScript(echoScript);
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'thanks' }] }, { headers: { 'x-thread-id': thread } });
    const roles = t.model.requests.at(-1)!.messages.filter((m) => m.role !== 'system').map((m) => m.role);
    expect(roles).toEqual(['user', 'assistant', 'tool', 'assistant', 'user']);

    // The whole transcript resent with the thread header: only what follows the last assistant message is new.
    t.model.setScript(weatherScript);
    const again = await client.chat.completions.create(
      { model: 'assistant', tools: [weather], messages: [{ role: 'user', content: 'and now?' }] },
      { headers: { 'x-thread-id': thread } },
    );
    const call2 = again.choices[0]!.message.tool_calls![0]!;
    await client.chat.completions.create(
      { model: 'assistant', tools: [weather], messages: [{ role: 'user', content: 'and now?' }, again.choices[0]!.message, { role: 'tool', tool_call_id: call2.id, content: 'foggy' }] },
      { headers: { 'x-thread-id': thread } },
    );
    const last = t.model.requests.at(-1)!;
    expect(last.messages.filter((m) => m.role === 'user').map((m) => textOf(m.content))).toEqual(['weather here?', 'thanks', 'and now?']);
    expect(last.messages.filter((m) => m.role === 'tool').map((m) => textOf(m.content))).toEqual(['rainy', 'foggy']);
  });

  it('streams tool_calls deltas and ends with finish_reason tool_calls', async () => {
    t.model.setScript(weatherScript);
    const stream = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'weather?' }], tools: [weather], stream: true });
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    const deltas = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
    expect(deltas).toEqual([{ index: 0, id: expect.any(String), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls');
    // The SDK's accumulator gives the same message as the non-streaming call.
    const s2 = client.chat.completions.stream({ model: 'assistant', messages: [{ role: 'user', content: 'weather?' }], tools: [weather] });
    const final = await s2.finalChatCompletion();
    expect(fnCall(final.choices[0]!.message.tool_calls![0]!).function).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });
  });

  it('a streamed continuation with x-thread-id answers from the tool result', async () => {
    t.model.setScript(weatherScript);
    const { data: first, response } = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'weather, streamed?' }], tools: [weather] }).withResponse();
    const call = first.choices[0]!.message.tool_calls![0]!;
    const stream = await client.chat.completions.create(
      { model: 'assistant', tools: [weather], stream: true, messages: [first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: 'misty' }] },
      { headers: { 'x-thread-id': response.headers.get('x-thread-id')! } },
    );
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    expect(text).toBe('It is misty.');
    expect(pairedToolTurn(t.model.requests.at(-1)!).tool?.tool_call_id).toBe(call.id);
  });

  it('hands back several calls, or one when parallel_tool_calls is false (and tells the model)', async () => {
    t.model.setScript(() => ({ toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }, { name: 'get_weather', arguments: { city: 'Rome' } }] }));
    const both = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'two cities' }], tools: [weather] });
    expect(both.choices[0]!.message.tool_calls!.map((c) => JSON.parse(fnCall(c).function.arguments).city)).toEqual(['Paris', 'Rome']);
    const one = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'two cities' }], tools: [weather], parallel_tool_calls: false });
    expect(one.choices[0]!.message.tool_calls).toHaveLength(1);
    expect(t.model.requests.at(-1)!.parallel_tool_calls).toBe(false);
  });

  it('tool_choice "none": the model is offered no tools and not even the agent\'s own tools run', async () => {
    // The scripted model ignores tool_choice and calls the agent's calculator anyway.
    let calls = 0;
    t.model.setScript((req) => {
      calls++;
      if (req.messages.at(-1)!.role === 'tool') return { text: `ran: ${textOf(req.messages.at(-1)!.content)}` };
      return { toolCalls: [{ name: 'calculate', arguments: { expression: '1+1' } }] };
    });
    const r = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: '1+1?' }], tools: [weather], tool_choice: 'none' });
    const up = t.model.requests.at(-1 - (calls - 1))!;
    expect(up.tools).toBeUndefined();
    expect(r.choices[0]!.message.tool_calls).toBeUndefined();
    expect(r.choices[0]!.message.content).toContain('tool_choice is \\"none\\": no tool may run');
    // Whatever the model did, the calculator did not run: no result "2" reached it.
    for (const req of t.model.requests.slice(-calls)) {
      const results = req.messages.filter((m) => m.role === 'tool').map((m) => textOf(m.content));
      expect(results.some((x) => /"result":\s*2\b/.test(x))).toBe(false);
    }
  });

  it('a schema with a __proto__ key is just a schema: accepted, nothing polluted', async () => {
    t.model.setScript(weatherScript);
    const parameters = JSON.parse('{"type": "object", "__proto__": {"polluted": 1}, "properties": {"__proto__": {"type": "string"}}}') as Record<string, unknown>;
    const r = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'get_weather', parameters } }] });
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('passes a tool\'s strict flag to the model', async () => {
    t.model.setScript(weatherScript);
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }], tools: [{ ...weather, function: { ...weather.function, strict: true } }] });
    const sent = t.model.requests.at(-1)!.tools!.find((x) => x.function.name === 'get_weather')!.function as { strict?: boolean };
    expect(sent.strict).toBe(true);
  });

  it('tool_choice naming a function forces it; "required" forces some tool', async () => {
    t.model.setScript(weatherScript);
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }], tools: [weather], tool_choice: { type: 'function', function: { name: 'get_weather' } } });
    expect(t.model.requests.at(-1)!.tool_choice).toEqual({ type: 'function', function: { name: 'get_weather' } });
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }], tools: [weather], tool_choice: 'required' });
    expect(t.model.requests.at(-1)!.tool_choice).toBe('required');
  });

  it('an assistant tool call left unanswered (the user moved on) does not break the turn', async () => {
    const r = await client.chat.completions.create({
      model: 'assistant',
      tools: [weather],
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_dangling', type: 'function', function: { name: 'get_weather', arguments: 'not json' } }] },
        { role: 'user', content: 'never mind' },
      ],
    });
    expect(r.choices[0]!.message.content).toBe('Echo: never mind');
  });

  it('the agent\'s own tools still run on the server beside client tools', async () => {
    t.model.setScript((req) => {
      const last = req.messages.at(-1)!;
      if (last.role === 'tool') {
        const body = textOf(last.content);
        if (body.includes('result')) return { toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] };
        return { text: `done: ${body}` };
      }
      return { toolCalls: [{ name: 'calculate', arguments: { expression: '6*7' } }] };
    });
    const r = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: '6*7 then weather' }], tools: [weather] });
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    expect(fnCall(r.choices[0]!.message.tool_calls![0]!).function.name).toBe('get_weather');
    // The calculator's result reached the model before it called the client tool.
    const up = t.model.requests.at(-1)!;
    expect(up.messages.some((m) => m.role === 'tool' && /42/.test(textOf(m.content)))).toBe(true);
  });
});

describe('legacy functions', () => {
  it('answers with message.function_call and finish_reason function_call; a function message continues', async () => {
    t.model.setScript(weatherScript);
    const r = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'weather?' }], functions: [weather.function], function_call: 'auto' });
    expect(r.choices[0]!.finish_reason).toBe('function_call');
    expect(r.choices[0]!.message.function_call).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });
    expect(r.choices[0]!.message.tool_calls).toBeUndefined();
    const r2 = await client.chat.completions.create({
      model: 'assistant',
      functions: [weather.function],
      messages: [{ role: 'user', content: 'weather?' }, r.choices[0]!.message, { role: 'function', name: 'get_weather', content: 'windy' }],
    });
    expect(r2.choices[0]!.message.content).toBe('It is windy.');
    const { call, tool } = pairedToolTurn(t.model.requests.at(-1)!);
    expect(call?.id).toBe(tool?.tool_call_id);
    expect(JSON.parse(call!.function.arguments)).toEqual({ city: 'Paris' });
    // function_call naming one forces it.
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }], functions: [weather.function], function_call: { name: 'get_weather' } });
    expect(t.model.requests.at(-1)!.tool_choice).toEqual({ type: 'function', function: { name: 'get_weather' } });
  });

  it('streams a function_call delta', async () => {
    t.model.setScript(weatherScript);
    const stream = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'weather?' }], functions: [weather.function], stream: true });
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.map((c) => c.choices[0]?.delta?.function_call).filter(Boolean)).toEqual([{ name: 'get_weather', arguments: '{"city":"Paris"}' }]);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('function_call');
  });
});

describe('refusals (400 naming the param)', () => {
  const user = [{ role: 'user' as const, content: 'hi' }];
  const fn = (name: string, parameters: Record<string, unknown> = { type: 'object', properties: {} }): OpenAI.Chat.ChatCompletionTool => ({ type: 'function', function: { name, parameters } });

  it('a client tool named like an agent tool, a duplicate, a bad name', async () => {
    let e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, tools: [weather, fn('x'), fn('calculate')] }));
    expect(e.status).toBe(400);
    expect(e.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_value', param: 'tools[2].function.name' });
    e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, tools: [fn('updateWorkingMemory')] }));
    expect(e.error).toMatchObject({ param: 'tools[0].function.name' });
    e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, tools: [fn('a'), fn('a')] }));
    expect(e.error).toMatchObject({ param: 'tools[1].function.name' });
    e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, tools: [fn('has space')] }));
    expect(e.error).toMatchObject({ param: 'tools[0].function.name' });
    e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, functions: [{ name: 'calculate' }] }));
    expect(e.error).toMatchObject({ param: 'functions[0].name' });
  });

  it('malformed, huge or deep schemas; too many tools', async () => {
    let e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, tools: [fn('a', { type: 'string' })] }));
    expect(e.error).toMatchObject({ param: 'tools[0].function.parameters' });
    e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, tools: [fn('a', { type: 'object', properties: [] })] }));
    expect(e.error).toMatchObject({ param: 'tools[0].function.parameters.properties' });
    e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, tools: [fn('a', { type: 'object', required: 'x' })] }));
    expect(e.error).toMatchObject({ param: 'tools[0].function.parameters.required' });
    e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, tools: [{ type: 'function', function: { name: 'a', parameters: 'no' as never } }] }));
    expect(e.status).toBe(400);
    expect(e.error).toMatchObject({ param: 'tools[0].function.parameters' });
    const huge = { type: 'object', properties: Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`p${i}`, { type: 'string', description: 'x'.repeat(20) }])) };
    const big = t.client('sk-alice-key-1');
    e = await apiError(big.chat.completions.create({ model: 'assistant', messages: user, tools: [fn('a', huge)] }));
    expect(e.status).toBe(400);
    expect(e.error).toMatchObject({ param: 'tools[0].function.parameters' });
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 40; i++) deep = { type: 'object', properties: { x: deep } };
    e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, tools: [fn('a', deep)] }));
    expect(e.error).toMatchObject({ param: 'tools[0].function.parameters' });
    e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, tools: Array.from({ length: 129 }, (_, i) => fn(`t${i}`)) }));
    expect(e.error).toMatchObject({ param: 'tools' });
  });

  it('tool_choice naming an unknown tool, "required" without tools, both tools and functions', async () => {
    let e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, tools: [weather], tool_choice: { type: 'function', function: { name: 'calculate' } } }));
    expect(e.error).toMatchObject({ param: 'tool_choice' });
    e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, tool_choice: 'required' }));
    expect(e.error).toMatchObject({ param: 'tool_choice' });
    e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, tools: [weather], functions: [weather.function] }));
    expect(e.error).toMatchObject({ param: 'functions' });
    e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, functions: [weather.function], function_call: { name: 'nope' } }));
    expect(e.error).toMatchObject({ param: 'function_call' });
  });

  it('a tool message answering no call, with or without a thread; a function message with no call', async () => {
    t.model.setScript(weatherScript);
    let e = await apiError(
      client.chat.completions.create({ model: 'assistant', tools: [weather], messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: 'hm' }, { role: 'tool', tool_call_id: 'call_nope', content: 'r' }] }),
    );
    expect(e.error).toMatchObject({ param: 'messages[2].tool_call_id', code: 'invalid_value' });
    // A result placed before its call does not count either.
    e = await apiError(
      client.chat.completions.create({
        model: 'assistant',
        messages: [{ role: 'user', content: 'x' }, { role: 'tool', tool_call_id: 'c1', content: 'r' }, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] }, { role: 'user', content: 'y' }],
      }),
    );
    expect(e.error).toMatchObject({ param: 'messages[1].tool_call_id' });
    const { response } = await client.chat.completions.create({ model: 'assistant', tools: [weather], messages: [{ role: 'user', content: 'x' }] }).withResponse();
    const thread = response.headers.get('x-thread-id')!;
    e = await apiError(client.chat.completions.create({ model: 'assistant', tools: [weather], messages: [{ role: 'tool', tool_call_id: 'call_other', content: 'r' }] }, { headers: { 'x-thread-id': thread } }));
    expect(e.error).toMatchObject({ param: 'messages[0].tool_call_id' });
    e = await apiError(client.chat.completions.create({ model: 'assistant', functions: [weather.function], messages: [{ role: 'user', content: 'x' }, { role: 'function', name: 'get_weather', content: 'r' }] }));
    expect(e.error).toMatchObject({ param: 'messages[1].name' });
    e = await apiError(client.chat.completions.create({ model: 'assistant', messages: [{ role: 'tool', content: 'r' } as never] }));
    expect(e.error).toMatchObject({ param: 'messages[0].tool_call_id' });
  });

  it("another user's thread: a tool result for their call is 404, and their call ids are not found", async () => {
    t.model.setScript(weatherScript);
    const { data, response } = await client.chat.completions.create({ model: 'assistant', tools: [weather], messages: [{ role: 'user', content: 'mine' }] }).withResponse();
    const thread = response.headers.get('x-thread-id')!;
    const call = data.choices[0]!.message.tool_calls![0]!;
    const bob = t.client('sk-bob-key-22');
    const e = await apiError(bob.chat.completions.create({ model: 'assistant', tools: [weather], messages: [{ role: 'tool', tool_call_id: call.id, content: 'stolen' }] }, { headers: { 'x-thread-id': thread } }));
    expect(e.status).toBe(404);
    expect(e.error).toMatchObject({ code: 'thread_not_found' });
    // Without the thread, Bob's own new thread knows no such call.
    const e2 = await apiError(bob.chat.completions.create({ model: 'assistant', tools: [weather], messages: [{ role: 'tool', tool_call_id: call.id, content: 'stolen' }] }));
    expect(e2.status).toBe(400);
    expect(e2.error).toMatchObject({ param: 'messages[0].tool_call_id' });
  });

  it('two continuations of the same call at once: both answered, no 5xx', async () => {
    t.model.setScript(weatherScript);
    const { data, response } = await client.chat.completions.create({ model: 'assistant', tools: [weather], messages: [{ role: 'user', content: 'race' }] }).withResponse();
    const thread = response.headers.get('x-thread-id')!;
    const call = data.choices[0]!.message.tool_calls![0]!;
    const send = (v: string) => client.chat.completions.create({ model: 'assistant', tools: [weather], messages: [{ role: 'tool', tool_call_id: call.id, content: v }] }, { headers: { 'x-thread-id': thread } });
    const results = await Promise.allSettled([send('a'), send('b')]);
    for (const r of results) {
      if (r.status === 'rejected') expect((r.reason as { status?: number }).status).toBeLessThan(500);
    }
    expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
  });
});

describe('tool parameter patterns (issue 21 item 2)', () => {
  const user = [{ role: 'user' as const, content: 'hi' }];
  const withPattern = (where: 'pattern' | 'patternProperties', p: string): OpenAI.Chat.ChatCompletionTool => ({
    type: 'function',
    function: {
      name: 'lookup',
      parameters: where === 'pattern' ? { type: 'object', properties: { q: { type: 'string', pattern: p } } } : { type: 'object', properties: {}, patternProperties: { [p]: { type: 'string' } } },
    },
  });

  it('a pattern a backtracking engine could take exponential time on is a 400 naming the tool parameters, before the model runs', async () => {
    const before = t.model.requests.length;
    for (const [where, p] of [
      ['patternProperties', '^(a|a)*$'],
      ['pattern', '^(a+)+$'],
      ['pattern', '(\\w|_)*x'],
      ['pattern', '^(a)\\1$'],
      ['pattern', '(?=a)a'],
    ] as const) {
      const e = await apiError(client.chat.completions.create({ model: 'assistant', messages: user, tools: [weather, withPattern(where, p)] }));
      expect(e.status, p).toBe(400);
      expect(e.error, p).toMatchObject({ type: 'invalid_request_error', param: 'tools[1].function.parameters' });
      expect(e.message, p).toContain('cannot be used');
    }
    expect(t.model.requests.length).toBe(before);
    // Ordinary patterns pass.
    for (const p of ['^[a-z]+$', '^\\d{3}-\\d{4}$', '^(ab|cd)*$', '^([0-9]{3}-)+x$']) {
      const r = await client.chat.completions.create({ model: 'assistant', messages: user, tools: [withPattern('pattern', p)] });
      expect(r.choices[0]!.message.content, p).toContain('Echo');
    }
  });
});
