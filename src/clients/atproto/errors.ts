/**
 * Errors of the AT Protocol feature: a stable code and a message safe to show a model
 * or a user (secrets are redacted before a message leaves the process).
 */
import { XRPCError } from '@atproto/api';
import { AppError } from '../../errors';

export type AtprotoErrorCode =
  | 'UNKNOWN_AGENT'
  | 'NO_ACCOUNT'
  | 'HANDLE_NOT_FOUND'
  | 'DID_NOT_FOUND'
  | 'BAD_URI'
  | 'RECORD_NOT_FOUND'
  | 'TEXT_TOO_LONG'
  | 'EMPTY_TEXT'
  | 'BAD_IMAGE'
  | 'NOT_OWN_POST'
  | 'AUTH_FAILED'
  | 'PDS_ERROR'
  | 'POLICY'
  | 'FETCH_REFUSED'
  | 'SECRET_DETECTED'
  | 'RATE_LIMITED';

export class AtprotoError extends AppError<AtprotoErrorCode> {}

/** A write not sent (or refused by the PDS with 429) because the account's write budget is spent; `retryAt` says when to try again. */
export class RateLimitedError extends AtprotoError {
  constructor(
    message: string,
    readonly retryAt: Date,
  ) {
    super('RATE_LIMITED', `${message}; retry after ${retryAt.toISOString()}`);
  }
}

/** Any thrown value → an AtprotoError with a clear code (XRPC errors keep the PDS's error name). */
export function toAtprotoError(err: unknown, context: string): AppError<AtprotoErrorCode> {
  if (err instanceof AppError) return err as AtprotoError;
  // Our own error thrown inside an agent's fetch (pacing.ts) reaches here wrapped in an XRPCError.
  if (err instanceof Error && err.cause instanceof AppError) return err.cause as AtprotoError;
  if (err instanceof XRPCError) {
    if (err.error === 'RecordNotFound' || /could not locate record/i.test(err.message)) return new AtprotoError('RECORD_NOT_FOUND', `${context}: record not found`);
    if (err.error === 'AuthenticationRequired' || err.error === 'InvalidToken' || err.error === 'ExpiredToken')
      return new AtprotoError('AUTH_FAILED', `${context}: the PDS refused the session (${err.error})`);
    if (/could not find repo|repo not found/i.test(err.message)) return new AtprotoError('DID_NOT_FOUND', `${context}: repository not found`);
    return new AtprotoError('PDS_ERROR', `${context}: ${err.error ?? 'error'}: ${err.message}`);
  }
  return new AtprotoError('PDS_ERROR', `${context}: ${(err as Error)?.message ?? String(err)}`);
}
