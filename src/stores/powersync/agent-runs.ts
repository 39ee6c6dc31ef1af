/**
 * Streamed replies and runs you can stop (table `agent_runs`, migration 080; the reply is a
 * `messages` row). The answer-synced-message workflow (src/workflows/powersync/answer-message.ts)
 * uses these:
 *   startRun    creates the run and the reply row (status 'streaming', content '') in one
 *               transaction; takes over a reply a crashed or failed run left
 *   flushReply  the reply's text so far, written only while this run is the reply's
 *               writer (its row 'running', no stop asked): one writer per run
 *   runSignal   what a device asked (stop_requested), polled from Postgres, so a stop
 *               uploaded to any replica reaches the one running the model
 *   finishRun   ends the run and the reply together ('done' / 'stopped' / 'failed')
 *   toolCall*   the run's tool calls as rows (agent_tool_calls), written like the reply
 */
import type pg from 'pg';
import { inTransaction } from '../../db/transaction';
import { pgText } from '../../util/text';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export type RunStatus = 'running' | 'done' | 'failed' | 'stopped';
/** Reply statuses (assistant `messages.status`): 'streaming' while the run writes it, then the run's end. */
export type ReplyStatus = 'streaming' | 'done' | 'failed' | 'stopped';

export interface NewRun {
  runId: string;
  messageId: string;
  replyId: string;
  ownerId: string;
  conversationId: string;
  agent: string;
  model: string | null;
}


/**
 * The reply row is finished (done, stopped, or a reply written before replies streamed):
 * answering again must not touch it. A reply 'streaming' or 'failed' can be taken over.
 */
export async function replyFinished(db: Queryable, replyId: string): Promise<boolean> {
  const r = await db.query<{ status: string | null }>('select status from messages where id = $1', [replyId]);
  const row = r.rows[0];
  return !!row && row.status !== 'streaming' && row.status !== 'failed';
}

/**
 * Starts a run: the reply row is created (or, when an earlier run left it 'streaming' or
 * 'failed', emptied and taken over: that run is marked failed, so its writes stop) with
 * status 'streaming', and the run row is inserted, in one transaction. False when the
 * reply is already finished (nothing written).
 */
export async function startRun(db: pg.Pool, r: NewRun): Promise<boolean> {
  return inTransaction(db, async (c) => {
    const reply = await c.query(
      `insert into messages (id, owner_id, conversation_id, role, content, status, created_at)
       values ($1, $2, $3, 'assistant', '', 'streaming', greatest(now(), (select created_at from messages where id = $4) + interval '1 millisecond'))
       on conflict (id) do update set content = '', status = 'streaming'
         where messages.status in ('streaming', 'failed') and messages.owner_id = excluded.owner_id`,
      [r.replyId, r.ownerId, r.conversationId, r.messageId],
    );
    if ((reply.rowCount ?? 0) === 0) return false;
    await c.query(
      `update agent_runs set status = 'failed', error = 'taken over by a later run', ended_at = now()
        where reply_id = $1 and status = 'running'`,
      [r.replyId],
    );
    await c.query(
      `insert into agent_runs (id, owner_id, conversation_id, message_id, reply_id, agent, model, status)
       values ($1, $2, $3, $4, $5, $6, $7, 'running')`,
      [r.runId, r.ownerId, r.conversationId, r.messageId, r.replyId, r.agent, r.model],
    );
    await c.query('update conversations set updated_at = now() where id = $1', [r.conversationId]);
    return true;
  });
}

/**
 * Writes the reply's text so far. Only the run that owns the reply writes (its row is
 * 'running' and no stop was asked): false when it no longer may (stopped, taken over, or
 * the reply was deleted), and the run must end.
 */
export async function flushReply(db: Queryable, runId: string, replyId: string, text: string): Promise<boolean> {
  const r = await db.query(
    `update messages m set content = $3
       from agent_runs r
      where m.id = $2 and m.status = 'streaming' and r.id = $1 and r.reply_id = m.id and r.status = 'running' and r.stop_requested = 0`,
    [runId, replyId, pgText(text)],
  );
  return (r.rowCount ?? 0) > 0;
}

/** What the run should do now: go on, stop (a device asked), or end (another run took the reply over / the run is gone). */
export async function runSignal(db: Queryable, runId: string): Promise<'run' | 'stop' | 'gone'> {
  const r = await db.query<{ status: string; stop_requested: number }>('select status, stop_requested from agent_runs where id = $1', [runId]);
  const row = r.rows[0];
  if (!row || row.status !== 'running') return 'gone';
  return row.stop_requested === 1 ? 'stop' : 'run';
}

