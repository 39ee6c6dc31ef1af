/** The request body of POST /v1/chat/completions, as much of OpenAI's as an agent can honour. */
import { z } from 'zod';
import { MAX_CLIENT_TOOLS } from './client-tools';

/**
 * At most this many messages per request. Mastra's message list de-duplicates every
 * added message against the ones before it (quadratic in the count), so an unbounded
 * list lets one request stall the event loop for seconds (10 000 messages: 12 s). 256
 * messages at the 1 MB body limit cost ~10 ms of synchronous work (test/server/limits.test.ts); longer conversations continue with `x-thread-id` and only
 * the new messages (the thread's history comes from memory).
 */
export const MAX_MESSAGES = 256;
/** At most this many content parts per message. */
export const MAX_CONTENT_PARTS = 100;

const textPart = z.object({ type: z.literal('text'), text: z.string() });
/** An image part (user messages only): a data: URL (base64) or an http(s) URL; resolved by images.ts. */
const imagePart = z.object({
  type: z.literal('image_url'),
  image_url: z.object({ url: z.string().min(1, 'an image URL is required'), detail: z.enum(['auto', 'low', 'high']).optional() }),
});
const partsOf = <T extends z.ZodTypeAny>(part: T, only: string) =>
  z
    .array(
      z.union([
        part,
        z.object({ type: z.string() }).passthrough().refine(() => false, { message: only }),
      ]),
    )
    .max(MAX_CONTENT_PARTS, `at most ${MAX_CONTENT_PARTS} content parts per message`);
const contentParts = partsOf(textPart, 'only text content parts are supported in this message');
const userContentParts = partsOf(z.union([textPart, imagePart]), 'only text and image_url content parts are supported');
/**
 * A string or an array of parts. Checked by the input's own type, so the caller hears what
 * is wrong with the parts (e.g. too many) instead of zod's generic "Invalid input" of a union.
 */
function contentOf<P extends z.ZodTypeAny>(parts: P) {
  return z.union([z.string(), z.array(z.unknown())]).superRefine((v, ctx) => {
    if (typeof v === 'string') return;
    const r = parts.safeParse(v);
    if (!r.success) for (const issue of r.error.issues) ctx.addIssue({ ...issue, code: 'custom', message: issue.message, path: issue.path } as never);
  }) as unknown as z.ZodType<string | z.infer<P>>;
}
const content = contentOf(contentParts);
const userContent = contentOf(userContentParts);

const toolCall = z.object({
  id: z.string().min(1).max(256),
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1).max(64), arguments: z.string() }),
});

/** An assistant message's parts: text, or the refusal the assistant gave (kept as its words in the history). */
const refusalPart = z.object({ type: z.literal('refusal'), refusal: z.string() });
const assistantParts = z
  .array(
    z.union([
      textPart,
      refusalPart,
      z.object({ type: z.string() }).passthrough().refine(() => false, { message: 'assistant content parts must be text or refusal' }),
    ]),
  )
  .max(MAX_CONTENT_PARTS, `at most ${MAX_CONTENT_PARTS} content parts per message`);
const assistantContent = z.union([z.string(), z.array(z.unknown())]).superRefine((v, ctx) => {
  if (typeof v === 'string') return;
  const r = assistantParts.safeParse(v);
  if (!r.success) for (const issue of r.error.issues) ctx.addIssue({ ...issue, code: 'custom', message: issue.message, path: issue.path } as never);
}) as unknown as z.ZodType<string | z.infer<typeof assistantParts>>;

const message = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content, name: z.string().optional() }),
  z.object({ role: z.literal('developer'), content, name: z.string().optional() }),
  z.object({ role: z.literal('user'), content: userContent, name: z.string().optional() }),
  z.object({
    role: z.literal('assistant'),
    content: assistantContent.nullable().optional(),
    name: z.string().optional(),
    refusal: z.string().nullable().optional(),
    tool_calls: z.array(toolCall).max(128).nullable().optional(),
    function_call: z.object({ name: z.string().min(1).max(64), arguments: z.string() }).nullable().optional(),
  }),
  z.object({ role: z.literal('tool'), content, tool_call_id: z.string().min(1, 'tool_call_id is required').max(256) }),
  z.object({ role: z.literal('function'), content: z.string().nullable(), name: z.string().min(1).max(64) }),
]);

