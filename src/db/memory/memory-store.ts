/**
 * The memory domain of the chat store (@mastra/pg's MemoryPG) with the two writes and
 * reads of a chat turn cut to what they need (docs/benchmarks.md#chat-overhead):
 *
 * - saveMessages: one statement instead of five. @mastra/pg 1.x sends a thread check
 *   (SELECT, outside the transaction), then BEGIN, the messages' INSERT … ON CONFLICT,
 *   the thread's UPDATE of updatedAt, COMMIT: five round trips in series. Here one
 *   statement does the same writes: the thread's UPDATE and the INSERT are CTEs, and
 *   the INSERT only inserts when the UPDATE found the thread, so a missing thread still
 *   writes nothing and fails with the same error ("Thread … not found"). One statement
 *   is one implicit transaction: both writes or neither, as before. Same rows, same
 *   columns, same values (test/server/memory-store.test.ts compares them with what
 *   stock @mastra/pg writes). One difference: a message whose id is already taken by
 *   another resource's (user's) message is not saved, where MemoryPG would move that
 *   message into this thread and overwrite it (ids are Mastra's random UUIDs, but
 *   Mastra's own routes accept messages with ids from the caller). Calls it does not
 *   cover (messages of several threads, a batch over the bind-parameter limit, a store
 *   with another schema) go to MemoryPG.
 * - a new conversation's thread is claimed (thread_owners, src/db/threads.ts CLAIM_THREAD) and created
 *   in one statement (newThreadStatement), the row Mastra's Memory.createThread would
 *   write; ChatMemory then hands it to the agent, which so neither reads nor creates it.
 * - listMessages of a thread this process has just created under an id nobody else has
 *   seen (ChatMemory.newThreadId: a new /v1 conversation) answers "no messages" without
 *   a query, once, and only until something is saved in it: the history read of a new
 *   conversation. Every other read is MemoryPG's.
 *
 * Everything else is MemoryPG's.
 */
import { MessageList, type MastraDBMessage } from '@mastra/core/agent';
import { MastraError, ErrorCategory, ErrorDomain } from '@mastra/core/error';
import { calculatePagination, createStorageErrorId, normalizePerPage, type MemoryStorage } from '@mastra/core/storage';
import type pg from 'pg';
import { CLAIM_THREAD } from '../threads';

/** @mastra/pg's own limit per INSERT (POSTGRES_MAX_BIND_PARAMETERS / 8 columns). */
const MAX_MESSAGES = Math.floor(65_535 / 8);

/**
 * Thread ids this process made for new conversations (ChatMemory.newThreadId) that have
 * had nothing saved in them yet. Bounded in size and age; an id is forgotten at its
 * first history read or its first save; after `maxAgeMs` it no longer answers.
 */
