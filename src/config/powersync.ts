/** PowerSync settings (README "PowerSync"; src/features/powersync): unset POWERSYNC_URL = the embedded sync service. */
import { z } from 'zod';
import { bool, intFrom, optionalString, optionalUrl } from './fields';

export const powersyncEnv = {
  POWERSYNC_URL: optionalUrl,
  POWERSYNC_PUBLIC_URL: optionalUrl,
  POWERSYNC_PORT: intFrom(0, 0, 65535),
  POWERSYNC_JWT_AUDIENCE: z.string().trim().min(1).default('one-agents-powersync'),
  POWERSYNC_JWT_PRIVATE_KEY: optionalString,
  POWERSYNC_TOKEN_TTL_S: intFrom(900, 30, 86_400),
  POWERSYNC_KEEPALIVE_S: intFrom(20, 1, 300),
  POWERSYNC_SLOT: z.string().trim().regex(/^[a-z0-9_]{1,63}$/, 'must be lower-case letters, digits and _').default('one_agents_powersync'),
  POWERSYNC_ANSWER_MESSAGES: bool(true),
  POWERSYNC_ANSWER_MAX_PER_USER: intFrom(2, 0, 1000),
  POWERSYNC_ANSWER_MAX_IN_FLIGHT: intFrom(8, 1, 10_000),
};
type PowerSyncEnv = z.output<z.ZodObject<typeof powersyncEnv>>;

/** PowerSync settings (src/features/powersync). */
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
  /** Synced messages answered at once per user, across replicas (0 = unbounded). */
  answerMaxPerUser: number;
  /** Synced messages answered at once by one process; the rest wait their turn. */
  answerMaxInFlight: number;
}

export function powersyncConfig(c: PowerSyncEnv): PowerSyncConfig {
  return {
    url: c.POWERSYNC_URL,
    publicUrl: c.POWERSYNC_PUBLIC_URL,
    embeddedPort: c.POWERSYNC_PORT,
    audience: c.POWERSYNC_JWT_AUDIENCE,
    privateJwk: c.POWERSYNC_JWT_PRIVATE_KEY,
    tokenTtlSeconds: c.POWERSYNC_TOKEN_TTL_S,
    keepaliveSeconds: c.POWERSYNC_KEEPALIVE_S,
    slotName: c.POWERSYNC_SLOT,
    answerMessages: c.POWERSYNC_ANSWER_MESSAGES,
    answerMaxPerUser: c.POWERSYNC_ANSWER_MAX_PER_USER,
    answerMaxInFlight: c.POWERSYNC_ANSWER_MAX_IN_FLIGHT,
  };
}
