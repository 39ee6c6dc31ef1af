/**
 * System thread namespaces (issue 21 item 5): the AT Protocol workflows keep their memory
 * on `atproto:<agent>:…` threads (scheduled posts on `atproto:<agent>:scheduled`). A /v1
 * caller naming such a thread (x-thread-id, the Responses API's `conversation`) gets 400
 * reserved_thread_id before anything is claimed or written, so the system's own turns on
 * that thread keep working. Through the official OpenAI client.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from '../../harness/system';

const BOB = 'sk-one-bob-reserved-0002';
let ts: TestSystem;

beforeAll(async () => {
  ts = await startTestSystem({ env: { FEATURES: 'none', API_KEYS: `${BOB}:bob`, RATE_LIMIT_RPM: '0' } });
});
afterAll(async () => {
  await ts?.stop();
});

async function refusal(run: () => Promise<unknown>) {
  try {
    await run();
    return { status: 200 };
  } catch (e) {
    const err = e as InstanceType<typeof OpenAI.APIError>;
    return { status: err.status, code: err.code, param: err.param, type: err.type };
  }
}

const RESERVED = ['atproto:social:scheduled', 'atproto:social:mention-root', 'ATPROTO:social:scheduled', 'system:anything'];

describe('reserved thread namespaces', () => {
  it('x-thread-id in a system namespace: 400 reserved_thread_id, nothing claimed, no model call', async () => {
    const calls = ts.model.requests.length;
    for (const threadId of RESERVED) {
      const r = await refusal(() => ts.client(BOB).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'squat' }] }, { headers: { 'x-thread-id': threadId } }));
      expect(r).toEqual({ status: 400, code: 'reserved_thread_id', param: 'x-thread-id', type: 'invalid_request_error' });
      // Streaming answers the same before any chunk.
      const s = await refusal(async () => {
        const stream = await ts.client(BOB).chat.completions.create({ model: 'assistant', stream: true, messages: [{ role: 'user', content: 'squat' }] }, { headers: { 'x-thread-id': threadId } });
        for await (const _ of stream) void _;
      });
      expect(s).toMatchObject({ status: 400, code: 'reserved_thread_id' });
    }
    expect(ts.model.requests.length).toBe(calls);
    const claimed = await ts.system.ctx.db.query('select thread_id from thread_owners where thread_id = any($1)', [RESERVED]);
    expect(claimed.rows).toEqual([]);
  });

  it('the Responses API `conversation` in a system namespace: 400 reserved_thread_id on `conversation`', async () => {
    for (const threadId of RESERVED) {
      const r = await refusal(() => ts.client(BOB).responses.create({ model: 'assistant', input: 'squat', conversation: threadId }));
      expect(r).toEqual({ status: 400, code: 'reserved_thread_id', param: 'conversation', type: 'invalid_request_error' });
    }
  });

  it("ids that only look alike stay the caller's own (atprotocol-notes, my-atproto:x)", async () => {
    for (const threadId of ['atprotocol-notes', 'my-atproto:x', 'systems']) {
      const r = await ts.client(BOB).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'hello' }] }, { headers: { 'x-thread-id': threadId } });
      expect(r.choices[0]!.message.content).toBeTruthy();
      expect((await ts.system.runtime.memory.getThreadById({ threadId }))?.resourceId).toBe('bob');
    }
  });

  it("after the attempts, the system's own turn on its scheduled thread still runs (the squat left nothing behind)", async () => {
    const threadId = 'atproto:social:scheduled';
    expect(await ts.system.runtime.memory.getThreadById({ threadId })).toBeFalsy();
    const agent = ts.system.runtime.mastra.getAgent('assistant');
    const result = await agent.generate('a scheduled turn', { memory: { resource: 'atproto:social', thread: threadId } });
    expect(result.text).toBeTruthy();
    expect((await ts.system.runtime.memory.getThreadById({ threadId }))?.resourceId).toBe('atproto:social');
    // Bob still cannot reach it, now that it exists.
    const r = await refusal(() => ts.client(BOB).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'read it' }] }, { headers: { 'x-thread-id': threadId } }));
    expect(r).toMatchObject({ status: 400, code: 'reserved_thread_id' });
  });
});
