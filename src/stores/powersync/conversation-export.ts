/** Reads of the synced conversations and messages for an agent's conversations archive. */
import type pg from 'pg';

export interface ConversationRow {
  id: string;
  owner_id: string;
  thread_id: string;
  title: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface MessageRow {
  id: string;
  conversation_id: string;
  role: string;
  content: string;
  created_at: Date;
}

/** The agent's conversations (only those of `ownerId` when given), oldest first. */
export async function agentConversations(db: pg.Pool, agent: string, ownerId: string | null): Promise<ConversationRow[]> {
  const convs = await db.query<ConversationRow>(
    `select id, owner_id, thread_id, title, created_at, updated_at from conversations
      where agent = $1 and ($2::text is null or owner_id = $2) order by created_at, id`,
    [agent, ownerId],
  );
  return convs.rows;
}

/** The messages of these conversations, oldest first. */
export async function conversationMessages(db: pg.Pool, conversationIds: string[]): Promise<MessageRow[]> {
  if (!conversationIds.length) return [];
  const msgs = await db.query<MessageRow>('select id, conversation_id, role, content, created_at from messages where conversation_id = any($1) order by created_at, id', [conversationIds]);
  return msgs.rows;
}
