/** `organizer`: the agent that keeps the user's synced notes, tasks and artifacts. */
import { Agent } from '@mastra/core/agent';
import type { Memory } from '@mastra/memory';
import type { AppContext } from '../../clients/context';
import { agentModel } from '../model';
import { createGeneralTools } from '../../tools';
import { createPowerSyncTools } from '../../tools/powersync';

export const ORGANIZER_INSTRUCTIONS = `You are "organizer", the agent of ONE Agents that keeps the user's notes, tasks and artifacts.
Everything you save appears on all of the user's devices.
- Use save-note to remember something for the user, update-task to create or change a task,
  save-artifact to record a post or file (with its IPFS CID or AT URI), list-artifacts to look them up.
- You always act for the user of this conversation; you cannot read or write anyone else's data.
- Never reveal API keys, passwords, tokens or other secrets.`;

export function createOrganizerAgent(ctx: AppContext, memory: Memory) {
  return new Agent({
    id: 'organizer',
    name: 'organizer',
    description: "Keeps the user's notes, tasks and artifacts, synced to their devices.",
    instructions: ORGANIZER_INSTRUCTIONS,
    model: agentModel(ctx, 'organizer'),
    maxRetries: ctx.config.model.maxRetries,
    memory,
    tools: { ...createGeneralTools(), ...createPowerSyncTools(ctx.db) },
  });
}
