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
import { jsonDepth } from './client-tools';
import { errors, OpenAIError } from './errors';

/** A schema, serialized, at most this many bytes. */
export const MAX_OUTPUT_SCHEMA_BYTES = 64 * 1024;
/** Schemas nested deeper than this are refused. */
export const MAX_OUTPUT_SCHEMA_DEPTH = 32;

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
  const bytes = Buffer.byteLength(JSON.stringify(format.schema));
  if (bytes > MAX_OUTPUT_SCHEMA_BYTES) throw errors.invalidBody(`Invalid value for '${schemaParam}': the schema is ${bytes} bytes; at most ${MAX_OUTPUT_SCHEMA_BYTES}.`, schemaParam);
  if (jsonDepth(format.schema, MAX_OUTPUT_SCHEMA_DEPTH + 1) > MAX_OUTPUT_SCHEMA_DEPTH) {
    throw errors.invalidBody(`Invalid value for '${schemaParam}': the schema is nested deeper than ${MAX_OUTPUT_SCHEMA_DEPTH} levels.`, schemaParam);
  }
  // Draft 2020-12 (what OpenAI's structured outputs describe); unknown keywords are ignored,
  // remote $refs are never loaded (no loadSchema), `$schema` is dropped so a draft-07 URI is no error.
  const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });
  const { $schema: _ignored, ...schema } = format.schema;
  let validate;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    throw errors.invalidBody(`Invalid value for '${schemaParam}': not a valid JSON Schema (${String((err as Error).message).slice(0, 200)}).`, schemaParam);
  }
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
      if (validate(parsed.value)) return undefined;
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
