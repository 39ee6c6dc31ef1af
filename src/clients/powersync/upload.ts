/**
 * Applies a device's CRUD batch (the PowerSync upload queue) to Postgres: every op in
 * one transaction, only on rows the user owns, every value validated. A bad op rejects
 * the whole batch (nothing is half-applied) with a status that tells the client what
 * to do (see README "PowerSync" → upload statuses):
 *   400 malformed batch, 403 not the user's row or a read-only table / column
 *   (agent_runs: PATCH stop_requested only), 422 invalid value
 *   → permanent: the client must drop the transaction, retrying cannot succeed;
 *   5xx → transient: retry later.
 */
import type pg from 'pg';
import { z } from 'zod';
import { claimThread, isReservedThreadId } from '../../db/threads';
import { inTransaction } from '../../db/transaction';
import { conversationOwner, deleteOwnedRow, lockRowOwner, messageState, writeOwnedRow } from '../../stores/powersync/uploads';
import { AppError } from '../../errors';
import { pgText } from '../../util/text';

export class UploadError extends AppError {
  declare readonly status: 400 | 403 | 422;
  constructor(
    status: 400 | 403 | 422,
    code: string,
    message: string,
    readonly at?: { index: number; table?: string; id?: string },
  ) {
    super(code, message, { status });
  }
  toJSON() {
    return {
      error: {
        message: this.message,
        type: this.status === 403 ? 'permission_error' : 'invalid_request_error',
        code: this.code,
        retryable: false,
        ...(this.at ? { op_index: this.at.index, table: this.at.table, id: this.at.id } : {}),
      },
    };
  }
}

const ID = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'ids are 1-128 letters, digits, _ . : or -');
const text = (max: number) => z.string().max(max);
const timestamp = z
  .string()
  .max(64)
  .refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 timestamp');

/** Columns a device may write, per table (owner_id is always the token's user). */
const TABLE_SCHEMAS = {
  conversations: z
    .object({
      agent: text(64).regex(/^[A-Za-z0-9_.-]+$/, 'must be an agent name'),
      thread_id: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'thread ids are 1-128 letters, digits, _ . : or -'),
      title: text(500).nullable(),
      created_at: timestamp,
      updated_at: timestamp,
    })
    .partial()
    .strict(),
  messages: z
    .object({
      conversation_id: ID,
      // Devices write the user's side; agents write theirs on the server.
      role: z.literal('user', { message: "devices may only write role 'user'" }),
      content: text(32_000).min(1),
      status: z.enum(['pending']).nullable(),
      created_at: timestamp,
    })
    .partial()
    .strict(),
  notes: z
    .object({ title: text(500), body: text(100_000), created_by: text(64), created_at: timestamp, updated_at: timestamp })
    .partial()
    .strict(),
  tasks: z
    .object({
      title: text(500).min(1),
      status: z.enum(['open', 'in_progress', 'done', 'cancelled']),
      due_at: timestamp.nullable(),
      created_by: text(64),
      created_at: timestamp,
      updated_at: timestamp,
    })
    .partial()
    .strict(),
  artifacts: z
    .object({
      agent: text(64).nullable(),
      kind: text(64).min(1),
      title: text(500).nullable(),
      cid: text(200).nullable(),
      at_uri: text(500).regex(/^at:\/\//, 'must be an at:// URI').nullable(),
      size_bytes: z.number().int().nonnegative().nullable(),
      metadata: text(20_000).nullable(),
      created_at: timestamp,
    })
    .partial()
    .strict(),
  // A device may only ask its own run to stop (checked before this schema: PATCH only, no other column).
  agent_runs: z.object({ stop_requested: z.union([z.literal(1), z.literal(true)], { message: 'may only be set to 1 (stop the run)' }).transform(() => 1) }).strict(),
} as const;
type TableName = keyof typeof TABLE_SCHEMAS;
/** Looked up by the op's table name (request data): a Map, so `constructor` or `__proto__` is just unknown. */
const TABLES = new Map<string, (typeof TABLE_SCHEMAS)[TableName]>(Object.entries(TABLE_SCHEMAS));

