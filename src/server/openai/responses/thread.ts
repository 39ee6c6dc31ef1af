/**
 * The Responses API, stage 3: the response's thread (src/conversations). Every stored
 * response runs on a memory thread of the caller (as x-thread-id does on chat
 * completions): `previous_response_id` continues the thread of that (stored, own)
 * response; `conversation` names the thread itself (claimed for the caller on first use);
 * with neither, a stored response starts a new thread (claimed once the input has been
 * checked), and `store: false` runs without memory. One run at a time per thread, under
 * the lease policy 'fail': a second request on a running thread is refused with
 * conversation_locked, as OpenAI does (docs/api.md#concurrent-requests-on-one-conversation).
 */
import { claimThread, ConversationError, leaseTurn, NO_LEASE, resolveThread, type Lease, type Resolution, type Thread, type ThreadSource } from '../../../conversations';
import { errors } from '../errors';
import { THREAD_ID, type AgentRouteDeps } from '../route-deps';
import type { ResponsesRequest } from '../responses-schema';

export const RESPONSE_ID = /^resp_[A-Za-z0-9]{1,64}$/;

/** The thread a request names (checked: 400 naming the parameter), or undefined for a run without memory (`store: false`, nothing named). */
export function threadSourceOf(body: ResponsesRequest, owner: string, store: boolean): ThreadSource | undefined {
  if (body.previous_response_id != null && body.conversation != null) {
    throw errors.invalidBody("Invalid value for 'conversation': previous_response_id and conversation cannot be used together.", 'conversation');
  }
  if (body.previous_response_id != null) {
    const id = body.previous_response_id;
    if (!RESPONSE_ID.test(id)) throw errors.responseNotFound('previous_response_id');
    return { kind: 'previous-response', responseId: id, owner };
  }
  if (body.conversation != null) {
    const threadId = typeof body.conversation === 'string' ? body.conversation : body.conversation.id;
    if (!THREAD_ID.test(threadId)) throw errors.invalidBody("Invalid value for 'conversation': a conversation id is 1-128 letters, digits and _ . : -", 'conversation');
    return { kind: 'named', threadId };
  }
  // A new thread (when stored) is claimed by the caller once the input has been checked.
  return store ? { kind: 'new' } : undefined;
}

/** The conversations module's failures in the Responses API's words, by what named the thread. */
async function inResponsesWords<T>(source: ThreadSource, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof ConversationError)) throw err;
    const previous = source.kind === 'previous-response';
    if (err.code === 'reserved_thread_id') throw errors.reservedThreadId(previous ? 'previous_response_id' : 'conversation');
    if (err.code === 'conversation_locked') throw errors.conversationLocked(previous ? 'previous_response_id' : 'conversation');
    throw previous ? errors.responseNotFound('previous_response_id') : errors.conversationNotFound();
  }
}

/** The named thread, owned by (or now claimed for) the caller; a new conversation; or nothing (no memory). */
export async function resolveResponseThread(deps: AgentRouteDeps, source: ThreadSource | undefined, resourceId: string): Promise<Resolution | undefined> {
  return source && inResponsesWords(source, () => resolveThread(deps, { source, resourceId }));
}

/**
 * The response's thread, a new conversation's claimed (and created) now, and its run
 * lease for the response `runId`: taken at once or refused (conversation_locked). The
 * caller releases the lease, whatever happens.
 */
export async function takeResponseThread(deps: AgentRouteDeps, source: ThreadSource | undefined, found: Resolution | undefined, runId: string): Promise<{ thread?: Thread; lease: Lease }> {
  if (!source || !found) return { lease: NO_LEASE };
  const thread = await inResponsesWords(source, () => claimThread(deps, found));
  return { thread, lease: await inResponsesWords(source, () => leaseTurn(deps, thread, { runId, policy: 'fail' })) };
}
