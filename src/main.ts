/**
 * `npm start`: the whole system on one machine; stops cleanly on SIGTERM/SIGINT. With
 * WORKERS > 1 (default: one per core) this process runs the backing services and forks
 * that many HTTP workers sharing PORT (src/system/workers.ts); each worker runs this file
 * too and starts as an app replica.
 */
import { loadConfigOrExit } from './config';
import { createLogger } from './logger';
import { startSystem, Stoppers } from './system';
import { onShutdown } from './system/shutdown';
import { isWorker, joinPrimary, startPrimary } from './system/workers';

async function main() {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel);
  // A promise some library left without a handler is logged, not a reason to take every
  // service of this process down (Node's default is to exit).
  process.on('unhandledRejection', (err) => logger.error('unhandled rejection', { error: err }));
  if (!isWorker() && config.workers > 1) return primary(config, logger);
  const system = await startSystem(config, { logger });
  const agents = Object.keys(system.runtime.mastra.listAgents());
  onShutdown(logger, () => system.stop());
  if (isWorker()) {
    // Logged before the primary hears of it, so the primary's "is up" line comes after every worker's.
    logger.info('worker ready', { worker: process.env.ONE_AGENTS_WORKER, pid: process.pid, agents });
    joinPrimary(system.readiness, system.url);
    return;
  }
  logger.info('ONE Agents is up', { url: system.url, openai_base_url: `${system.url}/v1`, agents });
}

/** The cluster's primary: services once, WORKERS HTTP workers, stopped in reverse order. */
async function primary(config: ReturnType<typeof loadConfigOrExit>, logger: ReturnType<typeof createLogger>) {
  const stoppers = new Stoppers(logger);
  const stopAll = () => stoppers.stopAll();
  onShutdown(logger, stopAll);
  try {
    const p = await startPrimary(config, logger.child({ component: 'primary' }), stoppers.add);
    const url = await p.up;
    logger.info('ONE Agents is up', { url, openai_base_url: `${url}/v1`, workers: config.workers });
  } catch (err) {
    await stopAll();
    throw err; // main's handler: exit 78 for a bad data file, else 1
  }
}

/** A DataFileError (services/lib/data-file.ts) anywhere in the cause chain, recognised by its code. */
function dataFileError(err: unknown, depth = 0): { message: string } | undefined {
  if (!err || typeof err !== 'object' || depth > 5) return undefined;
  const e = err as { code?: unknown; file?: unknown; message?: unknown; cause?: unknown };
  if (e.code === 'DATA_FILE_INVALID' && typeof e.file === 'string' && typeof e.message === 'string') return { message: e.message };
  return dataFileError(e.cause, depth + 1);
}

main().catch((err) => {
  const bad = dataFileError(err);
  if (bad) {
    process.stderr.write(`ONE Agents cannot start: ${bad.message.replace(/\s+/g, ' ')}\n`);
    process.exit(78); // EX_CONFIG: like a bad configuration
  }
  process.stderr.write(`ONE Agents failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
