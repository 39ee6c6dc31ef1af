/**
 * What the two agent routes (chat completions, the Responses API) share: their
 * dependencies, the thread-id rule, and the start of a server-sent event stream.
 */
import type { Agent } from '@mastra/core/agent';
import type { Memory } from '@mastra/memory';
import type { Response } from 'express';
import type pg from 'pg';
import type { Logger } from '../../logger';
import type { CompletedTurn } from '../turns';
import type { UsageMeter } from '../usage';
import type { ImageOptions } from './images';

export interface AgentRouteDeps {
  agents: Record<string, Agent>;
  memory: Memory;
  /** The app's database: thread claims (thread_owners), run leases, stored responses. */
  db: pg.Pool;
  logger: Logger;
  maxSteps: number;
  /** May this key owner use this agent (AGENT_USERS_<NAME>, src/config/server.ts mayUseAgent)? */
  mayUse?: (owner: string | undefined, agent: string) => boolean;
  /** Called after a completed turn (e.g. to mirror it into synced tables). Errors are logged, never sent. */
  onTurn?: (turn: CompletedTurn) => Promise<void> | void;
  /** Budget check before the model call and one usage count per request (src/server/usage.ts). */
  usage?: UsageMeter;
  /** Images in user messages: the largest decoded image, and the outbound guard's fetch for http(s) image URLs. */
  images?: ImageOptions;
  /**
   * The provider name of the agent's OpenAI-compatible model (src/mastra/model.ts
   * compatibleProviderName), or undefined when it has none: the namespace of the provider
   * options passed through to the model (response_format, parallel_tool_calls, and on chat
   * reasoning_effort, verbosity, logit_bias, web_search_options, which are refused without it: params.ts).
   */
  compatibleProvider?: (agent: string) => string | undefined;
}

/** A memory thread id a caller may name (`x-thread-id`, `conversation`). */
export const THREAD_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Sends the headers of a server-sent event stream (200, no caching or proxy buffering). */
export function startEventStream(res: Response): void {
  res.status(200);
  res.setHeader('content-type', 'text/event-stream; charset=utf-8');
  res.setHeader('cache-control', 'no-cache');
  res.setHeader('connection', 'keep-alive');
  res.setHeader('x-accel-buffering', 'no');
  res.flushHeaders();
}
