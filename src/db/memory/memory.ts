/**
 * Conversation memory and its storage, configured for the chat path
 * (docs/benchmarks.md#chat-overhead has the numbers):
 *
 * - ChatMemory: Mastra's Memory (history per thread, working memory per user) whose
 *   output-side message-history processor is ours (PersistTurn): it saves a turn's
 *   messages without Mastra's fixed 10 ms sleep, and without re-reading the thread
 *   the agent has just loaded or created for this run; a thread row just read answers
 *   the turn's next reads of it.
 * - createChatStorage: PostgresStore whose workflow-snapshot domain does not write, and
 *   then delete, the "pending" snapshots of the agent's own internal loop workflows on
 *   every call; snapshots of suspended or paused runs (what a resume needs) and of every
 *   other workflow are stored as before.
 */
import { randomUUID } from 'node:crypto';
import type { MastraDBMessage, MessageList } from '@mastra/core/agent';
import { MessageHistory } from '@mastra/core/processors';
import type { RequestContext } from '@mastra/core/request-context';
import type { MemoryStorage, StorageDomains, WorkflowsStorage } from '@mastra/core/storage';
import { Memory } from '@mastra/memory';
import { PostgresStore } from '@mastra/pg';
import type pg from 'pg';
import { claimThread } from '../threads';
import { claimNewThread, FreshThreads, withOneStatementTurns, withOverrides } from './memory-store';

/** What the agent puts under 'MastraMemory' in the request context for a run with memory. */
interface MemoryRunContext {
  thread?: { id: string; resourceId?: string };
  resourceId?: string;
  memoryConfig?: { readOnly?: boolean };
}

/** MessageHistory's members that PersistTurn reuses (private in its typings). */
interface MessageHistoryInternals {
  storage: MemoryStorage;
  lastMessages?: number | false;
  tokenLimit?: { maxTokens: number; atMaxRemoveTokens: number };
  tokenCounter?: { countMessage(message: MastraDBMessage): number | Promise<number> };
  getMemoryContext(requestContext: RequestContext | undefined, messageList: MessageList): { threadId: string; resourceId?: string } | null;
  filterMessagesForPersistence(messages: MastraDBMessage[]): MastraDBMessage[];
}

const THREAD_CLOCKS_MAX = 10_000;

/**
 * The last createdAt (ms) this process stored in each recently used thread. Together
 * with the history the run loaded, it keeps a thread's createdAt strictly increasing
 * across rapid successive turns (Mastra lists history ordered by createdAt).
 */
const threadClocks = new Map<string, number>();

function rememberClock(threadId: string, ms: number) {
  threadClocks.delete(threadId);
  threadClocks.set(threadId, ms);
  if (threadClocks.size > THREAD_CLOCKS_MAX) threadClocks.delete(threadClocks.keys().next().value!);
}

const timeOf = (m: MastraDBMessage) => new Date(m.createdAt).getTime();

/**
 * Gives the messages of a turn strictly increasing createdAt values, all after every
 * message already in the thread (the history loaded for this run and what this process
 * stored last). Returns the newest createdAt (ms).
 */
export function stampMonotonic(threadId: string, messages: MastraDBMessage[], known: MastraDBMessage[]): number {
  const own = new Set(messages.map((m) => m.id));
  let floor = threadClocks.get(threadId) ?? -Infinity;
  for (const m of known) if (!own.has(m.id) && m.threadId === threadId) floor = Math.max(floor, timeOf(m));
  for (const m of messages) {
    const t = Math.max(timeOf(m), floor + 1);
    m.createdAt = new Date(t);
    floor = t;
  }
  rememberClock(threadId, floor);
  return floor;
}

