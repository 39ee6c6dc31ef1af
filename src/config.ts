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

/** A fraction from 0 to 1 (e.g. a sampling probability). */
const fraction = (def: number) =>
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
  LEADERSHIP_POLL_MS: intFrom(2000, 100, 60_000),
  FEATURES: optionalString,

  // AT Protocol (README "AT Protocol"): unset PDS_URL = embedded PLC + PDS.
  PDS_URL: optionalUrl,
  PLC_URL: optionalUrl,
  RELAY_URL: optionalUrl,
  APPVIEW_URL: optionalUrl,
  APPVIEW_DID: optionalString,
  EMBEDDED_PDS_PORT: intFrom(0, 0, 65535),
  ATPROTO_HANDLE_DOMAIN: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/, 'must be a domain such as agents.test')
    .default('agents.test'),
  ATPROTO_AGENTS: z
    .string()
    .trim()
    .default('social')
    .transform((s) => s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[a-z0-9-]+$/, 'agent names are letters, digits and -'))),
  ATPROTO_AUTOREPLY: bool(true),
  ATPROTO_DRY_RUN: bool(false),
  ATPROTO_REQUIRE_APPROVAL: bool(false),
  ATPROTO_MAX_POSTS_PER_HOUR: intFrom(30, 0),
  ATPROTO_MAX_REPLIES_PER_THREAD: intFrom(5, 0),
  ATPROTO_BLOCKLIST: optionalString.transform((s) => (s ?? '').split(',').map((x) => x.trim().toLowerCase()).filter(Boolean)),
  ATPROTO_LONG_TEXT: z.enum(['split', 'refuse']).default('split'),
  ATPROTO_SCHEDULE: optionalString,
  FEEDGEN_DID: optionalString,

  // PowerSync (README "PowerSync"): unset POWERSYNC_URL = the embedded sync service.
  POWERSYNC_URL: optionalUrl,
  POWERSYNC_PUBLIC_URL: optionalUrl,
  POWERSYNC_PORT: intFrom(0, 0, 65535),
  POWERSYNC_JWT_AUDIENCE: z.string().trim().min(1).default('one-agents-powersync'),
  POWERSYNC_JWT_PRIVATE_KEY: optionalString,
  POWERSYNC_TOKEN_TTL_S: intFrom(900, 30, 86_400),
  POWERSYNC_KEEPALIVE_S: intFrom(20, 1, 300),
  POWERSYNC_SLOT: z.string().trim().regex(/^[a-z0-9_]{1,63}$/, 'must be lower-case letters, digits and _').default('one_agents_powersync'),
  POWERSYNC_ANSWER_MESSAGES: bool(true),

  // IPFS (README "IPFS"): unset IPFS_API_URL = the embedded node (services/ipfs).
  IPFS_API_URL: optionalUrl,
  IPFS_CLUSTER_URL: optionalUrl,
  IPFS_CLUSTER_BASIC_AUTH: optionalString.pipe(z.string().regex(/^[^:]+:.+$/, 'must be user:password').optional()),
  IPFS_GATEWAY_URL: optionalUrl,
  IPFS_EMBEDDED_PORT: intFrom(0, 0, 65535),
  IPFS_EMBEDDED_CLUSTER_PORT: intFrom(0, 0, 65535),
  IPFS_MAX_PIN_BYTES: intFrom(100 * 1024 * 1024, 1),
  IPFS_MAX_READ_BYTES: intFrom(1024 * 1024, 1),
  IPFS_TIMEOUT_MS: intFrom(30_000, 100),
  IPFS_REPLICATION_MIN: intFrom(0, 0, 1000),
  IPFS_REPLICATION_MAX: intFrom(0, 0, 1000),
  IPFS_FILES_DIR: optionalString,
});

export type AgentModelOverrides = Record<string, string>;

export const KNOWN_FEATURES = ['atproto', 'ipfs', 'powersync'] as const;
/** Earlier names still accepted in FEATURES. */
const FEATURE_ALIASES: Record<string, string> = { sync: 'powersync' };

