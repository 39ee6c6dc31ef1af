/**
 * The synced conversations and messages (tables `conversations`, `messages`, migration
 * 001) as the sync answerer uses them (src/workflows/powersync/answer-message.ts,
 * src/features/powersync/answerer.ts): a user message a device wrote is claimed
 * (pending → answering), answered (the streamed reply and its run: ./agent-runs.ts), or
 * given back.
 */
import type pg from 'pg';
import { inTransaction } from '../../db/transaction';
import { pgText } from '../../util/text';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** A user message claimed for answering, with its conversation's agent and thread. */
export interface ClaimedMessage {
  ownerId: string;
  content: string;
  conversationId: string;
  agent: string;
  threadId: string;
}

/** Marks a message answered (its reply exists already); its slot, if any, ends. */
export async function markAnswered(db: Queryable, messageId: string): Promise<void> {
  await db.query("update messages set status = 'answered' where id = $1 and status is distinct from 'answered'", [messageId]);
  await db.query('delete from sync_answer_slots where message_id = $1', [messageId]);
}

/**
 * Claims a pending user message of the user's own conversation (pending → answering);
 * `reclaim` also takes one left 'answering' by a stopped process. Undefined when there is
 * nothing to claim; 'busy' when the message is pending but its owner already has
 * `maxPerUser` answers running (sync_answer_slots, migration 040, across replicas: the
 * count and the claim run under a per-owner advisory lock). A claim takes a slot until
 * `slotMs` from now (or until releaseMessage / writeReply / refuseMessage ends it).
 */
export async function claimPendingMessage(
  db: pg.Pool,
  messageId: string,
  reclaim: boolean,
  limits: { maxPerUser: number; slotMs: number } = { maxPerUser: 0, slotMs: 600_000 },
): Promise<ClaimedMessage | 'busy' | undefined> {
  // The early returns have written nothing: ending them with a commit releases the lock as a rollback would.
  return inTransaction(db, async (client) => {
    const found = await client.query<{ owner_id: string; status: string | null }>("select owner_id, status from messages where id = $1 and role = 'user'", [messageId]);
    const msg = found.rows[0];
    if (!msg || !(msg.status === 'pending' || (reclaim && msg.status === 'answering'))) {
      return undefined;
    }
    await client.query("select pg_advisory_xact_lock(hashtextextended('sync-answer:' || $1, 0))", [msg.owner_id]);
    if (limits.maxPerUser > 0) {
      const running = await client.query<{ n: string }>('select count(*) as n from sync_answer_slots where owner_id = $1 and message_id <> $2 and expires_at > now()', [msg.owner_id, messageId]);
      if (Number(running.rows[0]!.n) >= limits.maxPerUser) {
        return 'busy';
      }
    }
    const r = await client.query<{ owner_id: string; content: string; conversation_id: string; agent: string; thread_id: string }>(
      `update messages m set status = 'answering'
         from conversations c
        where m.id = $1 and m.role = 'user' and c.id = m.conversation_id and c.owner_id = m.owner_id
          and (m.status = 'pending' or ($2 and m.status = 'answering'))
        returning m.owner_id, m.content, m.conversation_id, c.agent, c.thread_id`,
      [messageId, reclaim],
    );
    const row = r.rows[0];
    if (row) {
      await client.query(
        `insert into sync_answer_slots (message_id, owner_id, expires_at) values ($1, $2, now() + $3 * interval '1 millisecond')
         on conflict (message_id) do update set owner_id = excluded.owner_id, expires_at = excluded.expires_at`,
        [messageId, row.owner_id, limits.slotMs],
      );
    }
    return row && { ownerId: row.owner_id, content: row.content, conversationId: row.conversation_id, agent: row.agent, threadId: row.thread_id };
  });
}

/** Gives a claimed message back: 'pending' (to be answered later) or 'failed' (never); its slot ends. */
export async function releaseMessage(db: Queryable, messageId: string, status: 'pending' | 'failed'): Promise<void> {
  await db.query("update messages set status = $2 where id = $1 and status = 'answering'", [messageId, status]);
  await db.query('delete from sync_answer_slots where message_id = $1', [messageId]);
}

/**
 * Refuses a claimed message for good (e.g. the owner's token budget is used up): a
 * system-role notice `noticeId` saying why goes into the conversation just after it and
 * the message's status becomes 'refused', in one transaction, so every device of the
 * user sees both; its slot ends.
 */
export async function refuseMessage(db: pg.Pool, r: { noticeId: string; messageId: string; ownerId: string; conversationId: string; text: string }): Promise<void> {
  await inTransaction(db, async (client) => {
    await client.query(
      `insert into messages (id, owner_id, conversation_id, role, content, status, created_at)
       values ($1, $2, $3, 'system', $4, 'refused', greatest(now(), (select created_at from messages where id = $5) + interval '1 millisecond'))
       on conflict (id) do nothing`,
      [r.noticeId, r.ownerId, r.conversationId, pgText(r.text), r.messageId],
    );
    await client.query("update messages set status = 'refused' where id = $1 and status = 'answering'", [r.messageId]);
    await client.query('delete from sync_answer_slots where message_id = $1', [r.messageId]);
  });
}

/** Up to `limit` user messages waiting for an answer, oldest first; `reclaim` also lists ones left 'answering'. */
export async function pendingMessageIds(db: Queryable, reclaim: boolean, limit = 100): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `select id from messages where role = 'user' and (status = 'pending' or ($1 and status = 'answering')) order by created_at limit $2`,
    [reclaim, limit],
  );
  return r.rows.map((x) => x.id);
}
