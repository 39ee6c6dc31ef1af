/**
 * Builds the Mastra runtime: storage and memory on Postgres, the named agents, every
 * tool and workflow. src/mastra/index.ts (for `mastra dev`) and src/system.ts (for
 * `npm start` and tests) both call this, so Studio and the server see the same thing.
 */
import { Mastra } from '@mastra/core';
import { ConsoleLogger } from '@mastra/core/logger';
import { Memory } from '@mastra/memory';
import { PostgresStore } from '@mastra/pg';
import type { AppContext } from '../context';
import { createAllTools } from '../tools';
import { createWorkflows } from '../workflows';
import { createAgents } from './agents';

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
  const level = ctx.config.logLevel === 'debug' ? 'debug' : ctx.config.logLevel === 'silent' ? 'error' : 'warn';
  const mastra = new Mastra({
    agents: createAgents(ctx, memory),
    tools: createAllTools(ctx),
    workflows: createWorkflows(ctx),
    storage,
    logger: ctx.config.logLevel === 'silent' ? false : new ConsoleLogger({ name: 'mastra', level }),
  });
  return { mastra, storage, memory };
}
