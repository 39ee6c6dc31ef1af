/**
 * RATE_LIMIT_RPM counted in Postgres, so a key gets its limit across every app replica
 * together, not once per process: one row per bucket and minute (`rate_limits`, src/db/rate-limits.ts), one
 * upsert per request. Windows are fixed minutes; old rows are deleted now and then by
 * whichever replica sees them (idempotent).
 */
import type pg from 'pg';
import { countRequest, deleteRateWindowsBefore } from '../db/rate-limits';
import type { Logger } from '../logger';
import { RateLimiter, type Limiter } from './auth';

const WINDOW_MS = 60_000;

export class PgRateLimiter implements Limiter {
  private lastCleanup = 0;
  /** Used while Postgres does not answer, so a database hiccup neither opens nor closes the gates entirely. */
  private fallback: RateLimiter;

  constructor(
    private readonly db: pg.Pool,
    private readonly rpm: number,
    private readonly logger: Logger,
  ) {
    this.fallback = new RateLimiter(rpm);
  }

  async take(bucket: string, now = Date.now()): Promise<number> {
    if (this.rpm <= 0) return 0;
    const windowStart = new Date(Math.floor(now / WINDOW_MS) * WINDOW_MS);
    try {
      const count = await countRequest(this.db, bucket, windowStart);
      if (now - this.lastCleanup > WINDOW_MS) {
        this.lastCleanup = now;
        void deleteRateWindowsBefore(this.db, new Date(windowStart.getTime() - WINDOW_MS)).catch(() => {});
      }
      if (count <= this.rpm) return 0;
      return Math.max(1, Math.ceil((windowStart.getTime() + WINDOW_MS - now) / 1000));
    } catch (err) {
      this.logger.warn('rate limit counter unavailable; counting in this process', { error: err });
      return this.fallback.take(bucket, now);
    }
  }
}
