/**
 * `npm start` with WORKERS > 1: the start process becomes the primary of a node:cluster.
 * It starts the backing services once (embedded ones stay one per machine), migrates the
 * database, then forks WORKERS HTTP worker processes that share PORT (the cluster's
 * primary accepts and hands connections out round-robin). Each worker is an ordinary app
 * replica pointed at the services (the same environment `npm run services` writes), so
 * what must happen once — leadership, rate limits, budgets, thread leases — already goes
 * through Postgres.
 *
 * The primary restarts a worker that dies (1 s, doubling to 30 s while it keeps dying
 * within a minute of its start), tells every worker how many are up (their /ready fails
 * while one is missing), and on SIGTERM/SIGINT stops the workers first (each drains its
 * HTTP server), then the services.
 */
import cluster, { type Worker } from 'node:cluster';
import path from 'node:path';
import type { Config } from '../config';
import type { Stop } from '../features/types';
import type { Logger } from '../logger';
import type { Readiness } from '../server/readiness';
import { startServices } from './index';
import { prepareDatabase, replicaEnv } from './replicas';

/** Messages between the primary and its workers (process.send). */
type WorkerMessage = { type: 'one-agents:up'; url: string } | { type: 'one-agents:workers'; up: number; of: number };

const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
/** A worker that lived this long before dying is restarted after the shortest delay again. */
const STABLE_MS = 60_000;

export interface Primary {
  /** Resolves when every worker has reported up once, with the URL they serve. */
  up: Promise<string>;
  stop(): Promise<void>;
}

export async function startPrimary(config: Config, logger: Logger, onStop: (name: string, stop: Stop) => void): Promise<Primary> {
  const urls = await startServices(config, logger, onStop);
  await prepareDatabase(urls.databaseUrl);
  const env = await replicaEnv(config, urls);

  const want = config.workers;
  const upSet = new Set<number>(); // worker slot numbers that reported up
  const slots = new Map<number, { worker: Worker; startedAt: number; delay: number }>();
  let stopping = false;
  let resolveUp!: (url: string) => void;
  let rejectUp!: (err: Error) => void;
  const up = new Promise<string>((res, rej) => {
    resolveUp = res;
    rejectUp = rej;
  });
  let firstUrl: string | undefined;
  let everyoneUp = false;

  const broadcast = () => {
    const msg: WorkerMessage = { type: 'one-agents:workers', up: upSet.size, of: want };
    for (const { worker } of slots.values()) if (worker.isConnected()) worker.send(msg);
  };

  const fork = (slot: number, delay: number) => {
    const worker = cluster.fork({
      ...env,
      ONE_AGENTS_WORKER: String(slot),
      // Each worker's own files (nothing the services need) in its own folder.
      DATA_DIR: path.join(config.dataDir, 'workers', String(slot)),
    });
    slots.set(slot, { worker, startedAt: Date.now(), delay });
    worker.on('message', (msg: WorkerMessage) => {
      if (msg?.type !== 'one-agents:up') return;
      upSet.add(slot);
      firstUrl ??= msg.url;
      logger.info('worker up', { worker: slot, pid: worker.process.pid, up: upSet.size, of: want });
      if (!everyoneUp && upSet.size === want) {
        everyoneUp = true;
        resolveUp(firstUrl);
      }
      broadcast();
    });
    worker.on('exit', (code, signal) => {
      upSet.delete(slot);
      const entry = slots.get(slot);
      if (stopping) return;
      if (!everyoneUp) {
        // A worker that cannot start would fail the same way again: give up, like a single process would.
        rejectUp(new Error(`worker ${slot} exited during start-up (code ${code ?? signal})`));
        return;
      }
      const lived = Date.now() - (entry?.startedAt ?? 0);
      const next = lived > STABLE_MS ? RESTART_MIN_MS : Math.min(RESTART_MAX_MS, (entry?.delay ?? RESTART_MIN_MS / 2) * 2);
      logger.error('worker died; restarting it', { worker: slot, pid: worker.process.pid, code, signal, restart_in_ms: next });
      broadcast();
      setTimeout(() => {
        if (!stopping) fork(slot, next);
      }, next).unref();
    });
  };

  for (let i = 1; i <= want; i++) fork(i, RESTART_MIN_MS / 2);

  const stop = async () => {
    stopping = true;
    const exits = [...slots.values()].map(
      ({ worker }) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          worker.once('exit', () => resolve());
          worker.process.kill('SIGTERM');
        }),
    );
    await Promise.all(exits);
  };
  // Workers go before the services they use (stoppers run in reverse order).
  onStop('http workers', stop);
  return { up, stop };
}

/**
 * In a worker: reports up to the primary and keeps the count of live workers, which the
 * worker's /ready checks (`workers`: fails while fewer than WORKERS are up).
 */
export function joinPrimary(readiness: Readiness, url: string): void {
  let state = { up: 0, of: 1 };
  process.on('message', (msg: WorkerMessage) => {
    if (msg?.type === 'one-agents:workers') state = { up: msg.up, of: msg.of };
  });
  readiness.add('workers', async () => {
    if (state.up < state.of) throw new Error(`${state.up} of ${state.of} workers up`);
  });
  process.send?.({ type: 'one-agents:up', url } satisfies WorkerMessage);
}

export const isWorker = () => cluster.isWorker;
