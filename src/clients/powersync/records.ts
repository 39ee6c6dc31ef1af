/**
 * Server-side writes to the synced tables (agents' tools, turn mirroring, the agent
 * directory, chat replies). Devices see every one of these through replication.
 */
import { createHash, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { pgText } from '../../util/text';

/** A UUID-shaped id derived from its parts: the same inputs always give the same row id (idempotent writes). */
export function stableId(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

export const newId = () => randomUUID();

/** The conversation row of a memory thread, created on first use. */
export async function ensureConversation(db: pg.Pool | pg.PoolClient, a: { ownerId: string; agent: string; threadId: string; title?: string }): Promise<{ id: string; ownerId: string }> {
  const id = stableId('conversation', a.threadId);
  await db.query(
    `insert into conversations (id, owner_id, agent, thread_id, title) values ($1, $2, $3, $4, $5)
     on conflict (thread_id) do update set updated_at = now() where conversations.owner_id = excluded.owner_id`,
    [id, a.ownerId, a.agent, a.threadId, a.title === undefined ? null : pgText(a.title)],
  );
  const r = await db.query<{ id: string; owner_id: string }>('select id, owner_id from conversations where thread_id = $1', [a.threadId]);
  return { id: r.rows[0]!.id, ownerId: r.rows[0]!.owner_id };
}

/** Mirrors one /v1 chat turn into conversations + messages (U+0000 stored as U+FFFD: Postgres text cannot hold it). */
export async function mirrorTurn(db: pg.Pool, t: { agent: string; resourceId: string; threadId: string; userMessages: string[]; reply: string }): Promise<void> {
  const client = await db.connect();
  try {
    await client.query('begin');
    const title = t.userMessages[0]?.slice(0, 80);
    const conv = await ensureConversation(client, { ownerId: t.resourceId, agent: t.agent, threadId: t.threadId, title });
    if (conv.ownerId !== t.resourceId) throw new Error('thread belongs to another user');
    // Strictly increasing timestamps keep the order of the turn on devices.
    const base = Date.now();
    let i = 0;
    for (const content of t.userMessages) {
      await client.query(`insert into messages (id, owner_id, conversation_id, role, content, created_at) values ($1, $2, $3, 'user', $4, $5)`, [newId(), t.resourceId, conv.id, pgText(content), new Date(base + i++)]);
    }
    await client.query(`insert into messages (id, owner_id, conversation_id, role, content, created_at) values ($1, $2, $3, 'assistant', $4, $5)`, [newId(), t.resourceId, conv.id, pgText(t.reply), new Date(base + i++)]);
    await client.query('update conversations set updated_at = now() where id = $1', [conv.id]);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** The agent directory (global bucket): one row per registered agent. */
export async function publishAgentDirectory(db: pg.Pool, agents: Array<{ name: string; description: string }>): Promise<void> {
  for (const a of agents) {
    await db.query(
      `insert into agents (id, name, description) values ($1, $2, $3)
       on conflict (name) do update set description = excluded.description, updated_at = now()
       where agents.description is distinct from excluded.description`,
      [stableId('agent', a.name), a.name, a.description],
    );
  }
}
