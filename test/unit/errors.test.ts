/**
 * Error mapping (docs/errors.md): what a caller gets for a failure of the model provider
 * (src/server/openai/errors.ts upstreamError), for a request express or body-parser could
 * not read (src/server/errors.ts toOpenAIError), and how the one error sender answers.
 */
import type { Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../src/logger';
import { registerSecret } from '../../src/logger';
import { errorSender, toOpenAIError } from '../../src/server/errors';
import { errors, OpenAIError, upstreamError } from '../../src/server/openai/errors';

const withProps = (message: string, props: Record<string, unknown>) => Object.assign(new Error(message), props);
const shape = (e: OpenAIError) => ({ status: e.status, type: e.type, code: e.code });

describe('upstreamError: a failed model call', () => {
  it('maps the provider status: 429 → 503 rate limited, 401/403 → 502 credentials, others → 502', () => {
    expect(shape(upstreamError(withProps('x', { statusCode: 429 })))).toEqual({ status: 503, type: 'upstream_error', code: 'upstream_rate_limited' });
    expect(upstreamError(withProps('x', { statusCode: 429 })).message).toBe('The model provider is rate limiting this server; try again shortly.');
    for (const s of [401, 403]) {
      const e = upstreamError(withProps('x', { statusCode: s }));
      expect(shape(e)).toEqual({ status: 502, type: 'upstream_error', code: 'upstream_auth_failed' });
      expect(e.message).toContain(`status ${s}`);
      expect(e.message).toContain('OPENAI_API_KEY');
    }
    for (const s of [400, 404, 500, 502, 503]) {
      const e = upstreamError(withProps('x', { statusCode: s }));
      expect(shape(e)).toEqual({ status: 502, type: 'upstream_error', code: 'upstream_error' });
      expect(e.message).toBe(`The model provider answered with an error (status ${s}).`);
    }
  });

  it('reads a numeric `status` too, anywhere in the cause chain, outermost first', () => {
    expect(upstreamError(withProps('x', { status: 401 })).code).toBe('upstream_auth_failed');
    expect(upstreamError(withProps('x', { status: '401' })).code).toBe('upstream_error');
    expect(upstreamError(new Error('outer', { cause: withProps('inner', { status: 429 }) })).code).toBe('upstream_rate_limited');
    expect(upstreamError(withProps('outer', { statusCode: 403, cause: withProps('inner', { statusCode: 500 }) })).code).toBe('upstream_auth_failed');
    // Retries: the last error, or every error of an aggregate.
    expect(upstreamError(withProps('retries exhausted', { lastError: withProps('x', { statusCode: 401 }) })).code).toBe('upstream_auth_failed');
    expect(upstreamError(new AggregateError([new Error('a'), withProps('b', { statusCode: 429 })], 'all failed')).code).toBe('upstream_rate_limited');
  });

  it('maps timeouts to 504 timeout_error, before any status', () => {
    const timeouts = [
      withProps('t', { name: 'TimeoutError' }),
      new Error('the request timed out'),
      new Error('Request timeout'),
      new Error('time out'),
      withProps('x', { code: 'ETIMEDOUT' }),
      withProps('x', { code: 'UND_ERR_HEADERS_TIMEOUT' }),
      withProps('x', { code: 'UND_ERR_BODY_TIMEOUT' }),
      withProps('connect failed', { name: 'ConnectTimeoutError' }),
      new Error('wrapped', { cause: withProps('t', { name: 'TimeoutError' }) }),
      withProps('gateway', { statusCode: 500, cause: new Error('socket timed out') }),
    ];
    for (const err of timeouts) {
      const e = upstreamError(err);
      expect(shape(e), err.message).toEqual({ status: 504, type: 'timeout_error', code: 'upstream_timeout' });
      expect(e.message).toBe('The model did not answer in time.');
    }
  });

  it('maps connection failures to 503 upstream_unavailable', () => {
    for (const text of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'fetch failed', 'Cannot connect to API', 'socket hang up', 'API key not found', 'econnrefused']) {
      const e = upstreamError(new Error(`x ${text} y`));
      expect(shape(e), text).toEqual({ status: 503, type: 'upstream_error', code: 'upstream_unavailable' });
      expect(e.message).toBe('The model provider is unreachable.');
    }
    expect(upstreamError(new TypeError('fetch failed', { cause: withProps('c', { code: 'ECONNREFUSED' }) })).code).toBe('upstream_unavailable');
    expect(upstreamError(withProps('x', { code: 'ENOTFOUND' })).code).toBe('upstream_unavailable');
    expect(upstreamError(withProps('ENOTFOUND', { name: 'X' })).code).toBe('upstream_unavailable');
    // A status wins over the connection words of a message.
    expect(upstreamError(withProps('ECONNRESET', { statusCode: 500 })).code).toBe('upstream_error');
  });

  it('anything else is 502 upstream_error "The model call failed."', () => {
    for (const err of [new Error('??'), 'a string', null, undefined, 42, {}]) {
      const e = upstreamError(err);
      expect(shape(e)).toEqual({ status: 502, type: 'upstream_error', code: 'upstream_error' });
      expect(e.message).toBe('The model call failed.');
    }
  });

  it('survives a cyclic cause chain', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(upstreamError(a).code).toBe('upstream_error');
    const c = withProps('c', { statusCode: 401 }) as Error & { cause?: unknown };
    c.cause = c;
    expect(upstreamError(c).code).toBe('upstream_auth_failed');
  });

  it('no model configured → 503 model_not_configured; another resource’s thread → 404', () => {
    const e = upstreamError(new Error('x', { cause: withProps('y', { code: 'MODEL_NOT_CONFIGURED', statusCode: 500 }) }));
    expect(shape(e)).toEqual({ status: 503, type: 'server_error', code: 'model_not_configured' });
    expect(e.message).toContain('OPENAI_BASE_URL');
    const t = upstreamError(new Error('wrapped', { cause: new Error('Thread x: resourceId does not match the current resourceId y') }));
    expect(shape(t)).toEqual({ status: 404, type: 'invalid_request_error', code: 'thread_not_found' });
    expect(t.param).toBe('x-thread-id');
    expect(t.message).toBe('No conversation with that x-thread-id exists for this user.');
  });

  it('passes an OpenAIError through unchanged', () => {
    const own = errors.badKey();
    expect(upstreamError(own)).toBe(own);
  });
});

