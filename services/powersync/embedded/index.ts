/**
 * The embedded PowerSync stand-in: replication from Postgres into a bucket log kept
 * in Postgres, and an HTTP server speaking the client sync protocol. One process, one
 * node; see services/powersync/README.md for what it does and does not do.
 */
import pg from 'pg';
import type { JWTVerifyGetKey } from 'jose';
import type { Logger } from '../../lib/logger';
import { Replicator } from './replicator';
import { SyncRules, readSyncRulesYaml } from './rules';
import { startSyncServer, type RunningSyncServer } from './server';
import { BucketStorage, ensureStorageSchema } from './storage';

export interface EmbeddedPowerSyncOptions {
  databaseUrl: string;
  host?: string;
  /** 0 = a free port. */
  port?: number;
  keys: JWTVerifyGetKey;
  audience: string | string[];
  logger: Logger;
  syncRulesYaml?: string;
  slotName?: string;
  publication?: string;
  keepaliveSeconds?: number;
}

export interface EmbeddedPowerSync {
  url: string;
  port: number;
  replicator: Replicator;
  storage: BucketStorage;
  rules: SyncRules;
  streams(): number;
  stats: RunningSyncServer['stats'];
  stop(): Promise<void>;
}

export async function startEmbeddedPowerSync(o: EmbeddedPowerSyncOptions): Promise<EmbeddedPowerSync> {
  const rules = new SyncRules(o.syncRulesYaml ?? readSyncRulesYaml());
  const db = new pg.Pool({ connectionString: o.databaseUrl, max: 8 });
  db.on('error', (err) => o.logger.warn('powersync pool error', { error: err }));
  await ensureStorageSchema(db);
  const storage = new BucketStorage(db, rules);
  const replicator = new Replicator({
    databaseUrl: o.databaseUrl,
    db,
    rules,
    storage,
    logger: o.logger.child({ component: 'replication' }),
    slotName: o.slotName ?? 'one_agents_powersync',
    publication: o.publication ?? 'powersync',
  });
  try {
    await replicator.start();
    const server = await startSyncServer({
      host: o.host ?? '127.0.0.1',
      port: o.port ?? 0,
      rules,
      storage,
      replicator,
      keys: o.keys,
      audience: o.audience,
      logger: o.logger,
      keepaliveSeconds: o.keepaliveSeconds,
    });
    return {
      url: server.url,
      port: server.port,
      replicator,
      storage,
      rules,
      streams: server.streams,
      stats: server.stats,
      async stop() {
        await server.close();
        await replicator.stop();
        await db.end();
      },
    };
  } catch (err) {
    await replicator.stop();
    await db.end();
    throw err;
  }
}
