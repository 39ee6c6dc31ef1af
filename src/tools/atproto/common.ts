/**
 * What every AT tool shares: the feature's clients and store, which agent account acts
 * (the calling agent when it owns one, else the tool's default), and one result shape:
 * `{ ok: true, … }` or `{ ok: false, error: { code, message } }` with a stable code.
 */
import { z } from 'zod';
import type { AtprotoClients } from '../../features/atproto/clients';
import { AtprotoError, toAtprotoError } from '../../features/atproto/errors';
import type { PostingDeps } from '../../features/atproto/posting';
import type { AtprotoStore } from '../../features/atproto/store';
import type { Logger } from '../../logger';

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

export const errorSchema = z.object({ code: z.string(), message: z.string() });

/** Output schema: the tool's fields (all optional, absent on error) plus ok/error. */
export function resultSchema<T extends z.ZodRawShape>(shape: T) {
  return z.object({ ok: z.boolean(), error: errorSchema.optional(), ...shape }).partial({ ...Object.fromEntries(Object.keys(shape).map((k) => [k, true])) } as never);
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

export async function run<T extends object>(d: AtprotoToolDeps, tool: string, fn: () => Promise<T>): Promise<T & { ok: boolean; error?: { code: string; message: string } }> {
  try {
    return { ok: true, ...(await fn()) };
  } catch (err) {
    const e = toAtprotoError(err, tool);
    if (e.code === 'PDS_ERROR') d.logger.warn('AT tool failed', { tool, error: e });
    return { ok: false, error: { code: e.code, message: e.message } } as never;
  }
}
