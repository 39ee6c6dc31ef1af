/**
 * OpenAI's own OpenAPI document as the contract of /v1. The component schemas we answer
 * with (chat completions, models, errors, the Responses API) are extracted by
 * scripts/openai-schemas.ts from openai/openai-openapi (commit recorded in the fixture)
 * and compiled here with ajv as JSON Schema 2020-12 (OpenAPI 3.1), after these
 * adaptations of OpenAPI's own keywords:
 *   - `nullable: true` (OpenAPI 3.0 style, still used in the document) → also allows null;
 *   - `discriminator` → dropped (an annotation: the oneOf/anyOf it sits on still decides);
 *   - `$recursiveAnchor` / `$recursiveRef: '#'` (2019-09) → a `$ref` to the schema itself;
 *   - `x-*` keys and `format` → ignored (formats such as `unixtime` are OpenAI's own).
 *
 * `conformsTo(name, value)` checks one value; `validatingFetch()` is a fetch for SDK
 * clients (`new OpenAI({ fetch })`) that checks every /v1 answer it carries (JSON bodies
 * by route and status, every SSE `data:` event, every error body) and records violations.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const FIXTURE = path.resolve(import.meta.dirname, '../test/fixtures/openai-openapi/schemas.json');
const ID = 'https://one-agents.local/openai-openapi.json';
const REF = '#/components/schemas/';

/**
 * Not in the document as a schema: DELETE /v1/responses/{id} is documented with a bare
 * "200 OK" and this example body (`{"id": "resp_…", "object": "response", "deleted": true}`).
 */
const LOCAL_SCHEMAS: Record<string, Json> = {
  DeletedResponse: {
    type: 'object',
    properties: { id: { type: 'string' }, object: { type: 'string', enum: ['response'] }, deleted: { type: 'boolean', enum: [true] } },
    required: ['id', 'object', 'deleted'],
  },
};

export interface SpecFixture {
  source: { repository: string; commit: string; document_sha256: string; roots: string[] };
  schemas: Record<string, Json>;
  /** The document's own example answers (method, OpenAPI path, title, body as written). */
  examples: Array<{ method: string; path: string; title: string; response: string }>;
}

export const specFixture: SpecFixture = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as SpecFixture;

/** One schema adapted to plain JSON Schema 2020-12 (see the file comment). */
function adapt(node: Json, self: string, parentKey = ''): Json {
  if (Array.isArray(node)) return node.map((n) => adapt(n, self));
  if (!node || typeof node !== 'object') return node;
  const out: Obj = {};
  for (const [k, v] of Object.entries(node)) {
    if (parentKey === 'properties') {
      out[k] = adapt(v, self);
      continue;
    }
    if (k.startsWith('x-') || k === 'discriminator' || k === 'nullable' || k === '$recursiveAnchor' || k === 'format') continue;
    if (k === '$recursiveRef') {
      out.$ref = `${REF}${self}`;
      continue;
    }
    if (k === '$ref' && typeof v === 'string') {
      out.$ref = v;
      continue;
    }
    out[k] = adapt(v, self, k);
  }
  if (parentKey !== 'properties' && (node as Obj).nullable === true) {
    if (typeof out.type === 'string' && !out.$ref && !out.allOf && !out.anyOf && !out.oneOf) {
      out.type = [out.type, 'null'];
      if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
      return out;
    }
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

// verbose: errors carry the schema they failed on (the alternatives of a failed union; see explain).
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false, allowUnionTypes: true, verbose: true });
const allSchemas: Record<string, Json> = { ...specFixture.schemas, ...LOCAL_SCHEMAS };
ajv.addSchema({ $id: ID, components: { schemas: Object.fromEntries(Object.entries(allSchemas).map(([k, v]) => [k, adapt(v, k)])) } } as object);