export interface Config {
  /** Which features run: 'all', or a list (empty = core only). */
  features: 'all' | string[];
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  dataDir: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  databaseUrl?: string;
  embeddedPgPort: number;
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
  /** Images in chat messages: IMAGE_MAX_BYTES (decoded size), IMAGE_FETCH_TIMEOUT_MS (fetching an image URL). */
  images: { maxBytes: number; fetchTimeoutMs: number };
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
  };
  atproto: AtprotoConfig;
  powersync: PowerSyncConfig;
  ipfs: IpfsConfig;
  observability: ObservabilityConfig;
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

/** IPFS settings (src/features/ipfs.ts). */
export interface IpfsConfig {
  /** External Kubo RPC API; undefined = the embedded node. */
  apiUrl?: string;
  /** External IPFS Cluster REST API; when set, pins go through the cluster. */
  clusterUrl?: string;
  /** `user:password` for the cluster's basic auth (a secret). */
  clusterBasicAuth?: string;
  /** Public gateway base for links; undefined = the node's own /ipfs/ (embedded) or https://ipfs.io/ipfs/. */
  gatewayUrl?: string;
  embeddedPort: number;
  embeddedClusterPort: number;
  /** Largest content a tool pins, in bytes. */
  maxPinBytes: number;
  /** Largest content a tool reads back by CID, in bytes. */
  maxReadBytes: number;
  /** Upper bound on one IPFS call from a tool. */
  timeoutMs: number;
  /** Cluster replication factors (0 = the cluster's own default). */
  replicationMin: number;
  replicationMax: number;
  /** The only directory the pin-a-local-file tool may read from. */
  filesDir: string;
}

/** PowerSync settings (src/features/powersync.ts). */
export interface PowerSyncConfig {
  /** External PowerSync Service; undefined = the embedded sync service. */
  url?: string;
  /** The sync service address handed to devices (defaults to `url` / the embedded one). */
  publicUrl?: string;
  embeddedPort: number;
  audience: string;
  /** A private RSA JWK (JSON); undefined = generated under DATA_DIR/powersync. */
  privateJwk?: string;
  tokenTtlSeconds: number;
  keepaliveSeconds: number;
  slotName: string;
  /** Answer user messages devices write into conversations (chat through sync). */
  answerMessages: boolean;
}

/** AT Protocol settings (src/features/atproto.ts). */
export interface AtprotoConfig {
  /** External PDS; undefined = the embedded PLC + PDS. */
  pdsUrl?: string;
  plcUrl?: string;
  relayUrl?: string;
  appViewUrl?: string;
  appViewDid?: string;
  embeddedPdsPort: number;
  handleDomain: string;
  /** Names of the agents that own an AT account. */
  agents: string[];
  /** agent name → identifier (handle/DID) + password or app password, from ATPROTO_IDENTIFIER_<NAME>/ATPROTO_PASSWORD_<NAME>. */
  credentials: Record<string, { identifier?: string; password: string }>;
  autoReply: boolean;
  dryRun: boolean;
  requireApproval: boolean;
  maxPostsPerHour: number;
  maxRepliesPerThread: number;
  blocklist: string[];
  longText: 'split' | 'refuse';
  /** Raw ATPROTO_SCHEDULE: `agent|every 6h or cron|topic;…` (parsed by the feature). */
  schedule?: string;
  feedGeneratorDid?: string;
  /** Live-network trigger and autonomy controls (see the block at the end of this file). */
  live: AtprotoLiveConfig;
}

