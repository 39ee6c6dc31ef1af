/**
 * Thread ownership, atomic through Postgres (table thread_owners, migration 030): the
 * first caller to claim a thread id owns it, whichever app process it reached. Claims
 * never move: a thread id is refused to everyone else for good.
 */
import type pg from 'pg';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * Thread-id namespaces the system itself writes to: the AT Protocol workflows keep their
 * memory on `atproto:<agent>:<root post URI>` (reply-to-mention) and
 * `atproto:<agent>:scheduled` (scheduled-post); `system:` is kept free for more. No caller
 * (x-thread-id, the Responses API's `conversation`, a synced conversation's thread_id) may
 * name, claim or continue a thread in them: src/conversations/resolve.ts refuses them with
 * reserved_thread_id, the sync upload with the same code, and claimThread never claims one.
 * Compared without regard to case.
 */
export const RESERVED_THREAD_PREFIXES = ['atproto:', 'system:'] as const;

/** True when `threadId` is in a namespace only the system uses (RESERVED_THREAD_PREFIXES). */
export function isReservedThreadId(threadId: string): boolean {
  const id = threadId.toLowerCase();
  return RESERVED_THREAD_PREFIXES.some((p) => id.startsWith(p));
}

/** The resource (user) that owns a thread, or undefined when nobody has claimed it. */
export async function threadOwner(db: Queryable, threadId: string): Promise<string | undefined> {
  const r = await db.query<{ resource_id: string }>('select resource_id from thread_owners where thread_id = $1', [threadId]);
  return r.rows[0]?.resource_id;
}

/**
 * The one statement that writes thread_owners: claims thread $1 for resource $2 unless
 * someone owns it already, returning the owner when the claim was taken. claimThread runs
 * it alone; a new conversation's thread runs it as the first step of the statement that
 * also creates the thread (src/db/memory/memory-store.ts newThreadStatement).
 */
export const CLAIM_THREAD = 'insert into thread_owners (thread_id, resource_id) values ($1, $2) on conflict (thread_id) do nothing returning resource_id';

/**
 * Claims `threadId` for `resourceId` unless someone owns it already; true when
 * `resourceId` is (now) its owner; never for a reserved id (isReservedThreadId). `existingOwner` names the owner of a thread that
 * predates claims (e.g. from memory), who gets the claim instead.
 */
export async function claimThread(db: Queryable, threadId: string, resourceId: string, existingOwner?: string): Promise<boolean> {
  // A system thread is nobody's to claim (the workflows that use them never claim).
  if (isReservedThreadId(threadId)) return false;
  const candidate = existingOwner ?? resourceId;
  const r = await db.query<{ resource_id: string }>(CLAIM_THREAD, [threadId, candidate]);
  const owner = r.rows[0]?.resource_id ?? (await threadOwner(db, threadId));
  return owner === resourceId;
}