const compiled = new Map<string, ValidateFunction>();
function validator(name: string): ValidateFunction {
  let v = compiled.get(name);
  if (!v) {
    if (!Object.hasOwn(allSchemas, name)) throw new Error(`no schema ${name} in the fixture (add it to ROOTS in scripts/openai-schemas.ts)`);
    v = ajv.getSchema(`${ID}${REF}${name}`);
    if (!v) throw new Error(`schema ${name} did not compile`);
    compiled.set(name, v);
  }
  return v;
}

/** The component a union alternative names when it is a `type`-tagged object matching `type`. */
function altFor(alts: unknown, type: unknown): string | undefined {
  if (!Array.isArray(alts) || typeof type !== 'string') return undefined;
  for (const alt of alts as Obj[]) {
    const ref = typeof alt?.$ref === 'string' && alt.$ref.startsWith(REF) ? alt.$ref.slice(REF.length) : undefined;
    const target = (ref ? allSchemas[ref] : undefined) as Obj | undefined;
    const t = ((target?.properties as Obj | undefined)?.type ?? null) as Obj | null;
    if (ref && Array.isArray(t?.enum) && t.enum.includes(type)) return ref;
  }
  return undefined;
}

/**
 * For a union of objects told apart by a `type` constant (ResponseStreamEvent, output
 * items…): the branch named by the value's `type`, so errors come from that one branch
 * instead of every alternative.
 */
function branchFor(name: string, value: unknown): string | undefined {
  const s = allSchemas[name] as Obj | undefined;
  return altFor(s?.anyOf ?? s?.oneOf, (value as { type?: unknown } | null)?.type);
}

function at(value: unknown, pointer: string): unknown {
  let v = value;
  for (const seg of pointer.split('/').slice(1)) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[seg.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  return v;
}

/**
 * ajv lists the errors of every alternative of a failed anyOf/oneOf. Where the value is
 * a `type`-tagged object, only the errors of the alternative its `type` names are kept
 * (validated again on their own), so a report says what is wrong, not what every other
 * kind of item would need.
 */
function explain(value: unknown, errs: ErrorObject[]): Array<{ path: string; error: ErrorObject }> {
  let out = errs.map((error) => ({ path: error.instancePath, error }));
  const unions = errs.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').sort((a, b) => a.instancePath.length - b.instancePath.length);
  const done: string[] = [];
  for (const u of unions) {
    const p = u.instancePath;
    if (done.some((d) => p === d || p.startsWith(`${d}/`))) continue;
    const node = at(value, p);
    const name = altFor(u.schema, (node as { type?: unknown } | null)?.type);
    if (!name) continue;
    done.push(p);
    const v = validator(name);
    const inner = v(node) ? [] : explain(node, v.errors ?? []).map((x) => ({ path: `${p}${x.path}`, error: x.error }));
    out = out.filter((x) => !(x.path === p || x.path.startsWith(`${p}/`)));
    out.push(...(inner.length ? inner : [{ path: p, error: u }]));
  }
  return out;
}

function describeError(path: string, e: ErrorObject): string {
  const where = path || '(root)';
  const params = e.keyword === 'additionalProperties' ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'` : e.keyword === 'enum' ? ` ${JSON.stringify((e.params as { allowedValues: unknown }).allowedValues)}` : '';
  return `${where} ${e.message ?? e.keyword}${params}`;
}

export interface Conformance {
  ok: boolean;
  /** Readable errors (`/choices/0/finish_reason must be equal to one of the allowed values [...]`). */
  errors: string[];
}

/** Does `value` conform to the component schema `name` of OpenAI's document? */
export function conformsTo(name: string, value: unknown): Conformance {
  const branch = branchFor(name, value);
  const v = validator(branch ?? name);
  if (v(value)) return { ok: true, errors: [] };
  const errors = [...new Set(explain(value, v.errors ?? []).map((x) => describeError(x.path, x.error)))];
  return { ok: false, errors: branch ? errors.map((e) => `[${branch}] ${e}`) : errors };
}

export interface Violation {
  method: string;
  path: string;
  status: number;
  schema: string;
  errors: string[];
  value: unknown;
}

/** Which schema a /v1 answer must match: by method, route and status; undefined when we do not check it. */
export function schemaFor(method: string, pathname: string, status: number, kind: 'json' | 'event'): string | undefined {
  const p = pathname.replace(/^.*?\/v1(?=\/)/, '');
  if (status >= 400) return 'ErrorResponse';
  if (method === 'POST' && p === '/chat/completions') return kind === 'json' ? 'CreateChatCompletionResponse' : 'CreateChatCompletionStreamResponse';
  if (method === 'GET' && p === '/models') return 'ListModelsResponse';
  if (method === 'GET' && /^\/models\/[^/]+$/.test(p)) return 'Model';
  if (method === 'POST' && p === '/responses') return kind === 'json' ? 'Response' : 'ResponseStreamEvent';
  if (method === 'GET' && /^\/responses\/[^/]+$/.test(p)) return kind === 'json' ? 'Response' : 'ResponseStreamEvent';
  if (method === 'POST' && /^\/responses\/[^/]+\/cancel$/.test(p)) return 'Response';
  if (method === 'GET' && /^\/responses\/[^/]+\/input_items$/.test(p)) return 'ResponseItemList';
  if (method === 'DELETE' && /^\/responses\/[^/]+$/.test(p)) return 'DeletedResponse';
  return undefined;
}

/** The `data:` payloads of a server-sent event stream (multi-line data joined by \n). */
export function sseData(text: string): string[] {
  const out: string[] = [];
  for (const block of text.replace(/\r\n?/g, '\n').split(/\n\n+/)) {
    const data = block
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''));
    if (data.length) out.push(data.join('\n'));
  }
  return out;
}

