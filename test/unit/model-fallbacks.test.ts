/**
 * The dense parts of MODEL_FALLBACKS: which upstream errors move to the next model
 * (src/mastra/fallback-model.ts fallbackReason) and how the variables are read
 * (src/config/core.ts). The switch itself is tested through /v1 in
 * test/server/model-fallbacks.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { fallbackReason } from '../../src/mastra/fallback-model';
import { fallbackIdsFor } from '../../src/mastra/model';

const apiError = (statusCode: number, responseBody = '') => Object.assign(new Error(`status ${statusCode}`), { statusCode, responseBody });

describe('fallbackReason', () => {
  it('moves on for 429, 5xx, context length, timeouts and refused connections', () => {
    expect(fallbackReason(apiError(429), false)).toBe('rate_limited');
    expect(fallbackReason(apiError(500), false)).toBe('upstream_error');
    expect(fallbackReason(apiError(503), false)).toBe('upstream_error');
    expect(fallbackReason(apiError(400, '{"error":{"code":"context_length_exceeded"}}'), false)).toBe('context_length');
    expect(fallbackReason(Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }), false)).toBe('timeout');
    expect(fallbackReason(new TypeError('fetch failed'), false)).toBe('upstream_error');
  });
  it('stays for errors every model would give, and never when the caller went away', () => {
    expect(fallbackReason(apiError(400, 'Invalid value for temperature'), false)).toBeUndefined();
    expect(fallbackReason(apiError(401), false)).toBeUndefined();
    expect(fallbackReason(apiError(404), false)).toBeUndefined();
    expect(fallbackReason(apiError(429), true)).toBeUndefined();
    expect(fallbackReason(new Error('something else'), false)).toBeUndefined();
    expect(fallbackReason(undefined, false)).toBeUndefined();
  });
});

describe('MODEL_FALLBACKS / AGENT_FALLBACKS_<NAME>', () => {
  it('reads the lists, drops repeats and the agent’s own model, and lets an agent opt out', () => {
    const c = loadConfig({ MODEL: 'openai/a', MODEL_FALLBACKS: ' openai/b , openai/a, openai/b,ollama/c', AGENT_FALLBACKS_NEWS_BOT: 'openai/d', AGENT_FALLBACKS_SOCIAL: 'none' });
    expect(c.model.fallbacks).toEqual(['openai/b', 'openai/a', 'ollama/c']);
    expect(fallbackIdsFor(c, 'assistant')).toEqual(['openai/b', 'ollama/c']);
    expect(fallbackIdsFor(c, 'news-bot')).toEqual(['openai/d']);
    expect(fallbackIdsFor(c, 'social')).toEqual([]);
  });
  it('refuses a malformed id or more than five models, naming the variable and not the value', () => {
    expect(() => loadConfig({ MODEL_FALLBACKS: 'openai/b,not a model' })).toThrow(/MODEL_FALLBACKS: must look like provider\/model/);
    expect(() => loadConfig({ AGENT_FALLBACKS_SOCIAL: 'x' })).toThrow(/AGENT_FALLBACKS_SOCIAL/);
    expect(() => loadConfig({ MODEL_FALLBACKS: 'p/1,p/2,p/3,p/4,p/5,p/6' })).toThrow(/at most 5/);
    expect(() => loadConfig({ MODEL_FALLBACKS: 'openai/sk-secret-value,nope' })).not.toThrow(/sk-secret-value/);
  });
});
