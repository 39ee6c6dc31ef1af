/**
 * The API-neutral input checks of /v1 (src/server/openai/images.ts, structured-output.ts,
 * client-tools.ts), on their own: no server, no model.
 */
import { describe, expect, it } from 'vitest';
import { checkClientTools, clientToolCalls, jsonDepth, parseArguments } from '../../src/server/openai/client-tools';
import { decodeDataUrl, sniffImage } from '../../src/server/openai/images';
import { compileResponseFormat } from '../../src/server/openai/structured-output';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string; param?: string }).code + ' ' + (e as { param?: string }).param;
  }
  return 'ok';
};

describe('images', () => {
  it('recognises PNG, JPEG, GIF and WebP by their first bytes only', () => {
    expect(sniffImage(PNG)).toBe('image/png');
    expect(sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0]))).toBe('image/jpeg');
    expect(sniffImage(Buffer.from('GIF89a....'))).toBe('image/gif');
    expect(sniffImage(Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 '))).toBe('image/webp');
    expect(sniffImage(Buffer.from('RIFF\x10\x00\x00\x00WAVEfmt '))).toBeUndefined();
    expect(sniffImage(Buffer.from('<svg'))).toBeUndefined();
    expect(sniffImage(Buffer.alloc(0))).toBeUndefined();
  });

  it('decodes base64 data: URLs within the size limit; image/jpg means image/jpeg', () => {
    expect(decodeDataUrl(`data:image/png;base64,${PNG.toString('base64')}`, 1000, 'p')).toMatchObject({ mediaType: 'image/png', bytes: PNG.length });
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]);
    expect(decodeDataUrl(`data:image/jpg;base64,${jpeg.toString('base64')}`, 1000, 'p').mediaType).toBe('image/jpeg');
    expect(code(() => decodeDataUrl(`data:image/png;base64,${PNG.toString('base64')}`, PNG.length - 1, 'p'))).toBe('invalid_image p');
    // A huge payload is refused by its length, before decoding.
    expect(code(() => decodeDataUrl(`data:image/png;base64,${'A'.repeat(4_000_000)}`, 1000, 'p'))).toBe('invalid_image p');
    expect(code(() => decodeDataUrl('data:image/png;base64,AAA', 1000, 'p'))).toBe('invalid_image p');
    expect(code(() => decodeDataUrl('data:;base64,AAAA', 1000, 'p'))).toBe('invalid_image p');
    expect(code(() => decodeDataUrl('data:image/png;base64', 1000, 'p'))).toBe('invalid_image p');
  });
});

describe('structured output', () => {
  it('compiles once and checks replies', () => {
    const f = compileResponseFormat({ type: 'json_schema', name: 'n', schema: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { a: { type: 'number' } }, required: ['a'] } })!;
    expect(f.check('{"a": 1}')).toBeUndefined();
    expect(f.check('{"a": "x"}')).toMatch(/does not match the schema \(\/a must be number\)/);
    expect(f.check('nope')).toBe('the reply is not valid JSON');
    expect(compileResponseFormat({ type: 'text' })).toBeUndefined();
    expect(compileResponseFormat(undefined)).toBeUndefined();
    expect(compileResponseFormat({ type: 'json_object' })!.check('[]')).toBe('the reply is JSON but not an object');
  });
  it('never fetches a remote $ref: such a schema does not compile', () => {
    expect(code(() => compileResponseFormat({ type: 'json_schema', name: 'n', schema: { $ref: 'https://example.com/s.json' } }))).toBe('invalid_value response_format.json_schema.schema');
  });
});

describe('client tools', () => {
  it('measures depth without recursion', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(jsonDepth(deep)).toBeGreaterThan(32);
    expect(jsonDepth({ a: { b: [1] } })).toBe(3);
  });
  it('checks names against the agent tools and the memory tools', () => {
    const t = (name: string) => ({ name, parameters: {}, param: 'tools[0].function' });
    expect(code(() => checkClientTools([t('calculate')], ['calculate']))).toBe('invalid_value tools[0].function.name');
    expect(code(() => checkClientTools([t('setWorkingMemory')], []))).toBe('invalid_value tools[0].function.name');
    expect(code(() => checkClientTools([t('lookup')], ['calculate']))).toBe('ok');
  });
  it('picks client calls out of a run (Mastra chunks or plain objects) and parses arguments leniently', () => {
    const calls = clientToolCalls([{ payload: { toolCallId: 'a', toolName: 'lookup', args: { q: 1 } } }, { toolCallId: 'b', toolName: 'calculate', args: {} }], new Set(['lookup']));
    expect(calls).toEqual([{ id: 'a', name: 'lookup', arguments: '{"q":1}' }]);
    expect(parseArguments('[1]')).toEqual({});
    expect(parseArguments('{')).toEqual({});
    expect(parseArguments('{"x":1}')).toEqual({ x: 1 });
  });
});
