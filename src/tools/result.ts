/**
 * The one tool-result convention: every tool answers `{ ok: true, …fields }` or
 * `{ ok: false, error: { code, message } }` with a stable code (docs/errors.md). The
 * model reads the error and can explain it; nothing a tool refuses is thrown at Mastra.
 *
 *   outputSchema: toolResult({ id: z.string() }),
 *   execute: (input) => runTool(() => …, { toError: toIpfsError }),
 */
import { z } from 'zod';
import { AppError, messageOf } from '../errors';
import type { Logger } from '../logger';

export const toolErrorSchema = z.object({ code: z.string(), message: z.string() });

export type ToolResult<T extends object> = (T & { ok: true }) | { ok: false; error: { code: string; message: string } };

/** Output schema: `ok`, `error` on failure, and the tool's own fields (present on success). */
export function toolResult<T extends z.ZodRawShape>(shape: T) {
  const optional = Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, (v as z.ZodTypeAny).optional()])) as unknown as { [K in keyof T]: z.ZodOptional<T[K]> };
  return z.object({ ok: z.boolean(), error: toolErrorSchema.optional(), ...optional });
}

export interface RunToolOptions {
  /** Maps a failure of this tool family's service to an AppError with the family's codes. */
  toError?: (err: unknown) => AppError;
  /** Logs failures whose code is in `logCodes` (service faults, not refusals). */
  logger?: Logger;
  logCodes?: string[];
  tool?: string;
}

/** Runs a tool body and wraps its outcome in the one result convention. */
export async function runTool<T extends object>(fn: () => Promise<T> | T, o: RunToolOptions = {}): Promise<T & { ok: boolean; error?: { code: string; message: string } }> {
  try {
    return { ok: true, ...(await fn()) };
  } catch (err) {
    const e = err instanceof AppError ? err : o.toError ? o.toError(err) : new AppError('TOOL_ERROR', messageOf(err));
    if (o.logger && o.logCodes?.includes(e.code)) o.logger.warn('tool failed', { tool: o.tool, code: e.code, error: e });
    return { ok: false, error: e.toValue() } as never;
  }
}
