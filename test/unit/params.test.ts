/**
 * The parameter policy of /v1/chat/completions (src/server/openai/params.ts) covers every
 * property of OpenAI's CreateChatCompletionRequest (test/fixtures/openai-openapi, from
 * openai/openai-openapi), and the memory resource derived from any `user` string
 * (src/server/auth.ts) stays inside the caller's own space.
 */
import { describe, expect, it } from 'vitest';
import { specFixture } from '../../harness/openai-spec';
import { resolveResource, userKey } from '../../src/server/auth';
import { OpenAIError } from '../../src/server/openai/errors';
import { CHAT_COMPLETION_PARAMS, checkParams, REFUSED_EXTENSIONS } from '../../src/server/openai/params';

type Schema = { $ref?: string; allOf?: Schema[]; properties?: Record<string, unknown> };
/** Every property name of a schema, following allOf and $ref. */
function propertiesOf(s: Schema): string[] {
  if (s.$ref) return propertiesOf(specFixture.schemas[s.$ref.split('/').pop()!] as Schema);
  return [...(s.allOf ?? []).flatMap(propertiesOf), ...Object.keys(s.properties ?? {})];
}

const base = { model: 'assistant', messages: [] };
const refusal = (body: Record<string, unknown>, compatible = true) => {
  try {
    checkParams({ ...base, ...body }, compatible);
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(OpenAIError);
    return (e as OpenAIError).toJSON().error;
  }
};

describe('chat completion parameter policy', () => {
  it('lists every property of CreateChatCompletionRequest, and nothing else', () => {
    const spec = new Set(propertiesOf(specFixture.schemas.CreateChatCompletionRequest as Schema));
    expect(spec.size).toBeGreaterThan(30);
    expect(Object.keys(CHAT_COMPLETION_PARAMS).sort()).toEqual([...spec].sort());
    for (const [name, rule] of Object.entries(CHAT_COMPLETION_PARAMS)) expect(rule.reason.length, name).toBeGreaterThan(5);
  });

  it('refuses a use of a refused parameter, naming it; its default is no use', () => {
    expect(refusal({ logprobs: true })).toMatchObject({ code: 'unsupported_parameter', param: 'logprobs', type: 'invalid_request_error' });
    expect(refusal({ logprobs: false, n: 1, top_logprobs: null, modalities: ['text'], audio: null, prediction: null })).toBeUndefined();
    expect(refusal({ n: 3 })?.param).toBe('n');
    expect(refusal({ modalities: ['audio'] })?.param).toBe('modalities');
    for (const k of Object.keys(REFUSED_EXTENSIONS)) expect(refusal({ [k]: 1 })?.param).toBe(k);
    expect(refusal({ top_k: null })).toBeUndefined();
  });

  it('refuses the pass-through parameters for a model that is not OpenAI-compatible', () => {
    for (const k of ['reasoning_effort', 'verbosity', 'logit_bias', 'web_search_options']) {
      expect(refusal({ [k]: 'x' }, true), k).toBeUndefined();
      expect(refusal({ [k]: 'x' }, false)?.param, k).toBe(k);
      expect(refusal({ [k]: null }, false), k).toBeUndefined();
    }
  });

  it('names ignored unknown keys (at most 20, only printable names), and never own-property tricks', () => {
    expect(checkParams({ ...base, chat_id: 1, metadata: {}, store: true }, true).ignoredUnknown).toEqual(['chat_id']);
    const many = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 1]));
    expect(checkParams({ ...base, ...many, 'bad\nname': 1 }, true).ignoredUnknown).toHaveLength(20);
    expect(checkParams(JSON.parse('{"__proto__": {"x": 1}, "constructor": 1}'), true).ignoredUnknown).toEqual(['__proto__', 'constructor']);
  });
});

describe('user → memory resource', () => {
  it('keeps plain ids as they are and digests any other string', () => {
    expect(userKey('alice')).toBe('alice');
    expect(userKey('a:b@c.d-e_f')).toBe('a:b@c.d-e_f');
    for (const u of ['Ada Lovelace', 'aGk+L3g=', 'x'.repeat(257), 'x\u0000y', 'ü']) expect(userKey(u)).toMatch(/^sha256~[A-Za-z0-9_-]{43}$/);
    expect(userKey('Ada Lovelace')).toBe(userKey('Ada Lovelace'));
    expect(userKey('Ada Lovelace')).not.toBe(userKey('Ada  Lovelace'));
    // A digest spelled as a user id is digested again: no user names another one's digest.
    const d = userKey('Ada Lovelace');
    expect(userKey(d)).not.toBe(d);
  });

  it("stays in the key owner's space", () => {
    expect(resolveResource('alice', 'bob')).toBe('alice:bob');
    expect(resolveResource('alice', 'x y')).toMatch(/^alice:sha256~/);
    expect(resolveResource('alice', null)).toBe('alice');
    expect(resolveResource(undefined, 'x y')).toMatch(/^sha256~/);
    expect(resolveResource(undefined, '')).toBe('anonymous');
  });
});
