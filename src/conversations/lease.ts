/**
 * The run lease on a thread (src/db/thread-runs.ts): one agent run at a time per memory
 * thread, across replicas; renewed while the run goes on, released when it ends (a
 * crashed process's lease expires). Two turns running at once on one Mastra thread merge
 * or lose assistant replies (docs/api.md#concurrent-requests-on-one-conversation).
 *
 * What a turn does when another run holds the lease is the caller's policy:
 * - 'wait' (chat completions, the sync answerer): it waits its turn, up to THREAD_WAIT_MS
 *   (or until the client goes away), then fails with conversation_locked. Only a thread
 *   someone else may name is leased: a thread this turn has just started is known to
 *   nobody else yet (one round trip saved on every new conversation).
 * - 'fail' (the Responses API, as OpenAI's): it fails at once with conversation_locked;
 *   every run takes the lease, a new conversation's first one included.
 */
import type pg from 'pg';
import { acquireThreadRun, releaseThreadRun, renewThreadRun } from '../db/thread-runs';
import type { Logger } from '../logger';
import { conversationLocked } from './errors';

/** A turn on a thread another request is running on waits this long for it ('wait'), then fails with conversation_locked. */
export const THREAD_WAIT_MS = 30_000;
/** How long a run's lease on its thread lasts without renewal (renewed every third of it while the run goes on). */
export const THREAD_LEASE_MS = 60_000;

export type LeasePolicy = 'wait' | 'fail';

export interface Lease {
  /** Gives the thread back (idempotent; a failure is logged, never thrown). */
  release(): Promise<void>;
}

/** The lease of a run that needs none. */
export const NO_LEASE: Lease = { release: async () => {} };

export interface LeaseDeps {
  db: pg.Pool;
  logger: Logger;
}

export interface LeaseRequest {
  threadId: string;
  /** The run's id: the lease row names it (a chat completion's or a response's id). */
  runId: string;
  policy: LeasePolicy;
  /** The lease was already taken for `runId` (with the ownership read): only its renewal starts here. */
  held?: boolean;
  /** 'wait' stops waiting (conversation_locked) once this is aborted. */
  signal?: AbortSignal;
}

/** Takes (or, under 'wait', waits for) the run lease on a thread; resolves to its release. */
export async function leaseThread(deps: LeaseDeps, r: LeaseRequest): Promise<Lease> {
  const { db, logger } = deps;
  const take = () => acquireThreadRun(db, r.threadId, r.runId, THREAD_LEASE_MS);
  if (r.policy === 'fail') {
    if (!r.held && !(await take())) throw conversationLocked();
  } else {
    const deadline = Date.now() + THREAD_WAIT_MS;
    for (let wait = 20; !(r.held || (await take())); wait = Math.min(wait * 2, 250)) {
      if (Date.now() + wait > deadline) throw conversationLocked();
      if (r.signal?.aborted) throw conversationLocked();
      await new Promise((done) => setTimeout(done, wait + Math.floor(Math.random() * 20)));
    }
  }
  const renew = setInterval(
    () => void renewThreadRun(db, r.threadId, r.runId, THREAD_LEASE_MS).catch((err) => logger.warn('renewing a thread lease failed', { error: err })),
    THREAD_LEASE_MS / 3,
  );
  renew.unref();
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      clearInterval(renew);
      await releaseThreadRun(db, r.threadId, r.runId).catch((err) => logger.warn('releasing a thread lease failed', { error: err }));
    },
  };
}
