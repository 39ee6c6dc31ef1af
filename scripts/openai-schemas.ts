/**
 * Extracts from OpenAI's published OpenAPI document (openai/openai-openapi) the component
 * schemas our /v1 answers are checked against, with everything they reference, into
 * test/fixtures/openai-openapi/schemas.json (harness/openai-spec.ts compiles them), with the
 * document's own example answers for those routes (the validator must accept them).
 *
 *   bash scripts/bootstrap.sh run scripts/openai-schemas.ts <openapi.json> [commit] [out.json]
 *
 * The schemas are copied as they are apart from documentation-only keys (description,
 * examples, x-oaiMeta…), which are dropped to keep the fixture small; `nullable`,
 * `discriminator` and the other x- keywords stay and are interpreted by the harness.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** The schemas the tests validate against, and the commit of the document they come from. */
export const ROOTS = [
  // Chat completions and models (src/server/openai/chat/, models.ts)
  'CreateChatCompletionRequest',
  'CreateChatCompletionResponse',
  'CreateChatCompletionStreamResponse',
  'ErrorResponse',
  'Error',
  'ListModelsResponse',
  'Model',
  // Responses API (POST /v1/responses, GET /v1/responses/{id}, …/input_items, DELETE)
  'CreateResponse',
  'Response',
  'ResponseStreamEvent',
  'ResponseItemList',
] as const;
const DEFAULT_COMMIT = 'f85dbe223d40e1a31cba812ab2d755c7e98a92a3';
const DROP = new Set(['description', 'example', 'examples', 'title', 'x-oaiMeta', 'x-oaiTypeLabel', 'x-oaiExpandable', 'x-oaiSupportedSDKs', 'x-stainless-skip', 'x-stainless-param', 'deprecated']);
const REF = '#/components/schemas/';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A copy without documentation-only keys, noting every component it references. */
function strip(node: Json, refs: Set<string>, parentKey = ''): Json {
  if (Array.isArray(node)) return node.map((n) => strip(n, refs));
  if (!node || typeof node !== 'object') return node;
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(node)) {
    // Keys under `properties` are property names (a property may be called `description`).
    if (parentKey !== 'properties' && DROP.has(k) && typeof v !== 'object') continue;
    if (parentKey !== 'properties' && (k === 'x-oaiMeta' || k === 'examples' || k === 'example')) continue;
    if (k === '$ref' && typeof v === 'string') {
      if (!v.startsWith(REF)) throw new Error(`unexpected $ref ${v}`);
      refs.add(v.slice(REF.length));
    }
    out[k] = strip(v, refs, k);
  }
  return out;
}

/** The operations whose documented example answers are kept (a check of the validator itself). */
export const EXAMPLE_OPERATIONS: Array<[method: string, path: string]> = [
  ['post', '/chat/completions'],
  ['get', '/models'],
  ['get', '/models/{model}'],
  ['post', '/responses'],
  ['get', '/responses/{response_id}'],
  ['delete', '/responses/{response_id}'],
  ['get', '/responses/{response_id}/input_items'],
  ['post', '/responses/{response_id}/cancel'],
];

export interface Example {
  method: string;
  path: string;
  title: string;
  /** The documented answer as written (JSON, or SSE text for streaming examples). */
  response: string;
}

/** The example answers the document gives for the operations above (x-oaiMeta.examples). */
export function examples(doc: { paths: Record<string, Record<string, { 'x-oaiMeta'?: { examples?: unknown } }>> }): Example[] {
  const out: Example[] = [];
  for (const [method, p] of EXAMPLE_OPERATIONS) {
    const raw = doc.paths[p]?.[method]?.['x-oaiMeta']?.examples;
    for (const e of (Array.isArray(raw) ? raw : raw ? [raw] : []) as Array<{ title?: string; response?: string }>) {
      if (typeof e.response === 'string' && e.response.trim()) out.push({ method: method.toUpperCase(), path: p, title: e.title ?? '', response: e.response });
    }
  }
  return out;
}

export function extract(doc: { components: { schemas: Record<string, Json> } }, roots: readonly string[]): Record<string, Json> {
  const all = doc.components.schemas;
  const picked: Record<string, Json> = {};
  const queue = [...roots];
  while (queue.length) {
    const name = queue.shift()!;
    if (name in picked) continue;
    if (!Object.hasOwn(all, name)) throw new Error(`schema ${name} is not in the document`);
    const refs = new Set<string>();
    picked[name] = strip(all[name]!, refs);
    queue.push(...refs);
  }
  return Object.fromEntries(Object.keys(picked).sort().map((k) => [k, picked[k]!]));
}

function main() {
  const [input, commit = DEFAULT_COMMIT, out = path.resolve(import.meta.dirname, '../test/fixtures/openai-openapi/schemas.json')] = process.argv.slice(2);
  if (!input) {
    console.error('usage: scripts/openai-schemas.ts <openapi.json> [commit] [out.json]');
    process.exit(64);
  }
  const raw = fs.readFileSync(input);
  const doc = JSON.parse(raw.toString('utf8')) as Parameters<typeof examples>[0] & { openapi: string; info: { version: string }; components: { schemas: Record<string, Json> } };
  const schemas = extract(doc, ROOTS);
  const fixture = {
    source: {
      repository: 'openai/openai-openapi',
      commit,
      document_sha256: createHash('sha256').update(raw).digest('hex'),
      openapi: doc.openapi,
      api_version: doc.info.version,
      roots: ROOTS,
      generated_by: 'scripts/openai-schemas.ts',
    },
    schemas,
    examples: examples(doc),
  };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(fixture)}\n`);
  console.log(`${Object.keys(schemas).length} schemas (${ROOTS.length} roots), ${fixture.examples.length} examples → ${out} (${fs.statSync(out).size} bytes)`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) main();
