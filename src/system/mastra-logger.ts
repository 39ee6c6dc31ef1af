/**
 * Mastra's own log lines through the project's JSON logger: one JSON object per line,
 * secrets redacted, no stack frames (an upstream model failure is one line with its
 * name and message, not a multi-line dump).
 */
import { MastraLogger } from '@mastra/core/logger';
import type { Logger } from '../logger';

/** Mastra's extra log arguments as fields: errors by name and message, stack traces dropped. */
export function mastraFields(args: unknown[]): Record<string, unknown> | undefined {
  if (!args.length) return undefined;
  const strip = (v: unknown, depth = 0): unknown => {
    if (v instanceof Error) return { name: v.name, message: v.message, ...(v.cause !== undefined && depth < 3 ? { cause: strip(v.cause, depth + 1) } : {}) };
    if (depth > 4 || v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.slice(0, 20).map((x) => strip(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (k !== 'stack' && k !== 'stackTrace') out[k] = strip(x, depth + 1);
    return out;
  };
  const stripped = args.map((a) => strip(a));
  if (stripped.length === 1 && stripped[0] && typeof stripped[0] === 'object' && !Array.isArray(stripped[0])) return stripped[0] as Record<string, unknown>;
  return { details: stripped };
}

/** Mastra sometimes puts an error's stack into the message text: keep the first lines, drop the frames. */
export function withoutStack(message: string): string {
  const i = message.search(/\n\s+at /);
  return i < 0 ? message : message.slice(0, i);
}

export class JsonMastraLogger extends MastraLogger {
  constructor(
    private readonly logger: Logger,
    level: 'debug' | 'info' | 'warn' | 'error',
  ) {
    super({ name: 'mastra', level: level as never });
  }
  private enabled(l: 'debug' | 'info' | 'warn' | 'error') {
    const order = { debug: 0, info: 1, warn: 2, error: 3 } as const;
    return order[l] >= order[this.level as keyof typeof order];
  }
  debug(message: string, ...args: unknown[]) {
    if (this.enabled('debug')) this.logger.debug(withoutStack(message), mastraFields(args));
  }
  info(message: string, ...args: unknown[]) {
    if (this.enabled('info')) this.logger.info(withoutStack(message), mastraFields(args));
  }
  warn(message: string, ...args: unknown[]) {
    if (this.enabled('warn')) this.logger.warn(withoutStack(message), mastraFields(args));
  }
  error(message: string, ...args: unknown[]) {
    if (this.enabled('error')) this.logger.error(withoutStack(message), mastraFields(args));
  }
}