/**
 * Saves a turn's new messages, as MessageHistory.processOutputResult does in
 * @mastra/core 1.71 (same filtering: no system messages, partial tool calls or working
 * memory tags), with three differences:
 *
 * 1. No fixed `setTimeout(resolve, 10)` after the write. That sleep makes the wall clock
 *    pass the turn's (possibly forward-stamped, +1 ms per message) createdAt values
 *    before the caller can send the next turn, so the next user message sorts after
 *    them; same-millisecond createdAt values have broken message order before
 *    (mastra-ai/mastra#3735, #3603, fixed in part by PR #3654; and #14912 for the sort
 *    in MessageList). No upstream issue tracks the sleep itself (searched). Here the
 *    guarantee is explicit instead: stampMonotonic makes createdAt strictly increasing
 *    within the thread, and we wait only until the clock has passed the newest one
 *    (almost always 0 ms). The upstream fix would be the same: stamp with a per-thread
 *    monotonic clock in saveMessages and drop the sleep.
 * 2. The thread is not read again before the write when the agent has loaded or created
 *    it for this very run (it is in the request context); otherwise it is, as upstream.
 * 3. Nothing else changes: the messages are written by the store's saveMessages (one
 *    transaction: the messages and the thread's updatedAt).
 */
export class PersistTurn extends MessageHistory {
  override async processOutputResult(args: Parameters<MessageHistory['processOutputResult']>[0]): Promise<MessageList> {
    const { messageList, requestContext, result } = args;
    const self = this as unknown as MessageHistoryInternals;
    const context = self.getMemoryContext(requestContext, messageList);
    const run = requestContext?.get('MastraMemory') as MemoryRunContext | undefined;
    if (!context || run?.memoryConfig?.readOnly) return messageList;
    const { threadId, resourceId } = context;
    const newInput = messageList.get.input.db();
    const newOutput = messageList.get.response.db();
    if (newInput.length + newOutput.length === 0) return messageList;
    if (result?.finishReason === 'error' && newOutput.length === 0) return messageList;
    const messages = withImagePlaceholders(self.filterMessagesForPersistence([...newInput, ...newOutput]));
    if (!messages.length) return messageList;

    if (run?.thread?.id !== threadId && !(await self.storage.getThreadById({ threadId }))) {
      const now = new Date();
      await self.storage.saveThread({ thread: { id: threadId, resourceId: resourceId || threadId, title: '', metadata: {}, createdAt: now, updatedAt: now } });
    }
    const newest = stampMonotonic(threadId, messages, messageList.get.all.db());
    await self.storage.saveMessages({ messages });
    const ahead = newest - Date.now();
    if (ahead >= 0) await new Promise((resolve) => setTimeout(resolve, ahead + 1));
    return messageList;
  }
}

/** Approximate decoded size of base64 text (or a base64 data: URL). */
function base64Bytes(data: string): number {
  const b64 = data.startsWith('data:') ? data.slice(data.indexOf(',') + 1) : data;
  return Math.max(0, Math.floor((b64.length * 3) / 4) - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0));
}

/**
 * What memory keeps of an image a user sent (docs/api.md#images): a short text
 * placeholder `[image: image/png, 1234 bytes]`, not the bytes. The model sees the image in
 * the turn it was sent; later turns read the placeholder. Without this, every image
 * (up to IMAGE_MAX_BYTES, as base64 in Postgres) would be stored and resent to the model
 * with the thread's history on every later turn. `messages` are the copies about to be
 * stored (filterMessagesForPersistence copies content and parts); the run's own list is
 * not touched.
 */
export function withImagePlaceholders(messages: MastraDBMessage[]): MastraDBMessage[] {
  for (const m of messages) {
    const content = m.content as { parts?: Array<Record<string, unknown>>; experimental_attachments?: Array<{ contentType?: string; url?: string }> };
    if (Array.isArray(content.parts)) {
      content.parts = content.parts.map((p) => {
        const mediaType = String(p.mediaType ?? p.mimeType ?? '');
        if ((p.type !== 'file' && p.type !== 'image') || !mediaType.startsWith('image/')) return p;
        const data = p.data ?? p.image;
        const size = typeof data === 'string' && !/^https?:/i.test(data) ? `, ${base64Bytes(data)} bytes` : '';
        return { type: 'text', text: `[image: ${mediaType}${size}]` };
      });
    }
    if (Array.isArray(content.experimental_attachments)) {
      content.experimental_attachments = content.experimental_attachments.filter((a) => !String(a.contentType ?? '').startsWith('image/'));
    }
  }
  return messages;
}

