/**
 * A feature is one backing service and everything built on it (atproto, ipfs, sync).
 * The system calls each phase in order for every feature, so features never edit the
 * core files:
 *   1. startServices: start the embedded form when no URL is configured; put the URLs
 *      in `urls` (they are passed to `mastra dev` the same way).
 *   2. createClients: build this feature's clients from the URLs (lazy connections).
 *   3. tools / agents / workflows: what the Mastra runtime registers.
 *   4. routes, readiness checks, onTurn hooks: what the HTTP server mounts.
 *   5. startBackground: triggers and workers (firehose, schedules, replication).
 */
import type { Agent } from '@mastra/core/agent';
import type { Mastra } from '@mastra/core';
import type { Memory } from '@mastra/memory';
import type { RequestHandler, Router } from 'express';
import type { AppContext } from '../clients/context';
import type { Limiter } from '../server/auth';
import type { CompletedTurn } from '../server/turns';
import type { AnyTool, AnyWorkflow } from '../tools';

export type Stop = () => Promise<void>;

export interface ServicePhaseContext {
  config: AppContext['config'];
  logger: AppContext['logger'];
  /** Filled in by each feature: `urls.pdsUrl = …`. databaseUrl is always set. */
  urls: AppContext['urls'];
  /** Register something to stop at shutdown (run in reverse order). */
  onStop(name: string, stop: Stop): void;
}

export interface RuntimePhaseContext {
  ctx: AppContext;
  mastra: Mastra;
  memory: Memory;
  /** The one per-key rate limiter of the HTTP server: /v1, /api and every feature route share its buckets. */
  limiter: Limiter;
  onStop(name: string, stop: Stop): void;
}

export interface Feature {
  name: string;
  startServices?(s: ServicePhaseContext): Promise<void>;
  createClients?(ctx: AppContext): void | Promise<void>;
  tools?(ctx: AppContext): Record<string, AnyTool>;
  agents?(ctx: AppContext, memory: Memory): Record<string, Agent>;
  workflows?(ctx: AppContext): Record<string, AnyWorkflow>;
  routes?(r: RuntimePhaseContext): Array<[string, Router | RequestHandler]> | Promise<Array<[string, Router | RequestHandler]>>;
  readiness?(ctx: AppContext): Record<string, () => Promise<void>>;
  onTurn?(ctx: AppContext, turn: CompletedTurn): Promise<void>;
  startBackground?(r: RuntimePhaseContext): Promise<void>;
}
