/**
 * Runs the reply-to-mention workflow for mention rows: right away for the firehose's
 * new mentions (a few at a time), and from a recovery sweep for rows left unfinished
 * by a crash or restart (pending, or running with an expired lease). Leases of runs in
 * flight are renewed while they run and handed back at a clean shutdown, so a restart
 * picks them up at once.
 */
import { randomUUID } from 'node:crypto';
import type { Mastra } from '@mastra/core';
import { clientOf, type AppContext } from '../../clients/context';
import { MENTION_LEASE_MS } from '../../workflows/atproto/reply-to-mention';
import type { AtprotoStore } from '../../clients/atproto/store';

const CONCURRENCY = 4;
const SWEEP_MS = 5_000;
const MAX_ATTEMPTS = 5;

export class MentionProcessor {
  private store: AtprotoStore;
  private queue: Array<{ uri: string; agent: string }> = [];
  private inFlight = new Map<string, string>(); // key → runId
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private running = new Set<Promise<void>>();
  private logger;

  constructor(
    private ctx: AppContext,
    private mastra: Mastra,
  ) {
    this.store = clientOf(ctx, 'atproto').store;
    this.logger = ctx.logger.child({ feature: 'atproto', part: 'mentions' });
  }

  enqueue(uri: string, agent: string): void {
    if (this.stopped || this.inFlight.has(`${agent} ${uri}`) || this.queue.some((q) => q.uri === uri && q.agent === agent)) return;
    this.queue.push({ uri, agent });
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.inFlight.size < CONCURRENCY && this.queue.length) {
      const { uri, agent } = this.queue.shift()!;
      const key = `${agent} ${uri}`;
      const runId = randomUUID();
      this.inFlight.set(key, runId);
      const p = this.runOne(uri, agent, runId).finally(() => {
        this.inFlight.delete(key);
        this.running.delete(p);
        this.pump();
      });
      this.running.add(p);
    }
  }

  private async runOne(mentionUri: string, agent: string, runId: string): Promise<void> {
    try {
      const wf = this.mastra.getWorkflow('reply-to-mention' as never) as unknown as { createRun(o: { runId: string }): Promise<{ start(o: { inputData: unknown }): Promise<{ status: string; error?: unknown; result?: unknown }> }> };
      const run = await wf.createRun({ runId });
      const res = await run.start({ inputData: { mentionUri, agent } });
      if (res.status === 'failed') this.logger.warn('reply-to-mention failed', { uri: mentionUri, agent, error: res.error });
      else this.logger.debug('reply-to-mention finished', { uri: mentionUri, agent, status: res.status, result: res.result });
    } catch (err) {
      if (!this.stopped) this.logger.warn('reply-to-mention could not run', { uri: mentionUri, agent, error: err });
    }
  }

  /** Picks up unfinished rows now and every few seconds; renews the leases of runs in flight. */
  startRecovery(): void {
    const sweep = async () => {
      if (this.stopped) return;
      try {
        for (const row of await this.store.unfinishedMentions()) {
          if (row.attempts >= MAX_ATTEMPTS) {
            await this.store.finishMention(row.mention_uri, row.agent, 'failed', { reason: `gave up after ${row.attempts} attempts` });
            continue;
          }
          this.enqueue(row.mention_uri, row.agent);
        }
        const runIds = [...this.inFlight.values()];
        if (runIds.length)
          await this.ctx.db.query(
            `update atproto_mentions set lease_until = now() + ($2::int * interval '1 millisecond') where status = 'running' and run_id = any($1)`,
            [runIds, MENTION_LEASE_MS],
          );
      } catch (err) {
        if (!this.stopped) this.logger.warn('mention sweep failed', { error: err });
      }
    };
    void sweep();
    const t = setInterval(() => void sweep(), SWEEP_MS);
    t.unref();
    this.timers.push(t);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.queue = [];
    const runIds = [...this.inFlight.values()];
    // Hand the leases back: the next start (or another process) continues these mentions.
    if (runIds.length)
      await this.ctx.db
        .query(`update atproto_mentions set status = 'pending', lease_until = null where status = 'running' and run_id = any($1)`, [runIds])
        .catch(() => {});
    await Promise.race([Promise.allSettled([...this.running]), new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}
