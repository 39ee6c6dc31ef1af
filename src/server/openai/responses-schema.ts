/**
 * The request body of POST /v1/responses, as much of OpenAI's Responses API as an agent
 * can honour; whatever is not honoured is refused with 400 naming the param, never
 * silently dropped. Input items are checked by hand (one clear message per problem,
 * `param` like `input[2].content[0].type`) and normalised into stored item shapes
 * (OpenAI's ItemResource: every item gets an id).
 */
import { randomUUID } from 'node:crypto';
import { Ajv } from 'ajv';
import { z } from 'zod';
import { pgText } from '../../util/text';
import { errors, OpenAIError } from './errors';
import { formatName, MAX_CONTENT_PARTS, paramName } from './schema';

/** At most this many input items per request (the same bound, for the same reason, as chat's MAX_MESSAGES). */
export const MAX_INPUT_ITEMS = 256;
/** At most this many function tools per request. */
export const MAX_TOOLS = 64;
/** At most this many bytes of JSON Schema per function tool's `parameters`. */
export const MAX_TOOL_SCHEMA_BYTES = 16 * 1024;

const FUNCTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const CALL_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

const metadata = z
  .record(z.string().max(64, 'metadata keys are at most 64 characters'), z.string().max(512, 'metadata values are at most 512 characters'))
  .refine((m) => Object.keys(m).length <= 16, 'at most 16 metadata pairs');

const functionTool = z.object({
  type: z.literal('function'),
  name: z.string().regex(FUNCTION_NAME, 'a function name is 1-64 letters, digits, _ or -'),
  description: z.string().max(4096).nullable().optional(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  strict: z.boolean().nullable().optional(),
});

/** `text.format` (OpenAI's TextResponseFormatConfiguration): text, json_object, or json_schema with a schema. */
const textFormat = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('text') }),
    z.object({ type: z.literal('json_object') }),
    z.object({
      type: z.literal('json_schema'),
      name: formatName,
      description: z.string().max(4096).optional(),
      schema: z.record(z.string(), z.unknown(), { message: 'schema must be a JSON Schema object' }),
      strict: z.boolean().nullable().optional(),
    }),
  ],
  { message: "type must be one of 'text', 'json_object', 'json_schema'" },
);
export type TextFormat = z.infer<typeof textFormat>;

export const responsesRequest = z.object({
  model: z.string().min(1, 'model is required'),
  input: z.union([z.string(), z.array(z.unknown())]),
  instructions: z.string().nullable().optional(),
  previous_response_id: z.string().max(128).nullable().optional(),
  conversation: z.union([z.string(), z.object({ id: z.string() })]).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  store: z.boolean().nullable().optional(),
  max_output_tokens: z.number().int().positive().nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  metadata: metadata.nullable().optional(),
  user: z.string().max(256).regex(/^[A-Za-z0-9_.@:-]+$/, 'user may contain letters, digits and _ . @ : -').optional(),
  safety_identifier: z.string().max(64).nullable().optional(),
  text: z
    .object({
      format: textFormat.nullable().optional(),
      verbosity: z.enum(['medium'], { message: "only 'medium' verbosity is supported" }).nullable().optional(),
    })
    .nullable()
    .optional(),
  reasoning: z
    .object({
      effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullable().optional(),
      summary: z.null({ message: 'reasoning summaries are not supported' }).optional(),
      generate_summary: z.null({ message: 'reasoning summaries are not supported' }).optional(),
    })
    .nullable()
    .optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  tool_choice: z
    .union([z.enum(['none', 'auto', 'required']), z.object({ type: z.literal('function'), name: z.string() })])
    .nullable()
    .optional(),
  tools: z.array(z.unknown()).max(MAX_TOOLS, `at most ${MAX_TOOLS} tools`).nullable().optional(),
  truncation: z.enum(['disabled', 'auto']).nullable().optional(),
  // Refused when set to something this server would have to ignore.
  background: z.literal(false, { message: 'background responses are not supported' }).nullable().optional(),
  include: z.array(z.string()).max(0, 'no include values are supported').nullable().optional(),
  prompt: z.null({ message: 'prompt templates are not supported' }).optional(),
  top_logprobs: z.literal(0, { message: 'logprobs are not supported' }).nullable().optional(),
  max_tool_calls: z.number().int().positive().nullable().optional(),
});

export type ResponsesRequest = z.infer<typeof responsesRequest>;
/** A function tool; `agentSchema` is the checked copy of `parameters` the agent gets (checkToolSchema). */
export type FunctionTool = z.infer<typeof functionTool> & { agentSchema: Record<string, unknown> };

