/**
 * The sync feature (see src/features/types.ts and README "PowerSync"):
 *   startServices  the embedded PowerSync stand-in when POWERSYNC_URL is unset
 *                  (replication from the `powersync` publication; services/powersync)
 *   createClients  ctx.clients.sync: the token signing keys
 *   tools/agents   save-note, save-artifact, list-artifacts, update-task; `organizer`
 *   workflows      answer-synced-message (chat through sync)
 *   routes         /powersync: credentials, jwks.json, upload
 *   readiness      `powersync`
 *   onTurn         mirrors /v1 turns into conversations + messages
 *   background     agent directory rows; the pending-message sweep
 */
import pg from 'pg';
import { startEmbeddedPowerSync, type EmbeddedPowerSync } from '../../services/powersync/embedded';
import { migrate } from '../../services/postgres/migrate';
import type { AppContext } from '../context';
import { MessageAnswerer } from './sync/answerer';
import { loadTokenKeys, type TokenKeys } from './sync/keys';
import { createOrganizerAgent } from './sync/organizer-agent';
import { mirrorTurn, publishAgentDirectory } from './sync/records';
import { createSyncRouter } from './sync/routes';
import { createSyncTools } from '../tools/sync';
import { createAnswerSyncedMessageWorkflow } from '../workflows/sync/answer-message';
import type { Feature } from './types';

export interface SyncClients {
  keys: TokenKeys;
}

export function syncClients(ctx: AppContext): SyncClients {
  const c = ctx.clients.sync as SyncClients | undefined;
  if (!c) throw new Error('the sync feature has not created its clients');
  return c;
}

const answerers = new WeakMap<AppContext, MessageAnswerer>();
const embedded = new Map<string, EmbeddedPowerSync>();

/** The embedded sync service of a running system (undefined with POWERSYNC_URL); for tests and benchmarks. */
export function embeddedPowerSync(ctx: AppContext): EmbeddedPowerSync | undefined {
  return ctx.urls.powersyncUrl ? embedded.get(ctx.urls.powersyncUrl) : undefined;
}

export const syncFeature: Feature = {
  name: 'sync',

  async startServices({ config, logger, urls, onStop }) {
    const c = config.powersync;
    if (c.url) {
      urls.powersyncUrl = c.url;
      return;
    }
    // The stand-in stores its bucket log in Postgres: the schema must exist before replication starts.
    const db = new pg.Pool({ connectionString: urls.databaseUrl, max: 1 });
    try {
      await migrate(db);
    } finally {
      await db.end();
    }
    const keys = await loadTokenKeys(config.dataDir, c.privateJwk);
    const ps = await startEmbeddedPowerSync({
      databaseUrl: urls.databaseUrl,
      host: '127.0.0.1',
      port: c.embeddedPort,
      keys: keys.verifier,
      audience: c.audience,
      logger: logger.child({ service: 'powersync' }),
      slotName: c.slotName,
      keepaliveSeconds: c.keepaliveSeconds,
    });
    onStop('embedded powersync', async () => {
      embedded.delete(ps.url);
      await ps.stop();
    });
    urls.powersyncUrl = ps.url;
    embedded.set(ps.url, ps);
    logger.info('embedded PowerSync ready', { url: ps.url });
  },

  async createClients(ctx) {
    ctx.clients.sync = { keys: await loadTokenKeys(ctx.config.dataDir, ctx.config.powersync.privateJwk) } satisfies SyncClients;
  },

  tools: (ctx) => createSyncTools(ctx.db),
  agents: (ctx, memory) => ({ organizer: createOrganizerAgent(ctx, memory) }),
  workflows: (ctx) => ({ 'answer-synced-message': createAnswerSyncedMessageWorkflow(ctx.db) }),

  routes({ ctx, mastra }) {
    const answerer = new MessageAnswerer(mastra, ctx.db, ctx.logger.child({ feature: 'sync' }));
    answerers.set(ctx, answerer);
    const router = createSyncRouter({
      ctx,
      keys: syncClients(ctx).keys,
      knownAgents: () => new Set(Object.keys(mastra.listAgents())),
      onUploaded: (_user, result) => {
        if (ctx.config.powersync.answerMessages) answerer.trigger(result.pendingMessages);
      },
    });
    return [['/powersync', router]];
  },

  readiness: (ctx) => ({
    powersync: async () => {
      const url = ctx.urls.powersyncUrl;
      if (!url) throw new Error('no sync service');
      const res = await fetch(`${url}/probes/liveness`, { signal: AbortSignal.timeout(3000) });
      if (!res.ok) throw new Error(`sync service answered ${res.status}`);
    },
  }),

  async onTurn(ctx, turn) {
    await mirrorTurn(ctx.db, turn);
  },

  async startBackground({ ctx, mastra, onStop }) {
    const agents = Object.entries(mastra.listAgents()).map(([name, a]) => ({ name, description: (a as { getDescription?: () => string }).getDescription?.() ?? '' }));
    await publishAgentDirectory(ctx.db, agents);
    const answerer = answerers.get(ctx);
    if (answerer && ctx.config.powersync.answerMessages) {
      answerer.start(15_000);
      onStop('synced-message answerer', () => answerer.stop());
    }
  },
};
