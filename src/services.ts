/**
 * `npm run services`: starts only the backing services `npm start` would embed (Postgres,
 * PLC + PDS with the agents' accounts, the IPFS node with its single-peer Cluster API,
 * the PowerSync stand-in) and writes what an app replica needs to reach them to
 * DATA_DIR/services.env (mode 600). Then any number of replicas run against them:
 *
 *   set -a; . .data/services.env; set +a; PORT=8788 DATA_DIR=.data/r1 npm start
 *
 * The database is migrated (app schema and Mastra's tables) before the file is written,
 * so replicas may start all at once. Each replica finds every URL set, so it embeds
 * nothing; it logs the agents in with the written per-agent credentials and signs
 * PowerSync tokens with the same key the sync service verifies. Stays up until SIGTERM/SIGINT, then stops the services and removes
 * services.env (its ports are not kept across restarts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PostgresStore } from '@mastra/pg';
import pg from 'pg';
import { readAccounts } from '../services/atproto/accounts';
import { dataFiles } from '../services/lib/data-file';
import { loadConfigOrExit, type Config } from './config';
import type { ServiceUrls } from './clients/context';
import { loadTokenKeys } from './clients/powersync/keys';
import { migrate } from './db/migrate';
import { enabledFeatures } from './features';
import { createLogger, registerSecret } from './logger';
import { startServices } from './system';
import { onShutdown } from './system/shutdown';

/** The file replicas source; in DATA_DIR, next to the services' data. */
function servicesEnvFile(dataDir: string): string {
  return path.join(dataDir, 'services.env');
}

/**
 * The shared database, ready before any replica starts: the app's schema (migrate, under
 * an advisory lock) and Mastra's storage tables. PostgresStore.init() creates its tables
 * without a lock, so replicas starting at once on an empty database would race
 * ("duplicate key value violates unique constraint pg_class_relname_nsp_index").
 */
async function prepareDatabase(databaseUrl: string): Promise<void> {
  const db = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  try {
    await migrate(db);
  } finally {
    await db.end();
  }
  const storage = new PostgresStore({ id: 'one-agents-services', connectionString: databaseUrl });
  try {
    await storage.init();
  } finally {
    await storage.close();
  }
}

const envName = (agent: string) => agent.toUpperCase().replace(/-/g, '_');

/** The environment a replica needs: every service URL, the agents' credentials, the token key. */
async function replicaEnv(config: Config, urls: ServiceUrls): Promise<Record<string, string | undefined>> {
  const on = new Set(enabledFeatures(config).map((f) => f.name));
  const env: Record<string, string | undefined> = { DATABASE_URL: urls.databaseUrl };
  if (config.features !== 'all') env.FEATURES = config.features.length ? config.features.join(',') : 'none';

  if (on.has('atproto')) {
    const c = config.atproto;
    Object.assign(env, {
      PDS_URL: urls.pdsUrl,
      PLC_URL: urls.plcUrl,
      RELAY_URL: c.relayUrl,
      APPVIEW_URL: c.appViewUrl,
      APPVIEW_DID: c.appViewDid,
      ATPROTO_HANDLE_DOMAIN: c.handleDomain,
      ATPROTO_AGENTS: c.agents.join(','),
    });
    // Accounts the embedded PDS created (DATA_DIR/atproto/accounts.json): log in by DID.
    for (const [name, a] of Object.entries(await readAccounts(config.dataDir, registerSecret))) {
      env[`ATPROTO_IDENTIFIER_${envName(name)}`] = a.did;
      env[`ATPROTO_PASSWORD_${envName(name)}`] = a.password;
    }
    // Credentials given to this process (an external PDS) pass through unchanged.
    for (const [name, cred] of Object.entries(c.credentials)) {
      env[`ATPROTO_IDENTIFIER_${envName(name)}`] = cred.identifier ?? `${name}.${c.handleDomain}`;
      env[`ATPROTO_PASSWORD_${envName(name)}`] = cred.password;
    }
  }

  if (on.has('ipfs')) {
    Object.assign(env, {
      IPFS_API_URL: urls.ipfsApiUrl,
      // The cluster replicas pin through: the configured one, else the embedded single-peer API.
      IPFS_CLUSTER_URL: urls.ipfsClusterUrl ?? urls.ipfsEmbeddedClusterUrl,
      IPFS_CLUSTER_BASIC_AUTH: config.ipfs.clusterBasicAuth,
      IPFS_GATEWAY_URL: urls.ipfsGatewayUrl,
    });
  }

  if (on.has('powersync')) {
    const c = config.powersync;
    // Makes DATA_DIR/powersync/jwt-key.json when no key is configured and none exists yet
    // (an external POWERSYNC_URL: the embedded service did not create it).
    if (!c.privateJwk) await loadTokenKeys(dataFiles, config.dataDir);
    Object.assign(env, {
      POWERSYNC_URL: urls.powersyncUrl,
      POWERSYNC_PUBLIC_URL: c.publicUrl,
      POWERSYNC_JWT_AUDIENCE: c.audience,
      // The key the embedded sync service verifies with (src/clients/powersync/keys.ts keeps a
      // generated one in DATA_DIR/powersync/jwt-key.json): every replica must sign with it.
      POWERSYNC_JWT_PRIVATE_KEY: c.privateJwk ?? JSON.stringify(JSON.parse(await fs.readFile(path.join(config.dataDir, 'powersync', 'jwt-key.json'), 'utf8'))),
    });
  }
  return env;
}

/** `NAME='value'` lines, safe to `. file` in sh and bash. */
function formatEnvFile(env: Record<string, string | undefined>): string {
  const lines = ['# Written by `npm run services`: the backing services of this machine, for app replicas.', '# Use: set -a; . ./services.env; set +a; PORT=… npm start   (removed when the services stop)'];
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') lines.push(`${k}='${v.replace(/'/g, `'\\''`)}'`);
  return lines.join('\n') + '\n';
}

async function main() {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel);
  const stops: Array<{ name: string; stop: () => Promise<void> | void }> = [];
  const stopAll = async () => {
    for (const s of stops.splice(0).reverse()) {
      try {
        await s.stop();
      } catch (err) {
        logger.error(`stopping ${s.name} failed`, { error: err });
      }
    }
  };
  const file = servicesEnvFile(config.dataDir);
  let written = false;

  const shutdown = onShutdown(logger, async () => {
    if (written) await fs.rm(file, { force: true });
    await stopAll();
  });

  try {
    const urls = await startServices(config, logger, (name, stop) => stops.push({ name, stop }));
    await prepareDatabase(urls.databaseUrl);
    const env = await replicaEnv(config, urls);
    await fs.mkdir(config.dataDir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, formatEnvFile(env), { mode: 0o600 });
    await fs.rename(tmp, file);
    written = true;
    const shown = Object.fromEntries(Object.entries(env).filter(([k, v]) => v && k.endsWith('_URL') && k !== 'DATABASE_URL'));
    logger.info('ONE Agents services are up', { env_file: file, ...shown });
  } catch (err) {
    logger.error('services failed to start', { error: err });
    await shutdown('start failure', 1);
  }
}

await main();
