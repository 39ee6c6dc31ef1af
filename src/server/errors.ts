/**
 * The one express error sender: every route family (/v1, /powersync, the app's own
 * fallbacks) turns a thrown value into its protocol's error body here. Anything that is
 * not an error meant for the caller is logged and answered as a 500 without detail.
 */
import type { ErrorRequestHandler } from 'express';
import type { Logger } from '../logger';
import { errors, OpenAIError } from './openai/errors';

/** A thrown value → the OpenAI-shaped error the caller gets (body-parser failures are the caller's). */
export function toOpenAIError(err: unknown, bodyLimit: string): OpenAIError | undefined {
  if (err instanceof OpenAIError) return err;
  const type = (err as { type?: string } | null)?.type;
  if (type === 'entity.too.large') return errors.tooLarge(bodyLimit);
  if (type === 'entity.parse.failed') return errors.badJson();
  return undefined;
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