/** Columns a PUT must carry (a PATCH may carry any subset). */
const REQUIRED: Record<TableName, string[]> = {
  conversations: ['agent'],
  messages: ['conversation_id', 'role', 'content'],
  notes: [],
  tasks: ['title'],
  artifacts: ['kind'],
  agent_runs: [],
};

const READ_ONLY = new Set(['agents', 'archives', 'agent_tool_calls']);
const NOT_YOURS = 'this id cannot be used by you (choose another id)';

const opSchema = z.object({
  op: z.enum(['PUT', 'PATCH', 'DELETE']),
  table: z.string().optional(),
  type: z.string().optional(),
  id: z.string(),
  data: z.record(z.string(), z.unknown()).nullable().optional(),
  opData: z.record(z.string(), z.unknown()).nullable().optional(),
});

export const batchSchema = z.object({ batch: z.array(z.unknown()).max(10_000) });

export interface UploadResult {
  applied: number;
  /** User messages written as 'pending' (to be answered by their agent). */
  pendingMessages: string[];
}

type Row = Record<string, unknown>;

/**
 * `mayUseAgent`: whether the caller may use an agent (AGENT_USERS_<NAME>); a conversation
 * naming, or a message addressed to, an agent the caller may not use refuses the batch
 * with 403 agent_forbidden, so the agent is never asked.
 */
