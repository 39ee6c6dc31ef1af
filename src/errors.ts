/**
 * The one error convention: every failure the project reports on purpose is an
 * AppError with a stable, documented `code` (docs/errors.md) and a message safe to show
 * a model or a user (secrets are redacted before the message is stored). Tools turn it
 * into `{ ok: false, error: { code, message } }` (src/tools/result.ts); HTTP routes turn
 * it into their protocol's error body (src/server/errors.ts).
 */
import { redactText } from './logger';

export interface ErrorValue {
  code: string;
  message: string;
}

export class AppError<C extends string = string> extends Error {
  readonly code: C;
  /** The HTTP status a route answers with, where the error is meant for one. */
  readonly status?: number;

  constructor(code: C, message: string, opts: { status?: number; cause?: unknown } = {}) {
    super(redactText(message), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = opts.status;
  }

  toValue(): ErrorValue {
    return { code: this.code, message: this.message };
  }
}

/** The message of any thrown value, redacted. */
export function messageOf(err: unknown): string {
  return redactText(err instanceof Error ? err.message : String(err));
}
