/**
 * A chat continues its thread without `x-thread-id`. Clients such as Open WebUI resend
 * the whole transcript every turn and know nothing of threads; the thread is found
 * again from a key the transcript itself carries (table transcript_threads, migration
 * 060):
 * - `X-OpenWebUI-Chat-Id` (Open WebUI with ENABLE_FORWARD_USER_INFO_HEADERS) when sent;
 * - else the first user message and the first assistant reply after it: after a new
 *   thread's first turn the key of (its first user message, the reply) is stored before
 *   the reply is sent, so the client's next request, which holds both, finds the thread.
 * Every key is a sha256 over (kind, memory resource, agent, texts): one caller's keys
 * can never name another caller's thread, and the thread's owner (thread_owners) is
 * checked again on every use. Keys are reserved with `insert … on conflict do nothing`,
 * so two requests with the same transcript at once continue one thread, not two.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Memory } from '@mastra/memory';
import type pg from 'pg';
import { ownerAndLease, releaseThreadRun } from '../../db/thread-runs';
import { claimThread, threadOwner } from '../../db/threads';
import { ChatMemory, startConversationThread } from '../../db/memory/memory';
import { pgText } from '../../util/text';
import { errors } from './errors';
import { chatCompletionRequest, MAX_MESSAGES, textContent, type RequestMessage } from './schema';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** X-OpenWebUI-Chat-Id: Open WebUI's chat ids are UUIDs (temporary chats `local:…`); any printable ASCII up to 256. */
export const CHAT_ID = /^[\x21-\x7e]{1,256}$/;

/**
 * At most this many messages in a request whose history is resent (Open WebUI sends the
 * whole chat every turn). Only the messages after the last assistant message of a known
 * thread reach the agent, and those stay capped at MAX_MESSAGES (Mastra's quadratic
 * de-duplication, see schema.ts); validating a long list is linear.
 */
export const MAX_TRANSCRIPT_MESSAGES = 8 * MAX_MESSAGES;
/** The messages of a request longer than MAX_MESSAGES, each checked as in a short one. */
export const transcriptMessages = chatCompletionRequest.shape.messages.element.array().max(MAX_TRANSCRIPT_MESSAGES);

const norm = (c: RequestMessage['content']) => pgText(textContent(c ?? '')).trim();

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