/** JSON Schema objects are checked further in client-tools.ts / structured-output.ts. */
const jsonSchemaObject = z.record(z.string(), z.unknown());
const functionDef = z.object({
  name: z.string(),
  description: z.string().optional(),
  parameters: jsonSchemaObject.optional(),
  strict: z.boolean().nullable().optional(),
});
const namedChoice = z.object({ name: z.string() });
/** A response format's name (OpenAI: a-z, A-Z, 0-9, _ and -, at most 64); Chat Completions' and the Responses API's. */
export const formatName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'name is 1-64 letters, digits, _ or -');
const responseFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    json_schema: z.object({
      name: formatName,
      description: z.string().max(4096).optional(),
      schema: jsonSchemaObject.optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
]);

export const chatCompletionRequest = z.object({
  model: z.string().min(1, 'model is required'),
  messages: z.array(message).min(1, 'messages must contain at least one message').max(MAX_MESSAGES, `at most ${MAX_MESSAGES} messages per request; continue a conversation with x-thread-id and only the new messages`),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() }).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  max_tokens: z.number().int().positive().nullable().optional(),
  max_completion_tokens: z.number().int().positive().nullable().optional(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullable().optional(),
  // Any string, as in OpenAI's document (a hashed id in base64, a name with spaces): the
  // memory resource is derived from it safely (src/server/auth.ts resolveResource).
  user: z.string().nullable().optional(),
  // What these do (honoured, refused, ignored) is decided in params.ts; here only their types.
  n: z.number().int().min(1).max(128).nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  modalities: z.array(z.enum(['text', 'audio'])).nullable().optional(),
  audio: z.object({}).passthrough().nullable().optional(),
  prediction: z.object({}).passthrough().nullable().optional(),
  moderation: z.object({}).passthrough().nullable().optional(),
  reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max']).nullable().optional(),
  verbosity: z.enum(['low', 'medium', 'high']).nullable().optional(),
  logit_bias: z
    .record(z.string().regex(/^\d{1,10}$/, 'logit_bias keys are token ids'), z.number().int().min(-100).max(100))
    .refine((o) => Object.keys(o).length <= 1024, 'at most 1024 logit_bias entries')
    .nullable()
    .optional(),
  web_search_options: z.object({}).passthrough().nullable().optional(),
  tools: z.array(z.object({ type: z.literal('function', { message: 'only tools of type "function" are supported' }), function: functionDef })).max(MAX_CLIENT_TOOLS, `at most ${MAX_CLIENT_TOOLS} tools per request`).nullable().optional(),
  tool_choice: z
    .union([z.enum(['none', 'auto', 'required']), z.object({ type: z.literal('function'), function: namedChoice })], {
      message: 'tool_choice is "none", "auto", "required" or {"type": "function", "function": {"name": ...}}',
    })
    .nullable()
    .optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  functions: z.array(functionDef).max(MAX_CLIENT_TOOLS, `at most ${MAX_CLIENT_TOOLS} functions per request`).nullable().optional(),
  function_call: z
    .union([z.enum(['none', 'auto']), namedChoice], { message: 'function_call is "none", "auto" or {"name": ...}' })
    .nullable()
    .optional(),
  response_format: responseFormat.nullable().optional(),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>;
export type RequestMessage = ChatCompletionRequest['messages'][number];

export function textContent(c: RequestMessage['content']): string {
  if (c == null) return '';
  if (typeof c === 'string') return c;
  return (c as Array<{ type: string; text?: unknown; refusal?: unknown }>).map((p) => (p.type === 'text' && typeof p.text === 'string' ? p.text : p.type === 'refusal' && typeof p.refusal === 'string' ? p.refusal : '')).join('');
}

/** `messages.0.content` → `messages[0].content`, as OpenAI names params. */
export function paramName(path: PropertyKey[]): string | null {
  if (!path.length) return null;
  return path.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${String(seg)}` : String(seg)), '');
}
