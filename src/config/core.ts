/**
 * Core settings every process needs: environment, data directory, logging, Postgres,
 * the language model, leadership and which features run (FEATURES).
 */
import path from 'node:path';
import { z } from 'zod';
import { agentNameOf, intFrom, modelId, optionalString, optionalUrl, suffixed } from './fields';

export const coreEnv = {
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATA_DIR: z.string().trim().min(1).default('./.data'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),

  DATABASE_URL: optionalUrl,
  EMBEDDED_PG_PORT: intFrom(0, 0, 65535),

  MODEL: modelId.default('openai/gpt-4o-mini'),
  OPENAI_BASE_URL: optionalUrl,
  OPENAI_API_KEY: optionalString,
  MODEL_TIMEOUT_MS: intFrom(120_000, 100),
  MODEL_MAX_RETRIES: intFrom(1, 0, 10),
  MODEL_FALLBACKS: optionalString,
  AGENT_MAX_STEPS: intFrom(8, 1, 100),
  LEADERSHIP_POLL_MS: intFrom(2000, 100, 60_000),
  FEATURES: optionalString,
};
type CoreEnv = z.output<z.ZodObject<typeof coreEnv>>;

export type AgentModelOverrides = Record<string, string>;

export const KNOWN_FEATURES = ['atproto', 'ipfs', 'powersync'] as const;
/** Earlier names still accepted in FEATURES. */
const FEATURE_ALIASES: Record<string, string> = { sync: 'powersync' };

export interface CoreConfig {
  /** Which features run: 'all', or a list (empty = core only). */
  features: 'all' | string[];
  env: 'development' | 'production' | 'test';
  dataDir: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  databaseUrl?: string;
  embeddedPgPort: number;
  /** How often a replica tries to take over work that runs once (src/db/leadership.ts). */
  leadershipPollMs: number;
  model: {
    default: string;
    baseUrl?: string;
    apiKey?: string;
    timeoutMs: number;
    maxRetries: number;
    maxSteps: number;
    /** agent name → `provider/model`, from AGENT_MODEL_<NAME> variables. */
    perAgent: AgentModelOverrides;
    /** Models tried in order when the agent's model fails before its first token (MODEL_FALLBACKS). */
    fallbacks: string[];
    /** agent name → its own fallback list, from AGENT_FALLBACKS_<NAME> (replaces MODEL_FALLBACKS; `none` = no fallback). */
    perAgentFallbacks: Record<string, string[]>;
  };
}

/** AGENT_MODEL_<NAME> variables → agent name → model id (a bad id is an issue). */
export function readModelOverrides(env: NodeJS.ProcessEnv, issues: string[]): AgentModelOverrides {
  const perAgent: AgentModelOverrides = {};
  for (const [key, name, value] of suffixed(env, 'AGENT_MODEL_')) {
    const check = modelId.safeParse(value);
    if (!check.success) issues.push(`${key}: ${check.error.issues[0]?.message}`);
    else perAgent[agentNameOf(name)] = check.data;
  }
  return perAgent;
}

/** `a/b, c/d` → the ids (each must look like provider/model; at most 5, no repeats); `none` → []. */
export function parseModelList(key: string, raw: string, issues: string[]): string[] {
  const trimmed = raw.trim();
  if (trimmed === '' || trimmed === 'none') return [];
  const ids = trimmed.split(',').map((s) => s.trim()).filter(Boolean);
  const out: string[] = [];
  for (const id of ids) {
    const check = modelId.safeParse(id);
    if (!check.success) {
      issues.push(`${key}: ${check.error.issues[0]?.message}`);
      return [];
    }
    if (!out.includes(check.data)) out.push(check.data);
  }
  if (out.length > 5) {
    issues.push(`${key}: at most 5 fallback models`);
    return [];
  }
  return out;
}

/** MODEL_FALLBACKS and AGENT_FALLBACKS_<NAME> → the default list and agent name → list. */
export function readModelFallbacks(env: NodeJS.ProcessEnv, issues: string[]): { fallbacks: string[]; perAgentFallbacks: Record<string, string[]> } {
  const fallbacks = parseModelList('MODEL_FALLBACKS', env.MODEL_FALLBACKS ?? '', issues);
  const perAgentFallbacks: Record<string, string[]> = {};
  for (const [key, name, value] of suffixed(env, 'AGENT_FALLBACKS_')) perAgentFallbacks[agentNameOf(name)] = parseModelList(key, value, issues);
  return { fallbacks, perAgentFallbacks };
}

/** FEATURES (already trimmed; undefined when unset or invalid) → 'all' or the list; unknown names are an issue. */
export function readFeatures(raw: string | undefined, issues: string[]): 'all' | string[] {
  if (raw === undefined || raw === 'all') return 'all';
  const features = raw === 'none' ? [] : [...new Set(raw.split(',').map((f) => f.trim()).filter(Boolean).map((f) => FEATURE_ALIASES[f] ?? f))];
  const unknown = features.filter((f) => !(KNOWN_FEATURES as readonly string[]).includes(f));
  if (unknown.length) issues.push(`FEATURES: unknown feature(s) ${unknown.join(', ')}; known: ${KNOWN_FEATURES.join(', ')}, or all / none`);
  return features;
}

export function coreConfig(
  c: CoreEnv,
  perAgent: AgentModelOverrides,
  features: 'all' | string[],
  fallbacks: { fallbacks: string[]; perAgentFallbacks: Record<string, string[]> } = { fallbacks: [], perAgentFallbacks: {} },
): CoreConfig {
  return {
    features,
    env: c.NODE_ENV,
    dataDir: path.resolve(c.DATA_DIR),
    logLevel: c.LOG_LEVEL,
    databaseUrl: c.DATABASE_URL,
    embeddedPgPort: c.EMBEDDED_PG_PORT,
    leadershipPollMs: c.LEADERSHIP_POLL_MS,
    model: {
      default: c.MODEL,
      baseUrl: c.OPENAI_BASE_URL,
      apiKey: c.OPENAI_API_KEY,
      timeoutMs: c.MODEL_TIMEOUT_MS,
      maxRetries: c.MODEL_MAX_RETRIES,
      maxSteps: c.AGENT_MAX_STEPS,
      perAgent,
      fallbacks: fallbacks.fallbacks,
      perAgentFallbacks: fallbacks.perAgentFallbacks,
    },
  };
}