describe('the errors callers get (docs/errors.md)', () => {
  it('each has its status, type, code and param', () => {
    const rows: Array<[OpenAIError, number, string, string, string | null]> = [
      [errors.invalidBody('bad', 'messages'), 400, 'invalid_request_error', 'invalid_value', 'messages'],
      [errors.invalidBody('bad'), 400, 'invalid_request_error', 'invalid_value', null],
      [errors.badJson(), 400, 'invalid_request_error', 'invalid_json', null],
      [errors.missingKey(), 401, 'invalid_request_error', 'missing_api_key', null],
      [errors.badKey(), 401, 'invalid_request_error', 'invalid_api_key', null],
      [errors.forbidden('/api'), 403, 'invalid_request_error', 'forbidden', null],
      [errors.agentForbidden('social'), 403, 'permission_error', 'agent_forbidden', 'model'],
      [errors.modelNotFound('nope'), 404, 'invalid_request_error', 'model_not_found', 'model'],
      [errors.threadNotFound(), 404, 'invalid_request_error', 'thread_not_found', 'x-thread-id'],
      [errors.routeNotFound('GET', '/v1/x'), 404, 'invalid_request_error', 'unknown_url', null],
      [errors.tooLarge('1mb'), 413, 'invalid_request_error', 'request_too_large', null],
      [errors.rateLimited(7, 120), 429, 'requests', 'rate_limit_exceeded', null],
      [errors.internal(), 500, 'server_error', 'internal_error', null],
    ];
    for (const [e, status, type, code, param] of rows) {
      expect(e.toJSON()).toEqual({ error: { message: e.message, type, param, code } });
      expect(e.status, code).toBe(status);
    }
  });

  it('messages name what went wrong', () => {
    expect(errors.missingKey().message).toContain('Authorization: Bearer YOUR_KEY');
    expect(errors.badKey().message).toBe('Incorrect API key provided.');
    expect(errors.forbidden('/api').message).toBe('This API key may not use /api.');
    expect(errors.agentForbidden('social').message).toContain('`social`');
    expect(errors.modelNotFound('nope').message).toContain('`nope`');
    expect(errors.routeNotFound('GET', '/v1/x').message).toBe('Unknown request URL: GET /v1/x.');
    expect(errors.tooLarge('1mb').message).toBe('Request body is larger than the 1mb limit.');
    const r = errors.rateLimited(7, 120);
    expect(r.message).toBe('Rate limit reached: 120 requests per minute for this API key. Try again in 7s.');
    expect(r.headers).toEqual({ 'retry-after': '7' });
    expect(errors.badJson().headers).toEqual({});
    expect(errors.internal().message).toBe('The server had an error while processing your request.');
    expect(errors.badJson().message).toMatch(/parse the JSON body/);
  });

  it('redacts secrets from the message it sends', () => {
    registerSecret('errors-test-secret-123456');
    const e = errors.modelNotFound('errors-test-secret-123456');
    expect(e.toJSON().error.message).not.toContain('errors-test-secret-123456');
    expect(e.toJSON().error.message).toContain('[redacted]');
  });
});

