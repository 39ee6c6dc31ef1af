/**
 * Conversations: which memory thread a turn runs on, whose it is, and one run at a time
 * on it (resolve → claim → lease → release). Below the server (chat completions, the
 * Responses API) and the features (the sync answerer), above memory storage and the
 * database (src/db).
 */
export { ConversationError, type ConversationErrorCode } from './errors';
export { NO_LEASE, THREAD_LEASE_MS, THREAD_WAIT_MS, type Lease, type LeasePolicy } from './lease';
export { assistantKeyText, type KeyedCall, type OpeningExchange, type Remember, type TranscriptSource } from './transcript';
export { claimThread, leaseTurn, openTurn, resolveThread, type ConversationDeps, type LeaseOptions, type NewConversation, type Resolution, type Thread, type ThreadRequest, type ThreadSource } from './resolve';
