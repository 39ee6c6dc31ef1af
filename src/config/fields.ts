/**
 * The zod field types every config section uses: each turns one environment string
 * into a value or an issue naming the rule (never the value: it may be a secret).
 */
import { z } from 'zod';

export const optionalString = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

export const optionalUrl = optionalString.pipe(z.string().url().optional());

export const intFrom = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return def;
      const n = Number(raw.trim());
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });

/** A fraction from 0 to 1 (e.g. a sampling probability). */
export const fraction = (def: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return def;
      const n = Number(raw.trim());
      if (!Number.isFinite(n) || n < 0 || n > 1) {
        ctx.addIssue({ code: 'custom', message: 'must be a number from 0 to 1' });
        return z.NEVER;
      }
      return n;
    });

export const bool = (def: boolean) =>
  optionalString
    .pipe(z.enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off']).optional())
    .transform((v) => (v === undefined ? def : ['1', 'true', 'yes', 'on'].includes(v)));

/** `provider/model`, e.g. `openai/gpt-4o-mini` or `ollama/llama3.2`. */
export const modelId = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]+\/\S+$/, 'must look like provider/model, e.g. openai/gpt-4o-mini');

/** Every `<PREFIX><NAME>` variable with a non-blank value: [the variable, NAME, the value]. */
export function suffixed(env: NodeJS.ProcessEnv, prefix: string): Array<[key: string, name: string, value: string]> {
  const out: Array<[string, string, string]> = [];
  const re = new RegExp(`^${prefix}([A-Z0-9_]+)$`);
  for (const [key, value] of Object.entries(env)) {
    const m = re.exec(key);
    if (!m || value === undefined || value.trim() === '') continue;
    out.push([key, m[1]!, value]);
  }
  return out;
}

/** `NEWS_BOT` (a variable's suffix) → `news-bot` (an agent name). */
export const agentNameOf = (suffix: string): string => suffix.toLowerCase().replace(/_/g, '-');
