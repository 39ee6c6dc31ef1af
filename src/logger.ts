/**
 * A small structured logger (one JSON line per event on stderr). Secrets are redacted
 * before anything is written: values under secret-looking keys, bearer tokens,
 * passwords in URLs, and any value registered with `registerSecret`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** The request a piece of work belongs to: every log line written inside it carries its id. */
const requestScope = new AsyncLocalStorage<{ requestId: string }>();

/** Runs `fn` (and everything it starts) as part of request `requestId`. */
export function withRequestId<T>(requestId: string, fn: () => T): T {
  return requestScope.run({ requestId }, fn);
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|authorization|jwt|private|credential|cookie/i;
const knownSecrets = new Set<string>();

/** Any value registered here is replaced by [redacted] wherever it appears in a log line or error. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) knownSecrets.add(value);
}

/** The length of the longest registered secret (0 when none): how far a chunked scan must overlap. */
export function longestRegisteredSecret(): number {
  let n = 0;
  for (const s of knownSecrets) n = Math.max(n, s.length);
  return n;
}

/** True when `text` contains any registered secret. */
export function containsRegisteredSecret(text: string): boolean {
  for (const s of knownSecrets) if (text.includes(s)) return true;
  return false;
}

/**
 * Help text, not a credential: `Bearer YOUR_KEY`, `Bearer API_KEY`, `Token <TOKEN>`: upper
 * case and `_` only, naming a key/token/secret. Real tokens hold lower case or digits.
 */
const PLACEHOLDER = /^(?=[A-Z_]{3,40}$)[A-Z_]*(KEY|TOKEN|SECRET|JWT)[A-Z_]*$/;

export function redactText(text: string): string {
  let out = text
    .replace(/(Bearer|Token)\s+([A-Za-z0-9._~+/=-]+)/g, (m, scheme: string, value: string) => (PLACEHOLDER.test(value) ? m : `${scheme} [redacted]`))
    .replace(/(\w+:\/\/[^:/\s@]+:)[^@\s]+@/g, '$1[redacted]@');
  for (const s of knownSecrets) if (out.includes(s)) out = out.split(s).join('[redacted]');
  return out;
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value instanceof Error) return { name: value.name, message: redactText(value.message) };
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    // Stack traces (of errors serialised to plain objects) stay out of the one-line JSON log.
    if (k === 'stack') continue;
    out[k] = SECRET_KEY.test(k) && v ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}

export function createLogger(level: LogLevel = 'info', bindings: Record<string, unknown> = {}): Logger {
  const min = ORDER[level];
  const write = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < min) return;
    const requestId = requestScope.getStore()?.requestId;
    const line = { t: new Date().toISOString(), level: lvl, msg: redactText(msg), ...(requestId ? { request_id: requestId } : {}), ...(redact({ ...bindings, ...fields }) as object) };
    process.stderr.write(JSON.stringify(line) + '\n');
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (b) => createLogger(level, { ...bindings, ...b }),
  };
}