describe('toOpenAIError: requests express or body-parser could not read are 4xx', () => {
  const bp = (type: string, status = 400) => withProps('x', { type, status, statusCode: status, expose: true });
  const of = (err: unknown) => {
    const e = toOpenAIError(err, '1mb');
    return e && { status: e.status, code: e.code, type: e.type };
  };

  it('maps body-parser error types', () => {
    expect(of(bp('entity.too.large', 413))).toEqual({ status: 413, code: 'request_too_large', type: 'invalid_request_error' });
    expect(toOpenAIError(bp('entity.too.large', 413), '2mb')?.message).toContain('2mb');
    expect(of(bp('entity.parse.failed'))).toEqual({ status: 400, code: 'invalid_json', type: 'invalid_request_error' });
    expect(of(bp('charset.unsupported', 415))).toEqual({ status: 415, code: 'unsupported_charset', type: 'invalid_request_error' });
    expect(of(bp('encoding.unsupported', 415))).toEqual({ status: 415, code: 'unsupported_encoding', type: 'invalid_request_error' });
    expect(of(bp('request.aborted'))).toEqual({ status: 400, code: 'invalid_body', type: 'invalid_request_error' });
    expect(of(bp('request.size.invalid'))).toEqual({ status: 400, code: 'invalid_body', type: 'invalid_request_error' });
    expect(toOpenAIError(bp('charset.unsupported', 415), '1mb')?.message).toMatch(/charset/);
    expect(toOpenAIError(bp('encoding.unsupported', 415), '1mb')?.message).toMatch(/Content-Encoding/);
    expect(toOpenAIError(bp('request.aborted'), '1mb')?.message).toMatch(/ended before/);
    expect(toOpenAIError(bp('request.size.invalid'), '1mb')?.message).toMatch(/Content-Length/);
  });

  it('recognises body-parser errors by their type alone', () => {
    expect(of(withProps('x', { type: 'entity.too.large' }))?.code).toBe('request_too_large');
    expect(of(withProps('x', { type: 'entity.parse.failed' }))?.code).toBe('invalid_json');
    expect(of(withProps('x', { type: 'request.aborted' }))?.code).toBe('invalid_body');
  });

  it('maps other exposed 4xx by status (status or statusCode)', () => {
    expect(of(withProps('x', { status: 400, expose: true }))).toEqual({ status: 400, code: 'invalid_body', type: 'invalid_request_error' });
    expect(of(withProps('x', { statusCode: 400, expose: true }))).toEqual({ status: 400, code: 'invalid_body', type: 'invalid_request_error' });
    expect(of(withProps('x', { status: 499, expose: true }))?.status).toBe(499);
    expect(of(withProps('x', { status: 413, expose: true }))?.code).toBe('request_too_large');
    expect(of(withProps('x', { status: 415, expose: true }))).toEqual({ status: 415, code: 'unsupported_encoding', type: 'invalid_request_error' });
    expect(of(withProps('x', { type: 'some.other', status: 400, expose: true }))?.code).toBe('invalid_body');
    expect(of(withProps('x', { type: 42, status: 400, expose: true }))?.code).toBe('invalid_body');
    expect(toOpenAIError(withProps('x', { status: 400, expose: true }), '1mb')?.message).toMatch(/could not be read/);
    expect(toOpenAIError(withProps('x', { status: 415, expose: true }), '1mb')?.message).toBe('Unsupported request body encoding.');
  });

  it('a URL that is not valid percent-encoding is 400 invalid_url', () => {
    expect(of(Object.assign(new URIError('URI malformed'), { status: 400 }))).toEqual({ status: 400, code: 'invalid_url', type: 'invalid_request_error' });
    expect(toOpenAIError(Object.assign(new URIError('URI malformed'), { status: 400 }), '1mb')?.message).toBe('The request URL is not valid percent-encoding.');
    expect(of(Object.assign(new URIError('URI malformed'), { status: 500 }))).toBeUndefined();
    expect(of(new URIError('URI malformed'))).toBeUndefined();
  });

  it('leaves everything else to the 500 path (not the caller’s fault, or not meant for the caller)', () => {
    for (const err of [
      null,
      undefined,
      'string',
      42,
      new Error('boom'),
      withProps('x', { status: 400 }),
      withProps('x', { status: 400, expose: false }),
      withProps('x', { status: 400, expose: 'true' }),
      withProps('x', { status: 500, expose: true }),
      withProps('x', { status: 399, expose: true }),
      withProps('x', { status: 500, statusCode: 400, expose: true }),
      withProps('x', { status: '400', expose: true }),
      withProps('x', { statusCode: '400', expose: true }),
    ])
      expect(of(err)).toBeUndefined();
    expect(of(withProps('x', { status: '400', statusCode: 400, expose: true }))?.status).toBe(400);
    const own = errors.badKey();
    expect(toOpenAIError(own, '1mb')).toBe(own);
  });
});

