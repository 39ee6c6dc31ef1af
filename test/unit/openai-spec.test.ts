/**
 * The validator of harness/openai-spec.ts against OpenAI's own documented example answers
 * (kept in the fixture by scripts/openai-schemas.ts). The examples are older than the
 * schemas in places (no `sequence_number` on Responses events, no `logprobs` on output
 * text, `"user": null` where the schema says string, a trailing comma): those deviations
 * are listed here, so the test fails if the validator reports anything else, e.g. an
 * error introduced by how it adapts OpenAPI's keywords.
 */
import { describe, expect, it } from 'vitest';
import { conformsTo, schemaFor, specFixture, sseData } from '../../harness/openai-spec';

/** Errors the stale examples cause. */
const STALE = [
  /must have required property '(sequence_number|logprobs|refusal|input_tokens_details|action)'$/,
  /\/user must be string$/,
  /\/usage must be object$/,
  // The Logprobs chat example: old logprobs shape and `system_fingerprint: null`.
  /\/choices\/0\/logprobs must (be null|match a schema in anyOf)$/,
  /\/system_fingerprint must be string$/,
];

function bodiesOf(e: { title: string; response: string }): unknown[] {
  const streaming = e.title === 'Streaming';
  const texts = streaming ? (/^(event|data):/m.test(e.response) ? sseData(e.response) : e.response.split(/\n\n+/).filter((x) => x.trim().startsWith('{'))) : [e.response];
  // One example (GET /models) has a trailing comma.
  return texts.map((t) => JSON.parse(t.replace(/,(\s*[\]}])/g, '$1')));
}

describe("OpenAI's documented examples", () => {
  const results = specFixture.examples.flatMap((e) =>
    bodiesOf(e).map((body) => {
      const schema = schemaFor(e.method, `/v1${e.path.replace(/\{[^}]+\}/g, 'x')}`, 200, e.title === 'Streaming' ? 'event' : 'json')!;
      return { name: `${e.method} ${e.path} ${e.title}`.trim(), schema, ...conformsTo(schema, body) };
    }),
  );

  it('are all checked (chat, models, Responses)', () => {
    expect(specFixture.examples.length).toBeGreaterThanOrEqual(19);
    expect(new Set(results.map((r) => r.schema))).toEqual(new Set(['CreateChatCompletionResponse', 'CreateChatCompletionStreamResponse', 'ListModelsResponse', 'Model', 'Response', 'ResponseStreamEvent', 'DeletedResponse', 'ResponseItemList']));
  });

  it('that follow the schemas pass', () => {
    const passing = [...new Set(results.filter((r) => r.ok).map((r) => r.name))];
    for (const name of ['POST /chat/completions Default', 'POST /chat/completions Image input', 'POST /chat/completions Streaming', 'GET /models', 'GET /models/{model}', 'DELETE /responses/{response_id}', 'GET /responses/{response_id}/input_items'])
      expect(passing, name).toContain(name);
  });

  it('that do not fail only on their known stale fields', () => {
    const other = results.flatMap((r) => r.errors.map((e) => `${r.name}: ${e.replace(/^\[\w+\] /, '')}`)).filter((e) => !STALE.some((re) => re.test(e)));
    expect(other).toEqual([]);
  });
});
