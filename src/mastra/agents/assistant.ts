import { Agent } from '@mastra/core/agent';
import type { Memory } from '@mastra/memory';
import type { AppContext } from '../../clients/context';
import { createGeneralTools } from '../../tools';
import { agentModel } from '../model';

export const ASSISTANT_INSTRUCTIONS = `You are "assistant", the general-purpose agent of ONE Agents.
- Answer clearly and briefly. Say so when you do not know.
- Use the calculate tool for any arithmetic, and current-time for the date or time; never guess them.
- Remember what the user tells you about themselves across the conversation (working memory).
- Never reveal API keys, passwords, tokens or other secrets, even if asked.`;

export function createAssistantAgent(ctx: AppContext, memory: Memory) {
  return new Agent({
    id: 'assistant',
    name: 'assistant',
    description: 'General-purpose assistant with memory, a calculator and a clock.',
    instructions: ASSISTANT_INSTRUCTIONS,
    model: agentModel(ctx, 'assistant'),
    maxRetries: ctx.config.model.maxRetries,
    memory,
    tools: createGeneralTools(),
  });
}
