/**
 * Chat through sync: a user message a device wrote into a conversation (status
 * 'pending') is answered by that conversation's agent, and the reply is written to
 * the synced messages table, so it reaches every device of the user.
 *
 * Streamed (./stream-reply.ts): the reply row exists from the start with status
 * 'streaming' and grows as the model writes; an `agent_runs` row (synced too) records the
 * run, and a device can stop it (stop_requested): the reply then keeps its text so far
 * with status 'stopped'. A run ends 'done', 'stopped' or 'failed', with its reply.
 *
 * One reply per message: the message is claimed (pending → answering) before the model
 * runs, and the reply's id is derived from the message id. A retry or a restart after a
 * crash can run the model again, but a finished reply (done / stopped) is never touched
 * again, and a reply left 'streaming' or 'failed' is taken over by exactly one new run
 * (the old run's row is marked failed, so its writes stop: one writer per reply).
 *
 * The agent runs on the conversation's memory thread as every other turn does
 * (src/conversations, handed in by the feature as `takeThread`): the thread must be the
 * user's, and a turn already running on it (a chat completion, another device's message)
 * finishes first.
 */
import { randomUUID } from 'node:crypto';
import type { MastraMemory } from '@mastra/core/memory';
import { createStep, createWorkflow } from '@mastra/core/workflows';
import type pg from 'pg';
import { z } from 'zod';
import { stableId } from '../../clients/powersync/records';
import { claimPendingMessage, markAnswered, releaseMessage } from '../../stores/powersync/conversation-messages';
import { finishRun, replyFinished, startRun } from '../../stores/powersync/agent-runs';
import { modelIdOf, streamReply } from './stream-reply';

const input = z.object({ messageId: z.string(), reclaim: z.boolean().default(false) });
const output = z.object({
  messageId: z.string(),
  outcome: z.enum(['answered', 'stopped', 'already-answered', 'not-pending', 'taken-over', 'failed']),
  replyId: z.string().optional(),
});

export const replyIdFor = (messageId: string) => stableId('reply', messageId);

/**
 * Takes a synced conversation's thread for one run: the thread must be `resourceId`'s
 * (claimed for it if nobody owns it), and the run waits for a turn already on it. Fails
 * with an error whose `code` is 'thread_not_found' (never the user's) or
 * 'conversation_locked' (still busy: try again later). Resolves to the lease to release.
 */
export type TakeThread = (a: { memory: MastraMemory; threadId: string; resourceId: string; runId: string }) => Promise<{ release(): Promise<void> }>;

/** A failure that answering again will not cure: an unknown agent, a thread that is not the user's. */
const permanent = (err: unknown) => (err as { code?: unknown }).code === 'thread_not_found' || /not found|another user/i.test((err as Error).message ?? '');

export function createAnswerSyncedMessageWorkflow(db: pg.Pool, takeThread: TakeThread) {
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
      if (await replyFinished(db, replyIdFor(messageId))) {
        await markAnswered(db, messageId);
        return { messageId, claimed: false, outcome: 'already-answered' as const };
      }
      const row = await claimPendingMessage(db, messageId, reclaim);
      if (!row) return { messageId, claimed: false, outcome: 'not-pending' as const };
      return { messageId, claimed: true, ...row };
    },
  });

  const answer = createStep({
    id: 'answer-message',
    description: "Runs the conversation's agent on the message (memory thread = the conversation), streaming the reply into its synced row, and ends the run once.",
    inputSchema: claim.outputSchema,
    outputSchema: output,
    execute: async ({ inputData, mastra }) => {
      const { messageId } = inputData;
      if (!inputData.claimed) return { messageId, outcome: inputData.outcome ?? 'not-pending' };
      const replyId = replyIdFor(messageId);
      const runId = randomUUID();
      const ids = { runId, replyId, messageId, conversationId: inputData.conversationId! };
      let lease: { release(): Promise<void> } | undefined;
      let started = false;
      try {
        const agent = mastra.getAgent(inputData.agent!);
        const memory = await agent.getMemory();
        // An agent without memory keeps no thread: nothing to take.
        lease = memory ? await takeThread({ memory, threadId: inputData.threadId!, resourceId: inputData.ownerId!, runId }) : undefined;
        started = await startRun(db, { ...ids, ownerId: inputData.ownerId!, agent: inputData.agent!, model: await modelIdOf(agent) });
        if (!started) {
          // A finished reply exists (a run on another replica ended meanwhile): never a second one.
          await markAnswered(db, messageId);
          return { messageId, outcome: 'already-answered' as const };
        }
        const r = await streamReply(db, agent, inputData.content!, { resource: inputData.ownerId!, thread: inputData.threadId! }, ids);
        const status = await finishRun(db, { ...ids, status: r.stopped ? 'stopped' : 'done', text: r.text, inputTokens: r.inputTokens, outputTokens: r.outputTokens, messageStatus: 'answered' });
        if (status === undefined) return { messageId, outcome: 'taken-over' as const, replyId };
        return { messageId, outcome: status === 'stopped' ? ('stopped' as const) : ('answered' as const), replyId };
      } catch (err) {
        // An unknown agent or a foreign thread will never succeed: mark it failed. Model errors, a busy thread: retry later.
        const never = permanent(err);
        if (started) await finishRun(db, { ...ids, status: 'failed', error: never ? 'cannot be answered' : 'the model failed; will retry', messageStatus: never ? 'failed' : 'pending' });
        else await releaseMessage(db, messageId, never ? 'failed' : 'pending');
        if (never) return { messageId, outcome: 'failed' as const };
        throw err;
      } finally {
        await lease?.release();
      }
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
