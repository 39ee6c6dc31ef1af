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
import { loadConfigOrExit } from './config';
import { createLogger } from './logger';
import { startServices, Stoppers } from './system';
import { prepareDatabase, replicaEnv } from './system/replicas';
import { onShutdown } from './system/shutdown';

/** The file replicas source; in DATA_DIR, next to the services' data. */
function servicesEnvFile(dataDir: string): string {
  return path.join(dataDir, 'services.env');
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
  const stoppers = new Stoppers(logger);
  const stopAll = () => stoppers.stopAll();
  const file = servicesEnvFile(config.dataDir);
  let written = false;

  const shutdown = onShutdown(logger, async () => {
    if (written) await fs.rm(file, { force: true });
    await stopAll();
  });

  try {
    const urls = await startServices(config, logger, stoppers.add);
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