export interface SpecRecorder {
  /** A fetch that checks every /v1 answer against the spec (hand it to `new OpenAI({ fetch })`). */
  fetch: typeof fetch;
  /** Every violation so far (wait for `settled()` first: bodies are checked as they are read). */
  violations: Violation[];
  /** How many bodies / SSE events were checked. */
  readonly checked: number;
  /** Resolves when every answer seen so far has been read and checked. */
  settled(): Promise<Violation[]>;
  clear(): void;
}

export function validatingFetch(inner: typeof fetch = globalThis.fetch): SpecRecorder {
  const violations: Violation[] = [];
  const pending = new Set<Promise<void>>();
  let checked = 0;

  const check = (method: string, pathname: string, status: number, kind: 'json' | 'event', raw: string) => {
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      violations.push({ method, path: pathname, status, schema: '(JSON)', errors: ['body is not JSON'], value: raw.slice(0, 500) });
      return;
    }
    // An error sent inside a stream (after the first token) is an error object too.
    const schema = kind === 'event' && value && typeof value === 'object' && 'error' in value ? 'ErrorResponse' : schemaFor(method, pathname, status, kind);
    if (!schema) return;
    checked++;
    const r = conformsTo(schema, value);
    if (!r.ok) violations.push({ method, path: pathname, status, schema, errors: r.errors, value });
  };

  const wrapped: typeof fetch = async (input, init) => {
    const res = await inner(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const { pathname } = new URL(url);
    if (!/\/v1\//.test(pathname)) return res;
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const type = res.headers.get('content-type') ?? '';
    const copy = res.clone();
    const job = (async () => {
      let text: string;
      try {
        text = await copy.text();
      } catch {
        return; // the client aborted the body: nothing complete to check
      }
      if (type.includes('text/event-stream')) {
        for (const data of sseData(text)) if (data !== '[DONE]') check(method, pathname, res.status, 'event', data);
      } else if (type.includes('application/json') || res.status >= 400) {
        check(method, pathname, res.status, 'json', text);
      }
    })();
    pending.add(job);
    void job.finally(() => pending.delete(job));
    return res;
  };

  return {
    fetch: wrapped,
    violations,
    get checked() {
      return checked;
    },
    async settled() {
      while (pending.size) await Promise.all([...pending]);
      return violations;
    },
    clear() {
      violations.length = 0;
    },
  };
}
