/**
 * Chat through sync: a user message a device wrote into a conversation (status
 * 'pending') is answered by that conversation's agent, and the reply is written to
 * the synced messages table, so it reaches every device of the user.
 *
 * Exactly once per message: the message is claimed (pending → answering) before the
 * model runs, and the reply's id is derived from the message id and inserted together
 * with the status change (→ answered) in one transaction; a retry or a restart after a
 * crash can run the model again but can never write a second reply.
 */
import { createStep, createWorkflow } from '@mastra/core/workflows';
import type pg from 'pg';
import { z } from 'zod';
import { stableId } from '../../clients/powersync/records';
import { pgText } from '../../util/text';

const input = z.object({ messageId: z.string(), reclaim: z.boolean().default(false) });
const output = z.object({ messageId: z.string(), outcome: z.enum(['answered', 'already-answered', 'not-pending', 'failed']), replyId: z.string().optional() });

export const replyIdFor = (messageId: string) => stableId('reply', messageId);

export function createAnswerSyncedMessageWorkflow(db: pg.Pool) {
  const claim = createStep({
    id: 'claim-message',
    description: 'Claims a pending user message (or skips one that is answered or being answered).',
    inputSchema: input,
    outputSchema: z.object({
      messageId: z.string(),
      claimed: z.boolean(),
      outcome: output.shape.outcome.optional(),
      ownerId: z.string().optional(),
      agent: z.string().optional(),
      threadId: z.string().optional(),
      conversationId: z.string().optional(),
      content: z.string().optional(),
    }),
    execute: async ({ inputData }) => {
      const { messageId, reclaim } = inputData;
      const replyId = replyIdFor(messageId);
      const existing = await db.query('select 1 from messages where id = $1', [replyId]);
      if (existing.rowCount) {
        await db.query("update messages set status = 'answered' where id = $1 and status is distinct from 'answered'", [messageId]);
        return { messageId, claimed: false, outcome: 'already-answered' as const };
      }
      const r = await db.query<{ owner_id: string; content: string; conversation_id: string; agent: string; thread_id: string }>(
        `update messages m set status = 'answering'
           from conversations c
          where m.id = $1 and m.role = 'user' and c.id = m.conversation_id and c.owner_id = m.owner_id
            and (m.status = 'pending' or ($2 and m.status = 'answering'))
          returning m.owner_id, m.content, m.conversation_id, c.agent, c.thread_id`,
        [messageId, reclaim],
      );
      const row = r.rows[0];
      if (!row) return { messageId, claimed: false, outcome: 'not-pending' as const };
      return { messageId, claimed: true, ownerId: row.owner_id, agent: row.agent, threadId: row.thread_id, conversationId: row.conversation_id, content: row.content };
    },
  });

  const answer = createStep({
    id: 'answer-message',
    description: "Runs the conversation's agent on the message (memory thread = the conversation) and writes the reply once.",
    inputSchema: claim.outputSchema,
    outputSchema: output,
    execute: async ({ inputData, mastra }) => {
      const { messageId } = inputData;
      if (!inputData.claimed) return { messageId, outcome: inputData.outcome ?? 'not-pending' };
      const replyId = replyIdFor(messageId);
      const release = async (status: 'pending' | 'failed') => {
        await db.query("update messages set status = $2 where id = $1 and status = 'answering'", [messageId, status]);
      };
      let text: string;
      try {
        const agent = mastra.getAgent(inputData.agent!);
        const memory = await agent.getMemory();
        const thread = await memory?.getThreadById({ threadId: inputData.threadId! });
        if (thread && thread.resourceId !== inputData.ownerId) throw new Error('the conversation thread belongs to another user');
        const result = await agent.generate(inputData.content!, { memory: { resource: inputData.ownerId!, thread: inputData.threadId! } });
        const failure = (result as { error?: unknown }).error;
        if (failure) throw failure instanceof Error ? failure : new Error(String(failure));
        text = result.text;
      } catch (err) {
        // An unknown agent or a foreign thread will never succeed: mark it failed. Model errors: retry later.
        const permanent = /not found|another user/i.test((err as Error).message ?? '');
        await release(permanent ? 'failed' : 'pending');
        if (permanent) return { messageId, outcome: 'failed' as const };
        throw err;
      }
      const client = await db.connect();
      try {
        await client.query('begin');
        await client.query(
          `insert into messages (id, owner_id, conversation_id, role, content, created_at)
           values ($1, $2, $3, 'assistant', $4, greatest(now(), (select created_at from messages where id = $5) + interval '1 millisecond'))
           on conflict (id) do nothing`,
          [replyId, inputData.ownerId, inputData.conversationId, pgText(text), messageId],
        );
        await client.query("update messages set status = 'answered' where id = $1", [messageId]);
        await client.query('update conversations set updated_at = now() where id = $1', [inputData.conversationId]);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback').catch(() => {});
        await release('pending');
        throw err;
      } finally {
        client.release();
      }
      return { messageId, outcome: 'answered' as const, replyId };
    },
  });

  return createWorkflow({
    id: 'answer-synced-message',
    description: "Answers a user message a device wrote into a synced conversation with that conversation's agent, exactly once.",
    inputSchema: input,
    outputSchema: output,
  })
    .then(claim)
    .then(answer)
    .commit();
}
