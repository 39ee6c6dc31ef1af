/**
 * Starts the answer-synced-message workflow for device-written user messages: right
 * after an upload commits them, and from a sweep (at start-up, to pick up messages left
 * 'pending' or 'answering' by a stopped process, then periodically).
 *
 * At most `maxInFlight` answers run in this process at once (POWERSYNC_ANSWER_MAX_IN_FLIGHT);
 * the rest wait in order. A message whose user already has their share of answers running
 * (the workflow's outcome 'busy', counted in Postgres across replicas) stays pending and is
 * tried again when one of this process's answers ends (or by the next sweep).
 */
import type { Mastra } from '@mastra/core';
import type pg from 'pg';
import type { Logger } from '../../logger';
import { pendingMessageIds } from '../../stores/powersync/conversation-messages';

export class MessageAnswerer {
  private inFlight = new Map<string, Promise<void>>();
  /** Waiting for a free place (in order), with their reclaim flag. */
  private queued = new Map<string, boolean>();
  /** Pending messages whose user was at their limit: tried again when an answer here ends. */
  private deferred = new Set<string>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private mastra: Mastra,
    private db: pg.Pool,
    private logger: Logger,
    private maxInFlight = Infinity,
  ) {}

  trigger(ids: string[], reclaim = false): void {
    for (const id of ids) {
      if (this.stopped || this.inFlight.has(id)) continue;
      this.deferred.delete(id);
      if (!this.queued.has(id) || reclaim) this.queued.set(id, reclaim);
    }
    this.pump();
  }

  /** Answers running in this process now (and waiting for a place). */
  get load(): { running: number; queued: number } {
    return { running: this.inFlight.size, queued: this.queued.size };
  }

  private pump() {
    while (!this.stopped && this.inFlight.size < this.maxInFlight && this.queued.size) {
      const [id, reclaim] = this.queued.entries().next().value as [string, boolean];
      this.queued.delete(id);
      if (this.inFlight.has(id)) continue;
      const p = this.run(id, reclaim).finally(() => {
        this.inFlight.delete(id);
        // A place (and perhaps the user's slot) is free: what waited for it goes again.
        if (this.deferred.size) {
          const again = [...this.deferred];
          this.deferred.clear();
          for (const d of again) if (!this.queued.has(d) && !this.inFlight.has(d)) this.queued.set(d, false);
        }
        this.pump();
      });
      this.inFlight.set(id, p);
    }
  }

  private async run(messageId: string, reclaim: boolean) {
    try {
      const run = await this.mastra.getWorkflow('answer-synced-message').createRun();
      const result = await run.start({ inputData: { messageId, reclaim } });
      if (result.status !== 'success') this.logger.warn('answering a synced message failed; it stays pending', { messageId, status: result.status, error: (result as { error?: unknown }).error });
      else if ((result as { result?: { outcome?: string } }).result?.outcome === 'busy') this.deferred.add(messageId);
    } catch (err) {
      this.logger.warn('answering a synced message failed; it stays pending', { messageId, error: err });
    }
  }

  /** Messages waiting for an answer; `reclaim` also takes over ones a stopped process had claimed. */
  async sweep(reclaim: boolean): Promise<void> {
    if (this.stopped) return;
    this.trigger(await pendingMessageIds(this.db, reclaim), reclaim);
  }

  start(intervalMs: number) {
    void this.sweep(true).catch((err) => this.logger.warn('message sweep failed', { error: err }));
    this.timer = setInterval(() => void this.sweep(false).catch((err) => this.logger.warn('message sweep failed', { error: err })), intervalMs);
    this.timer.unref();
  }

  /** Stops the periodic sweep only (leadership moved elsewhere); triggered answers go on. */
  stopSweep() {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async stop() {
    this.stopped = true;
    this.stopSweep();
    this.queued.clear();
    this.deferred.clear();
    await Promise.allSettled([...this.inFlight.values()]);
  }
}
