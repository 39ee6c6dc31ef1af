/**
 * A request body at the size limit (BODY_LIMIT, default 1mb) is bounded work: more than
 * MAX_MESSAGES messages or too many content parts are refused before any parsing, the
 * largest accepted bodies complete with 200, and /health keeps answering meanwhile.
 * How long /health waits (the event loop's stall; target < 100 ms) is measured by
 * bench/body-limits, not asserted here: tests carry no timing thresholds.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { echoScript } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';
import { MAX_MESSAGES } from '../../src/server/openai/schema';

let t: TestSystem;
const LIMIT = 1024 * 1024;

beforeAll(async () => {
  t = await startTestSystem({ env: { FEATURES: 'none', BODY_LIMIT: '1mb' } });
  // Warm up (first-request compilation is not what is measured).
  await post({ model: 'assistant', messages: [{ role: 'user', content: 'warm up' }] });
});
afterAll(async () => {
  await t?.stop();
});
beforeEach(() => t.model.setScript(echoScript));

function post(body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${t.system.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** Runs `work` while polling /health; returns work's result and the slowest /health answer (ms). */
async function whilePolling<T>(work: () => Promise<T>): Promise<{ result: T; worstHealthMs: number; polls: number }> {
  let done = false;
  let worst = 0;
  let polls = 0;
  const poller = (async () => {
    while (!done) {
      const t0 = performance.now();
      const r = await fetch(`${t.system.url}/health`);
      await r.arrayBuffer();
      worst = Math.max(worst, performance.now() - t0);
      polls++;
      await new Promise((res) => setTimeout(res, 2));
    }
  })();
  try {
    const result = await work();
    return { result, worstHealthMs: worst, polls };
  } finally {
    done = true;
    await poller;
  }
}

/** `count` messages whose JSON body is just under the 1 MB limit. */
function bodyOf(count: number, extra: Record<string, unknown> = {}) {
  const skeleton = JSON.stringify({ model: 'assistant', messages: Array.from({ length: count }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: '' })), ...extra }).length;
  const per = Math.floor((LIMIT - 200 - skeleton) / count);
  const messages = Array.from({ length: count }, (_, i) => ({ role: i % 2 || i === count - 1 ? (i === count - 1 ? 'user' : 'assistant') : 'user', content: `m${i} `.padEnd(per, 'x') }));
  const body = { model: 'assistant', messages, ...extra };
  expect(JSON.stringify(body).length).toBeGreaterThan(LIMIT * 0.95);
  expect(JSON.stringify(body).length).toBeLessThan(LIMIT);
  return body;
}

describe('a body at the size limit is bounded work', () => {
  it('refuses more than MAX_MESSAGES messages (25 000 tiny ones) with 400', async () => {
    const { result, polls } = await whilePolling(async () => {
      const r = await post(bodyOf(25_000));
      return { status: r.status, body: await r.json() };
    });
    expect(result.status).toBe(400);
    expect(result.body.error).toMatchObject({ code: 'invalid_value', param: 'messages', type: 'invalid_request_error' });
    expect(polls).toBeGreaterThan(0);
  });

  it(`answers MAX_MESSAGES (${MAX_MESSAGES}) messages of ~2 KB each on a new thread with 200`, async () => {
    const { result, polls } = await whilePolling(async () => {
      const r = await post(bodyOf(MAX_MESSAGES - 1), { 'x-thread-id': 'limits-long-history' });
      return { status: r.status, body: await r.json() };
    });
    expect(result.status).toBe(200);
    expect(polls).toBeGreaterThan(0);
    // The thread continues from memory with only the new message.
    const { result: next } = await whilePolling(async () => (await post({ model: 'assistant', messages: [{ role: 'user', content: 'and now?' }] }, { 'x-thread-id': 'limits-long-history' })).status);
    expect(next).toBe(200);
  });

  it('answers one ~1 MB message with 200', async () => {
    const { result, polls } = await whilePolling(async () => (await post(bodyOf(1))).status);
    expect(result).toBe(200);
    expect(polls).toBeGreaterThan(0);
  });

  it('refuses a message of 30 000 content parts with 400', async () => {
    const parts = Array.from({ length: 30_000 }, () => ({ type: 'text', text: 'abcdefgh' }));
    const { result, polls } = await whilePolling(async () => {
      const r = await post({ model: 'assistant', messages: [{ role: 'user', content: parts }] });
      return { status: r.status, body: await r.json() };
    });
    expect(result.status).toBe(400);
    expect(result.body.error.code).toBe('invalid_value');
    expect(polls).toBeGreaterThan(0);
  });
});