/** An input item as stored and listed by GET /v1/responses/{id}/input_items. */
export type InputItem =
  | { id: string; type: 'message'; role: 'user'; status: 'completed'; content: UserContentPart[] }
  | { id: string; type: 'message'; role: 'system' | 'developer'; status: 'completed'; content: Array<{ type: 'input_text'; text: string }> }
  | { id: string; type: 'message'; role: 'assistant'; status: 'completed'; content: Array<{ type: 'output_text'; text: string; annotations: unknown[]; logprobs: unknown[] }> }
  | { id: string; type: 'function_call'; status: 'completed'; call_id: string; name: string; arguments: string }
  | { id: string; type: 'function_call_output'; status: 'completed'; call_id: string; output: string };

/** A user message's content part as stored: text, or an image by URL (data: or http(s):, resolved when the turn runs). */
export type UserContentPart = { type: 'input_text'; text: string } | { type: 'input_image'; image_url: string; file_id: null; detail: 'auto' | 'low' | 'high' | 'original' };

export const itemId = (prefix: string) => `${prefix}_${randomUUID().replace(/-/g, '')}`;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (message: string, param: string) => errors.invalidBody(`Invalid value for '${param}': ${message}`, param);

/** A message's content parts: a string, or text parts (input_text; output_text and refusal for assistant replays; input_image in user messages). */
function contentParts(content: unknown, role: string, param: string): UserContentPart[] {
  if (typeof content === 'string') return [{ type: 'input_text', text: pgText(content) }];
  if (!Array.isArray(content)) throw bad('content must be a string or an array of content parts', param);
  if (content.length > MAX_CONTENT_PARTS) throw bad(`at most ${MAX_CONTENT_PARTS} content parts per message`, param);
  const allowed = role === 'assistant' ? ['output_text', 'refusal', 'input_text'] : role === 'user' ? ['input_text', 'input_image'] : ['input_text'];
  return content.map((part, j): UserContentPart => {
    const p = `${param}[${j}]`;
    if (!isRecord(part)) throw bad('a content part must be an object', p);
    const type = part.type;
    if (typeof type !== 'string' || !allowed.includes(type)) {
      const what = type === 'input_file' ? 'files are not supported' : type === 'input_image' ? 'images are only accepted in user messages' : 'other parts are not supported';
      throw bad(`only ${allowed.join(', ')} content parts are supported here (got ${JSON.stringify(String(type)).slice(0, 40)}); ${what}`, `${p}.type`);
    }
    if (type === 'input_image') {
      if (part.file_id != null) throw bad('file ids are not supported; send the image as image_url (a data: URL or an http(s) URL)', `${p}.file_id`);
      if (typeof part.image_url !== 'string' || !part.image_url) throw bad('an input_image part needs an image_url (a data: URL or an http(s) URL)', `${p}.image_url`);
      const detail = part.detail ?? 'auto';
      if (detail !== 'auto' && detail !== 'low' && detail !== 'high' && detail !== 'original') throw bad("detail must be one of 'auto', 'low', 'high', 'original'", `${p}.detail`);
      return { type: 'input_image', image_url: part.image_url, file_id: null, detail };
    }
    const text = type === 'refusal' ? part.refusal : part.text;
    if (typeof text !== 'string') throw bad(`a ${type} part needs a string ${type === 'refusal' ? 'refusal' : 'text'}`, p);
    return { type: 'input_text', text: pgText(text) };
  });
}

/** Text of a message's content (text parts only). */
function contentText(content: unknown, role: string, param: string): string {
  return contentParts(content, role, param)
    .map((c) => (c.type === 'input_text' ? c.text : ''))
    .join('');
}

