/**
 * The request body of POST /v1/chat/completions (src/server/openai/schema.ts, docs/api.md):
 * what an agent can honour is accepted, everything else is refused with a message that
 * says why.
 */
import { describe, expect, it } from 'vitest';
import { chatCompletionRequest, MAX_CONTENT_PARTS, MAX_MESSAGES, paramName, textContent } from '../../src/server/openai/schema';

const base = { model: 'assistant', messages: [{ role: 'user', content: 'hi' }] };
const parse = (extra: Record<string, unknown>) => chatCompletionRequest.safeParse({ ...base, ...extra });
const ok = (extra: Record<string, unknown>) => expect(parse(extra).success, JSON.stringify(extra).slice(0, 80)).toBe(true);
/** The message of the first issue, or a failure when the body was accepted. */
const why = (extra: Record<string, unknown>): string => {
  const r = parse(extra);
  expect(r.success, JSON.stringify(extra).slice(0, 80)).toBe(false);
  return r.success ? '' : r.error.issues[0]!.message;
};
const msgs = (n: number) => Array.from({ length: n }, () => ({ role: 'user', content: 'x' }));

describe('chat completion request', () => {
  it('accepts a minimal request and every role', () => {
    ok({});
    ok({ messages: [{ role: 'system', content: 's' }, { role: 'developer', content: 'd', name: 'n' }, { role: 'user', content: 'u', name: 'me' }, { role: 'assistant', content: 'a' }] });
    ok({ messages: [{ role: 'assistant', content: null, refusal: null }, { role: 'assistant' }, { role: 'assistant', content: 'x', refusal: 'no' }] });
  });

  it('requires a model and at least one message', () => {
    expect(why({ model: '' })).toBe('model is required');
    expect(why({ messages: [] })).toBe('messages must contain at least one message');
    expect(parse({ model: undefined }).success).toBe(false);
  });

  it(`takes at most ${MAX_MESSAGES} messages`, () => {
    expect(MAX_MESSAGES).toBe(256);
    ok({ messages: msgs(MAX_MESSAGES) });
    expect(why({ messages: msgs(MAX_MESSAGES + 1) })).toBe('at most 256 messages per request; continue a conversation with x-thread-id and only the new messages');
  });

  it('refuses unknown roles, and content missing or null except from the assistant', () => {
    // tool needs tool_call_id, function needs name (client-side tools, test/server/client-tools.test.ts).
    ok({ messages: [{ role: 'tool', content: 'x', tool_call_id: 'c1' }, { role: 'function', content: 'x', name: 'f' }] });
    for (const m of [{ role: 'tool', content: 'x' }, { role: 'function', content: 'x' }, { role: 'robot', content: 'x' }, { content: 'x' }, { role: 'user' }, { role: 'user', content: null }, { role: 'system', content: 5 }, { role: 'user', content: 'x', name: 5 }, { role: 'assistant', content: 'x', refusal: 5 }])
      expect(parse({ messages: [m] }).success, JSON.stringify(m)).toBe(false);
  });

  it('takes text parts (and image_url parts in user messages), at most 100 per message', () => {
    expect(MAX_CONTENT_PARTS).toBe(100);
    const text = { type: 'text', text: 'x' };
    ok({ messages: [{ role: 'user', content: [text, text] }] });
    ok({ messages: [{ role: 'user', content: Array(MAX_CONTENT_PARTS).fill(text) }] });
    const tooMany = parse({ messages: [{ role: 'user', content: Array(MAX_CONTENT_PARTS + 1).fill(text) }] });
    expect(tooMany.success).toBe(false);
    expect(paramName(tooMany.error!.issues[0]!.path)).toBe('messages[0].content');
    ok({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x', detail: 'low' } }] }] });
    expect(why({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] })).toBe('only text and image_url content parts are supported');
    expect(why({ messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'http://x' } }] }] })).toBe('only text content parts are supported in this message');
    expect(parse({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: '' } }] }] }).success).toBe(false);
    expect(parse({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x', detail: 'huge' } }] }] }).success).toBe(false);
    expect(parse({ messages: [{ role: 'user', content: [{ type: 'text' }] }] }).success).toBe(false);
    expect(parse({ messages: [{ role: 'user', content: [{ text: 'x' }] }] }).success).toBe(false);
  });

  // Known bug (reported, not fixed here): `content` is a union of a string and the parts
  // array, and zod reports a failed union as "Invalid input", so a caller sending 101
  // parts reads "Invalid value for 'messages[0].content': Invalid input", not the limit.
  it('says "at most 100 content parts per message" when a message has more', () => {
    expect(why({ messages: [{ role: 'user', content: Array(MAX_CONTENT_PARTS + 1).fill({ type: 'text', text: 'x' }) }] })).toBe('at most 100 content parts per message');
  });

  it('bounds the sampling parameters as OpenAI does', () => {
    const ranges: Array<[string, number, number]> = [
      ['temperature', 0, 2],
      ['top_p', 0, 1],
      ['presence_penalty', -2, 2],
      ['frequency_penalty', -2, 2],
    ];
    for (const [k, lo, hi] of ranges) {
      ok({ [k]: lo });
      ok({ [k]: hi });
      ok({ [k]: null });
      expect(parse({ [k]: lo - 0.01 }).success, `${k} below`).toBe(false);
      expect(parse({ [k]: hi + 0.01 }).success, `${k} above`).toBe(false);
      expect(parse({ [k]: '1' }).success, `${k} string`).toBe(false);
    }
  });

  it('takes whole numbers for seed and positive whole numbers for token limits', () => {
    ok({ seed: -5 });
    ok({ seed: null });
    expect(parse({ seed: 1.5 }).success).toBe(false);
    for (const k of ['max_tokens', 'max_completion_tokens']) {
      ok({ [k]: 1 });
      ok({ [k]: null });
      expect(parse({ [k]: 0 }).success, `${k} 0`).toBe(false);
      expect(parse({ [k]: -1 }).success, `${k} -1`).toBe(false);
      expect(parse({ [k]: 2.5 }).success, `${k} 2.5`).toBe(false);
    }
  });

  it('takes a stop string or up to 4 of them', () => {
    ok({ stop: 'END' });
    ok({ stop: ['a', 'b', 'c', 'd'] });
    ok({ stop: null });
    expect(parse({ stop: ['a', 'b', 'c', 'd', 'e'] }).success).toBe(false);
    expect(parse({ stop: [1] }).success).toBe(false);
  });

  it('takes stream flags', () => {
    ok({ stream: true, stream_options: { include_usage: true } });
    ok({ stream: null, stream_options: null });
    ok({ stream_options: {} });
    expect(parse({ stream: 'yes' }).success).toBe(false);
    expect(parse({ stream_options: { include_usage: 'yes' } }).success).toBe(false);
  });

  it('takes any user string, as OpenAI does (the memory resource is derived safely: auth.ts userKey)', () => {
    for (const user of ['alice', 'A-z_0.9@x:y', 'u'.repeat(257), 'alice bob', 'aGk+L3g=', 'x\ny', '', null]) ok({ user });
    expect(parse({ user: 5 }).success).toBe(false);
  });

  it('types n as OpenAI does (1-128; params.ts refuses n > 1); takes client-side tools of type function, saying why otherwise', () => {
    ok({ n: 1 });
    ok({ n: null });
    ok({ n: 2 });
    for (const n of [0, 129, 1.5, '1']) expect(parse({ n }).success, String(n)).toBe(false);
    ok({ tools: [] });
    ok({ tools: null, tool_choice: 'auto' });
    ok({ tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: 'function', function: { name: 'f' } }, parallel_tool_calls: false });
    ok({ functions: [{ name: 'f', parameters: { type: 'object' } }], function_call: { name: 'f' } });
    expect(why({ tools: [{ type: 'custom', custom: { name: 'f' } }] })).toBe('only tools of type "function" are supported');
    expect(why({ tool_choice: 'sometimes' })).toMatch(/^tool_choice is "none", "auto", "required"/);
    expect(why({ function_call: 5 })).toMatch(/^function_call is "none", "auto"/);
    ok({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' }, strict: true } } });
    ok({ response_format: { type: 'json_object' } });
    expect(why({ response_format: { type: 'json_schema', json_schema: { name: 'bad name!', schema: {} } } })).toBe('name is 1-64 letters, digits, _ or -');
    expect(parse({ response_format: { type: 'yaml' } }).success).toBe(false);
  });
});

describe('textContent', () => {
  it('joins the text of a message', () => {
    expect(textContent(null)).toBe('');
    expect(textContent(undefined)).toBe('');
    expect(textContent('hello')).toBe('hello');
    expect(textContent([{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }])).toBe('ab');
    expect(textContent([{ type: 'text', text: 'a' }, { type: 'other' } as never, { type: 'text', text: 5 } as never])).toBe('a');
  });
});

describe('paramName', () => {
  it('names a parameter the way OpenAI does', () => {
    expect(paramName([])).toBeNull();
    expect(paramName(['model'])).toBe('model');
    expect(paramName(['messages', 0, 'content'])).toBe('messages[0].content');
    expect(paramName(['messages', 3, 'content', 1, 'text'])).toBe('messages[3].content[1].text');
    expect(paramName(['stream_options', 'include_usage'])).toBe('stream_options.include_usage');
  });
});
