import type { Logger } from '../logger';

/**
 * The entry points' shutdown: on SIGTERM/SIGINT (or when called) it runs `stop` once,
 * logs, and exits; if stopping takes over 15 s it exits 1 anyway. Returns the function
 * to call for a shutdown of one's own (e.g. a start failure, with exit code 1).
 */
export function onShutdown(logger: Logger, stop: () => Promise<void>): (reason: string, code?: number) => Promise<void> {
  let stopping = false;
  const shutdown = async (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal: reason });
    const force = setTimeout(() => {
      logger.error('shutdown took longer than 15 s; exiting');
      process.exit(1);
    }, 15_000);
    force.unref();
    await stop();
    logger.info('stopped');
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  return shutdown;
}