/** Validates and normalises `input` into stored items (ids `msg_…`, `fc_…`, `fco_…`); text is made storable (NUL → U+FFFD). */
export function parseInput(input: string | unknown[]): InputItem[] {
  if (typeof input === 'string') return [{ id: itemId('msg'), type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: pgText(input) }] }];
  if (input.length === 0) throw bad('input must contain at least one item', 'input');
  if (input.length > MAX_INPUT_ITEMS) {
    throw bad(`at most ${MAX_INPUT_ITEMS} input items per request (got ${input.length}); continue with previous_response_id or conversation and only the new items`, 'input');
  }
  return input.map((raw, i): InputItem => {
    const param = `input[${i}]`;
    if (!isRecord(raw)) throw bad('an input item must be an object', param);
    const type = raw.type ?? 'message';
    switch (type) {
      case 'message': {
        const role = raw.role;
        if (role !== 'user' && role !== 'system' && role !== 'developer' && role !== 'assistant') {
          throw bad("role must be one of 'user', 'system', 'developer', 'assistant'", `${param}.role`);
        }
        if (role === 'user') return { id: itemId('msg'), type: 'message', role, status: 'completed', content: contentParts(raw.content, role, `${param}.content`) };
        const text = contentText(raw.content, role, `${param}.content`);
        if (role === 'assistant') return { id: itemId('msg'), type: 'message', role, status: 'completed', content: [{ type: 'output_text', text, annotations: [], logprobs: [] }] };
        return { id: itemId('msg'), type: 'message', role, status: 'completed', content: [{ type: 'input_text', text }] };
      }
      case 'function_call': {
        if (typeof raw.call_id !== 'string' || !CALL_ID.test(raw.call_id)) throw bad('call_id must be 1-128 letters, digits and _ . : -', `${param}.call_id`);
        if (typeof raw.name !== 'string' || !FUNCTION_NAME.test(raw.name)) throw bad('name must be 1-64 letters, digits, _ or -', `${param}.name`);
        if (typeof raw.arguments !== 'string') throw bad('arguments must be a JSON string', `${param}.arguments`);
        return { id: itemId('fc'), type: 'function_call', status: 'completed', call_id: raw.call_id, name: raw.name, arguments: pgText(raw.arguments) };
      }
      case 'function_call_output': {
        if (typeof raw.call_id !== 'string' || !CALL_ID.test(raw.call_id)) throw bad('call_id must be 1-128 letters, digits and _ . : -', `${param}.call_id`);
        const output = typeof raw.output === 'string' ? pgText(raw.output) : Array.isArray(raw.output) ? contentText(raw.output, 'function_call_output', `${param}.output`) : undefined;
        if (output === undefined) throw bad('output must be a string or input_text parts', `${param}.output`);
        return { id: itemId('fco'), type: 'function_call_output', status: 'completed', call_id: raw.call_id, output };
      }
      default:
        throw bad(
          `input items of type ${JSON.stringify(String(type)).slice(0, 60)} are not supported (supported: message, function_call, function_call_output)`,
          `${param}.type`,
        );
    }
  });
}

/** At most this nesting depth of a function tool's `parameters`. */
export const MAX_SCHEMA_DEPTH = 32;
const metaSchemas = new Ajv({ strict: false, validateSchema: false });
const newCompiler = () => new Ajv({ strict: false, validateSchema: false, addUsedSchema: false });
/** Keywords whose value is one subschema, a list of them, or a map of them. */
const ONE = ['additionalProperties', 'items', 'not', 'if', 'then', 'else', 'contains', 'propertyNames', 'unevaluatedProperties', 'unevaluatedItems', 'additionalItems'];
const LIST = ['anyOf', 'oneOf', 'allOf', 'prefixItems', 'items'];
const MAP = ['properties', '$defs', 'definitions', 'dependentSchemas', 'patternProperties'];

/**
 * A function tool's `parameters`, checked and made safe to hand to Mastra: a JSON Schema
 * (draft-07 meta-schema) whose top level is an object schema, at most MAX_SCHEMA_DEPTH
 * deep. `pattern` and `patternProperties` are removed from the copy the agent uses:
 * Mastra compiles them into regular expressions that would run on this server against
 * model-written arguments (a request could bring a catastrophic pattern); the client,
 * which runs the function, validates its own arguments. The echoed tool keeps them.
 */
