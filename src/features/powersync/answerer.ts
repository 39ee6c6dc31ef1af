/**
 * Starts the answer-synced-message workflow for device-written user messages: right
 * after an upload commits them, and from a sweep (at start-up, to pick up messages left
 * 'pending' or 'answering' by a stopped process, then periodically).
 */
import type { Mastra } from '@mastra/core';
import type pg from 'pg';
import type { Logger } from '../../logger';
import { pendingMessageIds } from '../../stores/powersync/conversation-messages';

export class MessageAnswerer {
  private inFlight = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private mastra: Mastra, private db: pg.Pool, private logger: Logger) {}

  trigger(ids: string[], reclaim = false): void {
    for (const id of ids) {
      if (this.stopped || this.inFlight.has(id)) continue;
      const p = this.run(id, reclaim).finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, p);
    }
  }

  private async run(messageId: string, reclaim: boolean) {
    try {
      const run = await this.mastra.getWorkflow('answer-synced-message').createRun();
      const result = await run.start({ inputData: { messageId, reclaim } });
      if (result.status !== 'success') this.logger.warn('answering a synced message failed; it stays pending', { messageId, status: result.status, error: (result as { error?: unknown }).error });
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
    await Promise.allSettled([...this.inFlight.values()]);
  }
}
