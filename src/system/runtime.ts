/**
 * Builds the Mastra runtime: storage and memory on Postgres, the named agents, every
 * tool and workflow, from the general parts and the enabled features, and Mastra's
 * observability (traces for Studio and OTLP: src/system/observability.ts). src/mastra/index.ts
 * (for `mastra dev`) and src/system/index.ts (for `npm start` and tests) both call this,
 * so Studio and the server see the same thing.
 */
import { Mastra } from '@mastra/core';
import type { Agent } from '@mastra/core/agent';
import type { Memory } from '@mastra/memory';
import type { PostgresStore } from '@mastra/pg';
import type { AppContext } from '../clients/context';
import { enabledFeatures } from '../features';
import { createAssistantAgent } from '../mastra/agents/assistant';
import { createMemory } from '../db/memory/memory';
import { createGeneralTools } from '../tools';
import { JsonMastraLogger } from './mastra-logger';
import { createObservability, createStorage } from './observability';

export interface Runtime {
  mastra: Mastra;
  storage: PostgresStore;
  memory: Memory;
}

export { createMemory };

export function createRuntime(ctx: AppContext): Runtime {
  const storage = createStorage(ctx.urls.databaseUrl, ctx.config.observability);
  const memory = createMemory(storage);
  const features = enabledFeatures(ctx.config);
  const agents: Record<string, Agent> = Object.assign({ assistant: createAssistantAgent(ctx, memory) }, ...features.map((f) => f.agents?.(ctx, memory) ?? {}));
  const level = ctx.config.logLevel === 'debug' ? 'debug' : 'warn';
  const mastra = new Mastra({
    agents,
    tools: Object.assign(createGeneralTools(), ...features.map((f) => f.tools?.(ctx) ?? {})),
    workflows: Object.assign({}, ...features.map((f) => f.workflows?.(ctx) ?? {})),
    storage,
    observability: createObservability(ctx.config),
    environment: ctx.config.env,
    logger: ctx.config.logLevel === 'silent' ? false : new JsonMastraLogger(ctx.logger.child({ component: 'mastra' }), level),
  });
  mastra.setIdGenerator(storage.freshRuns.idGenerator);
  return { mastra, storage, memory };
}
