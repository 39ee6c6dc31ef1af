/**
 * Server settings: where the app listens, who may call it (API_KEYS, ADMIN_USERS,
 * AGENT_USERS_<NAME>), limits and budgets, request bodies and images, and the
 * outbound guard's extra hosts.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { ConfigError } from './errors';
import { agentNameOf, intFrom, optionalString, suffixed } from './fields';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

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

export const serverEnv = {
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  PORT: intFrom(8787, 0, 65535),
  // HTTP worker processes `npm start` runs on PORT (node:cluster); 0 = one per core (os.availableParallelism()).
  WORKERS: intFrom(0, 0, 64),

  API_KEYS: apiKeys,
  RATE_LIMIT_RPM: intFrom(120, 0),
  // Tokens per key owner and UTC day (src/server/usage.ts); 0 = no budget. Per owner: BUDGET_TOKENS_PER_DAY_<OWNER>.
  BUDGET_TOKENS_PER_DAY: intFrom(0, 0),
  ADMIN_USERS: optionalString,
  // host:port (or URLs) that model- or document-steered fetches may reach although they are internal (src/util/outbound.ts).
  OUTBOUND_ALLOW_HOSTS: optionalString.transform((raw, ctx) => {
    const list = (raw ?? '').split(',').map((e) => e.trim()).filter(Boolean);
    for (const e of list)
      if (!/^(https?:\/\/[^\s/]+\/?|[A-Za-z0-9.-]+:\d{1,5}|\[[0-9A-Fa-f:.]+\]:\d{1,5})$/.test(e)) {
        ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of host:port or http(s)://host[:port]' });
        return z.NEVER;
      }
    return list;
  }),
  // Images in chat messages (docs/api.md#images): the largest decoded image; how long fetching an image URL may take.
  IMAGE_MAX_BYTES: intFrom(5 * 1024 * 1024, 1024, 50 * 1024 * 1024),
  IMAGE_FETCH_TIMEOUT_MS: intFrom(10_000, 100, 120_000),
  // All images of one request together; all requests of this process together (docs/security.md#hostile-input).
  IMAGE_MAX_TOTAL_BYTES: intFrom(16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  IMAGE_MAX_INFLIGHT_BYTES: intFrom(64 * 1024 * 1024, 1024, 16 * 1024 * 1024 * 1024),
  BODY_LIMIT: z
    .string()
    .trim()
    .regex(/^\d+(b|kb|mb)$/i, 'must be a size such as 512kb or 2mb')
    .default('1mb'),
};
type ServerEnv = z.output<z.ZodObject<typeof serverEnv>>;

export interface ServerConfig {
  host: string;
  port: number;
  /** WORKERS resolved: how many HTTP worker processes `npm start` runs (1 = the app in the start process itself). */
  workers: number;
  apiKeys: Map<string, string>;
  /** Key owners allowed on /api (Mastra's routes see every user's memory and every workflow). */
  adminUsers: Set<string>;
  /** OUTBOUND_ALLOW_HOSTS: extra host:port the outbound guard lets through (besides the configured services). */
  outboundAllowHosts: string[];
  /** agent name → key owners who may use it ('*' = every key owner), from AGENT_USERS_<NAME>; see mayUseAgent. */
  agentUsers: Map<string, Set<string> | '*'>;
  rateLimitRpm: number;
  /** Token budgets per key owner and UTC day (src/server/usage.ts). */
  budgets: BudgetConfig;
  bodyLimit: string;
  /** Images in chat messages: IMAGE_MAX_BYTES (decoded size), IMAGE_FETCH_TIMEOUT_MS (fetching an image URL), IMAGE_MAX_TOTAL_BYTES (one request), IMAGE_MAX_INFLIGHT_BYTES (one process). */
  images: { maxBytes: number; fetchTimeoutMs: number; maxTotalBytes: number; maxInFlightBytes: number };
}

/** Token budgets (src/server/usage.ts): BUDGET_TOKENS_PER_DAY and BUDGET_TOKENS_PER_DAY_<OWNER>. */
export interface BudgetConfig {
  /** Tokens per owner and UTC day for owners without their own budget; 0 = unlimited. */
  tokensPerDay: number;
  /** budgetEnvName(owner) (the owner upper-cased, every other character `_`) → tokens per day; 0 = unlimited. */
  perOwner: Map<string, number>;
}

