/** The named agents. Each is served on /v1 under its name and listed in Studio. */
import type { Agent } from '@mastra/core/agent';
import type { Memory } from '@mastra/memory';
import type { AppContext } from '../../context';
import { enabledFeatures } from '../../features';
import { createAssistantAgent } from './assistant';

export function createAgents(ctx: AppContext, memory: Memory): Record<string, Agent> {
  return Object.assign({ assistant: createAssistantAgent(ctx, memory) }, ...enabledFeatures(ctx.config).map((f) => f.agents?.(ctx, memory) ?? {}));
}
