/**
 * Client-side tools: functions the caller defines and runs itself. The model sees them
 * beside the agent's own tools; when it calls one, the run ends (Mastra's `clientTools`
 * have no `execute`: the step finishes with finishReason 'tool-calls' and the calls in
 * `toolCalls` / the stream's 'tool-call' parts) and the caller gets the calls to run.
 * The agent's own tools still run here, on the server.
 *
 * API-neutral: Chat Completions (chat/) and the Responses API convert their own request
 * shapes into ClientTool / ToolChoice, then use the checks and conversions below.
 */
import { backtrackingIssue } from '../../util/linear-regex';
import { errors } from './errors';

/** At most this many client tools per request (OpenAI's own limit is 128). */
export const MAX_CLIENT_TOOLS = 128;
/** A tool's `parameters` JSON Schema, serialized, at most this many bytes. */
export const MAX_TOOL_SCHEMA_BYTES = 64 * 1024;
/** All tools' schemas together, serialized, at most this many bytes. */
export const MAX_TOOLS_TOTAL_BYTES = 512 * 1024;
/** JSON Schemas nested deeper than this are refused (a deep schema is costly to walk). */
export const MAX_SCHEMA_DEPTH = 32;
/**
 * A JSON Schema (one tool's parameters, or a response format) holds at most this many
 * objects (subschemas, `properties` maps, …). Ajv's code generation grows faster than the
 * schema: 1,000 string properties took 0.8-2 s to compile, 2,700 (63.5 KB) overflowed the
 * stack; 256 compile in tens of milliseconds (scratch numbers in docs/security.md).
 */
export const MAX_SCHEMA_OBJECTS = 256;
/** All tools' schemas of one request together hold at most this many objects. */
export const MAX_TOOLS_TOTAL_OBJECTS = 1024;
const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_DESCRIPTION = 4096;
/** Working-memory tools Mastra's memory adds to every agent with working memory. */
const MEMORY_TOOLS = ['updateWorkingMemory', 'setWorkingMemory'];

export interface ClientTool {
  name: string;
  description?: string;
  /** JSON Schema of the arguments (an object schema). */
  parameters: Record<string, unknown>;
  strict?: boolean;
  /** How the caller names this tool's params in errors, e.g. `tools[2].function`. */
  param: string;
}

export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

/** One call of a client tool the model made: what the caller must run. */
export interface ClientToolCall {
  id: string;
  name: string;
  /** The arguments as a JSON string (as the model produced them, re-serialized). */
  arguments: string;
}

/** Depth of nesting of a JSON value (objects and arrays). */
export function jsonDepth(v: unknown, limit = MAX_SCHEMA_DEPTH + 1): number {
  if (v === null || typeof v !== 'object') return 0;
  let max = 0;
  const stack: Array<[unknown, number]> = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (d > max) max = d;
    if (max > limit) return max;
    for (const c of Object.values(x as object)) if (c !== null && typeof c === 'object') stack.push([c, d + 1]);
  }
  return max;
}

/** The size of a JSON value: its serialized bytes, nesting depth and number of objects (arrays not counted). */
export interface SchemaSize {
  bytes: number;
  depth: number;
  objects: number;
}

/**
 * Measures a JSON Schema without recursion, stopping early once `depth` exceeds maxDepth
 * or `objects` exceeds maxObjects (the answer is then just over the limit). Pure: run
 * before anything compiles the schema.
 */
