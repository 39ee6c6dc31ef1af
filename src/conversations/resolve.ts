/**
 * A turn's thread: resolve → claim → lease → release, for every way a conversation
 * reaches an agent (chat completions, the Responses API, Open WebUI transcripts, the
 * sync answerer). The caller's identity is the memory resource; a thread belongs to
 * the resource that claimed it first (thread_owners), whichever replica it reached.
 *
 *   resolveThread  which thread the request names, checked (and, if nobody owns it,
 *                  claimed) for the caller; or a new conversation, not claimed yet
 *   claimThread    starts a new conversation's thread (claimed and created at once);
 *                  a resolved thread passes through. The Responses API claims only
 *                  after the input is checked, chat completions at once.
 *   leaseTurn      the run lease, under the caller's policy (lease.ts)
 *   openTurn       the three in a row (chat completions, the sync answerer)
 */
import { getResponse, type StoredResponse } from '../db/responses';
import { isReservedThreadId } from '../db/threads';
import { reservedThreadId, threadNotFound } from './errors';
import { leaseThread, NO_LEASE, THREAD_LEASE_MS, type Lease, type LeaseDeps, type LeasePolicy } from './lease';
import { ownedThread, startThread, type OwnerDeps } from './owners';
import { keysOf, rememberer, threadOfKeys, type Remember, type TranscriptSource } from './transcript';

export interface ConversationDeps extends OwnerDeps, LeaseDeps {}

/** Where a turn's thread comes from. */
export type ThreadSource =
  /**
   * A thread the caller names: x-thread-id, the Responses API's `conversation`, the
   * thread of a synced conversation. The caller's own, or claimed for the caller now.
   */
  | { kind: 'named'; threadId: string }
  /**
   * The thread of a stored response (previous_response_id), looked up among `owner`'s
   * (the API key owner's) responses: only one made for this resource, on a thread the
   * resource owns already.
   */
  | { kind: 'previous-response'; responseId: string; owner: string }
  /** A chat without a thread id: the thread its keys name (transcript.ts), else a new conversation. */
  | { kind: 'transcript'; transcript: TranscriptSource }
  /** A new conversation. */
  | { kind: 'new' };

export interface ThreadRequest {
  /** The memory resource: the caller's identity. */
  resourceId: string;
  source: ThreadSource;
  /**
   * The run's id, to take the run lease with the ownership read of a named or keyed
   * thread when it is free (one round trip fewer; leaseTurn then only keeps it).
   */
  runId?: string;
}

/** A thread the caller owns, ready for a turn. */
export interface Thread {
  id: string;
  /** Memory has the thread: only a request's messages after its last assistant turn are new. */
  exists: boolean;
  /** Another request may name this thread at the same time (named, or found by a key); one this request started is known to nobody else. */
  shared: boolean;
  /** The run lease was taken for ThreadRequest.runId with the ownership read. */
  leased: boolean;
  /** The stored response the thread was named by (previous-response). */
  previous?: StoredResponse;
  /** Stores the transcript key of a conversation's opening exchange before the reply goes out (a no-op unless the source is a transcript). */
  remember: Remember;
}

/** A conversation that starts with this turn: claimThread starts its thread. */
export interface NewConversation {
  id: undefined;
  resourceId: string;
  transcript?: TranscriptSource;
}

export type Resolution = Thread | NewConversation;

/**
 * The thread a request names, owned by (or now claimed for) the caller; or a new
 * conversation. Throws thread_not_found; reserved_thread_id for a thread id in a system
 * namespace (src/db/threads.ts isReservedThreadId), before anything is read: every entry
 * (chat completions, the Responses API, the sync answerer) comes through here.
 */
export async function resolveThread(deps: ConversationDeps, r: ThreadRequest): Promise<Resolution> {
  const { resourceId, source } = r;
  if (source.kind === 'named' && isReservedThreadId(source.threadId)) throw reservedThreadId();
  const lease = r.runId ? { runId: r.runId, leaseMs: THREAD_LEASE_MS } : undefined;
  switch (source.kind) {
    case 'named': {
      const { exists, leased } = await ownedThread(deps, source.threadId, resourceId, { claim: true, lease });
      return { id: source.threadId, exists, shared: true, leased, remember: rememberer(deps, resourceId, undefined, source.threadId) };
    }
    case 'previous-response': {
      const previous = await getResponse(deps.db, source.responseId, source.owner);
      // Another owner's response, another user's (`user`) and one without a thread look unknown.
      if (!previous || previous.resource !== resourceId || !previous.threadId) throw threadNotFound();
      if (isReservedThreadId(previous.threadId)) throw reservedThreadId();
      const { exists } = await ownedThread(deps, previous.threadId, resourceId, { claim: false });
      return { id: previous.threadId, exists, shared: true, leased: false, previous, remember: rememberer(deps, resourceId, undefined, previous.threadId) };
    }
    case 'transcript': {
      const keys = keysOf(resourceId, source.transcript);
      // A conversation's first turn: a new thread.
      if (!keys.length) return { id: undefined, resourceId, transcript: source.transcript };
      const found = await threadOfKeys(deps, resourceId, keys, lease);
      return { id: found.threadId, exists: found.exists, shared: true, leased: found.leased, remember: rememberer(deps, resourceId, source.transcript, found.threadId) };
    }
    case 'new':
      return { id: undefined, resourceId };
  }
}

/** A new conversation's thread, claimed (and created) for its resource now; a resolved thread as it is. Throws thread_not_found. */
export async function claimThread(deps: ConversationDeps, found: Resolution): Promise<Thread> {
  if (found.id !== undefined) return found;
  const id = await startThread(deps, found.resourceId);
  return { id, exists: false, shared: false, leased: false, remember: rememberer(deps, found.resourceId, found.transcript, id) };
}

export interface LeaseOptions {
  /** The run's id (as ThreadRequest.runId when the lease may have been taken already). */
  runId: string;
  policy: LeasePolicy;
  signal?: AbortSignal;
}

/** The run lease on `thread` under `policy` (lease.ts); 'wait' leases only a shared thread. Throws conversation_locked. */
export async function leaseTurn(deps: ConversationDeps, thread: Thread, o: LeaseOptions): Promise<Lease> {
  if (o.policy === 'wait' && !thread.shared) return NO_LEASE;
  return leaseThread(deps, { threadId: thread.id, runId: o.runId, policy: o.policy, held: thread.leased, signal: o.signal });
}

/** resolveThread → claimThread → leaseTurn; the caller releases the lease when the turn ends (and must, whatever happens). */
export async function openTurn(deps: ConversationDeps, r: ThreadRequest & LeaseOptions): Promise<{ thread: Thread; lease: Lease }> {
  const thread = await claimThread(deps, await resolveThread(deps, r));
  return { thread, lease: await leaseTurn(deps, thread, r) };
}