describe('errorSender', () => {
  function fakeRes(headersSent = false) {
    const r = { headersSent, headers: {} as Record<string, string>, statusCode: 0, body: undefined as unknown, ended: false };
    const res = {
      get headersSent() { return r.headersSent; },
      setHeader: (k: string, v: string) => void (r.headers[k] = v),
      status(s: number) { r.statusCode = s; return this; },
      json(b: unknown) { r.body = b; },
      end() { r.ended = true; },
    } as unknown as Response;
    return { res, r };
  }
  const logs: Array<[string, unknown]> = [];
  const logger = { error: (msg: string, fields: unknown) => void logs.push([msg, fields]) } as unknown as Logger;
  const req = { path: '/v1/x' } as Request;

  it('answers an OpenAIError with its status, headers and body', () => {
    const { res, r } = fakeRes();
    errorSender({ logger, bodyLimit: '1mb', what: 'v1' })(errors.rateLimited(3, 5), req, res, () => {});
    expect(r.statusCode).toBe(429);
    expect(r.headers).toEqual({ 'retry-after': '3' });
    expect((r.body as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
  });

  it('logs an unexpected error and answers 500 without detail', () => {
    logs.length = 0;
    const { res, r } = fakeRes();
    const boom = new Error('db password leaked');
    errorSender({ logger, bodyLimit: '1mb', what: 'v1' })(boom, req, res, () => {});
    expect(r.statusCode).toBe(500);
    expect(JSON.stringify(r.body)).not.toContain('leaked');
    expect(logs).toEqual([['v1 failed', { path: '/v1/x', error: boom }]]);
  });

  it('maps body-parser errors with the configured body limit', () => {
    const { res, r } = fakeRes();
    errorSender({ logger, bodyLimit: '3mb', what: 'v1' })(withProps('x', { type: 'entity.too.large', status: 413, expose: true }), req, res, () => {});
    expect(r.statusCode).toBe(413);
    expect(JSON.stringify(r.body)).toContain('3mb');
  });

  it("uses a route family's own shape first, and its decoration", () => {
    logs.length = 0;
    const a = fakeRes();
    errorSender({ logger, bodyLimit: '1mb', what: 'ps', own: (e) => (e === 'mine' ? { status: 409, body: { mine: true } } : undefined) })('mine', req, a.res, () => {});
    expect([a.r.statusCode, a.r.body]).toEqual([409, { mine: true }]);
    const b = fakeRes();
    errorSender({ logger, bodyLimit: '1mb', what: 'ps', own: () => undefined, decorate: (body, status) => ({ ...body, status }) })(errors.badKey(), req, b.res, () => {});
    expect(b.r.statusCode).toBe(401);
    expect(b.r.body).toMatchObject({ status: 401, error: { code: 'invalid_api_key' } });
    expect(logs).toEqual([]);
  });

  it('once headers are sent, only ends the response', () => {
    const { res, r } = fakeRes(true);
    errorSender({ logger, bodyLimit: '1mb', what: 'v1' })(errors.rateLimited(3, 5), req, res, () => {});
    expect(r.ended).toBe(true);
    expect(r.statusCode).toBe(0);
    expect(r.headers).toEqual({});
    expect(r.body).toBeUndefined();
  });
});
