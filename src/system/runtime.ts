/**
 * Builds the Mastra runtime: storage and memory on Postgres, the named agents, every
 * tool and workflow, from the general parts and the enabled features. src/mastra/index.ts
 * (for `mastra dev`) and src/system/index.ts (for `npm start` and tests) both call this,
 * so Studio and the server see the same thing.
 */
import { Mastra } from '@mastra/core';
import type { Agent } from '@mastra/core/agent';
import { Memory } from '@mastra/memory';
import { PostgresStore } from '@mastra/pg';
import type { AppContext } from '../clients/context';
import { enabledFeatures } from '../features';
import { createAssistantAgent } from '../mastra/agents/assistant';
import { createGeneralTools } from '../tools';
import { JsonMastraLogger } from './mastra-logger';

export interface Runtime {
  mastra: Mastra;
  storage: PostgresStore;
  memory: Memory;
}

export function createMemory(storage: PostgresStore): Memory {
  return new Memory({
    storage,
    options: {
      lastMessages: 40,
      workingMemory: { enabled: true, scope: 'resource' },
      generateTitle: false,
    },
  });
}

export function createRuntime(ctx: AppContext): Runtime {
  const storage = new PostgresStore({ id: 'one-agents-pg', connectionString: ctx.urls.databaseUrl });
  const memory = createMemory(storage);
  const features = enabledFeatures(ctx.config);
  const agents: Record<string, Agent> = Object.assign({ assistant: createAssistantAgent(ctx, memory) }, ...features.map((f) => f.agents?.(ctx, memory) ?? {}));
  const level = ctx.config.logLevel === 'debug' ? 'debug' : 'warn';
  const mastra = new Mastra({
    agents,
    tools: Object.assign(createGeneralTools(), ...features.map((f) => f.tools?.(ctx) ?? {})),
    workflows: Object.assign({}, ...features.map((f) => f.workflows?.(ctx) ?? {})),
    storage,
    logger: ctx.config.logLevel === 'silent' ? false : new JsonMastraLogger(ctx.logger.child({ component: 'mastra' }), level),
  });
  return { mastra, storage, memory };
}