export class ConfigError extends Error {
  constructor(public readonly issues: string[]) {
    super(`Invalid configuration:\n  - ${issues.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** For entry points: the configuration, or the issues on stderr and exit 78 (EX_CONFIG). */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
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

  const agentUsers = new Map<string, Set<string> | '*'>();
  for (const [key, value] of Object.entries(env)) {
    const m = /^AGENT_USERS_([A-Z0-9_]+)$/.exec(key);
    if (!m || value === undefined || value.trim() === '') continue;
    const owners = value.split(',').map((u) => u.trim()).filter(Boolean);
    agentUsers.set(m[1]!.toLowerCase().replace(/_/g, '-'), owners.includes('*') ? '*' : new Set(owners));
  }

  const perOwnerBudget = new Map<string, number>();
  for (const [key, value] of Object.entries(env)) {
    const m = /^BUDGET_TOKENS_PER_DAY_([A-Z0-9_]+)$/.exec(key);
    if (!m || value === undefined || value.trim() === '') continue;
    const n = Number(value.trim());
    if (!Number.isInteger(n) || n < 0 || n > Number.MAX_SAFE_INTEGER) issues.push(`${key}: must be a whole number from 0 (unlimited) up`);
    else perOwnerBudget.set(m[1]!, n);
  }

  const atCredentials: AtprotoConfig['credentials'] = {};
  for (const [key, value] of Object.entries(env)) {
    const m = /^ATPROTO_PASSWORD_([A-Z0-9_]+)$/.exec(key);
    if (!m || value === undefined || value.trim() === '') continue;
    const identifier = env[`ATPROTO_IDENTIFIER_${m[1]}`]?.trim() || undefined;
    atCredentials[m[1]!.toLowerCase().replace(/_/g, '-')] = { identifier, password: value.trim() };
  }

  let features: 'all' | string[] = 'all';
  const rawFeatures = parsed.success ? parsed.data.FEATURES : undefined;
  if (rawFeatures !== undefined && rawFeatures !== 'all') {
    features = rawFeatures === 'none' ? [] : [...new Set(rawFeatures.split(',').map((f) => f.trim()).filter(Boolean).map((f) => FEATURE_ALIASES[f] ?? f))];
    const unknown = features.filter((f) => !(KNOWN_FEATURES as readonly string[]).includes(f));
    if (unknown.length) issues.push(`FEATURES: unknown feature(s) ${unknown.join(', ')}; known: ${KNOWN_FEATURES.join(', ')}, or all / none`);
  }

  const observability = readObservabilityConfig(env, issues);
  const atLive = loadAtprotoLive(env, issues);

  if (issues.length || !parsed.success) throw new ConfigError(issues);
  const c = parsed.data;

  if (c.API_KEYS.size === 0 && !LOOPBACK_HOSTS.has(c.HOST)) {
    throw new ConfigError([
      `HOST: refusing to listen on ${c.HOST} without API_KEYS. Set API_KEYS=key:user,... to require ` +
        'keys, or leave HOST at 127.0.0.1 for keyless local development.',
    ]);
  }

  return {
    features,
    env: c.NODE_ENV,
    host: c.HOST,
    port: c.PORT,
    dataDir: path.resolve(c.DATA_DIR),
    logLevel: c.LOG_LEVEL,
    databaseUrl: c.DATABASE_URL,
    embeddedPgPort: c.EMBEDDED_PG_PORT,
    apiKeys: c.API_KEYS,
    adminUsers: new Set((c.ADMIN_USERS ?? '').split(',').map((u) => u.trim()).filter(Boolean)),
    outboundAllowHosts: c.OUTBOUND_ALLOW_HOSTS,
    agentUsers,
    rateLimitRpm: c.RATE_LIMIT_RPM,
    budgets: { tokensPerDay: c.BUDGET_TOKENS_PER_DAY, perOwner: perOwnerBudget },
    bodyLimit: c.BODY_LIMIT.toLowerCase(),
    images: { maxBytes: c.IMAGE_MAX_BYTES, fetchTimeoutMs: c.IMAGE_FETCH_TIMEOUT_MS },
    leadershipPollMs: c.LEADERSHIP_POLL_MS,
    model: {
      default: c.MODEL,
      baseUrl: c.OPENAI_BASE_URL,
      apiKey: c.OPENAI_API_KEY,
      timeoutMs: c.MODEL_TIMEOUT_MS,
      maxRetries: c.MODEL_MAX_RETRIES,
      maxSteps: c.AGENT_MAX_STEPS,
      perAgent,
    },
    atproto: {
      pdsUrl: c.PDS_URL,
      plcUrl: c.PLC_URL,
      relayUrl: c.RELAY_URL,
      appViewUrl: c.APPVIEW_URL,
      appViewDid: c.APPVIEW_DID,
      embeddedPdsPort: c.EMBEDDED_PDS_PORT,
      handleDomain: c.ATPROTO_HANDLE_DOMAIN,
      agents: c.ATPROTO_AGENTS,
      credentials: atCredentials,
      autoReply: c.ATPROTO_AUTOREPLY,
      dryRun: c.ATPROTO_DRY_RUN,
      requireApproval: c.ATPROTO_REQUIRE_APPROVAL,
      maxPostsPerHour: c.ATPROTO_MAX_POSTS_PER_HOUR,
      maxRepliesPerThread: c.ATPROTO_MAX_REPLIES_PER_THREAD,
      blocklist: c.ATPROTO_BLOCKLIST,
      longText: c.ATPROTO_LONG_TEXT,
      schedule: c.ATPROTO_SCHEDULE,
      feedGeneratorDid: c.FEEDGEN_DID,
      live: atLive!,
    },
    powersync: {
      url: c.POWERSYNC_URL,
      publicUrl: c.POWERSYNC_PUBLIC_URL,
      embeddedPort: c.POWERSYNC_PORT,
      audience: c.POWERSYNC_JWT_AUDIENCE,
      privateJwk: c.POWERSYNC_JWT_PRIVATE_KEY,
      tokenTtlSeconds: c.POWERSYNC_TOKEN_TTL_S,
      keepaliveSeconds: c.POWERSYNC_KEEPALIVE_S,
      slotName: c.POWERSYNC_SLOT,
      answerMessages: c.POWERSYNC_ANSWER_MESSAGES,
    },
    ipfs: {
      apiUrl: c.IPFS_API_URL,
      clusterUrl: c.IPFS_CLUSTER_URL,
      clusterBasicAuth: c.IPFS_CLUSTER_BASIC_AUTH,
      gatewayUrl: c.IPFS_GATEWAY_URL,
      embeddedPort: c.IPFS_EMBEDDED_PORT,
      embeddedClusterPort: c.IPFS_EMBEDDED_CLUSTER_PORT,
      maxPinBytes: c.IPFS_MAX_PIN_BYTES,
      maxReadBytes: c.IPFS_MAX_READ_BYTES,
      timeoutMs: c.IPFS_TIMEOUT_MS,
      replicationMin: c.IPFS_REPLICATION_MIN,
      replicationMax: c.IPFS_REPLICATION_MAX,
      filesDir: path.resolve(c.IPFS_FILES_DIR ?? path.join(c.DATA_DIR, 'files')),
    },
    observability,
  };
}

/**
 * May the key owner `owner` use `agent` (chat, list, synced messages)? Keyless
 * development (no API_KEYS): everyone. Otherwise AGENT_USERS_<NAME> when set ('*' =
 * every key owner); without it, agents that publish or delete on a shared external
 * account (the AT Protocol agents, ATPROTO_AGENTS, default `social`) are for ADMIN_USERS
 * only, and every other agent is for every key owner.
 */
export function mayUseAgent(config: Pick<Config, 'apiKeys' | 'adminUsers' | 'agentUsers' | 'atproto'>, owner: string | undefined, agent: string): boolean {
  if (config.apiKeys.size === 0) return true;
  if (owner === undefined) return false;
  const rule = config.agentUsers.get(agent);
  if (rule !== undefined) return rule === '*' || rule.has(owner);
  if (config.atproto.agents.includes(agent)) return config.adminUsers.has(owner);
  return true;
}
// ==== Observability and Studio (traces, OpenTelemetry export, Studio's origins) ===// One block for the tracing settings (src/system/observability.ts); docs/configuration.md
// "Observability". Read from the same environment as the rest; a bad value is one issue.

/** Tracing settings (src/system/observability.ts). */
export interface ObservabilityConfig {
  /** Keep traces (agent runs, model calls, tool calls, workflow runs) for Studio. */
  enabled: boolean;
  /** Where Studio's traces, logs, metrics and feedback live; undefined = the app's database, schema `mastra_observability`. */
  databaseUrl?: string;
  /** `service.name` of exported spans. */
  serviceName: string;
  /** Longest wait before buffered spans are written (Studio) or sent (OTLP), in ms. */
  flushMs: number;
  /** Share of traces kept (0–1; 1 = every trace): each agent run, workflow run… is sampled as a whole. */
  sampleRatio: number;
  /** OTLP/HTTP export of the same spans; undefined = none. */
  /** Browser origins allowed to call / and /api with API_KEYS set (Studio served elsewhere); keyless: any loopback origin. */
  studioOrigins: string[];
  otlp?: {
    /** Base endpoint (`/v1/traces` is appended) or the full traces endpoint. */
    endpoint: string;
    protocol: 'http/protobuf' | 'http/json';
    /** From OTEL_EXPORTER_OTLP_HEADERS (`k=v,k2=v2`, values URL-decoded); may hold secrets. */
    headers: Record<string, string>;
  };
}

const observabilitySchema = z.object({
  TRACING: bool(true),
  OBSERVABILITY_DATABASE_URL: optionalUrl,
  TRACING_FLUSH_MS: intFrom(2000, 50, 60_000),
  TRACING_SAMPLE_RATIO: fraction(1),
  OTEL_SERVICE_NAME: z.string().trim().min(1).default('one-agents'),
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl,
  OTEL_EXPORTER_OTLP_PROTOCOL: optionalString.pipe(z.enum(['http/protobuf', 'http/json']).optional()),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: optionalString.pipe(z.enum(['http/protobuf', 'http/json']).optional()),
  OTEL_EXPORTER_OTLP_HEADERS: optionalString,
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: optionalString,
  OTEL_TRACES_EXPORTER: optionalString.pipe(z.enum(['otlp', 'none']).optional()),
  STUDIO_ORIGINS: optionalString.transform((s) => (s ?? '').split(',').map((x) => x.trim().replace(/\/+$/, '')).filter(Boolean)),
});

/** `k=v,k2=v2` (the OTel spec's W3C-baggage-like list; values percent-decoded). */
export function parseOtlpHeaders(raw: string | undefined): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const part of (raw ?? '').split(',')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    try {
      out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return out;
}

function readObservabilityConfig(env: NodeJS.ProcessEnv, issues: string[]): ObservabilityConfig {
  const parsed = observabilitySchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) issues.push(`${issue.path.join('.')}: ${issue.message}`);
    return { enabled: false, serviceName: 'one-agents', flushMs: 2000, sampleRatio: 1, studioOrigins: [] };
  }
  const o = parsed.data;
  const headers = { ...parseOtlpHeaders(o.OTEL_EXPORTER_OTLP_HEADERS), ...parseOtlpHeaders(o.OTEL_EXPORTER_OTLP_TRACES_HEADERS) };
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'] as const) {
    if (!parseOtlpHeaders(o[name])) issues.push(`${name}: must be a comma list of key=value`);
  }
  for (const origin of o.STUDIO_ORIGINS) {
    if (!/^https?:\/\/[^/]+$/.test(origin)) issues.push('STUDIO_ORIGINS: each entry must be an origin such as https://studio.example.com');
  }
  const endpoint = o.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? o.OTEL_EXPORTER_OTLP_ENDPOINT;
  return {
    enabled: o.TRACING,
    databaseUrl: o.OBSERVABILITY_DATABASE_URL,
    serviceName: o.OTEL_SERVICE_NAME,
    flushMs: o.TRACING_FLUSH_MS,
    sampleRatio: o.TRACING_SAMPLE_RATIO,
    studioOrigins: o.STUDIO_ORIGINS,
    otlp:
      endpoint && o.OTEL_TRACES_EXPORTER !== 'none'
        ? { endpoint, protocol: o.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? o.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf', headers }
        : undefined,
  };
}
// ==== end Observability ==================================================================
// ---- AT Protocol on the live network (wt/firehose): trigger source, relevance filter,
// ---- autonomy controls. Kept in one block so merges with the other config edits stay easy.

export type ReplyMode = 'mentions' | 'mentions+threads' | 'off';
const REPLY_MODES: readonly ReplyMode[] = ['mentions', 'mentions+threads', 'off'];

/** Durations such as `500ms`, `30s`, `30m`, `1h`, `2d` (a bare number is seconds) → milliseconds. */
export function parseDuration(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(raw.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's').toLowerCase() as 'ms']!;
  return Math.round(Number(m[1]) * unit);
}

export interface AtprotoLiveConfig {
  /** Jetstream endpoint (ws[s]://host[/subscribe]); when set the trigger reads it instead of the relay or the PDS. */
  jetstreamUrl?: string;
  /** How far before the saved cursor a Jetstream reconnect starts (de-duplicated by the mention rows). */
  jetstreamRewindMs: number;
  /** Mentions older than this when seen are recorded as skipped (0 = no limit). */
  maxMentionAgeMs: number;
  /** A mention this much older than now when seen is catch-up backlog (paced). */
  catchupLagMs: number;
  /** Minimum time between two backlog replies of one agent. */
  catchupIntervalMs: number;
  /** Per agent: what it answers on its own. */
  replyModes: Record<string, ReplyMode>;
  defaultReplyMode: ReplyMode;
  /** Relevant events being verified/written at once before the trigger stops reading (backpressure). */
  maxPending: number;
  /** Entries of each relevance cache (known thread roots, indexed replies, DID documents). */
  cacheSize: number;
  /** Polling interval of the notifications source (used when no firehose or Jetstream is configured to be reachable; 0 = off). */
  notificationsPollMs: number;
}

function loadAtprotoLive(env: NodeJS.ProcessEnv, issues: string[]): AtprotoLiveConfig | undefined {
  const str = (k: string) => (env[k]?.trim() ? env[k]!.trim() : undefined);
  const dur = (k: string, def: number) => {
    const raw = str(k);
    if (raw === undefined) return def;
    const ms = parseDuration(raw);
    if (ms === undefined) issues.push(`${k}: must be a duration such as 30s, 30m, 1h or 2d`);
    return ms ?? def;
  };
  const int = (k: string, def: number, min: number) => {
    const raw = str(k);
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) issues.push(`${k}: must be a whole number of at least ${min}`);
    return Number.isInteger(n) ? n : def;
  };
  const mode = (k: string, def: ReplyMode): ReplyMode => {
    const raw = str(k)?.toLowerCase();
    if (raw === undefined) return def;
    if (!(REPLY_MODES as readonly string[]).includes(raw)) issues.push(`${k}: must be one of ${REPLY_MODES.join(', ')}`);
    return (REPLY_MODES as readonly string[]).includes(raw) ? (raw as ReplyMode) : def;
  };
  const jetstreamUrl = str('JETSTREAM_URL');
  if (jetstreamUrl && !/^(wss?|https?):\/\/[^/]+/i.test(jetstreamUrl)) issues.push('JETSTREAM_URL: must be a ws://, wss://, http:// or https:// URL');
  const defaultReplyMode = mode('ATPROTO_REPLY_MODE', 'mentions+threads');
  const replyModes: Record<string, ReplyMode> = {};
  for (const key of Object.keys(env)) {
    const m = /^ATPROTO_REPLY_MODE_([A-Z0-9_]+)$/.exec(key);
    if (m) replyModes[m[1]!.toLowerCase().replace(/_/g, '-')] = mode(key, defaultReplyMode);
  }
  return {
    jetstreamUrl,
    jetstreamRewindMs: dur('ATPROTO_JETSTREAM_REWIND', 5_000),
    maxMentionAgeMs: dur('ATPROTO_MAX_MENTION_AGE', 3_600_000),
    catchupLagMs: dur('ATPROTO_CATCHUP_LAG', 120_000),
    catchupIntervalMs: dur('ATPROTO_CATCHUP_INTERVAL', 20_000),
    replyModes,
    defaultReplyMode,
    maxPending: int('ATPROTO_TRIGGER_MAX_PENDING', 256, 1),
    cacheSize: int('ATPROTO_TRIGGER_CACHE_SIZE', 100_000, 100),
    notificationsPollMs: dur('ATPROTO_NOTIFICATIONS_POLL', 0),
  };
}

/** The reply mode of one agent. */
export function replyModeOf(live: AtprotoLiveConfig, agent: string): ReplyMode {
  return live.replyModes[agent] ?? live.defaultReplyMode;
}