/** The first user message and the first assistant message after it, as the key sees them. */
export function firstExchange(messages: RequestMessage[]): { user: string; assistant?: string } | undefined {
  const u = messages.findIndex((m) => m.role === 'user');
  if (u < 0) return undefined;
  const a = messages.findIndex((m, i) => i > u && m.role === 'assistant');
  if (a < 0) return { user: norm(messages[u]!.content) };
  const m = messages[a] as Extract<RequestMessage, { role: 'assistant' }>;
  const calls: KeyedCall[] = [
    ...(m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
    // A legacy function_call carries no id: keyed by name and arguments only.
    ...(m.function_call ? [{ id: 'function_call', name: m.function_call.name, arguments: m.function_call.arguments }] : []),
  ];
  return { user: norm(messages[u]!.content), assistant: assistantKeyText(textContent(m.content) || (m.refusal ?? ''), calls) };
}

export interface ImplicitThread {
  threadId: string;
  /** The thread has history in memory: only the messages after the last assistant turn are new. */
  threadExists: boolean;
  /** The thread came from a key (chat id or transcript): another request may be on it at once. */
  known: boolean;
  /**
   * Call once the reply is known and before it is sent: stores the transcript key of
   * this conversation's opening exchange (a no-op when the request already held one).
   * `calls` are the client tool calls the reply hands back, as the client will resend them.
   */
  remember(reply: string, calls?: KeyedCall[]): Promise<void>;
  /** The run lease on the thread was taken for `runId` with the ownership read. */
  leased: boolean;
}

async function lookup(db: Queryable, keys: string[], resourceId: string): Promise<Map<string, string>> {
  const r = await db.query<{ key: string; thread_id: string }>('select key, thread_id from transcript_threads where key = any($1) and resource_id = $2', [keys, resourceId]);
  return new Map(r.rows.map((row) => [row.key, row.thread_id]));
}

/** Stores key → thread unless the key is taken; resolves to the thread id when it was stored. */
async function store(db: Queryable, key: string, resourceId: string, threadId: string): Promise<string | undefined> {
  const r = await db.query<{ thread_id: string }>(
    'insert into transcript_threads (key, thread_id, resource_id) values ($1, $2, $3) on conflict (key) do nothing returning thread_id',
    [key, threadId, resourceId],
  );
  return r.rows[0]?.thread_id;
}

/** Stores key → thread unless the key is taken; resolves to the thread the key names now. */
async function reserve(db: Queryable, key: string, resourceId: string, threadId: string): Promise<string | undefined> {
  return (await store(db, key, resourceId, threadId)) ?? (await lookup(db, [key], resourceId)).get(key);
}

/**
 * The thread of a request without x-thread-id: the one its chat id or opening exchange
 * names, else a new one (claimed for `resourceId`).
 */
export async function implicitThread(
  deps: { db: pg.Pool; memory: Memory },
  a: {
    resourceId: string;
    agent: string;
    messages: RequestMessage[];
    chatId?: string;
    /** The turn's id: a known thread's run lease is taken for it with the ownership read. */
    runId?: string;
    leaseMs?: number;
  },
): Promise<ImplicitThread> {
  const { db, memory } = deps;
  const exchange = firstExchange(a.messages);
  const keys: string[] = [];
  if (a.chatId) keys.push(chatIdKey(a.resourceId, a.agent, a.chatId));
  // An empty first assistant turn (no text, no calls) tells conversations apart by nothing: no key.
  if (exchange?.assistant) keys.push(transcriptKey(a.resourceId, a.agent, exchange.user, exchange.assistant));

  let threadId = '';
  const remember = async (reply: string, calls: KeyedCall[] = []) => {
    if (!exchange || exchange.assistant !== undefined || !exchange.user) return;
    const text = assistantKeyText(reply, calls);
    if (!text) return;
    // A key already taken keeps naming its thread (the first conversation that opened
    // this way): nothing to read back, so no lookup after a conflict.
    await store(db, transcriptKey(a.resourceId, a.agent, exchange.user, text), a.resourceId, threadId);
  };
  if (!keys.length) {
    // A conversation's first turn: a new thread, claimed (and created) at once.
    const started = await startConversationThread(memory, db, a.resourceId);
    if (started === undefined) throw errors.threadNotFound();
    threadId = started;
    return { threadId, threadExists: false, known: false, remember, leased: false };
  }
  // A new conversation's id; ChatMemory then knows no thread exists under it yet (src/db/memory/memory.ts).
  threadId = memory instanceof ChatMemory ? memory.newThreadId() : randomUUID();
  const known = await lookup(db, keys, a.resourceId);
  const hit = keys.map((k) => known.get(k)).find((t) => t !== undefined);
  // Nothing known: the first key is reserved for a new thread; a request racing us for
  // the same key gets our thread id back (or we get theirs).
  const chosen = hit ?? (await reserve(db, keys[0]!, a.resourceId, threadId));
  if (chosen === undefined) throw errors.threadNotFound();
  threadId = chosen;
  // The other key (chat id and transcript both sent) names the same thread from now on.
  for (const k of keys.slice(hit === undefined ? 1 : 0)) if (known.get(k) === undefined) await reserve(db, k, a.resourceId, threadId);

  // Sent together: the owner (with the run lease when it is the caller) and the thread.
  const { owner, leased, thread } = await ownThread(deps, threadId, a.resourceId, a.runId, a.leaseMs);
  if (owner !== undefined && owner !== a.resourceId) throw errors.threadNotFound();
  if (owner === undefined && !(await claimThread(db, threadId, a.resourceId, thread?.resourceId))) throw errors.threadNotFound();

  return { threadId, threadExists: Boolean(thread), known: true, remember, leased };
}

/**
 * A named thread's owner and its row, read together (one round trip of waiting). With a
 * `runId`, the owner read also takes the thread's run lease for it when the owner is
 * `resourceId` (src/db/thread-runs.ts ownerAndLease); a lease so taken is given back if
 * the thread read fails, so an error here never leaves the thread locked.
 */
export async function ownThread(
  deps: { db: pg.Pool; memory: Memory },
  threadId: string,
  resourceId: string,
  runId?: string,
  leaseMs = 60_000,
): Promise<{ owner: string | undefined; leased: boolean; thread: Awaited<ReturnType<Memory['getThreadById']>> }> {
  const reading = deps.memory.getThreadById({ threadId });
  reading.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
  const { owner, leased } = runId ? await ownerAndLease(deps.db, threadId, resourceId, runId, leaseMs) : { owner: await threadOwner(deps.db, threadId), leased: false };
  try {
    return { owner, leased, thread: await reading };
  } catch (err) {
    if (leased) await releaseThreadRun(deps.db, threadId, runId!).catch(() => undefined);
    throw err;
  }
}
