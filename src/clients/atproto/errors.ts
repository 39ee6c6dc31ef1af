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
  | 'SECRET_DETECTED';

export class AtprotoError extends AppError<AtprotoErrorCode> {}

/** Any thrown value → an AtprotoError with a clear code (XRPC errors keep the PDS's error name). */
export function toAtprotoError(err: unknown, context: string): AppError<AtprotoErrorCode> {
  if (err instanceof AppError) return err as AtprotoError;
  if (err instanceof XRPCError) {
    if (err.error === 'RecordNotFound' || /could not locate record/i.test(err.message)) return new AtprotoError('RECORD_NOT_FOUND', `${context}: record not found`);
    if (err.error === 'AuthenticationRequired' || err.error === 'InvalidToken' || err.error === 'ExpiredToken')
      return new AtprotoError('AUTH_FAILED', `${context}: the PDS refused the session (${err.error})`);
    if (/could not find repo|repo not found/i.test(err.message)) return new AtprotoError('DID_NOT_FOUND', `${context}: repository not found`);
    return new AtprotoError('PDS_ERROR', `${context}: ${err.error ?? 'error'}: ${err.message}`);
  }
  return new AtprotoError('PDS_ERROR', `${context}: ${(err as Error)?.message ?? String(err)}`);
}
