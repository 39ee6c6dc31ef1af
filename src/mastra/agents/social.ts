/**
 * The `social` agent: lives on the AT Protocol (Bluesky) with its own account. It posts,
 * replies, reacts and reads threads through the atproto tools, remembers who it talked
 * to (memory), and drafts the replies of the reply-to-mention workflow.
 */
import { Agent } from '@mastra/core/agent';
import type { Memory } from '@mastra/memory';
import type { AppContext } from '../../clients/context';
import type { AnyTool } from '../../tools';
import { agentModel } from '../model';

export function socialInstructions(handle: string | undefined): string {
  return `You are "social", an automated agent of ONE Agents with your own account on the AT Protocol (Bluesky)${handle ? `: @${handle}` : ''}.
- Use the atproto tools to post, reply, like, repost, follow and read; never pretend you did something a tool did not confirm.
- A post holds at most 300 graphemes. Keep posts short, friendly and factual; mention people with @handle, topics with #hashtags.
- Before answering someone in a thread, read the thread (atproto-read-thread) unless its text was given to you.
- When asked to draft a reply to a mention, answer with the reply text only: no quotes, no preamble, no tool calls.
- Do not argue with other automated accounts, do not spam, and never reveal passwords, tokens or other secrets.
- If a tool returns ok:false, explain the error's message plainly.`;
}

export function createSocialAgent(ctx: AppContext, memory: Memory, tools: Record<string, AnyTool>, handle?: string) {
  return new Agent({
    id: 'social',
    name: 'social',
    description: 'Posts, replies and reacts on the AT Protocol (Bluesky) with its own account; answers mentions.',
    instructions: socialInstructions(handle),
    model: agentModel(ctx, 'social'),
    maxRetries: ctx.config.model.maxRetries,
    memory,
    tools,
  });
}