export function checkToolSchema(schema: Record<string, unknown>, param: string, compiler = newCompiler()): Record<string, unknown> {
  if (Object.keys(schema).length === 0) return { type: 'object', properties: {}, additionalProperties: true };
  if (schema.type !== undefined && schema.type !== 'object') throw bad("the top level of a function's parameters must be an object schema (type 'object')", `${param}.type`);
  const copy = structuredClone(schema);
  const stack: Array<[node: unknown, depth: number]> = [[copy, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (!isRecord(node)) continue;
    if (depth > MAX_SCHEMA_DEPTH) throw bad(`parameters is nested deeper than ${MAX_SCHEMA_DEPTH} levels`, param);
    if (typeof node.pattern === 'string') delete node.pattern;
    delete node.patternProperties;
    for (const k of ONE) if (isRecord(node[k])) stack.push([node[k], depth + 1]);
    for (const k of LIST) if (Array.isArray(node[k])) for (const s of node[k] as unknown[]) stack.push([s, depth + 1]);
    for (const k of MAP) if (isRecord(node[k])) for (const s of Object.values(node[k] as Record<string, unknown>)) stack.push([s, depth + 1]);
  }
  let valid = false;
  try {
    valid = metaSchemas.validateSchema(schema) as boolean;
  } catch {
    valid = false;
  }
  if (!valid) {
    const first = metaSchemas.errors?.[0];
    throw bad(`parameters is not a valid JSON Schema${first ? ` (${first.instancePath || '/'} ${first.message})` : ''}`, param);
  }
  // Compiled once (the copy, without patterns; by a per-request instance, so nothing of it
  // is kept): a $ref that resolves nowhere is the caller's error, not the model provider's.
  try {
    compiler.compile(copy);
  } catch (err) {
    throw bad(`parameters cannot be used: ${String((err as Error).message).slice(0, 200)}`, param);
  }
  return copy;
}

const BUILT_IN = /^(web_search|file_search|computer|code_interpreter|image_generation|mcp|local_shell|shell|apply_patch|custom|tool_search)/;

/** The request's function tools; built-in tools (web_search, file_search, mcp …) are refused with 400 naming the tool. */
export function parseTools(tools: unknown[] | null | undefined): FunctionTool[] {
  if (!tools?.length) return [];
  const seen = new Set<string>();
  const compiler = newCompiler();
  return tools.map((t, i) => {
    const param = `tools[${i}]`;
    const type = isRecord(t) ? t.type : undefined;
    if (type !== 'function') {
      const what = typeof type === 'string' ? (BUILT_IN.test(type) ? `the built-in tool '${type.slice(0, 40)}' is not supported` : `tools of type ${JSON.stringify(type.slice(0, 40))} are not supported`) : 'a tool must be an object with a type';
      throw bad(`${what}; only function tools are`, `${param}.type`);
    }
    const parsed = functionTool.safeParse(t);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw bad(issue.message, paramName([...(['tools', i] as PropertyKey[]), ...issue.path]) ?? param);
    }
    if (seen.has(parsed.data.name)) throw bad(`two tools are named '${parsed.data.name}'`, `${param}.name`);
    seen.add(parsed.data.name);
    if (parsed.data.parameters && Buffer.byteLength(JSON.stringify(parsed.data.parameters)) > MAX_TOOL_SCHEMA_BYTES) {
      throw bad(`parameters is over ${MAX_TOOL_SCHEMA_BYTES} bytes of JSON Schema`, `${param}.parameters`);
    }
    return { ...parsed.data, agentSchema: checkToolSchema(parsed.data.parameters ?? {}, `${param}.parameters`, compiler) };
  });
}

/** At most this nesting depth of the whole body (checked without recursion before anything walks it). */
export const MAX_BODY_DEPTH = 100;

function tooDeep(root: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d > max) return true;
    for (const x of Array.isArray(v) ? v : Object.values(v)) if (typeof x === 'object' && x !== null) stack.push([x, d + 1]);
  }
  return false;
}

/**
 * Parameters accepted and ignored: hints about the provider's own caching, service tier
 * and stream obfuscation, which change nothing an agent answers.
 */
export const IGNORED_PARAMS = ['service_tier', 'prompt_cache_key', 'prompt_cache_retention', 'prompt_cache_options', 'context_management', 'stream_options'];
const KNOWN_PARAMS = new Set([...Object.keys(responsesRequest.shape), ...IGNORED_PARAMS]);

/** The body, validated; the first problem is a 400 naming its param. An unknown parameter is refused, not ignored. */
export function parseResponsesBody(body: unknown): ResponsesRequest {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) throw errors.invalidBody('The request body must be a JSON object.');
  if (tooDeep(body, MAX_BODY_DEPTH)) throw errors.invalidBody(`The request body is nested deeper than ${MAX_BODY_DEPTH} levels.`);
  const unknown = Object.keys(body).find((k) => !KNOWN_PARAMS.has(k));
  if (unknown !== undefined) {
    const name = unknown.slice(0, 64);
    throw new OpenAIError(400, `Unknown parameter: '${name}'.`, 'invalid_request_error', 'unknown_parameter', name);
  }
  // Checked before the schema walks every element: an over-long list is refused in O(1).
  const input = (body as { input?: unknown }).input;
  if (Array.isArray(input) && input.length > MAX_INPUT_ITEMS) parseInput(input);
  const parsed = responsesRequest.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = paramName(issue.path);
    throw errors.invalidBody(param ? `Invalid value for '${param}': ${issue.message}` : issue.message, param);
  }
  return parsed.data;
}
