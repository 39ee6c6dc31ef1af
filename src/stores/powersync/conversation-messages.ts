/**
 * The synced conversations and messages (tables `conversations`, `messages`, migration
 * 001) as the sync answerer uses them (src/workflows/powersync/answer-message.ts,
 * src/features/powersync/answerer.ts): a user message a device wrote is claimed
 * (pending → answering), answered (the streamed reply and its run: ./agent-runs.ts), or
 * given back.
 */
import type pg from 'pg';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** A user message claimed for answering, with its conversation's agent and thread. */
export interface ClaimedMessage {
  ownerId: string;
  content: string;
  conversationId: string;
  agent: string;
  threadId: string;
}

/** Marks a message answered (its reply exists already). */
export async function markAnswered(db: Queryable, messageId: string): Promise<void> {
  await db.query("update messages set status = 'answered' where id = $1 and status is distinct from 'answered'", [messageId]);
}

/**
 * Claims a pending user message of the user's own conversation (pending → answering);
 * `reclaim` also takes one left 'answering' by a stopped process. Undefined when there is
 * nothing to claim.
 */
export async function claimPendingMessage(db: Queryable, messageId: string, reclaim: boolean): Promise<ClaimedMessage | undefined> {
  const r = await db.query<{ owner_id: string; content: string; conversation_id: string; agent: string; thread_id: string }>(
    `update messages m set status = 'answering'
       from conversations c
      where m.id = $1 and m.role = 'user' and c.id = m.conversation_id and c.owner_id = m.owner_id
        and (m.status = 'pending' or ($2 and m.status = 'answering'))
      returning m.owner_id, m.content, m.conversation_id, c.agent, c.thread_id`,
    [messageId, reclaim],
  );
  const row = r.rows[0];
  return row && { ownerId: row.owner_id, content: row.content, conversationId: row.conversation_id, agent: row.agent, threadId: row.thread_id };
}

/** Gives a claimed message back: 'pending' (to be answered later) or 'failed' (never). */
export async function releaseMessage(db: Queryable, messageId: string, status: 'pending' | 'failed'): Promise<void> {
  await db.query("update messages set status = $2 where id = $1 and status = 'answering'", [messageId, status]);
}

/** Up to `limit` user messages waiting for an answer, oldest first; `reclaim` also lists ones left 'answering'. */
export async function pendingMessageIds(db: Queryable, reclaim: boolean, limit = 100): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `select id from messages where role = 'user' and (status = 'pending' or ($1 and status = 'answering')) order by created_at limit $2`,
    [reclaim, limit],
  );
  return r.rows.map((x) => x.id);
}
