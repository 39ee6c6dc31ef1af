/**
 * The AT Protocol feature (see src/features/types.ts and README "AT Protocol"):
 *   startServices  embedded PLC + PDS when PDS_URL is unset; the agents' accounts
 *   createClients  ctx.clients.atproto: sessions, identity, record reads (AtprotoClients)
 *   tools/agents   the atproto-* tools and the `social` agent
 *   workflows      reply-to-mention, scheduled-post
 *   routes         /xrpc: the feed generator (describeFeedGenerator, getFeedSkeleton);
 *                  /admin/agents: pause/resume autonomy, decisions, trigger status (autonomy.ts)
 *   readiness      `pds`
 *   background     firehose or Jetstream trigger → reply-to-mention; scheduled posts; recovery sweep
 */
import type { Agent } from '@mastra/core/agent';
import { ensureEmbeddedAccounts, readAccounts } from '../../../services/atproto/accounts';
import { startEmbeddedAtproto } from '../../../services/atproto/embedded';
import { createAtprotoClients, type AtprotoClients } from '../../clients/atproto/clients';
import { toAtprotoError } from '../../clients/atproto/errors';
import { clientOf, type AppContext } from '../../clients/context';
import { registerSecret } from '../../logger';
import { createSocialAgent } from '../../mastra/agents/social';
import { createAtprotoTools, type AtprotoToolDeps } from '../../tools/atproto';
import { createReplyToMentionWorkflow } from '../../workflows/atproto/reply-to-mention';
import { createScheduledPostWorkflow } from '../../workflows/atproto/scheduled-post';
import { lead } from '../../db/leadership';
import { publishAgentAccount } from '../../stores/powersync/agents';
import type { Feature } from '../types';
import { createFeedGenerator } from './feed-generator';
import { createAutonomyRouter, running } from './autonomy';
import { startFirehoseTrigger } from './firehose';
import { startJetstreamTrigger } from './jetstream';
import { startNotificationsPoller } from './notifications';
import { MentionProcessor } from './mentions';
import { startSchedules } from './schedule';

/** The AT clients of a running system (ctx.clients.atproto). */
export function atprotoClients(ctx: AppContext): AtprotoClients {
  return clientOf(ctx, 'atproto');
}

export function atprotoToolDeps(ctx: AppContext, actAs?: string): AtprotoToolDeps {
  const c = ctx.config.atproto;
  const clients = atprotoClients(ctx);
  return { clients, store: clients.store, agents: c.agents, longText: c.longText, dryRun: c.dryRun, logger: ctx.logger.child({ feature: 'atproto' }), actAs };
}

