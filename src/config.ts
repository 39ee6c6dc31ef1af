/**
 * The environment, read once into one validated object. A bad value fails fast at
 * start-up with a message that names the variable. Every variable is documented in
 * README.md and .env.example.
 */
import path from 'node:path';
import { z } from 'zod';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

const optionalString = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

const optionalUrl = optionalString.pipe(z.string().url().optional());

const intFrom = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
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

const bool = (def: boolean) =>
  optionalString
    .pipe(z.enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off']).optional())
    .transform((v) => (v === undefined ? def : ['1', 'true', 'yes', 'on'].includes(v)));

/** `provider/model`, e.g. `openai/gpt-4o-mini` or `ollama/llama3.2`. */
const modelId = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]+\/\S+$/, 'must look like provider/model, e.g. openai/gpt-4o-mini');

/** `key:user,key2:user2` → Map(key → user). A key without `:user` maps to itself. */
const apiKeys = optionalString.transform((raw, ctx) => {
  const map = new Map<string, string>();
  if (!raw) return map;
  for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
    const idx = part.indexOf(':');
    const key = idx === -1 ? part : part.slice(0, idx);
    const user = idx === -1 ? '' : part.slice(idx + 1);
    if (key.length < 8) {
      ctx.addIssue({ code: 'custom', message: 'every key must be at least 8 characters' });
      return z.NEVER;
    }
    if (!user || !/^[A-Za-z0-9_.@-]+$/.test(user)) {
      ctx.addIssue({
        code: 'custom',
        message: 'each entry must be key:user with a user id of letters, digits, _ . @ or -',
      });
      return z.NEVER;
    }
    map.set(key, user);
  }
  return map;
});

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  PORT: intFrom(8787, 0, 65535),
  DATA_DIR: z.string().trim().min(1).default('./.data'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),

  DATABASE_URL: optionalUrl,
  EMBEDDED_PG_PORT: intFrom(0, 0, 65535),

  API_KEYS: apiKeys,
  RATE_LIMIT_RPM: intFrom(120, 0),
  BODY_LIMIT: z
    .string()
    .trim()
    .regex(/^\d+(b|kb|mb)$/i, 'must be a size such as 512kb or 2mb')
    .default('1mb'),

  MODEL: modelId.default('openai/gpt-4o-mini'),
  OPENAI_BASE_URL: optionalUrl,
  OPENAI_API_KEY: optionalString,
  MODEL_TIMEOUT_MS: intFrom(120_000, 100),
  MODEL_MAX_RETRIES: intFrom(1, 0, 10),
  AGENT_MAX_STEPS: intFrom(8, 1, 100),
});

export type AgentModelOverrides = Record<string, string>;

export interface Config {
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  dataDir: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  databaseUrl?: string;
  embeddedPgPort: number;
  apiKeys: Map<string, string>;
  rateLimitRpm: number;
  bodyLimit: string;
  model: {
    default: string;
    baseUrl?: string;
    apiKey?: string;
    timeoutMs: number;
    maxRetries: number;
    maxSteps: number;
    /** agent name → `provider/model`, from AGENT_MODEL_<NAME> variables. */
    perAgent: AgentModelOverrides;
  };
}

export class ConfigError extends Error {
  constructor(public readonly issues: string[]) {
    super(`Invalid configuration:\n  - ${issues.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  const issues: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      // Never echo the offending value: it may be a secret.
      issues.push(`${issue.path.join('.') || '(environment)'}: ${issue.message}`);
    }
  }

  const perAgent: AgentModelOverrides = {};
  for (const [key, value] of Object.entries(env)) {
    const m = /^AGENT_MODEL_([A-Z0-9_]+)$/.exec(key);
    if (!m || value === undefined || value.trim() === '') continue;
    const check = modelId.safeParse(value);
    if (!check.success) issues.push(`${key}: ${check.error.issues[0]?.message}`);
    else perAgent[m[1]!.toLowerCase().replace(/_/g, '-')] = check.data;
  }

  if (issues.length || !parsed.success) throw new ConfigError(issues);
  const c = parsed.data;

  if (c.API_KEYS.size === 0 && !LOOPBACK_HOSTS.has(c.HOST)) {
    throw new ConfigError([
      `HOST: refusing to listen on ${c.HOST} without API_KEYS. Set API_KEYS=key:user,... to require ` +
        'keys, or leave HOST at 127.0.0.1 for keyless local development.',
    ]);
  }

  return {
    env: c.NODE_ENV,
    host: c.HOST,
    port: c.PORT,
    dataDir: path.resolve(c.DATA_DIR),
    logLevel: c.LOG_LEVEL,
    databaseUrl: c.DATABASE_URL,
    embeddedPgPort: c.EMBEDDED_PG_PORT,
    apiKeys: c.API_KEYS,
    rateLimitRpm: c.RATE_LIMIT_RPM,
    bodyLimit: c.BODY_LIMIT.toLowerCase(),
    model: {
      default: c.MODEL,
      baseUrl: c.OPENAI_BASE_URL,
      apiKey: c.OPENAI_API_KEY,
      timeoutMs: c.MODEL_TIMEOUT_MS,
      maxRetries: c.MODEL_MAX_RETRIES,
      maxSteps: c.AGENT_MAX_STEPS,
      perAgent,
    },
  };
}