export async function applyCrudBatch(db: pg.Pool, userId: string, body: unknown, knownAgents: Set<string>, mayUseAgent: (agent: string) => boolean = () => true): Promise<UploadResult> {
  const parsed = batchSchema.safeParse(body);
  if (!parsed.success) throw new UploadError(400, 'invalid_batch', 'The body must be {"batch": [{op, table, id, data}]} with at most 10000 ops.');
  const ops = parsed.data.batch.map((raw, index) => {
    const o = opSchema.safeParse(raw);
    if (!o.success) throw new UploadError(400, 'invalid_op', `op ${index}: each op needs op (PUT|PATCH|DELETE), table and id`, { index });
    const table = o.data.table ?? o.data.type ?? '';
    const id = ID.safeParse(o.data.id);
    if (!id.success) throw new UploadError(422, 'invalid_id', `op ${index}: ${id.error.issues[0]!.message}`, { index, table });
    if (READ_ONLY.has(table)) throw new UploadError(403, 'read_only_table', `op ${index}: ${table} is written by the server only`, { index, table, id: o.data.id });
    // JSON.parse keeps `__proto__` as an own key, but schema parsing would turn it into the
    // prototype and drop it silently: refuse it here, as any other unknown column.
    const sent = (raw as { data?: unknown; opData?: unknown }).data ?? (raw as { opData?: unknown }).opData;
    if (table === 'agent_runs') {
      // Runs are the server's; the one thing a device may do is ask its own run to stop.
      if (o.data.op !== 'PATCH') throw new UploadError(403, 'read_only_table', `op ${index}: agent_runs rows are written by the server; a device may only PATCH stop_requested`, { index, table, id: o.data.id });
      const cols = Object.keys(sent && typeof sent === 'object' ? sent : {}).filter((k) => k !== 'id' && k !== 'owner_id');
      const other = cols.filter((k) => k !== 'stop_requested');
      if (other.length) throw new UploadError(403, 'read_only_column', `op ${index}: a device may only set stop_requested of a run (not ${other.slice(0, 5).join(', ')})`, { index, table, id: o.data.id });
    }
    if (!TABLES.has(table)) throw new UploadError(422, 'unknown_table', `op ${index}: unknown table '${table}'`, { index, table, id: o.data.id });
    if (sent && typeof sent === 'object' && Object.hasOwn(sent, '__proto__'))
      throw new UploadError(422, 'invalid_value', `op ${index}: unknown column(s) __proto__`, { index, table, id: o.data.id });
    const data = { ...(o.data.data ?? o.data.opData ?? {}) } as Row;
    if (o.data.op !== 'DELETE') {
      if (Object.hasOwn(data, 'owner_id') && data.owner_id !== userId) throw new UploadError(403, 'not_owner', `op ${index}: owner_id must be your own user id`, { index, table, id: o.data.id });
      delete data.owner_id;
      delete data.id;
    }
    return { index, op: o.data.op, table: table as TableName, id: o.data.id, data };
  });

  const pendingMessages: string[] = [];
  return inTransaction(db, async (client) => {
    for (const op of ops) {
      const at = { index: op.index, table: op.table, id: op.id };
      const fail = (status: 403 | 422, code: string, msg: string) => new UploadError(status, code, `op ${op.index} (${op.op} ${op.table}/${op.id}): ${msg}`, at);
      const owner = await lockRowOwner(client, op.table, op.id);
      // The same answer for every id the caller may not use (another user's row id or thread id): never "exists".
      if (owner !== undefined && owner !== userId) throw fail(403, 'not_owner', NOT_YOURS);

      if (op.op === 'DELETE') {
        if (owner !== undefined) await deleteOwnedRow(client, op.table, op.id, userId);
        continue;
      }
      const check = TABLES.get(op.table)!.safeParse(op.data);
      if (!check.success) {
        const issue = check.error.issues[0]!;
        const col = issue.path.join('.');
        throw fail(422, 'invalid_value', issue.code === 'unrecognized_keys' ? `unknown column(s) ${(issue as { keys?: string[] }).keys?.join(', ')}` : `${col}: ${issue.message}`);
      }
      const values = check.data as Row;
      // U+0000 is stored as U+FFFD (docs/security.md): Postgres text cannot hold it, and a refusal would stall the device's upload queue.
      for (const [c, v] of Object.entries(values)) if (typeof v === 'string') values[c] = pgText(v);
      if (op.op === 'PATCH' && owner === undefined) continue; // the row is gone on the server: nothing to patch
      if (op.op === 'PUT' && owner === undefined) {
        const missing = REQUIRED[op.table].filter((c) => values[c] === undefined || values[c] === null);
        if (missing.length) throw fail(422, 'missing_value', `missing ${missing.join(', ')}`);
      }
      if (op.table === 'conversations' && typeof values.agent === 'string' && !knownAgents.has(values.agent)) throw fail(422, 'unknown_agent', `no agent named '${values.agent}'`);
      if (op.table === 'conversations' && typeof values.agent === 'string' && !mayUseAgent(values.agent)) throw fail(403, 'agent_forbidden', `you may not use the agent '${values.agent}'`);
      if (op.table === 'messages' && values.conversation_id !== undefined) {
        const conv = await conversationOwner(client, values.conversation_id);
        if (conv?.owner_id !== userId) throw fail(422, 'unknown_conversation', 'conversation_id is not one of your conversations');
        if (!mayUseAgent(conv.agent)) throw fail(403, 'agent_forbidden', `you may not use the agent '${conv.agent}'`);
      }
      if (op.table === 'conversations' && op.op === 'PUT' && owner === undefined && values.thread_id === undefined) values.thread_id = op.id;
      if (op.table === 'conversations' && typeof values.thread_id === 'string' && isReservedThreadId(values.thread_id)) throw fail(422, 'reserved_thread_id', 'thread_id is in a namespace reserved for the system (atproto:, system:)');
      if (op.table === 'conversations' && typeof values.thread_id === 'string' && !(await claimThread(client, values.thread_id, userId))) throw fail(403, 'not_owner', NOT_YOURS);
      if ((op.table === 'notes' || op.table === 'tasks' || op.table === 'conversations') && values.updated_at === undefined) values.updated_at = new Date().toISOString();

      try {
        await writeOwnedRow(client, op.table, op.id, userId, values, owner !== undefined);
      } catch (err) {
        const e = err as { code?: string; constraint?: string; detail?: string };
        if (e.code === '23505') throw fail(422, 'conflict', `a row with this ${e.constraint?.replace(/^.*?_(\w+)_key$/, '$1') ?? 'key'} already exists`);
        if (e.code?.startsWith('22') || e.code?.startsWith('23')) throw fail(422, 'invalid_value', 'a value was rejected by the database');
        throw err;
      }
      if (op.table === 'messages') {
        const m = await messageState(client, op.id);
        if (m?.role === 'user' && m.status === 'pending') {
          if (m.agent && !mayUseAgent(m.agent)) throw fail(403, 'agent_forbidden', `you may not use the agent '${m.agent}'`);
          pendingMessages.push(op.id);
        }
      }
    }
    return { applied: ops.length, pendingMessages };
  });
}
