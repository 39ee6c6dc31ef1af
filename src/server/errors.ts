/**
 * The one express error sender: every route family (/v1, /powersync, the app's own
 * fallbacks) turns a thrown value into its protocol's error body here. Anything that is
 * not an error meant for the caller is logged and answered as a 500 without detail.
 */
import type { ErrorRequestHandler } from 'express';
import type { Logger } from '../logger';
import { errors, OpenAIError } from './openai/errors';

/** body-parser's error types that have a message of their own (others are answered by their status). */
const BODY_ERRORS = new Map<string, () => OpenAIError>([
  ['charset.unsupported', () => new OpenAIError(415, 'Unsupported charset: send the JSON body as UTF-8 (Content-Type: application/json; charset=utf-8).', 'invalid_request_error', 'unsupported_charset')],
  ['encoding.unsupported', () => new OpenAIError(415, 'Unsupported Content-Encoding: send the body uncompressed or as gzip, deflate or br.', 'invalid_request_error', 'unsupported_encoding')],
  ['request.aborted', () => new OpenAIError(400, 'The request body ended before it was complete.', 'invalid_request_error', 'invalid_body')],
  ['request.size.invalid', () => new OpenAIError(400, 'The request body does not match its Content-Length.', 'invalid_request_error', 'invalid_body')],
]);

/**
 * A thrown value → the OpenAI-shaped error the caller gets. Failures of the caller's
 * request that express or body-parser report (an error with a 4xx `status` and
 * `expose: true`: an unknown charset or Content-Encoding, a corrupt gzip body, an
 * aborted upload, a URL that is not valid percent-encoding…) are the caller's: 4xx,
 * never 500.
 */
export function toOpenAIError(err: unknown, bodyLimit: string): OpenAIError | undefined {
  if (err instanceof OpenAIError) return err;
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { type?: unknown; status?: unknown; statusCode?: unknown; expose?: unknown };
  const type = typeof e.type === 'string' ? e.type : undefined;
  if (type === 'entity.too.large') return errors.tooLarge(bodyLimit);
  if (type === 'entity.parse.failed') return errors.badJson();
  const known = type === undefined ? undefined : BODY_ERRORS.get(type);
  if (known) return known();
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  // The router's failure to decode a URL parameter: a URIError with status 400.
  if (err instanceof URIError && status === 400) return new OpenAIError(400, 'The request URL is not valid percent-encoding.', 'invalid_request_error', 'invalid_url');
  if (status === undefined || status < 400 || status > 499 || e.expose !== true) return undefined;
  if (status === 413) return errors.tooLarge(bodyLimit);
  if (status === 415) return new OpenAIError(415, 'Unsupported request body encoding.', 'invalid_request_error', 'unsupported_encoding');
  return new OpenAIError(status, 'The request body could not be read (a corrupt or truncated body, or a bad encoding).', 'invalid_request_error', 'invalid_body');
}

export interface ErrorSenderOptions {
  logger: Logger;
  bodyLimit: string;
  /** Names the route family in the log line of an unexpected error. */
  what: string;
  /** Errors this route family answers in a shape of its own (checked first). */
  own?: (err: unknown) => { status: number; body: unknown } | undefined;
  /** Adds route-family fields to an OpenAI error body. */
  decorate?: (body: ReturnType<OpenAIError['toJSON']>, status: number) => unknown;
}

export function errorSender(o: ErrorSenderOptions): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const own = o.own?.(err);
    let status: number;
    let body: unknown;
    if (own) {
      ({ status, body } = own);
    } else {
      let e = toOpenAIError(err, o.bodyLimit);
      if (!e) {
        o.logger.error(`${o.what} failed`, { path: req.path, error: err });
        e = errors.internal();
      }
      if (!res.headersSent) for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
      status = e.status;
      body = o.decorate ? o.decorate(e.toJSON(), status) : e.toJSON();
    }
    if (res.headersSent) return void res.end();
    res.status(status).json(body);
  };
}
