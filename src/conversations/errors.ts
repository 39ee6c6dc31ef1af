/**
 * The three ways taking a thread for a turn fails. Each API answers them in its own words
 * (chat completions: thread_not_found on x-thread-id; the Responses API:
 * conversation_not_found or response_not_found, conversation_locked on the parameter that
 * named the thread); the sync answerer retries a locked thread later and gives up on one
 * that is not the user's.
 */
import { AppError } from '../errors';

export type ConversationErrorCode =
  /** No thread of this user: unknown, another user's (indistinguishable on purpose), or a claim lost to another user. */
  | 'thread_not_found'
  /** Another run holds the thread's run lease (and the policy does not wait, or waiting ran out). */
  | 'conversation_locked'
  /** A thread id in a namespace the system keeps for itself (src/db/threads.ts RESERVED_THREAD_PREFIXES). */
  | 'reserved_thread_id';

export class ConversationError extends AppError<ConversationErrorCode> {}

export const threadNotFound = () => new ConversationError('thread_not_found', 'No conversation thread with that id exists for this user.');
export const reservedThreadId = () => new ConversationError('reserved_thread_id', 'That thread id is in a namespace reserved for the system (atproto:, system:); choose another id.');
export const conversationLocked = () => new ConversationError('conversation_locked', 'Another run is operating on this conversation.');
