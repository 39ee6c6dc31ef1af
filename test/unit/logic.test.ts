import { describe, expect, it } from 'vitest';
import { redact, redactText, registerSecret } from '../../src/logger';
import { RateLimiter } from '../../src/server/auth';
import { resolveResource } from '../../src/server/auth';
import { finishReason } from '../../src/server/openai/chat';
import { upstreamError } from '../../src/server/openai/errors';
import { evaluateExpression } from '../../src/tools/general/calculate';

describe('calculate', () => {
  it('evaluates with precedence, associativity and parentheses', () => {
    expect(evaluateExpression('1 + 2 * 3')).toBe(7);
    expect(evaluateExpression('(1 + 2) * 3')).toBe(9);
    expect(evaluateExpression('2 ^ 3 ^ 2')).toBe(512);
    expect(evaluateExpression('-2 ^ 2')).toBe(-4);
    expect(evaluateExpression('10 % 4 - 7 / 2')).toBe(-1.5);
    expect(evaluateExpression('1.5e3 / 3')).toBe(500);
  });
  it('rejects what is not arithmetic', () => {
    expect(() => evaluateExpression('1 +')).toThrow(/end of expression/);
    expect(() => evaluateExpression('process.exit()')).toThrow(/unexpected/);
    expect(() => evaluateExpression('1 / 0')).toThrow(/division by zero/);
    expect(() => evaluateExpression('(1')).toThrow(/expected/);
  });
});

describe('rate limiter', () => {
  it('allows rpm requests per sliding minute and says how long to wait', () => {
    const rl = new RateLimiter(2);
    expect(rl.take('k', 0)).toBe(0);
    expect(rl.take('k', 10_000)).toBe(0);
    expect(rl.take('k', 20_000)).toBe(40);
    expect(rl.take('other', 20_000)).toBe(0);
    expect(rl.take('k', 60_001)).toBe(0);
    expect(new RateLimiter(0).take('k')).toBe(0);
  });
});

describe('upstream error mapping', () => {
  it('maps statuses, timeouts and connection failures to 502/503/504', () => {
    expect(upstreamError(Object.assign(new Error('x'), { statusCode: 500 })).status).toBe(502);
    expect(upstreamError(Object.assign(new Error('x'), { statusCode: 429 })).status).toBe(503);
    expect(upstreamError(new Error('wrapped', { cause: Object.assign(new Error('t'), { name: 'TimeoutError' }) })).status).toBe(504);
    expect(upstreamError(new TypeError('fetch failed', { cause: Object.assign(new Error('c'), { code: 'ECONNREFUSED' }) })).status).toBe(503);
    expect(upstreamError(new Error('??')).status).toBe(502);
  });
});

describe('redaction', () => {
  it('removes registered secrets, bearer tokens, URL passwords and secret-named fields', () => {
    registerSecret('super-secret-value-1');
    expect(redactText('key super-secret-value-1 here')).toBe('key [redacted] here');
    expect(redactText('Authorization: Bearer abc.def.ghi')).toBe('Authorization: Bearer [redacted]');
    expect(redactText('postgres://u:pw@host/db')).toBe('postgres://u:[redacted]@host/db');
    expect(redact({ apiKey: 'x', nested: { password: 'y', ok: 'fine' } })).toEqual({ apiKey: '[redacted]', nested: { password: '[redacted]', ok: 'fine' } });
  });
});

describe('chat helpers', () => {
  it('maps finish reasons and resources', () => {
    expect(finishReason('length')).toBe('length');
    expect(finishReason('content-filter')).toBe('content_filter');
    expect(finishReason('stop')).toBe('stop');
    expect(resolveResource('alice', undefined)).toBe('alice');
    expect(resolveResource('alice', 'u1')).toBe('alice:u1');
    expect(resolveResource(undefined, 'u1')).toBe('u1');
    expect(resolveResource(undefined, undefined)).toBe('anonymous');
  });
});

describe("Mastra's log lines through the JSON logger", async () => {
  const { mastraFields, withoutStack } = await import('../../src/system/mastra-logger');
  it('drops stack frames from a message and from error arguments, keeps name and message', () => {
    expect(withoutStack('Error executing step draft: Boom: bad\n    at f (/x.ts:1:2)\n    at g (/y.ts:3:4)')).toBe('Error executing step draft: Boom: bad');
    expect(withoutStack('no frames here')).toBe('no frames here');
    const err = new Error('upstream down', { cause: new TypeError('fetch failed') });
    const fields = mastraFields([{ error: err, runId: 'r1', nested: { stack: 'at x', keep: 1 } }]);
    expect(fields).toEqual({ error: { name: 'Error', message: 'upstream down', cause: { name: 'TypeError', message: 'fetch failed' } }, runId: 'r1', nested: { keep: 1 } });
    expect(mastraFields([])).toBeUndefined();
    expect(mastraFields(['a', 2])).toEqual({ details: ['a', 2] });
  });
});
