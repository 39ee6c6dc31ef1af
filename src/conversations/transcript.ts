/**
 * A chat continues its thread without `x-thread-id`. Clients such as Open WebUI resend
 * the whole transcript every turn and know nothing of threads; the thread is found
 * again from a key the transcript itself carries (table transcript_threads, migration
 * 060; src/db/transcript-threads.ts):
 * - `X-OpenWebUI-Chat-Id` (Open WebUI with ENABLE_FORWARD_USER_INFO_HEADERS) when sent;
 * - else the first user message and the first assistant reply after it: after a new
 *   thread's first turn the key of (its first user message, the reply) is stored before
 *   the reply is sent, so the client's next request, which holds both, finds the thread.
 * Every key is a sha256 over (kind, memory resource, agent, texts): one caller's keys
 * can never name another caller's thread, and the thread's owner (thread_owners) is
 * checked again on every use. Keys are reserved with `insert … on conflict do nothing`,
 * so two requests with the same transcript at once continue one thread, not two.
 *
 * The request's own shapes (Chat Completions messages) are read by the server
 * (src/server/openai/chat/transcript.ts firstExchange); here a transcript is its opening
 * exchange as plain texts.
 */
import { createHash } from 'node:crypto';
import { lookupTranscriptKeys, storeTranscriptKey } from '../db/transcript-threads';
import { pgText } from '../util/text';
import { threadNotFound } from './errors';
import { newThreadId, ownedThread, type OwnerDeps } from './owners';

function keyOf(parts: string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export function chatIdKey(resourceId: string, agent: string, chatId: string): string {
  return keyOf(['openwebui-chat/v1', resourceId, agent, chatId]);
}

export function transcriptKey(resourceId: string, agent: string, firstUser: string, firstAssistant: string): string {
  return keyOf(['transcript/v1', resourceId, agent, firstUser.trim(), firstAssistant.trim()]);
}

/** A tool call as the key sees it: the model's call id (unique per call), name and arguments. */
export interface KeyedCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * An assistant turn as the key sees it: its text, and its tool calls when it made any (a
 * turn that only called tools has no text, and the call ids tell such turns apart).
 */
export function assistantKeyText(text: string, calls: KeyedCall[] = []): string {
  const t = pgText(text).trim();
  return calls.length ? `${t}\u0000${JSON.stringify(calls.map((c) => [c.id, c.name, c.arguments]))}` : t;
}

/** The first user message of a transcript and the first assistant turn after it (assistantKeyText), when there is one. */
export interface OpeningExchange {
  user: string;
  assistant?: string;
}

/** What a chat without a thread id carries that may name its thread. */
export interface TranscriptSource {
  agent: string;
  exchange?: OpeningExchange;
  /** X-OpenWebUI-Chat-Id (checked by the server). */
  chatId?: string;
}

/**
 * Stores the transcript key of this conversation's opening exchange, once the reply is
 * known and before it is sent (a no-op when the request already held one). `calls` are
 * the client tool calls the reply hands back, as the client will resend them.
 */
export type Remember = (reply: string, calls?: KeyedCall[]) => Promise<void>;

export function rememberer(deps: OwnerDeps, resourceId: string, source: TranscriptSource | undefined, threadId: string): Remember {
  const exchange = source?.exchange;
  return async (reply, calls = []) => {
    if (!source || !exchange || exchange.assistant !== undefined || !exchange.user) return;
    const text = assistantKeyText(reply, calls);
    if (!text) return;
    // A key already taken keeps naming its thread (the first conversation that opened
    // this way): nothing to read back, so no lookup after a conflict.
    await storeTranscriptKey(deps.db, transcriptKey(resourceId, source.agent, exchange.user, text), resourceId, threadId);
  };
}

/** The keys a transcript carries, strongest first (none for a conversation's first turn without a chat id). */
export function keysOf(resourceId: string, source: TranscriptSource): string[] {
  const keys: string[] = [];
  if (source.chatId) keys.push(chatIdKey(resourceId, source.agent, source.chatId));
  // An empty first assistant turn (no text, no calls) tells conversations apart by nothing: no key.
  if (source.exchange?.assistant) keys.push(transcriptKey(resourceId, source.agent, source.exchange.user, source.exchange.assistant));
  return keys;
}

/** Stores key → thread unless the key is taken; resolves to the thread the key names now. */
async function reserve(deps: OwnerDeps, key: string, resourceId: string, threadId: string): Promise<string | undefined> {
  return (await storeTranscriptKey(deps.db, key, resourceId, threadId)) ?? (await lookupTranscriptKeys(deps.db, [key], resourceId)).get(key);
}

/**
 * The thread `keys` (keysOf, at least one) name: the one a key already names, else a new
 * id reserved under the first key (a request racing us for the same key gets our thread
 * id back, or we get theirs). Then owned as a named thread: its owner must be the caller,
 * or it is claimed for the caller now; with `lease`, the run lease is taken with the
 * ownership read when it is free.
 */
export async function threadOfKeys(
  deps: OwnerDeps,
  resourceId: string,
  keys: string[],
  lease?: { runId: string; leaseMs: number },
): Promise<{ threadId: string; exists: boolean; leased: boolean }> {
  // A new conversation's id, in case no key names a thread yet.
  let threadId = newThreadId(deps.memory);
  const known = await lookupTranscriptKeys(deps.db, keys, resourceId);
  const hit = keys.map((k) => known.get(k)).find((t) => t !== undefined);
  const chosen = hit ?? (await reserve(deps, keys[0]!, resourceId, threadId));
  if (chosen === undefined) throw threadNotFound();
  threadId = chosen;
  // The other key (chat id and transcript both sent) names the same thread from now on.
  for (const k of keys.slice(hit === undefined ? 1 : 0)) if (known.get(k) === undefined) await reserve(deps, k, resourceId, threadId);
  // Sent together: the owner (with the run lease when it is the caller) and the thread.
  const { exists, leased } = await ownedThread(deps, threadId, resourceId, { claim: true, lease });
  return { threadId, exists, leased };
}
