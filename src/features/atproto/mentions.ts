/**
 * Runs the reply-to-mention workflow for mention rows: right away for the firehose's
 * new mentions (a few at a time), and from a recovery sweep for rows left unfinished
 * by a crash or restart (pending, or running with an expired lease). Leases of runs in
 * flight are renewed while they run and handed back at a clean shutdown, so a restart
 * picks them up at once.
 *
 * Autonomy controls: a paused agent's rows stay pending (not started) until it is
 * resumed (the pause flag is in Postgres, re-read every second, so every replica sees
 * it); backlog mentions (seen ATPROTO_CATCHUP_LAG or more after they were posted: a
 * catch-up after downtime) start at most one per ATPROTO_CATCHUP_INTERVAL per agent,
 * while live mentions go straight on.
 */
import { randomUUID } from 'node:crypto';
import type { Mastra } from '@mastra/core';
import { clientOf, type AppContext } from '../../clients/context';
import { MENTION_LEASE_MS } from '../../workflows/atproto/reply-to-mention';
import type { AtprotoStore } from '../../stores/atproto/store';

const CONCURRENCY = 4;
const SWEEP_MS = 5_000;
const MAX_ATTEMPTS = 5;

export class MentionProcessor {
  private store: AtprotoStore;
  private queue: Array<{ uri: string; agent: string; backlog: boolean }> = [];
  private paused = new Set<string>();
  private pausedAt = 0;
  private lastBacklogStart = new Map<string, number>();
  private wake?: NodeJS.Timeout;
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

  enqueue(uri: string, agent: string, opts: { backlog?: boolean } = {}): void {
    if (this.stopped || this.paused.has(agent) || this.inFlight.has(`${agent} ${uri}`) || this.queue.some((q) => q.uri === uri && q.agent === agent)) return;
    this.queue.push({ uri, agent, backlog: !!opts.backlog });
    this.pump();
  }

  /** Re-reads which agents are paused (at most once a second unless forced); drops their queued items. */
  async refreshPaused(force = false): Promise<void> {
    if (!force && Date.now() - this.pausedAt < 1000) return;
    this.pausedAt = Date.now();
    this.paused = await this.store.pausedAgents();
    if (this.paused.size) this.queue = this.queue.filter((q) => !this.paused.has(q.agent));
  }

  /** Backlog items of a paced agent wait; the first startable item, or the wait until one is. */
  private next(): { index: number; waitMs: number } {
    const interval = this.ctx.config.atproto.live.catchupIntervalMs;
    let waitMs = Infinity;
    const busy = new Set<string>();
    for (let i = 0; i < this.queue.length; i++) {
      const q = this.queue[i]!;
      if (!q.backlog) return { index: i, waitMs: 0 };
      if (busy.has(q.agent)) continue;
      busy.add(q.agent);
      const wait = (this.lastBacklogStart.get(q.agent) ?? 0) + interval - Date.now();
      if (wait <= 0) return { index: i, waitMs: 0 };
      waitMs = Math.min(waitMs, wait);
    }
    return { index: -1, waitMs };
  }

  /** Items waiting, per agent (the backlog visible on the status route). */
  queued(): Record<string, { queued: number; backlog: number }> {
    const out: Record<string, { queued: number; backlog: number }> = {};
    for (const q of this.queue) {
      const o = (out[q.agent] ??= { queued: 0, backlog: 0 });
      o.queued++;
      if (q.backlog) o.backlog++;
    }
    return out;
  }

  private pump(): void {
    while (!this.stopped && this.inFlight.size < CONCURRENCY && this.queue.length) {
      const { index, waitMs } = this.next();
      if (index < 0) {
        if (!this.wake && Number.isFinite(waitMs)) {
          this.wake = setTimeout(() => {
            this.wake = undefined;
            this.pump();
          }, waitMs + 5);
          this.wake.unref();
        }
        return;
      }
      const { uri, agent, backlog } = this.queue.splice(index, 1)[0]!;
      if (backlog) this.lastBacklogStart.set(agent, Date.now());
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
        await this.refreshPaused(true);
        const lag = this.ctx.config.atproto.live.catchupLagMs;
        for (const row of await this.store.unfinishedMentions()) {
          if (this.paused.has(row.agent)) continue;
          if (row.attempts >= MAX_ATTEMPTS) {
            await this.store.finishMention(row.mention_uri, row.agent, 'failed', { reason: `gave up after ${row.attempts} attempts` });
            continue;
          }
          this.enqueue(row.mention_uri, row.agent, { backlog: !!row.event_time && Date.now() - new Date(row.event_time).getTime() > lag });
        }
        const runIds = [...this.inFlight.values()];
        if (runIds.length)
          await this.store.renewMentionLeases(runIds, MENTION_LEASE_MS);
      } catch (err) {
        if (!this.stopped) this.logger.warn('mention sweep failed', { error: err });
      }
    };
    this.sweepNow = sweep;
    void sweep();
    const t = setInterval(() => void sweep(), SWEEP_MS);
    t.unref();
    this.timers.push(t);
    const p = setInterval(() => void this.refreshPaused().catch(() => {}), 1000);
    p.unref();
    this.timers.push(p);
  }

  /** Runs the recovery sweep now (after a resume). */
  sweepNow?: () => Promise<void>;

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    if (this.wake) clearTimeout(this.wake);
    this.queue = [];
    const runIds = [...this.inFlight.values()];
    // Hand the leases back: the next start (or another process) continues these mentions.
    if (runIds.length)
      await this.store.releaseMentionLeases(runIds).catch(() => {});
    await Promise.race([Promise.allSettled([...this.running]), new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}