export function schemaSize(schema: unknown, maxDepth = MAX_SCHEMA_DEPTH, maxObjects = MAX_SCHEMA_OBJECTS): SchemaSize {
  const bytes = Buffer.byteLength(JSON.stringify(schema) ?? '');
  let depth = 0;
  let objects = 0;
  const stack: Array<[unknown, number]> = [[schema, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (d > depth) depth = d;
    if (!Array.isArray(x)) objects++;
    if (depth > maxDepth || objects > maxObjects) break;
    for (const c of Object.values(x as object)) if (c !== null && typeof c === 'object') stack.push([c, d + 1]);
  }
  return { bytes, depth, objects };
}

/**
 * Why a JSON Schema is too costly to accept (bytes, depth, number of objects), or
 * undefined: the message of a 400 naming `param`.
 */
export function schemaLimitIssue(schema: unknown, param: string, limits: { bytes: number; depth: number; objects: number }): string | undefined {
  const size = schemaSize(schema, limits.depth, limits.objects);
  if (size.bytes > limits.bytes) return `Invalid value for '${param}': the schema is ${size.bytes} bytes; at most ${limits.bytes}.`;
  if (size.depth > limits.depth) return `Invalid value for '${param}': the schema is nested deeper than ${limits.depth} levels.`;
  if (size.objects > limits.objects) return `Invalid value for '${param}': the schema has more than ${limits.objects} objects (subschemas and property maps); at most ${limits.objects}.`;
  return undefined;
}

/** Every regular expression a JSON Schema holds: `pattern` values and `patternProperties` keys, with where they are. */
export function schemaPatterns(schema: unknown): Array<{ where: string; source: string }> {
  const out: Array<{ where: string; source: string }> = [];
  const stack: Array<[unknown, string]> = [[schema, '']];
  while (stack.length) {
    const [x, path] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    const o = x as Record<string, unknown>;
    if (!Array.isArray(x)) {
      if (typeof o.pattern === 'string') out.push({ where: `${path}/pattern`, source: o.pattern });
      const pp = o.patternProperties;
      if (pp && typeof pp === 'object' && !Array.isArray(pp)) for (const k of Object.keys(pp)) out.push({ where: `${path}/patternProperties`, source: k });
    }
    for (const [k, c] of Object.entries(o)) if (c !== null && typeof c === 'object') stack.push([c, `${path}/${k}`]);
  }
  return out;
}

/**
 * Why one of a schema's patterns may not be handed to a backtracking RegExp engine, or
 * undefined: the message of a 400 naming `param`. Tool schemas go to Mastra and the AI
 * SDK, which test the model's arguments with V8's RegExp (`^(a|a)*$` against a 29-character
 * key held the server for seconds).
 */
export function schemaPatternIssue(schema: unknown, param: string): string | undefined {
  for (const p of schemaPatterns(schema)) {
    const why = backtrackingIssue(p.source);
    if (why) return `Invalid value for '${param}': the pattern ${JSON.stringify(p.source.slice(0, 100))} at ${p.where || '/'} cannot be used (${why.slice(0, 200)}); patterns may not nest quantifiers, repeat ambiguous alternations, or use backreferences, lookaround or inline modifiers.`;
  }
  return undefined;
}

/**
 * Checks client tools (names, schemas, sizes, collisions with the agent's own tools) and
 * throws a 400 naming the param. `serverTools`: the names of the agent's own tools.
 */
export function checkClientTools(tools: ClientTool[], serverTools: Iterable<string>, listParam = 'tools'): void {
  if (tools.length > MAX_CLIENT_TOOLS) throw errors.invalidBody(`Invalid value for '${listParam}': at most ${MAX_CLIENT_TOOLS} tools per request (got ${tools.length}).`, listParam);
  const server = new Set([...serverTools, ...MEMORY_TOOLS]);
  const seen = new Set<string>();
  let total = 0;
  let totalObjects = 0;
  for (const t of tools) {
    const nameParam = `${t.param}.name`;
    if (!NAME.test(t.name)) throw errors.invalidBody(`Invalid value for '${nameParam}': a tool name is 1-64 letters, digits, _ or -.`, nameParam);
    if (server.has(t.name)) throw errors.invalidBody(`Invalid value for '${nameParam}': \`${t.name}\` is a tool of the agent itself; give the client tool another name.`, nameParam);
    if (seen.has(t.name)) throw errors.invalidBody(`Invalid value for '${nameParam}': the tool name \`${t.name}\` is used twice.`, nameParam);
    seen.add(t.name);
    if (t.description !== undefined && t.description.length > MAX_DESCRIPTION) {
      throw errors.invalidBody(`Invalid value for '${t.param}.description': at most ${MAX_DESCRIPTION} characters.`, `${t.param}.description`);
    }
    const pParam = `${t.param}.parameters`;
    const issue = schemaLimitIssue(t.parameters, pParam, { bytes: MAX_TOOL_SCHEMA_BYTES, depth: MAX_SCHEMA_DEPTH, objects: MAX_SCHEMA_OBJECTS });
    if (issue) throw errors.invalidBody(issue, pParam);
    const patternIssue = schemaPatternIssue(t.parameters, pParam);
    if (patternIssue) throw errors.invalidBody(patternIssue, pParam);
    const size = schemaSize(t.parameters);
    total += size.bytes;
    if (total > MAX_TOOLS_TOTAL_BYTES) throw errors.invalidBody(`Invalid value for '${listParam}': the tools' schemas together exceed ${MAX_TOOLS_TOTAL_BYTES} bytes.`, listParam);
    totalObjects += size.objects;
    if (totalObjects > MAX_TOOLS_TOTAL_OBJECTS) throw errors.invalidBody(`Invalid value for '${listParam}': the tools' schemas together have more than ${MAX_TOOLS_TOTAL_OBJECTS} objects.`, listParam);
    const type = t.parameters.type;
    if (type !== undefined && type !== 'object') throw errors.invalidBody(`Invalid value for '${pParam}': a function's parameters must be a JSON Schema of type "object".`, pParam);
    const props = t.parameters.properties;
    if (props !== undefined && (props === null || typeof props !== 'object' || Array.isArray(props))) {
      throw errors.invalidBody(`Invalid value for '${pParam}.properties': must be an object.`, `${pParam}.properties`);
    }
    const required = t.parameters.required;
    if (required !== undefined && (!Array.isArray(required) || required.some((r) => typeof r !== 'string'))) {
      throw errors.invalidBody(`Invalid value for '${pParam}.required': must be an array of strings.`, `${pParam}.required`);
    }
  }
}

/** The tool choice, checked against the tools offered (a named tool must be one of them). */
export function checkToolChoice(choice: ToolChoice | undefined, tools: ClientTool[], param = 'tool_choice'): void {
  if (choice === undefined || typeof choice === 'string') {
    if (choice === 'required' && !tools.length) throw errors.invalidBody(`Invalid value for '${param}': "required" needs at least one tool in the request.`, param);
    return;
  }
  if (!tools.some((t) => t.name === choice.name)) throw errors.invalidBody(`Invalid value for '${param}': no tool named \`${choice.name}\` is in the request.`, param);
}

/** Mastra `clientTools`: tools without `execute`, their input schema the caller's JSON Schema. */
type MastraClientTool = { id: string; description: string; inputSchema: Record<string, unknown>; strict?: boolean };
export function toMastraClientTools(tools: ClientTool[]): Record<string, MastraClientTool> {
  const out: Record<string, MastraClientTool> = {};
  for (const t of tools) {
    // `strict` rides along to the model's tool definition (Mastra's CoreToolBuilder keeps it).
    out[t.name] = { id: t.name, description: t.description ?? '', inputSchema: { type: 'object', properties: {}, ...t.parameters }, ...(t.strict != null ? { strict: t.strict } : {}) };
  }
  return out;
}

/** Mastra's `toolChoice` option (its 'none' sends the model no tools at all). */
export function toMastraToolChoice(choice: ToolChoice | undefined): 'auto' | 'none' | 'required' | { type: 'tool'; toolName: string } | undefined {
  if (choice === undefined) return undefined;
  if (typeof choice === 'string') return choice;
  return { type: 'tool', toolName: choice.name };
}

/**
 * Per-run tool hooks for tool_choice "none": no tool runs, not even one the model calls
 * although it was offered none (a model may ignore tool_choice).
 */
export const noToolsHooks = {
  beforeToolCall: () => ({ proceed: false as const, output: { error: 'tool_choice is "none": no tool may run in this request' } }),
};

interface MastraToolCallLike {
  payload?: { toolCallId?: string; toolName?: string; args?: unknown };
  toolCallId?: string;
  toolName?: string;
  args?: unknown;
}

/** The calls of client tools among a run's tool calls (Mastra chunks or plain objects). */
export function clientToolCalls(calls: unknown[] | undefined, clientNames: Set<string>): ClientToolCall[] {
  const out: ClientToolCall[] = [];
  for (const raw of calls ?? []) {
    const c = raw as MastraToolCallLike;
    const p = c.payload ?? c;
    if (!p.toolName || !clientNames.has(p.toolName)) continue;
    out.push({ id: p.toolCallId ?? `call_${out.length}`, name: p.toolName, arguments: argumentsText(p.args) });
  }
  return out;
}

export function argumentsText(args: unknown): string {
  if (typeof args === 'string') return args;
  return JSON.stringify(args ?? {});
}

/** Parses a tool call's JSON `arguments` text into the object Mastra stores (a non-object becomes `{}`). */
export function parseArguments(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