function withPersistTurn<P extends { id?: string }>(processors: P[]): P[] {
  return processors.map((p) => {
    if (!(p instanceof MessageHistory) || p instanceof PersistTurn) return p;
    const m = p as unknown as MessageHistoryInternals;
    return new PersistTurn({ storage: m.storage, lastMessages: m.lastMessages, tokenLimit: m.tokenLimit, tokenCounter: m.tokenCounter }) as unknown as P;
  });
}

/** How long a thread row read from Postgres may answer the next reads of the same thread (at most THREAD_REUSES of them). */
export const THREAD_REUSE_MS = 1000;
const THREAD_REUSES = 2;
const RECENT_MAX = 10_000;

type Thread = NonNullable<Awaited<ReturnType<Memory['getThreadById']>>>;

/**
 * Memory for the chat path:
 * - its message-history output processor is PersistTurn (the input side, which loads
 *   history, is Mastra's);
 * - a thread row just read from Postgres answers the next two reads of the same thread
 *   within THREAD_REUSE_MS. A /v1 turn reads the thread three times (the ownership check
 *   in the chat handler, the agent's own ownership check before the run, the agent's
 *   after-run step); the last two now reuse the first. Any write of a thread through this
 *   Memory drops it at once; a thread that does not exist is never remembered, so
 *   creation still races only in the database. Ownership semantics are unchanged: a
 *   thread's resourceId never changes in this app (nothing calls
 *   updateThreadResourceId, which drops the entry too), and the reused row is at most
 *   THREAD_REUSE_MS old, the same window in which a thread deleted by another process
 *   during a turn already goes unnoticed upstream (the agent reads it once, at the start).
 * - a thread this Memory has just saved answers the next reads the same way (the row as
 *   written), and a thread id from newThreadId() reads as "none" once without a query:
 *   a new /v1 conversation reads mastra_threads only inside @mastra/pg's saveMessages.
 */
export class ChatMemory extends Memory {
  #recent = new Map<string, { thread: Thread; at: number; uses: number }>();
  /** Thread ids from newThreadId() not yet saved, with when they were made. */
  #fresh = new Map<string, number>();

