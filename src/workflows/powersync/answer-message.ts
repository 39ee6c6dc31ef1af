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
import { claimPendingMessage, markAnswered, refuseMessage, releaseMessage } from '../../stores/powersync/conversation-messages';
import { finishRun, replyFinished, startRun } from '../../stores/powersync/agent-runs';
import { modelIdOf, streamReply } from './stream-reply';

const input = z.object({ messageId: z.string(), reclaim: z.boolean().default(false) });
const output = z.object({
  messageId: z.string(),
  /** busy: the owner has POWERSYNC_ANSWER_MAX_PER_USER answers running; the message stays pending. refused: over budget, status 'refused' + a notice. */
  outcome: z.enum(['answered', 'stopped', 'already-answered', 'not-pending', 'taken-over', 'failed', 'busy', 'refused']),
  replyId: z.string().optional(),
});

export const replyIdFor = (messageId: string) => stableId('reply', messageId);
/** The id of the system notice written when a message is refused. */
export const refusalIdFor = (messageId: string) => stableId('refusal', messageId);

/**
 * The token budget and usage count of chat through sync, the same as /v1's (handed in by
 * the feature: src/server/usage.ts, counted per API key owner and UTC day in Postgres).
 */
type AnswerUsage = { inputTokens?: number; outputTokens?: number; totalTokens?: number };

export interface AnswerBudget {
  /** Resolves when `resourceId` may spend tokens now; rejects with an error whose `code` is 'budget_exceeded' (its message is shown to the user) when not. */
  check(resourceId: string): Promise<void>;
  /** Counts one answered message and its tokens for `resourceId`'s owner (under `agent`'s model); never rejects. */
  record(resourceId: string, usage: AnswerUsage | undefined, agent?: string): Promise<void>;
}

export interface AnswerOptions {
  budget?: AnswerBudget;
  /** Answers running at once per user, across replicas (0 = unbounded). */
  maxPerUser?: number;
  /** How long a claimed answer holds its per-user slot if its process stops (ms). */
  slotMs?: number;
}

/**
 * Takes a synced conversation's thread for one run: the thread must be `resourceId`'s
 * (claimed for it if nobody owns it), and the run waits for a turn already on it. Fails
 * with an error whose `code` is 'thread_not_found' (never the user's) or
 * 'conversation_locked' (still busy: try again later). Resolves to the lease to release.
 */
export type TakeThread = (a: { memory: MastraMemory; threadId: string; resourceId: string; runId: string }) => Promise<{ release(): Promise<void> }>;

/** A failure that answering again will not cure: an unknown agent, a thread that is not the user's. */
const permanent = (err: unknown) => ['thread_not_found', 'reserved_thread_id'].includes((err as { code?: string }).code ?? '') || /not found|another user/i.test((err as Error).message ?? '');

export function createAnswerSyncedMessageWorkflow(db: pg.Pool, takeThread: TakeThread, o: AnswerOptions = {}) {
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
      const row = await claimPendingMessage(db, messageId, reclaim, { maxPerUser: o.maxPerUser ?? 0, slotMs: o.slotMs ?? 600_000 });
      if (row === 'busy') return { messageId, claimed: false, outcome: 'busy' as const };
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
      // The owner's token budget, as /v1 checks it: refused for good, with a notice the devices sync.
      try {
        await o.budget?.check(inputData.ownerId!);
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'budget_exceeded') {
          await releaseMessage(db, messageId, 'pending');
          throw err;
        }
        await refuseMessage(db, { noticeId: refusalIdFor(messageId), messageId, ownerId: inputData.ownerId!, conversationId: inputData.conversationId!, text: (err as Error).message });
        return { messageId, outcome: 'refused' as const };
      }
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
        await o.budget?.record(inputData.ownerId!, { inputTokens: r.inputTokens, outputTokens: r.outputTokens, totalTokens: (r.inputTokens ?? 0) + (r.outputTokens ?? 0) }, inputData.agent);
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
