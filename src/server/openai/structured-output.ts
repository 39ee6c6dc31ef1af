/**
 * Structured output: the caller asks for JSON (`json_object`) or JSON matching a schema
 * (`json_schema`). The request to the model carries the format (so a real model produces
 * JSON), and the reply is checked here before it is passed on: a reply that is not JSON,
 * not an object, or does not validate is an error (502 `invalid_model_output`), never
 * passed on silently.
 *
 * API-neutral: Chat Completions' `response_format` and the Responses API's `text.format`
 * both become a ResponseFormat; `compileResponseFormat` checks and compiles it once per
 * request.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { RegExpEngine, ValidateFunction } from 'ajv/dist/types/index.js';
import { linearRegExp, RegexBudgetError, UnsupportedPatternError, withRegexBudget } from '../../util/linear-regex';
import { MAX_SCHEMA_OBJECTS, schemaLimitIssue } from './client-tools';
import { errors, OpenAIError } from './errors';

/** A schema, serialized, at most this many bytes. */
export const MAX_OUTPUT_SCHEMA_BYTES = 64 * 1024;
/** Schemas nested deeper than this are refused. */
export const MAX_OUTPUT_SCHEMA_DEPTH = 32;
/** A schema holds at most this many objects (subschemas, property maps): bounds Ajv's compile time. */
export const MAX_OUTPUT_SCHEMA_OBJECTS = MAX_SCHEMA_OBJECTS;
/**
 * Checking one reply against the schema's `pattern`s and `patternProperties` takes at most
 * this many steps of the linear regex engine (about 0.2-1 µs each: at most a few hundred milliseconds, usually far less);
 * a reply that needs more is not passed on (502 invalid_model_output).
 */
export const MAX_PATTERN_STEPS = 250_000;

/**
 * Ajv's regular expressions for caller patterns: the linear-time engine, never V8's
 * backtracking one (`^(a|a)*$` against 29 characters held the server 4-16 s).
 */
const linearEngine: RegExpEngine = Object.assign((pattern: string, flags: string) => linearRegExp(pattern, flags), { code: 'linearRegExp' });
/** Checks schemas against the draft 2020-12 meta-schema; compiled once, formats (hence no caller pattern) not run. */
const metaSchemas = new Ajv2020({ strict: false, validateFormats: false, logger: false });

/** Compiled schemas by their JSON text: a client re-sending its schema is not compiled again. */
const compiled = new Map<string, ValidateFunction>();
/** At most this many compiled schemas are kept (least recently used first out). */
export const COMPILED_SCHEMA_CACHE = 128;

/**
 * Compiles a checked schema (or takes it from the cache). Ajv's code optimizer is off: it
 * is what grows fastest with the schema (250 properties: about 140 ms with it, 20-60 ms
 * without, on 2 shared cores; bench/health-under-load).
 */
function compileSchema(schema: Record<string, unknown>, schemaParam: string): ValidateFunction {
  const key = JSON.stringify(schema);
  const hit = compiled.get(key);
  if (hit) {
    compiled.delete(key);
    compiled.set(key, hit);
    return hit;
  }
  const invalid = (why: string) => errors.invalidBody(`Invalid value for '${schemaParam}': not a valid JSON Schema (${why.slice(0, 200)}).`, schemaParam);
  if (!metaSchemas.validateSchema(schema)) {
    const e = metaSchemas.errors?.[0];
    throw invalid(e ? `${e.instancePath || '/'} ${e.message ?? 'is invalid'}` : 'the meta-schema refuses it');
  }
  const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false, validateSchema: false, addUsedSchema: false, logger: false, code: { regExp: linearEngine, optimize: false } });
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    if (err instanceof UnsupportedPatternError) {
      throw errors.invalidBody(`Invalid value for '${schemaParam}': a pattern cannot be used (${err.message.slice(0, 200)}); patterns may not use backreferences, lookaround or inline modifiers.`, schemaParam);
    }
    throw invalid(String((err as Error).message));
  }
  compiled.set(key, validate);
  if (compiled.size > COMPILED_SCHEMA_CACHE) compiled.delete(compiled.keys().next().value!);
  return validate;
}

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; schema: Record<string, unknown>; strict?: boolean | null; description?: string };

export interface CompiledFormat {
  format: ResponseFormat;
  /** The `response_format` to send upstream (OpenAI's Chat Completions shape), or undefined for text. */
  upstream: Record<string, unknown> | undefined;
  /** Checks the model's final text; returns why it does not conform, or undefined. */
  check(text: string): string | undefined;
}

/**
 * Checks and compiles a response format. `schemaParam` names the schema in errors
 * (`response_format.json_schema.schema` in Chat Completions).
 */
export function compileResponseFormat(format: ResponseFormat | undefined, schemaParam = 'response_format.json_schema.schema'): CompiledFormat | undefined {
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') {
    return {
      format,
      upstream: { type: 'json_object' },
      check(text) {
        const parsed = parseJson(text);
        if (!parsed.ok) return 'the reply is not valid JSON';
        if (!parsed.value || typeof parsed.value !== 'object' || Array.isArray(parsed.value)) return 'the reply is JSON but not an object';
        return undefined;
      },
    };
  }
  // Pure limits first: nothing is compiled for a schema over them.
  const issue = schemaLimitIssue(format.schema, schemaParam, { bytes: MAX_OUTPUT_SCHEMA_BYTES, depth: MAX_OUTPUT_SCHEMA_DEPTH, objects: MAX_OUTPUT_SCHEMA_OBJECTS });
  if (issue) throw errors.invalidBody(issue, schemaParam);
  // Draft 2020-12 (what OpenAI's structured outputs describe); unknown keywords are ignored,
  // remote $refs are never loaded (no loadSchema), `$schema` is dropped so a draft-07 URI is no error.
  // A per-schema instance (kept only through the compiled-schema cache); patterns run on the linear engine, and
  // Ajv's logger is off (on a failed compile it prints the generated code: hundreds of KB of non-JSON on stderr).
  const { $schema: _ignored, ...schema } = format.schema;
  const validate = compileSchema(schema, schemaParam);
  return {
    format,
    upstream: {
      type: 'json_schema',
      json_schema: {
        name: format.name,
        schema: format.schema,
        ...(format.strict != null ? { strict: format.strict } : {}),
        ...(format.description !== undefined ? { description: format.description } : {}),
      },
    },
    check(text) {
      const parsed = parseJson(text);
      if (!parsed.ok) return 'the reply is not valid JSON';
      let valid: boolean;
      try {
        valid = withRegexBudget(MAX_PATTERN_STEPS, () => validate(parsed.value) as boolean);
      } catch (err) {
        if (err instanceof RegexBudgetError) return `the reply could not be checked against the schema's patterns within ${MAX_PATTERN_STEPS} steps`;
        throw err;
      }
      if (valid) return undefined;
      const e = validate.errors?.[0];
      return `the reply does not match the schema${e ? ` (${e.instancePath || '/'} ${e.message ?? 'is invalid'})` : ''}`;
    },
  };
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** The error for a model reply that does not conform to the requested format (docs/errors.md). */
export function invalidModelOutput(why: string, param = 'response_format'): OpenAIError {
  return new OpenAIError(502, `The model's reply does not conform to ${param}: ${why}.`, 'upstream_error', 'invalid_model_output', param);
}
