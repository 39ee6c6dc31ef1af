/**
 * The PowerSync feature (see src/features/types.ts and docs/powersync.md):
 *   startServices  the embedded PowerSync stand-in when POWERSYNC_URL is unset
 *                  (replication from the `powersync` publication; services/powersync)
 *   createClients  ctx.clients.powersync: the token signing keys
 *   tools/agents   save-note, save-artifact, list-artifacts, update-task; `organizer`
 *   workflows      answer-synced-message (chat through sync)
 *   routes         /powersync: credentials, jwks.json, upload
 *   readiness      `powersync`
 *   onTurn         queues /v1 turns for the mirror into conversations + messages
 *   background     agent directory rows; the pending-message sweep; the turn-mirror drainer
 */
import pg from 'pg';
import { dataFiles } from '../../../services/lib/data-file';
import { startEmbeddedPowerSync, type EmbeddedPowerSync } from '../../../services/powersync/embedded';
import { clientOf, type AppContext } from '../../clients/context';
import { openTurn } from '../../conversations';
import { loadTokenKeys, type PowerSyncClients } from '../../clients/powersync/keys';
import { publishAgentDirectory } from '../../stores/powersync/agents';
import { enqueueTurnMirror, TurnMirrorDrainer } from '../../stores/powersync/turn-mirror';
import { migrate } from '../../db/migrate';
import { createOrganizerAgent } from '../../mastra/agents/organizer';
import { modelIdFor } from '../../mastra/model';
import { createPowerSyncTools } from '../../tools/powersync';
import { createAnswerSyncedMessageWorkflow } from '../../workflows/powersync/answer-message';
import { lead } from '../../db/leadership';
import { UsageMeter } from '../../server/usage';
import type { Feature } from '../types';
import { MessageAnswerer } from './answerer';
import { createPowerSyncRouter } from './routes';

export function powerSyncClients(ctx: AppContext): PowerSyncClients {
  return clientOf(ctx, 'powersync');
}

const answerers = new WeakMap<AppContext, MessageAnswerer>();
const drainers = new WeakMap<AppContext, TurnMirrorDrainer>();
const drainerOf = (ctx: AppContext) => {
  let d = drainers.get(ctx);
  if (!d) drainers.set(ctx, (d = new TurnMirrorDrainer(ctx.db, ctx.logger.child({ feature: 'powersync' }))));
  return d;
};
const embedded = new Map<string, EmbeddedPowerSync>();

/** The embedded sync service of a running system (undefined with POWERSYNC_URL); for tests and benchmarks. */
export function embeddedPowerSync(ctx: AppContext): EmbeddedPowerSync | undefined {
  return ctx.urls.powersyncUrl ? embedded.get(ctx.urls.powersyncUrl) : undefined;
}

export const powerSyncFeature: Feature = {
  name: 'powersync',

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
    const keys = await loadTokenKeys(dataFiles, config.dataDir, c.privateJwk);
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
    ctx.clients.powersync = { keys: await loadTokenKeys(dataFiles, ctx.config.dataDir, ctx.config.powersync.privateJwk) } satisfies PowerSyncClients;
  },

  tools: (ctx) => createPowerSyncTools(ctx.db),
  agents: (ctx, memory) => ({ organizer: createOrganizerAgent(ctx, memory) }),
  // The synced conversation's thread is taken as every turn's is (src/conversations): the user's, one run at a time (waiting).
  // Budgets and usage are /v1's (src/server/usage.ts, per key owner and UTC day); per-user concurrency is counted in Postgres.
  workflows: (ctx) => ({
    'answer-synced-message': createAnswerSyncedMessageWorkflow(
      ctx.db,
      async ({ memory, threadId, resourceId, runId }) => {
        const { lease } = await openTurn({ db: ctx.db, memory, logger: ctx.logger }, { source: { kind: 'named', threadId }, resourceId, runId, policy: 'wait' });
        return lease;
      },
      {
        budget: new UsageMeter(ctx.db, ctx.config.budgets, ctx.logger.child({ feature: 'powersync' }), (agent) => modelIdFor(ctx.config, agent)).forResources(ctx.config.apiKeys.size > 0),
        maxPerUser: ctx.config.powersync.answerMaxPerUser,
        slotMs: Math.max(60_000, 2 * ctx.config.model.timeoutMs * (ctx.config.model.maxSteps || 1)),
      },
    ),
  }),

  routes({ ctx, mastra, limiter }) {
    const answerer = new MessageAnswerer(mastra, ctx.db, ctx.logger.child({ feature: 'powersync' }), ctx.config.powersync.answerMaxInFlight);
    answerers.set(ctx, answerer);
    const router = createPowerSyncRouter({
      ctx,
      limiter,
      keys: powerSyncClients(ctx).keys,
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

  // Durable before the response is sent (one insert); copied off the request path.
  async onTurn(ctx, turn) {
    await enqueueTurnMirror(ctx.db, turn);
    drainerOf(ctx).trigger();
  },

  async startBackground({ ctx, mastra, onStop }) {
    const agents = Object.entries(mastra.listAgents()).map(([name, a]) => ({ name, description: (a as { getDescription?: () => string }).getDescription?.() ?? '' }));
    await publishAgentDirectory(ctx.db, agents);
    // Every replica drains the turn-mirror queue (SKIP LOCKED: each turn once), including what a crashed one left.
    const drainer = drainerOf(ctx);
    drainer.start();
    onStop('turn mirror drainer', () => drainer.stop());
    const answerer = answerers.get(ctx);
    if (answerer && ctx.config.powersync.answerMessages) {
      // Every replica answers what its own uploads bring (trigger); the sweep that picks up
      // what a stopped process left runs on one replica at a time (src/db/leadership.ts).
      const leader = lead({
        databaseUrl: ctx.urls.databaseUrl,
        name: 'powersync-answerer-sweep',
        logger: ctx.logger.child({ feature: 'powersync' }),
        pollMs: ctx.config.leadershipPollMs,
        start: () => {
          answerer.start(15_000);
          return () => answerer.stopSweep();
        },
      });
      onStop('synced-message answerer', async () => {
        await leader.stop();
        await answerer.stop();
      });
      await leader.firstAttempt;
    }
  },
};
