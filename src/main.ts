/** `npm start`: the whole system on one machine; stops cleanly on SIGTERM/SIGINT. */
import { loadConfigOrExit } from './config';
import { createLogger } from './logger';
import { startSystem } from './system';
import { onShutdown } from './system/shutdown';

async function main() {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel);
  // A promise some library left without a handler is logged, not a reason to take every
  // service of this process down (Node's default is to exit).
  process.on('unhandledRejection', (err) => logger.error('unhandled rejection', { error: err }));
  const system = await startSystem(config, { logger });
  logger.info('ONE Agents is up', { url: system.url, openai_base_url: `${system.url}/v1`, agents: Object.keys(system.runtime.mastra.listAgents()) });

  onShutdown(logger, () => system.stop());
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
