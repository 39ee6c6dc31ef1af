/**
 * AT Protocol settings (README "AT Protocol"; src/features/atproto): unset PDS_URL =
 * embedded PLC + PDS. The live-network block (trigger source, relevance filter, autonomy
 * controls) is read by loadAtprotoLive.
 */
import { z } from 'zod';
import { agentNameOf, bool, intFrom, optionalString, optionalUrl, suffixed } from './fields';

export const atprotoEnv = {
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
  ATPROTO_WRITE_POINTS_PER_HOUR: intFrom(5000, 1),
  ATPROTO_WRITE_POINTS_PER_DAY: intFrom(35000, 1),
  ATPROTO_BLOCKLIST: optionalString.transform((s) => (s ?? '').split(',').map((x) => x.trim().toLowerCase()).filter(Boolean)),
  ATPROTO_LONG_TEXT: z.enum(['split', 'refuse']).default('split'),
  ATPROTO_SCHEDULE: optionalString,
  FEEDGEN_DID: optionalString,
};
type AtprotoEnv = z.output<z.ZodObject<typeof atprotoEnv>>;

/** AT Protocol settings (src/features/atproto). */
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
  /** Repo-write points per account per UTC hour / day (create 3, update 2, delete 1), shared by replicas; default the PDS's limits (src/clients/atproto/pacing.ts). */
  writePointsPerHour: number;
  writePointsPerDay: number;
  blocklist: string[];
  longText: 'split' | 'refuse';
  /** Raw ATPROTO_SCHEDULE: `agent|every 6h or cron|topic;…` (parsed by the feature). */
  schedule?: string;
  feedGeneratorDid?: string;
  /** Live-network trigger and autonomy controls (AtprotoLiveConfig below). */
  live: AtprotoLiveConfig;
}

/** ATPROTO_PASSWORD_<NAME> (+ optional ATPROTO_IDENTIFIER_<NAME>) → agent name → credentials. */
export function readAtprotoCredentials(env: NodeJS.ProcessEnv): AtprotoConfig['credentials'] {
  const credentials: AtprotoConfig['credentials'] = {};
  for (const [, name, value] of suffixed(env, 'ATPROTO_PASSWORD_')) {
    const identifier = env[`ATPROTO_IDENTIFIER_${name}`]?.trim() || undefined;
    credentials[agentNameOf(name)] = { identifier, password: value.trim() };
  }
  return credentials;
}

export function atprotoConfig(c: AtprotoEnv, credentials: AtprotoConfig['credentials'], live: AtprotoLiveConfig): AtprotoConfig {
  return {
    pdsUrl: c.PDS_URL,
    plcUrl: c.PLC_URL,
    relayUrl: c.RELAY_URL,
    appViewUrl: c.APPVIEW_URL,
    appViewDid: c.APPVIEW_DID,
    embeddedPdsPort: c.EMBEDDED_PDS_PORT,
    handleDomain: c.ATPROTO_HANDLE_DOMAIN,
    agents: c.ATPROTO_AGENTS,
    credentials,
    autoReply: c.ATPROTO_AUTOREPLY,
    dryRun: c.ATPROTO_DRY_RUN,
    requireApproval: c.ATPROTO_REQUIRE_APPROVAL,
    maxPostsPerHour: c.ATPROTO_MAX_POSTS_PER_HOUR,
    maxRepliesPerThread: c.ATPROTO_MAX_REPLIES_PER_THREAD,
    writePointsPerHour: c.ATPROTO_WRITE_POINTS_PER_HOUR,
    writePointsPerDay: c.ATPROTO_WRITE_POINTS_PER_DAY,
    blocklist: c.ATPROTO_BLOCKLIST,
    longText: c.ATPROTO_LONG_TEXT,
    schedule: c.ATPROTO_SCHEDULE,
    feedGeneratorDid: c.FEEDGEN_DID,
    live,
  };
}

// ---- AT Protocol on the live network: trigger source, relevance filter, autonomy controls.

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

export function loadAtprotoLive(env: NodeJS.ProcessEnv, issues: string[]): AtprotoLiveConfig {
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
    if (m) replyModes[agentNameOf(m[1]!)] = mode(key, defaultReplyMode);
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
