/** Cassette keys: volatile values masked, references replayed, and every kind of drift named. */
import { describe, expect, it } from 'vitest';
import { diagnoseMiss, fillTurn, maskRequest, templateTurn, type CassetteEntry, type WireRequest } from '../../evals/lib/cassettes';

const calc = { type: 'function', function: { name: 'calculate', description: 'Evaluate an expression', parameters: { type: 'object', properties: { expression: { type: 'string' } } } } };
const clock = { type: 'function', function: { name: 'current-time', description: 'The time', parameters: { type: 'object', properties: {} } } };

function request(over: Partial<WireRequest> = {}, toolResult = '{"iso":"2026-01-01T10:00:00.000Z","uri":"at://did:plc:abc123/app.bsky.feed.post/3kaaaaaaaaa22"}'): WireRequest {
  return {
    model: 'scripted-v1',
    messages: [
      { role: 'system', content: 'You are assistant.' },
      { role: 'user', content: 'What time is it?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_7', type: 'function', function: { name: 'current-time', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_7', content: toolResult },
    ],
    tools: [calc, clock],
    ...over,
  } as WireRequest;
}

const entryOf = (req: WireRequest): CassetteEntry => {
  const m = maskRequest(req, {}, 'author/scripted-v1');
  return { key: m.key, anchor: m.anchor, step: m.step, parts: m.parts, summary: { lastUser: '', tools: [] }, response: { text: 'x', toolCalls: [], finishReason: 'stop', usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } } };
};

describe('cassette keys', () => {
  it('ignore timestamps, AT URIs and tool-call ids, but not the rest of a tool result', () => {
    const a = maskRequest(request(), {}, 'm/x');
    const b = maskRequest(request({}, '{"iso":"2027-05-05T11:11:11.111Z","uri":"at://did:plc:zzz999/app.bsky.feed.post/3kbbbbbbbbb22"}'), {}, 'm/x');
    expect(a.key).toBe(b.key);
    expect(a.step).toBe(1);
    const renamed = request();
    renamed.messages[2]!.tool_calls![0]!.id = 'call_99';
    renamed.messages[3]!.tool_call_id = 'call_99';
    expect(maskRequest(renamed, {}, 'm/x').key).toBe(a.key);
    expect(maskRequest(request({}, '{"iso":"2026-01-01T10:00:00.000Z","result":42}'), {}, 'm/x').key).not.toBe(a.key);
  });

  it('mask the fields a suite lists as volatile', () => {
    const r1 = request({}, '{"local":"Monday 10:00"}');
    const r2 = request({}, '{"local":"Tuesday 11:00"}');
    expect(maskRequest(r1, {}, 'm/x').key).not.toBe(maskRequest(r2, {}, 'm/x').key);
    expect(maskRequest(r1, { 'current-time': ['local'] }, 'm/x').key).toBe(maskRequest(r2, { 'current-time': ['local'] }, 'm/x').key);
  });

  it('store quoted volatile values as references and fill them from the new run', () => {
    const rec = maskRequest(request(), {}, 'm/x');
    const stored = templateTurn({ text: 'It is 2026-01-01T10:00:00.000Z; see at://did:plc:abc123/app.bsky.feed.post/3kaaaaaaaaa22', toolCalls: [], finishReason: 'stop', usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }, rec.tokens);
    expect(stored.text).not.toContain('2026');
    const now = maskRequest(request({}, '{"iso":"2027-05-05T11:11:11.111Z","uri":"at://did:plc:zzz999/app.bsky.feed.post/3kbbbbbbbbb22"}'), {}, 'm/x');
    expect(fillTurn(stored, now.tokens).text).toBe('It is 2027-05-05T11:11:11.111Z; see at://did:plc:zzz999/app.bsky.feed.post/3kbbbbbbbbb22');
  });
});

describe('a stale cassette says what changed', () => {
  const recorded = [entryOf(request())];
  const diagnose = (req: WireRequest) => diagnoseMiss(maskRequest(req, {}, 'author/scripted-v1'), recorded);

  it('tool schema', () => {
    const changed = { ...calc, function: { ...calc.function, description: 'Evaluate an arithmetic expression exactly' } };
    expect(diagnose(request({ tools: [changed, clock] }))).toBe('cassette stale: tool schema changed (calculate)');
  });
  it('tool added or removed', () => {
    expect(diagnose(request({ tools: [clock] }))).toBe('cassette stale: tool removed (calculate)');
    expect(diagnose(request({ tools: [calc, clock, { type: 'function', function: { name: 'new-tool' } }] }))).toBe('cassette stale: tool added (new-tool)');
  });
  it('system prompt', () => {
    const req = request();
    req.messages[0] = { role: 'system', content: 'You are assistant. Be terse.' };
    expect(diagnose(req)).toBe('cassette stale: system prompt changed');
  });
  it('a tool result', () => {
    expect(diagnose(request({}, '{"error":"boom"}'))).toBe('cassette stale: conversation changed (a prior turn or a tool result differs)');
  });
  it('a new case', () => {
    const req = request();
    req.messages[1] = { role: 'user', content: 'Something never recorded' };
    expect(diagnose(req)).toMatch(/^no cassette recorded for this conversation/);
  });
});
