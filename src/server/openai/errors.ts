/**
 * OpenAI-style error objects: `{ error: { message, type, param, code } }` with the
 * matching HTTP status. Every error leaving /v1 goes through here, and every message
 * is passed through the secret redactor first.
 */
import { AppError } from '../../errors';
import { redactText } from '../../logger';

export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'requests'
  | 'tokens'
  | 'server_error'
  | 'upstream_error'
  | 'timeout_error';

/** An error in OpenAI's shape; its `code` is the stable code (docs/errors.md). */
export class OpenAIError extends AppError {
  declare readonly status: number;
  constructor(
    status: number,
    message: string,
    public readonly type: OpenAIErrorType,
    code: string,
    public readonly param: string | null = null,
    public readonly headers: Record<string, string> = {},
  ) {
    super(code, message, { status });
  }

  toJSON() {
    return { error: { message: redactText(this.message), type: this.type, param: this.param, code: this.code } };
  }
}

export const errors = {
  invalidBody: (message: string, param: string | null = null) => new OpenAIError(400, message, 'invalid_request_error', 'invalid_value', param),
  badJson: () => new OpenAIError(400, 'We could not parse the JSON body of your request. Send valid JSON with Content-Type: application/json.', 'invalid_request_error', 'invalid_json'),
  missingKey: () =>
    new OpenAIError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.", 'invalid_request_error', 'missing_api_key'),
  badKey: () => new OpenAIError(401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'),
  forbidden: (what: string) => new OpenAIError(403, `This API key may not use ${what}.`, 'invalid_request_error', 'forbidden'),
  agentForbidden: (model: string) =>
    new OpenAIError(403, `This API key may not use the agent \`${model}\` (see AGENT_USERS_<NAME>).`, 'permission_error', 'agent_forbidden', 'model'),
  modelNotFound: (model: string) =>
    new OpenAIError(404, `The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found', 'model'),
  threadNotFound: () =>
    new OpenAIError(404, 'No conversation with that x-thread-id exists for this user.', 'invalid_request_error', 'thread_not_found', 'x-thread-id'),
  responseNotFound: (param: string | null = null) =>
    new OpenAIError(404, 'No response with that id exists for this API key (stored responses only: store must not be false).', 'invalid_request_error', 'response_not_found', param),
  conversationNotFound: () =>
    new OpenAIError(404, 'No conversation with that id exists for this user.', 'invalid_request_error', 'conversation_not_found', 'conversation'),
  reservedThreadId: (param: string) =>
    new OpenAIError(400, 'That thread id is in a namespace reserved for the system (atproto:, system:). Choose another id.', 'invalid_request_error', 'reserved_thread_id', param),
  conversationLocked: (param: string) =>
    new OpenAIError(400, 'Another process is currently operating on this conversation. Please retry in a few seconds.', 'invalid_request_error', 'conversation_locked', param),
  routeNotFound: (method: string, path: string) =>
    new OpenAIError(404, `Unknown request URL: ${method} ${path}.`, 'invalid_request_error', 'unknown_url'),
  tooLarge: (limit: string) =>
    new OpenAIError(413, `Request body is larger than the ${limit} limit.`, 'invalid_request_error', 'request_too_large'),
  rateLimited: (retryAfterSec: number, rpm: number) =>
    new OpenAIError(429, `Rate limit reached: ${rpm} requests per minute for this API key. Try again in ${retryAfterSec}s.`, 'requests', 'rate_limit_exceeded', null, {
      'retry-after': String(retryAfterSec),
    }),
  budgetExceeded: (retryAfterSec: number, budget: number, used: number) =>
    new OpenAIError(
      429,
      `Daily token budget reached: ${used} of ${budget} tokens used today (UTC) by this key owner. The budget resets at 00:00 UTC, in ${retryAfterSec}s.`,
      'tokens',
      'budget_exceeded',
      null,
      { 'retry-after': String(retryAfterSec) },
    ),
  internal: () => new OpenAIError(500, 'The server had an error while processing your request.', 'server_error', 'internal_error'),
};

interface ErrorLike {
  name?: string;
  message?: string;
  code?: string;
  statusCode?: number;
  status?: number;
  cause?: unknown;
  lastError?: unknown;
  errors?: unknown[];
  details?: unknown;
}

/** Every error in a chain (cause, lastError, errors[]), first the outermost. */
function chain(err: unknown, seen = new Set<unknown>()): ErrorLike[] {
  if (!err || typeof err !== 'object' || seen.has(err)) return [];
  seen.add(err);
  const e = err as ErrorLike;
  return [e, ...chain(e.cause, seen), ...chain(e.lastError, seen), ...(Array.isArray(e.errors) ? e.errors.flatMap((x) => chain(x, seen)) : [])];
}

/**
 * Maps a failure of the model call to 502/503/504. `aborted` is true when the client
 * went away (then nothing is sent anyway).
 */
export function upstreamError(err: unknown): OpenAIError {
  if (err instanceof OpenAIError) return err;
  const all = chain(err);
  // Mastra's own ownership check (a thread of another resource): never a 5xx. Claims
  // (src/db/threads.ts) normally refuse such a request before the agent runs.
  if (all.some((e) => /resourceId does not match the current resourceId/.test(e.message ?? ''))) return errors.threadNotFound();
  if (all.some((e) => e.code === 'MODEL_NOT_CONFIGURED')) {
    return new OpenAIError(503, 'No language model is configured on this server (set OPENAI_BASE_URL and/or OPENAI_API_KEY).', 'server_error', 'model_not_configured');
  }
  const text = all.map((e) => `${e.name ?? ''} ${e.code ?? ''} ${e.message ?? ''}`).join(' | ');
  if (all.some((e) => e.name === 'TimeoutError') || /timed? ?out|ETIMEDOUT|UND_ERR_(HEADERS|BODY)_TIMEOUT/i.test(text)) {
    return new OpenAIError(504, 'The model did not answer in time.', 'timeout_error', 'upstream_timeout');
  }
  const status = all.map((e) => e.statusCode ?? (typeof e.status === 'number' ? e.status : undefined)).find((s) => typeof s === 'number');
  if (status !== undefined) {
    if (status === 429) return new OpenAIError(503, 'The model provider is rate limiting this server; try again shortly.', 'upstream_error', 'upstream_rate_limited');
    if (status === 401 || status === 403)
      return new OpenAIError(502, `The model provider rejected this server's credentials (status ${status}). Check OPENAI_API_KEY.`, 'upstream_error', 'upstream_auth_failed');
    return new OpenAIError(502, `The model provider answered with an error (status ${status}).`, 'upstream_error', 'upstream_error');
  }
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|fetch failed|Cannot connect|socket hang up|API key not found/i.test(text)) {
    return new OpenAIError(503, 'The model provider is unreachable.', 'upstream_error', 'upstream_unavailable');
  }
  return new OpenAIError(502, 'The model call failed.', 'upstream_error', 'upstream_error');
}
