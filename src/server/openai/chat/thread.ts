/**
 * Chat Completions, stage 3: the turn's thread (src/conversations). The caller's identity
 * is the memory resource; the thread comes from `x-thread-id`, else from the resent
 * transcript or X-OpenWebUI-Chat-Id (transcript.ts), else a new one. A turn on a thread
 * another request is running on waits for it (lease policy 'wait'), then answers 400
 * conversation_locked; a thread that is not the caller's answers 404 thread_not_found, a
 * thread id in a system namespace 400 reserved_thread_id.
 */
import type { Request } from 'express';
import { ConversationError, openTurn, type Lease, type Thread, type ThreadSource } from '../../../conversations';
import { errors } from '../errors';
import { THREAD_ID, type AgentRouteDeps } from '../route-deps';
import type { ChatCompletionRequest } from '../schema';
import { CHAT_ID, firstExchange } from './transcript';

/** The thread a chat request names: its x-thread-id, else its transcript (checked: 400 naming the header). */
export function threadSourceOf(req: Request, body: ChatCompletionRequest): ThreadSource {
  const header = req.get('x-thread-id');
  if (header !== undefined && !THREAD_ID.test(header)) {
    throw errors.invalidBody('x-thread-id must be 1-128 characters of letters, digits and _ . : -', 'x-thread-id');
  }
  if (header) return { kind: 'named', threadId: header };
  const chatId = req.get('x-openwebui-chat-id');
  if (chatId !== undefined && !CHAT_ID.test(chatId)) throw errors.invalidBody('X-OpenWebUI-Chat-Id must be 1-256 printable ASCII characters.', 'x-openwebui-chat-id');
  return { kind: 'transcript', transcript: { agent: body.model, exchange: firstExchange(body.messages), chatId } };
}

/** The conversations module's failures in Chat Completions' words. */
function chatError(err: unknown): unknown {
  if (!(err instanceof ConversationError)) return err;
  if (err.code === 'reserved_thread_id') return errors.reservedThreadId('x-thread-id');
  return err.code === 'conversation_locked' ? errors.conversationLocked('x-thread-id') : errors.threadNotFound();
}

/**
 * The turn's thread, owned by the caller, and its run lease (taken with the ownership
 * read when it is free: one round trip). `runId` is the completion's id; `signal` ends
 * the wait when the client goes away. The caller releases the lease, whatever happens.
 */
export async function chatThread(deps: AgentRouteDeps, a: { source: ThreadSource; resourceId: string; runId: string; signal: AbortSignal }): Promise<{ thread: Thread; lease: Lease }> {
  try {
    return await openTurn(deps, { source: a.source, resourceId: a.resourceId, runId: a.runId, policy: 'wait', signal: a.signal });
  } catch (err) {
    throw chatError(err);
  }
}
