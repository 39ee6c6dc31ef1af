/**
 * Who owns a thread (thread_owners, src/db/threads.ts): a named thread is the caller's
 * when the caller owns it, or claims it now because nobody does; a new conversation's
 * thread is claimed (and, with the chat memory, created) in one statement.
 */
import { randomUUID } from 'node:crypto';
import type { MastraMemory } from '@mastra/core/memory';
import type pg from 'pg';
import { ChatMemory } from '../db/memory/memory';
import { ownerAndLease, releaseThreadRun } from '../db/thread-runs';
import { claimThread, threadOwner } from '../db/threads';
import { threadNotFound } from './errors';

export interface OwnerDeps {
  db: pg.Pool;
  /** The agents' memory (any Mastra memory; ChatMemory starts threads in one statement). */
  memory: MastraMemory;
}

type MastraThread = Awaited<ReturnType<MastraMemory['getThreadById']>>;

/**
 * A named thread's owner and its row, read together (one round trip of waiting). With a
 * lease (`runId`, `leaseMs`), the owner read also takes the thread's run lease for it when
 * the owner is `resourceId` (src/db/thread-runs.ts ownerAndLease); a lease so taken is
 * given back if the thread read fails, so an error here never leaves the thread locked.
 */
export async function ownThread(
  deps: OwnerDeps,
  threadId: string,
  resourceId: string,
  lease?: { runId: string; leaseMs: number },
): Promise<{ owner: string | undefined; leased: boolean; thread: MastraThread }> {
  const reading = deps.memory.getThreadById({ threadId });
  reading.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
  const { owner, leased } = lease ? await ownerAndLease(deps.db, threadId, resourceId, lease.runId, lease.leaseMs) : { owner: await threadOwner(deps.db, threadId), leased: false };
  try {
    return { owner, leased, thread: await reading };
  } catch (err) {
    if (leased) await releaseThreadRun(deps.db, threadId, lease!.runId).catch(() => undefined);
    throw err;
  }
}

/**
 * A thread named for `resourceId`: resolves when the caller owns it, having claimed it if
 * nobody did (a thread that predates claims goes to the owner memory names, who may not be
 * the caller). `claim: false` only accepts a thread the caller owns already. The claim is
 * atomic in Postgres: of two callers naming the same new thread at once, exactly one owns
 * it; the other gets thread_not_found before the model or memory is touched.
 */
export async function ownedThread(
  deps: OwnerDeps,
  threadId: string,
  resourceId: string,
  o: { claim: boolean; lease?: { runId: string; leaseMs: number } },
): Promise<{ exists: boolean; leased: boolean }> {
  const { owner, leased, thread } = await ownThread(deps, threadId, resourceId, o.lease);
  if (owner !== undefined && owner !== resourceId) throw threadNotFound();
  if (owner === undefined && !(o.claim && (await claimThread(deps.db, threadId, resourceId, thread?.resourceId)))) throw threadNotFound();
  return { exists: Boolean(thread), leased };
}

/**
 * A new conversation's thread for `resourceId`, claimed (and, with ChatMemory, created:
 * ChatMemory.startThread); with another Memory, a random id claimed in thread_owners.
 * Throws thread_not_found when the claim was not taken (an id collision).
 */
export async function startThread(deps: OwnerDeps, resourceId: string): Promise<string> {
  const { memory, db } = deps;
  let id: string | undefined;
  if (memory instanceof ChatMemory) id = await memory.startThread(db, resourceId);
  else {
    const fresh = randomUUID();
    id = (await claimThread(db, fresh, resourceId)) ? fresh : undefined;
  }
  if (id === undefined) throw threadNotFound();
  return id;
}

/** A new thread id that a request reserves before claiming it (ChatMemory then knows no thread exists under it yet: src/db/memory/memory.ts). */
export function newThreadId(memory: MastraMemory): string {
  return memory instanceof ChatMemory ? memory.newThreadId() : randomUUID();
}