export class FreshThreads {
  #ids = new Map<string, number>();
  constructor(
    private maxAgeMs = 5_000,
    private max = 10_000,
  ) {}
  add(id: string) {
    this.#ids.set(id, Date.now());
    if (this.#ids.size > this.max) this.#ids.delete(this.#ids.keys().next().value!);
  }
  /** True (once) when `id` is a fresh thread with nothing saved in it. */
  take(id: string): boolean {
    const at = this.#ids.get(id);
    if (at === undefined) return false;
    this.#ids.delete(id);
    return Date.now() - at < this.maxAgeMs;
  }
  delete(id: string) {
    this.#ids.delete(id);
  }
}

type Row = [string, string, string, string, string, string, string, string];

/** The statement that saves one thread's messages and bumps the thread's updatedAt. */
export function saveTurnStatement(schema: string, count: number): string {
  const rows: string[] = [];
  for (let i = 0; i < count; i++) {
    const p = (k: number) => `$${3 + i * 8 + k}`;
    rows.push(`(${p(1)}::text, ${p(2)}::text, ${p(3)}::text, ${p(4)}::timestamp, ${p(5)}::timestamptz, ${p(6)}::text, ${p(7)}::text, ${p(8)}::text)`);
  }
  const q = `"${schema}"`;
  return `with thread as (
  update ${q}."mastra_threads" set "updatedAt" = $1::timestamp, "updatedAtZ" = $2::timestamptz where id = $3 returning id
), saved as (
  insert into ${q}."mastra_messages" (id, thread_id, content, "createdAt", "createdAtZ", role, type, "resourceId")
  select * from (values ${rows.join(', ')}) as v(id, thread_id, content, "createdAt", "createdAtZ", role, type, "resourceId")
  where exists (select 1 from thread)
  on conflict (id) do update set thread_id = excluded.thread_id, content = excluded.content, role = excluded.role, type = excluded.type, "resourceId" = excluded."resourceId"
  where ${q}."mastra_messages"."resourceId" is not distinct from excluded."resourceId"
  returning 1
)
select (select count(*) from thread)::int as threads, (select count(*) from saved)::int as saved`;
}

/** As @mastra/pg's dedupeMessagesForSave: one row per id, the last one's content with the first one's createdAt. */
function dedupe(messages: MastraDBMessage[]): MastraDBMessage[] {
  const byId = new Map<string, MastraDBMessage>();
  for (const m of messages) {
    const seen = byId.get(m.id);
    byId.set(m.id, seen ? { ...m, createdAt: seen.createdAt } : { ...m, createdAt: m.createdAt || new Date() });
  }
  return [...byId.values()];
}

const notFound = (threadId: string) =>
  new MastraError({ id: createStorageErrorId('PG', 'SAVE_MESSAGES', 'FAILED'), domain: ErrorDomain.STORAGE, category: ErrorCategory.THIRD_PARTY, text: `Thread ${threadId} not found`, details: { threadId } });

/**
 * MemoryPG with the one-statement saveMessages and the fresh-thread history read (see
 * the file comment). `pool` is the store's write pool; `schema` its schema name.
 */
export function withOneStatementTurns(store: MemoryStorage, pool: pg.Pool, schema: string, fresh: FreshThreads): MemoryStorage {
  const overrides: Partial<MemoryStorage> = {
    async saveMessages(args) {
      const { messages } = args;
      const threadId = messages[0]?.threadId;
      const oneThread = threadId && messages.every((m) => m.threadId === threadId && m.resourceId);
      if (!oneThread || messages.length > MAX_MESSAGES || schema !== 'public') return store.saveMessages(args);
      fresh.delete(threadId);
      const rows = dedupe(messages);
      const now = new Date().toISOString();
      const values: string[] = [now, now, threadId];
      for (const m of rows) {
        const at = new Date(m.createdAt).toISOString();
        const row: Row = [m.id, m.threadId!, typeof m.content === 'string' ? m.content : JSON.stringify(m.content), at, at, m.role, m.type || 'v2', m.resourceId!];
        values.push(...row);
      }
      let result: pg.QueryResult<{ threads: number; saved: number }>;
      try {
        result = await pool.query<{ threads: number; saved: number }>(saveTurnStatement(schema, rows.length), values);
      } catch (error) {
        throw new MastraError({ id: createStorageErrorId('PG', 'SAVE_MESSAGES', 'FAILED'), domain: ErrorDomain.STORAGE, category: ErrorCategory.THIRD_PARTY, details: { threadId } }, error);
      }
      if (!result.rows[0]?.threads) throw notFound(threadId);
      // What MemoryPG returns: the messages as given, content parsed, through a MessageList.
      const parsed = messages.map((m) => {
        if (typeof m.content !== 'string') return m;
        try {
          return { ...m, content: JSON.parse(m.content) };
        } catch {
          return m;
        }
      });
      return { messages: new MessageList().add(parsed, 'memory').get.all.db() };
    },
    async listMessages(args) {
      const { threadId, include, filter, page = 0, perPage: perPageInput } = args;
      if (typeof threadId === 'string' && !include?.length && !filter && page >= 0 && fresh.take(threadId)) {
        const perPage = normalizePerPage(perPageInput, 40);
        return { messages: [], total: 0, page, perPage: calculatePagination(page, perPageInput, perPage).perPage, hasMore: false };
      }
      return store.listMessages(args);
    },
  };
  return withOverrides(store, overrides);
}

/**
 * A storage domain whose `overrides` replace its own methods; every other member is the
 * domain's (methods bound to it, so its internal calls reach its own code).
 */
export function withOverrides<T extends object>(store: T, overrides: Partial<T>): T {
  return new Proxy(store, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof T];
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/**
 * Claims a fresh thread id for `resourceId` and creates its Mastra thread row, as
 * Memory.createThread({ threadId, resourceId }) would write it (no title, no metadata,
 * createdAt = updatedAt = now), in one statement; the row is only created when the claim
 * was taken. `claimed` is false when the id was already claimed by anyone.
 */
export function newThreadStatement(schema: string): string {
  return `with claim as (
  ${CLAIM_THREAD}
), thread as (
  insert into "${schema}"."mastra_threads" (id, "resourceId", title, metadata, "createdAt", "createdAtZ", "updatedAt", "updatedAtZ")
  select $1, $2, '', null, $3::timestamp, $4::timestamptz, $3::timestamp, $4::timestamptz from claim
  on conflict (id) do nothing
  returning id
)
select (select count(*) from claim)::int as claimed, (select count(*) from thread)::int as created`;
}

export interface NewThread {
  id: string;
  resourceId: string;
  title: string;
  metadata: undefined;
  createdAt: Date;
  updatedAt: Date;
}

/** Runs newThreadStatement: the thread as created, or undefined when the claim was not taken; `created` false when a Mastra row already existed. */
export async function claimNewThread(pool: pg.Pool, schema: string, threadId: string, resourceId: string): Promise<{ thread: NewThread; created: boolean } | undefined> {
  const now = new Date();
  const iso = now.toISOString();
  const r = await pool.query<{ claimed: number; created: number }>(newThreadStatement(schema), [threadId, resourceId, iso, iso]);
  if (!r.rows[0]?.claimed) return undefined;
  return { thread: { id: threadId, resourceId, title: '', metadata: undefined, createdAt: now, updatedAt: now }, created: r.rows[0].created > 0 };
}