/** The suffix of an owner's BUDGET_TOKENS_PER_DAY_<OWNER> variable: `alice.b-2` → `ALICE_B_2`. */
export function budgetEnvName(owner: string): string {
  return owner.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** The daily token budget of a key owner (0 = unlimited). */
export function budgetFor(budgets: BudgetConfig, owner: string): number {
  return budgets.perOwner.get(budgetEnvName(owner)) ?? budgets.tokensPerDay;
}

/** AGENT_USERS_<NAME> variables → agent name → key owners ('*' = all). */
export function readAgentUsers(env: NodeJS.ProcessEnv): Map<string, Set<string> | '*'> {
  const agentUsers = new Map<string, Set<string> | '*'>();
  for (const [, name, value] of suffixed(env, 'AGENT_USERS_')) {
    const owners = value.split(',').map((u) => u.trim()).filter(Boolean);
    agentUsers.set(agentNameOf(name), owners.includes('*') ? '*' : new Set(owners));
  }
  return agentUsers;
}

/** BUDGET_TOKENS_PER_DAY_<OWNER> variables → owner suffix → tokens per day (a bad number is an issue). */
export function readOwnerBudgets(env: NodeJS.ProcessEnv, issues: string[]): Map<string, number> {
  const perOwner = new Map<string, number>();
  for (const [key, name, value] of suffixed(env, 'BUDGET_TOKENS_PER_DAY_')) {
    const n = Number(value.trim());
    if (!Number.isInteger(n) || n < 0 || n > Number.MAX_SAFE_INTEGER) issues.push(`${key}: must be a whole number from 0 (unlimited) up`);
    else perOwner.set(name, n);
  }
  return perOwner;
}

export function serverConfig(c: ServerEnv, agentUsers: ServerConfig['agentUsers'], perOwnerBudget: Map<string, number>): ServerConfig {
  if (c.API_KEYS.size === 0 && !LOOPBACK_HOSTS.has(c.HOST)) {
    throw new ConfigError([
      `HOST: refusing to listen on ${c.HOST} without API_KEYS. Set API_KEYS=key:user,... to require ` +
        'keys, or leave HOST at 127.0.0.1 for keyless local development.',
    ]);
  }
  return {
    host: c.HOST,
    port: c.PORT,
    workers: c.WORKERS || availableParallelism(),
    apiKeys: c.API_KEYS,
    adminUsers: new Set((c.ADMIN_USERS ?? '').split(',').map((u) => u.trim()).filter(Boolean)),
    outboundAllowHosts: c.OUTBOUND_ALLOW_HOSTS,
    agentUsers,
    rateLimitRpm: c.RATE_LIMIT_RPM,
    budgets: { tokensPerDay: c.BUDGET_TOKENS_PER_DAY, perOwner: perOwnerBudget },
    bodyLimit: c.BODY_LIMIT.toLowerCase(),
    images: { maxBytes: c.IMAGE_MAX_BYTES, fetchTimeoutMs: c.IMAGE_FETCH_TIMEOUT_MS, maxTotalBytes: c.IMAGE_MAX_TOTAL_BYTES, maxInFlightBytes: c.IMAGE_MAX_INFLIGHT_BYTES },
  };
}

/**
 * May the key owner `owner` use `agent` (chat, list, synced messages)? Keyless
 * development (no API_KEYS): everyone. Otherwise AGENT_USERS_<NAME> when set ('*' =
 * every key owner); without it, agents that publish or delete on a shared external
 * account (the AT Protocol agents, ATPROTO_AGENTS, default `social`) are for ADMIN_USERS
 * only, and every other agent is for every key owner.
 */
export function mayUseAgent(
  config: Pick<ServerConfig, 'apiKeys' | 'adminUsers' | 'agentUsers'> & { atproto: { agents: string[] } },
  owner: string | undefined,
  agent: string,
): boolean {
  if (config.apiKeys.size === 0) return true;
  if (owner === undefined) return false;
  const rule = config.agentUsers.get(agent);
  if (rule !== undefined) return rule === '*' || rule.has(owner);
  if (config.atproto.agents.includes(agent)) return config.adminUsers.has(owner);
  return true;
}
