/**
 * What every AT tool shares: the feature's clients and store, which agent account acts
 * (the calling agent when it owns one, else the tool's default), and one result shape:
 * `{ ok: true, … }` or `{ ok: false, error: { code, message } }` with a stable code.
 */
import { z } from 'zod';
import type { AtprotoClients } from '../../clients/atproto/clients';
import { AtprotoError, toAtprotoError } from '../../clients/atproto/errors';
import type { PostingDeps } from '../../clients/atproto/posting';
import type { AtprotoStore } from '../../stores/atproto/store';
import type { Logger } from '../../logger';
import { runTool } from '../result';

export interface AtprotoToolDeps {
  clients: AtprotoClients;
  store: AtprotoStore;
  agents: string[];
  longText: 'split' | 'refuse';
  dryRun: boolean;
  logger: Logger;
  /** Acts as this agent always (tools handed to one agent). */
  actAs?: string;
}


export function postingDeps(d: AtprotoToolDeps): PostingDeps {
  return { clients: d.clients, store: d.store, longText: d.longText, dryRun: d.dryRun, onBookkeepingError: (err) => d.logger.warn('recording a post failed', { error: err }) };
}

/** The agent whose account acts: fixed, else the calling agent if it has an account, else the first AT agent. */
export function actingAgent(d: AtprotoToolDeps, context: unknown): string {
  if (d.actAs) return d.actAs;
  const caller = (context as { agent?: { agentId?: string } } | undefined)?.agent?.agentId;
  if (caller && d.agents.includes(caller)) return caller;
  const first = d.agents[0];
  if (!first) throw new AtprotoError('UNKNOWN_AGENT', 'no agent has an AT account (ATPROTO_AGENTS is empty)');
  return first;
}

/** The one tool wrapper (src/tools/result.ts) with the AT error codes; PDS faults are logged. */
export function run<T extends object>(d: AtprotoToolDeps, tool: string, fn: () => Promise<T>) {
  return runTool(fn, { toError: (err) => toAtprotoError(err, tool), logger: d.logger, logCodes: ['PDS_ERROR'], tool });
}