export interface RunEnd {
  runId: string;
  replyId: string;
  messageId: string;
  conversationId: string;
  /** 'done' becomes 'stopped' when a stop was asked before this commit (then the text is not written). */
  status: 'done' | 'stopped' | 'failed';
  /** The whole reply (for 'done'); a stopped or failed reply keeps what was flushed. */
  text?: string;
  error?: string;
  inputTokens?: number;
  outputTokens?: number;
  /** The user message's status after the run: 'answered' (done / stopped), or 'pending' / 'failed' after a failure. */
  messageStatus: 'answered' | 'pending' | 'failed';
}

/**
 * Ends the run, its reply and the user message in one transaction. Undefined when the run
 * is no longer 'running' (taken over: the other run owns the reply now, nothing is
 * written); else the status the run ended with.
 */
export async function finishRun(db: pg.Pool, e: RunEnd): Promise<RunStatus | undefined> {
  return inTransaction(db, async (c) => {
    const run = await c.query<{ status: RunStatus }>(
      `update agent_runs
          set status = case when $2 = 'done' and stop_requested = 1 then 'stopped' else $2 end,
              ended_at = now(), error = $3, input_tokens = $4, output_tokens = $5
        where id = $1 and status = 'running'
        returning status`,
      [e.runId, e.status, e.error ?? null, e.inputTokens ?? null, e.outputTokens ?? null],
    );
    const status = run.rows[0]?.status;
    if (!status) return undefined;
    await c.query(
      `update messages set status = $2, content = case when $2 = 'done' then $3 else content end
        where id = $1 and status = 'streaming'`,
      [e.replyId, status, pgText(e.text ?? '')],
    );
    // Tool calls the run left unfinished end with it.
    await c.query(
      `update agent_tool_calls set status = case when $2 = 'stopped' then 'stopped' else 'failed' end, ended_at = now()
        where run_id = $1 and status = 'running'`,
      [e.runId, status],
    );
    const messageStatus = status === 'stopped' ? 'answered' : e.messageStatus;
    await c.query("update messages set status = $2 where id = $1 and status = 'answering'", [e.messageId, messageStatus]);
    await c.query('update conversations set updated_at = now() where id = $1', [e.conversationId]);
    // The owner's answer slot (POWERSYNC_ANSWER_MAX_PER_USER, sync_answer_slots) ends with the run.
    await c.query('delete from sync_answer_slots where message_id = $1', [e.messageId]);
    return status;
  });
}

/** Longest `arguments` / `result` text stored for a tool call. */
export const TOOL_TEXT_MAX = 4000;
const cut = (s: string | null | undefined) => (s == null ? null : pgText(s.length > TOOL_TEXT_MAX ? `${s.slice(0, TOOL_TEXT_MAX - 1)}…` : s));

/** A tool call the run's model made, as 'running' (only while the run may write; once per id). */
export async function toolCallStarted(db: Queryable, runId: string, call: { id: string; name: string; arguments: string | null }): Promise<void> {
  await db.query(
    `insert into agent_tool_calls (id, owner_id, run_id, conversation_id, reply_id, name, arguments, status)
     select $2, r.owner_id, r.id, r.conversation_id, r.reply_id, $3, $4, 'running'
       from agent_runs r where r.id = $1 and r.status = 'running' and r.stop_requested = 0
     on conflict (id) do nothing`,
    [runId, call.id, call.name.slice(0, 200), cut(call.arguments)],
  );
}

/** A tool call's end ('done' with its result, or 'failed'), only while the run may write. */
export async function toolCallEnded(db: Queryable, runId: string, id: string, status: 'done' | 'failed', result: string | null): Promise<void> {
  await db.query(
    `update agent_tool_calls t set status = $3, result = $4, ended_at = now()
       from agent_runs r
      where t.id = $2 and t.run_id = r.id and t.status = 'running' and r.id = $1 and r.status = 'running' and r.stop_requested = 0`,
    [runId, id, status, cut(result)],
  );
}

/** A run as stored (tests, diagnostics). */
export async function getRun(db: Queryable, runId: string): Promise<Record<string, unknown> | undefined> {
  return (await db.query('select * from agent_runs where id = $1', [runId])).rows[0];
}
