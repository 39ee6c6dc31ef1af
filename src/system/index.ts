/**
 * Brings the whole system up on one machine, in phases (see src/features/types.ts):
 * every backing service without a configured URL starts in its embedded form (data
 * under DATA_DIR); then clients, the Mastra runtime, the HTTP server, and background
 * triggers. `stop()` takes it all down in reverse order. `npm start` (src/main.ts),
 * `npm run dev` (src/dev.ts) and the tests all use this.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { withoutPoweredBy } from '../../services/lib/powered-by';
import { startEmbeddedPostgres } from '../../services/postgres/embedded';
import { migrate } from '../db/migrate';
import { pingDatabase } from '../db/ping';
import type { Config } from '../config';
import type { AppContext, ServiceUrls } from '../clients/context';
import { enabledFeatures } from '../features';
import type { Stop } from '../features/types';
import { createLogger, registerSecret, type Logger } from '../logger';
import { createRuntime, type Runtime } from './runtime';
import { modelConfigured } from '../mastra/model';
import { createApp } from '../server/app';
import { PgRateLimiter } from '../server/shared-limits';
import { Readiness } from '../server/readiness';

export interface System {
  url: string;
  port: number;
  ctx: AppContext;
  runtime: Runtime;
  readiness: Readiness;
  stop(): Promise<void>;
}

/** Stop functions run once, in reverse order of registration; a failing one is logged and the rest still run. */
export class Stoppers {
  private list: Array<{ name: string; stop: Stop }> = [];
  constructor(private logger: Logger) {}
  add = (name: string, stop: Stop) => {
    this.list.push({ name, stop });
  };
  async stopAll() {
    const list = this.list.reverse();
    this.list = [];
    for (const s of list) {
      try {
        await s.stop();
      } catch (err) {
        this.logger.error(`stopping ${s.name} failed`, { error: err });
      }
    }
  }
}

/** `pdsUrl` → `PDS_URL`: how a service URL is handed to a child process (mastra dev). */
export function urlEnvName(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** Phase 1: every backing service, embedded where no URL is configured. */
export async function startServices(config: Config, logger: Logger, onStop: (name: string, stop: Stop) => void): Promise<ServiceUrls> {
  registerSecret(config.model.apiKey);
  for (const key of config.apiKeys.keys()) registerSecret(key);
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    const pgHandle = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort, logger: logger.child({ service: 'postgres' }) });
    onStop('embedded postgres', pgHandle.stop);
    databaseUrl = pgHandle.url;
    logger.info('embedded PostgreSQL ready', { port: pgHandle.port, dataDir: config.dataDir });
  }
  registerSecret(decodeURIComponent(new URL(databaseUrl).password) || undefined);
  const urls: ServiceUrls = { databaseUrl };
  for (const f of enabledFeatures(config)) await f.startServices?.({ config, logger: logger.child({ feature: f.name }), urls, onStop });
  return urls;
}

/** Phase 2: the context every tool, agent and workflow is built from. */
export async function createContext(config: Config, logger: Logger, urls: ServiceUrls, onStop: (name: string, stop: Stop) => void): Promise<AppContext> {
  const db = new pg.Pool({ connectionString: urls.databaseUrl, max: 10 });
  db.on('error', (err) => logger.warn('postgres pool error', { error: err }));
  onStop('postgres pool', () => db.end());
  await migrate(db);
  const ctx: AppContext = { config, logger, urls, db, clients: {} };
  for (const f of enabledFeatures(config)) await f.createClients?.(ctx);
  return ctx;
}

export async function startSystem(config: Config, opts: { logger?: Logger } = {}): Promise<System> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const stoppers = new Stoppers(logger);
  try {
    const urls = await startServices(config, logger, stoppers.add);
    const ctx = await createContext(config, logger, urls, stoppers.add);
    const runtime = createRuntime(ctx);
    if (!modelConfigured(config)) {
      logger.warn('no language model is configured: chat answers 503 model_not_configured until OPENAI_BASE_URL and/or OPENAI_API_KEY is set', { model: config.model.default });
    }
    // Closed before Postgres stops (stoppers run in reverse), so no pool sees the server go away.
    stoppers.add('mastra storage', () => runtime.storage.close());
    await runtime.storage.init();
    // Flushes buffered spans (Studio's traces, OTLP) while storage is still open.
    stoppers.add('mastra observability', () => runtime.mastra.observability.shutdown());

    const features = enabledFeatures(config);
    const readiness = new Readiness();
    readiness.add('postgres', () => pingDatabase(ctx.db));
    for (const f of features) for (const [name, check] of Object.entries(f.readiness?.(ctx) ?? {})) readiness.add(name, check);

    // One limiter: a key gets RATE_LIMIT_RPM across /v1, /api and /powersync together.
    const limiter = new PgRateLimiter(ctx.db, config.rateLimitRpm, logger.child({ component: 'rate-limit' }));
    const phase = { ctx, mastra: runtime.mastra, memory: runtime.memory, onStop: stoppers.add, limiter };
    const extraRouters = [];
    for (const f of features) extraRouters.push(...((await f.routes?.(phase)) ?? []));
    const hooks = features.filter((f) => f.onTurn);

    const app = await createApp({
      config,
      logger,
      mastra: runtime.mastra,
      agents: runtime.mastra.listAgents() as never,
      memory: runtime.memory,
      db: ctx.db,
      limiter,
      readiness,
      extraRouters,
      onTurn: hooks.length ? async (turn) => void (await Promise.all(hooks.map((f) => f.onTurn!(ctx, turn)))) : undefined,
    });
    const server = withoutPoweredBy(http.createServer(app));
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    stoppers.add('http server', () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      }),
    );
    const port = (server.address() as AddressInfo).port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `http://${host}:${port}`;
    ctx.urls.publicUrl ??= url;

    for (const f of features) await f.startBackground?.(phase);
    return { url, port, ctx, runtime, readiness, stop: () => stoppers.stopAll() };
  } catch (err) {
    await stoppers.stopAll();
    throw err;
  }
}