export const atprotoFeature: Feature = {
  name: 'atproto',

  async startServices({ config, logger, urls, onStop }) {
    const c = config.atproto;
    for (const cred of Object.values(c.credentials)) registerSecret(cred.password);
    if (c.relayUrl) urls.relayUrl = c.relayUrl;
    if (c.appViewUrl) urls.appviewUrl = c.appViewUrl;
    if (c.pdsUrl) {
      urls.pdsUrl = c.pdsUrl;
      urls.plcUrl = c.plcUrl ?? 'https://plc.directory';
      return;
    }
    const net = await startEmbeddedAtproto({
      dataDir: config.dataDir,
      databaseUrl: urls.databaseUrl,
      pdsPort: c.embeddedPdsPort,
      handleDomain: c.handleDomain,
      crawlers: c.relayUrl ? [c.relayUrl] : [],
      appViewUrl: c.appViewUrl,
      appViewDid: c.appViewDid,
      logger,
      onSecret: registerSecret,
    });
    onStop('embedded AT network', net.stop);
    urls.pdsUrl = net.pdsUrl;
    urls.plcUrl = net.plcUrl;
    await ensureEmbeddedAccounts({ pdsUrl: net.pdsUrl, dataDir: config.dataDir, names: c.agents.filter((n) => !c.credentials[n]), handleDomain: c.handleDomain, logger, onSecret: registerSecret });
  },

  async createClients(ctx) {
    const c = ctx.config.atproto;
    const pdsUrl = ctx.urls.pdsUrl;
    if (!pdsUrl) return;
    const clients = createAtprotoClients({
      config: c,
      dataDir: ctx.config.dataDir,
      pdsUrl,
      plcUrl: ctx.urls.plcUrl ?? 'https://plc.directory',
      relayUrl: c.relayUrl,
      appViewUrl: c.appViewUrl,
      embedded: !c.pdsUrl || Object.keys(await readAccounts(ctx.config.dataDir, registerSecret)).length > 0,
      storedAccounts: () => readAccounts(ctx.config.dataDir, registerSecret),
      logger: ctx.logger.child({ feature: 'atproto' }),
      db: ctx.db,
      // The outbound guard lets through every configured service (IPFS API and gateway too) and OUTBOUND_ALLOW_HOSTS.
      outboundAllow: [...Object.entries(ctx.urls).filter(([k]) => k !== 'databaseUrl').map(([, v]) => v), ...ctx.config.outboundAllowHosts],
    });
    ctx.clients.atproto = clients;
    for (const a of await clients.refreshAccounts()) {
      await publishAgentAccount(ctx.db, a);
    }
  },

  tools(ctx) {
    if (!ctx.clients.atproto) return {};
    return createAtprotoTools(atprotoToolDeps(ctx));
  },

  agents(ctx, memory) {
    const out: Record<string, Agent> = {};
    if (!ctx.clients.atproto || !ctx.config.atproto.agents.includes('social')) return out;
    const handle = atprotoClients(ctx).accounts().find((a) => a.name === 'social')?.handle;
    out.social = createSocialAgent(ctx, memory, createAtprotoTools(atprotoToolDeps(ctx, 'social')), handle);
    return out;
  },

  workflows(ctx) {
    if (!ctx.clients.atproto) return {};
    return { 'reply-to-mention': createReplyToMentionWorkflow(ctx), 'scheduled-post': createScheduledPostWorkflow(ctx) };
  },

  routes({ ctx, limiter }) {
    if (!ctx.clients.atproto) return [];
    // The XRPC router only answers /xrpc/* paths (everything else falls through).
    return [
      ['/', createFeedGenerator(ctx).router],
      ['/admin/agents', createAutonomyRouter(ctx, limiter)],
    ];
  },

  readiness(ctx) {
    const checks: Record<string, () => Promise<void>> = {
      pds: async () => {
        const url = ctx.urls.pdsUrl;
        if (!url) throw new Error('no PDS configured');
        const res = await fetch(`${url}/xrpc/_health`, { signal: AbortSignal.timeout(2500) });
        if (!res.ok) throw new Error(`PDS health answered ${res.status}`);
      },
    };
    if (!ctx.clients.atproto) return checks;
    // One entry per agent account: its session must log in. A failed login is retried at
    // most once a minute, so a polling orchestrator cannot exhaust the PDS's login limits.
    const failures = new Map<string, { at: number; message: string }>();
    for (const name of ctx.config.atproto.agents) {
      checks[`atproto:${name}`] = async () => {
        const failed = failures.get(name);
        if (failed && Date.now() - failed.at < 60_000) throw new Error(failed.message);
        try {
          await atprotoClients(ctx).session(name);
          failures.delete(name);
        } catch (err) {
          const e = toAtprotoError(err, `agent ${name}`);
          const message = `${e.code}: ${e.message}`;
          failures.set(name, { at: Date.now(), message });
          throw new Error(message);
        }
      };
    }
    return checks;
  },

  async startBackground({ ctx, mastra, onStop }) {
    if (!ctx.clients.atproto) return;
    // The trigger (relay/PDS firehose or Jetstream, and the notifications fallback), the
    // recovery sweep and the schedules run on one replica at a time: the leader, chosen
    // through Postgres (src/db/leadership.ts). Pause/resume state lives in Postgres, so
    // the admin routes work on every replica.
    const leader = lead({
      databaseUrl: ctx.urls.databaseUrl,
      name: 'atproto-triggers',
      logger: ctx.logger.child({ feature: 'atproto' }),
      pollMs: ctx.config.leadershipPollMs,
      start: async () => {
        const stops: Array<() => Promise<void> | void> = [];
        const processor = new MentionProcessor(ctx, mastra);
        running.set(ctx, { processor });
        stops.push(() => processor.stop());
        if (ctx.config.atproto.autoReply) {
          await processor.refreshPaused(true);
          const trigger = ctx.config.atproto.live.jetstreamUrl ? await startJetstreamTrigger(ctx, processor) : await startFirehoseTrigger(ctx, processor);
          running.set(ctx, { processor, trigger });
          stops.push(() => trigger.stop());
          if (ctx.config.atproto.live.notificationsPollMs > 0) {
            // The fallback source: polls the agents' notifications while the stream is down.
            const poller = await startNotificationsPoller(ctx, processor, { shouldPoll: () => !trigger.stats().connected });
            stops.push(() => poller.stop());
          }
          processor.startRecovery();
        }
        const schedules = startSchedules(ctx, mastra);
        stops.push(() => schedules.stop());
        return async () => {
          running.delete(ctx);
          for (const stop of stops.reverse()) await stop();
        };
      },
    });
    onStop('atproto triggers', () => leader.stop());
    await leader.firstAttempt;
  },
};