  /**
   * A new random thread id for a conversation this process starts (the /v1 handler, no
   * x-thread-id). No thread can exist under it yet (nobody else has seen it), so the
   * agent's first read of it (its ownership check before the run) is answered "none"
   * without a query: once, within THREAD_REUSE_MS, and only until the thread is saved.
   */
  newThreadId(): string {
    const id = randomUUID();
    this.#fresh.set(id, Date.now());
    (this.storage as { freshThreads?: FreshThreads } | undefined)?.freshThreads?.add(id);
    if (this.#fresh.size > RECENT_MAX) this.#fresh.delete(this.#fresh.keys().next().value!);
    return id;
  }

  /**
   * A new conversation's thread for `resourceId`: a fresh id (newThreadId), claimed in
   * thread_owners and created in Mastra's thread table in one statement
   * (memory-store.ts claimNewThread). The row written then answers the agent's reads of
   * it, so the run neither reads nor creates the thread. Undefined when the claim was not
   * taken (an id collision). A store that is not the chat store claims with
   * src/db/threads.ts and leaves the creation to the agent.
   */
  async startThread(db: pg.Pool, resourceId: string): Promise<string | undefined> {
    const id = this.newThreadId();
    const store = this.storage as unknown as { pool?: pg.Pool; schema?: string; freshThreads?: FreshThreads } | undefined;
    if (!store?.pool || store.schema !== 'public' || !store.freshThreads) return (await claimThread(db, id, resourceId)) ? id : undefined;
    const got = await claimNewThread(store.pool, store.schema, id, resourceId);
    if (!got) return undefined;
    this.#fresh.delete(id);
    if (got.created) this.#remember(got.thread as unknown as Thread);
    return id;
  }

  #remember(thread: Thread) {
    this.#recent.set(thread.id, { thread: { ...thread, metadata: thread.metadata ? { ...thread.metadata } : thread.metadata }, at: Date.now(), uses: 0 });
    if (this.#recent.size > RECENT_MAX) this.#recent.delete(this.#recent.keys().next().value!);
  }

  override async getOutputProcessors(...args: Parameters<Memory['getOutputProcessors']>): ReturnType<Memory['getOutputProcessors']> {
    return withPersistTurn(await super.getOutputProcessors(...args));
  }

  override async getThreadById(args: Parameters<Memory['getThreadById']>[0]): Promise<Thread | null> {
    // Only reads by id alone (what the chat handler and the agent do) are shared.
    if (args.resourceId !== undefined) return super.getThreadById(args);
    const key = args.threadId;
    const made = this.#fresh.get(key);
    if (made !== undefined) {
      this.#fresh.delete(key);
      if (Date.now() - made < THREAD_REUSE_MS) return null;
    }
    const hit = this.#recent.get(key);
    if (hit && Date.now() - hit.at < THREAD_REUSE_MS && hit.uses < THREAD_REUSES) {
      hit.uses++;
      return { ...hit.thread, metadata: hit.thread.metadata ? { ...hit.thread.metadata } : hit.thread.metadata };
    }
    const thread = await super.getThreadById(args);
    this.#recent.delete(key);
    if (thread) {
      this.#recent.set(key, { thread: { ...thread, metadata: thread.metadata ? { ...thread.metadata } : thread.metadata }, at: Date.now(), uses: 0 });
      if (this.#recent.size > RECENT_MAX) this.#recent.delete(this.#recent.keys().next().value!);
    }
    return thread;
  }

  #forget(threadId: string) {
    this.#recent.delete(threadId);
    this.#fresh.delete(threadId);
  }

  override async saveThread(args: Parameters<Memory['saveThread']>[0]) {
    this.#forget(args.thread.id);
    let saved: Thread | undefined;
    try {
      saved = await super.saveThread(args);
      return saved;
    } finally {
      this.#forget(args.thread.id);
      // The row just written answers the run's next reads of it (the agent's after-run
      // step), under the same rules as a row just read.
      if (saved?.id === args.thread.id) this.#remember(saved);
    }
  }

  override async updateThread(args: Parameters<Memory['updateThread']>[0]) {
    this.#forget(args.id);
    try {
      return await super.updateThread(args);
    } finally {
      this.#forget(args.id);
    }
  }

  override async deleteThread(threadId: string) {
    this.#forget(threadId);
    try {
      return await super.deleteThread(threadId);
    } finally {
      this.#forget(threadId);
    }
  }

  override async updateThreadResourceId(args: Parameters<Memory['updateThreadResourceId']>[0]) {
    this.#forget(args.threadId);
    try {
      return await super.updateThreadResourceId(args);
    } finally {
      this.#forget(args.threadId);
    }
  }
}

export function createMemory(storage: PostgresStore): Memory {
  return new ChatMemory({
    storage,
    options: {
      lastMessages: 40,
      workingMemory: { enabled: true, scope: 'resource' },
      generateTitle: false,
    },
  });
}

/**
 * Mastra's internal agent-loop workflows (@mastra/core 1.71: 'agentic-loop' and
 * AGENTIC_EXECUTION_WORKFLOW_ID 'executionWorkflow'). Each agent call creates a run of
 * both; createRun stores a "pending" snapshot of each and the loop deletes both when it
 * ends: four writes per call that nothing reads unless the run suspends.
 */
export const AGENT_LOOP_WORKFLOWS = new Set(['agentic-loop', 'executionWorkflow']);

/**
 * Run ids this process generated for agent calls (Mastra asks its id generator for
 * { idType: 'run', source: 'agent' } unless the caller passes a runId, as a resume
 * does). No snapshot can exist for such a run until this process stores one, so its
 * createRun lookups need no query. Bounded; forgotten when the run's snapshots are
 * deleted or one is stored.
 */
export class FreshRuns {
  #ids = new Set<string>();
  constructor(private max = 10_000) {}
  add(id: string) {
    this.#ids.add(id);
    if (this.#ids.size > this.max) this.#ids.delete(this.#ids.values().next().value!);
  }
  has = (id: string) => this.#ids.has(id);
  delete = (id: string) => this.#ids.delete(id);
  /** For Mastra's setIdGenerator: random UUIDs, as Mastra's default; agent run ids are remembered. */
  idGenerator = (context?: { idType?: string; source?: string }): string => {
    const id = randomUUID();
    if (context?.idType === 'run' && context.source === 'agent') this.add(id);
    return id;
  };
}

/**
 * The workflows domain without the agent loops' pending snapshots. A snapshot in any
 * other state (suspended, paused: what resuming needs) is stored; a run whose snapshot
 * was stored, or was found in storage (a resume, possibly in another process), has its
 * snapshots deleted at the end as before; other deletes of agent-loop runs are skipped
 * (nothing was written). Lookups of a fresh agent run (FreshRuns) answer "none" without
 * a query.
 */
export function withoutAgentLoopPendingSnapshots(store: WorkflowsStorage, fresh = new FreshRuns()): WorkflowsStorage {
  const stored = new Set<string>();
  const key = (workflowName: string | undefined, runId: string) => `${workflowName}\u0000${runId}`;
  const overrides: Partial<WorkflowsStorage> = {
    async persistWorkflowSnapshot(a) {
      if (AGENT_LOOP_WORKFLOWS.has(a.workflowName)) {
        if (a.snapshot?.status === 'pending') return;
        stored.add(key(a.workflowName, a.runId));
        fresh.delete(a.runId);
      }
      return store.persistWorkflowSnapshot(a);
    },
    async getWorkflowRunById(a) {
      const loop = a.workflowName !== undefined && AGENT_LOOP_WORKFLOWS.has(a.workflowName);
      if (loop && fresh.has(a.runId)) return null;
      const run = await store.getWorkflowRunById(a);
      if (run && loop) stored.add(key(a.workflowName, a.runId));
      return run;
    },
    async loadWorkflowSnapshot(a) {
      const snap = await store.loadWorkflowSnapshot(a);
      if (snap && AGENT_LOOP_WORKFLOWS.has(a.workflowName)) stored.add(key(a.workflowName, a.runId));
      return snap;
    },
    async deleteWorkflowRunById(a) {
      if (a.workflowName === 'executionWorkflow') fresh.delete(a.runId); // the loop's last delete
      if (AGENT_LOOP_WORKFLOWS.has(a.workflowName) && !stored.delete(key(a.workflowName, a.runId))) return;
      return store.deleteWorkflowRunById(a);
    },
  };
  return withOverrides(store, overrides);
}

type StoreClass = abstract new (...args: any[]) => PostgresStore; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * A PostgresStore class (the plain one, or @mastra/pg's observability-capable one) made
 * the store for the Mastra instance and memory: see withoutAgentLoopPendingSnapshots.
 */
export function chatStore<B extends StoreClass>(Base: B) {
  abstract class Chat extends Base {
    #workflows?: WorkflowsStorage;
    /** Give `freshRuns.idGenerator` to the Mastra instance (setIdGenerator) to spare two lookups per agent call. */
    readonly freshRuns = new FreshRuns();
    /** Thread ids of new conversations with nothing saved yet (ChatMemory.newThreadId; src/db/memory/memory-store.ts). */
    readonly freshThreads = new FreshThreads();
    #memory?: MemoryStorage;

    override async getStore<K extends keyof StorageDomains>(name: K): Promise<StorageDomains[K] | undefined> {
      const store = await super.getStore(name);
      if (!store) return store;
      if (name === 'memory') {
        this.#memory ??= withOneStatementTurns(store as MemoryStorage, this.pool, (this as unknown as { schema: string }).schema, this.freshThreads);
        return this.#memory as never;
      }
      if (name !== 'workflows') return store;
      this.#workflows ??= withoutAgentLoopPendingSnapshots(store as WorkflowsStorage, this.freshRuns);
      return this.#workflows as never;
    }
  }
  return Chat;
}

/** The chat store on a plain PostgresStore. */
export class ChatStore extends chatStore(PostgresStore) {}

export function createStorage(connectionString: string): ChatStore {
  return new ChatStore({ id: 'one-agents-pg', connectionString });
}
