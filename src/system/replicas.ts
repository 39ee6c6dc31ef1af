/**
 * What app replicas on one set of backing services need: the database migrated before
 * any of them starts, and the environment that points a replica at every service. Used
 * by `npm run services` (written to DATA_DIR/services.env) and by `npm start` with
 * WORKERS > 1 (handed to each worker process).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PostgresStore } from '@mastra/pg';
import pg from 'pg';
import { readAccounts } from '../../services/atproto/accounts';
import { dataFiles } from '../../services/lib/data-file';
import type { Config } from '../config';
import type { ServiceUrls } from '../clients/context';
import { loadTokenKeys } from '../clients/powersync/keys';
import { migrate } from '../db/migrate';
import { enabledFeatures } from '../features';
import { registerSecret } from '../logger';

/**
 * The shared database, ready before any replica starts: the app's schema (migrate, under
 * an advisory lock) and Mastra's storage tables. PostgresStore.init() creates its tables
 * without a lock, so replicas starting at once on an empty database would race
 * ("duplicate key value violates unique constraint pg_class_relname_nsp_index").
 */
export async function prepareDatabase(databaseUrl: string): Promise<void> {
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
export async function replicaEnv(config: Config, urls: ServiceUrls): Promise<Record<string, string | undefined>> {
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

