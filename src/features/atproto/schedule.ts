/**
 * Scheduled posts (ATPROTO_SCHEDULE): `agent|every 30m|topic;agent|0 9 * * *|topic`.
 * Each entry starts the scheduled-post workflow on an interval (`every N s|m|h|d`) or a
 * cron expression (5 or 6 fields, croner) on the leader replica, once per slot across
 * replicas (slots claimed in Postgres), until shutdown.
 */
import { createHash, randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Mastra } from '@mastra/core';
import { Cron } from 'croner';
import type { AppContext } from '../../clients/context';
import { claimScheduleSlot, finishScheduleSlot, scheduleAnchor, scheduleSlotTaken } from '../../stores/atproto/schedules';

export interface ScheduleEntry {
  agent: string;
  /** `every 30m` or a cron expression */
  when: string;
  topic: string;
  intervalMs?: number;
}

export function parseSchedule(raw: string | undefined, agents: string[]): ScheduleEntry[] {
  if (!raw) return [];
  const out: ScheduleEntry[] = [];
  for (const part of raw.split(';').map((p) => p.trim()).filter(Boolean)) {
    const [agent, when, ...topic] = part.split('|').map((p) => p.trim());
    if (!agent || !when || topic.length === 0 || !topic.join('|')) throw new Error(`ATPROTO_SCHEDULE: "${part}" must be agent|schedule|topic`);
    if (!agents.includes(agent)) throw new Error(`ATPROTO_SCHEDULE: "${agent}" is not in ATPROTO_AGENTS`);
    const m = /^every\s+(\d+)\s*(s|m|h|d)$/i.exec(when);
    if (m) {
      const ms = Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2]!.toLowerCase() as 's']!;
      if (ms < 10_000) throw new Error(`ATPROTO_SCHEDULE: "${when}" is shorter than 10 seconds`);
      out.push({ agent, when, topic: topic.join('|'), intervalMs: ms });
      continue;
    }
    try {
      new Cron(when, { paused: true }).stop();
    } catch (err) {
      throw new Error(`ATPROTO_SCHEDULE: "${when}" is neither "every N(s|m|h|d)" nor a cron expression (${(err as Error).message})`);
    }
    out.push({ agent, when, topic: topic.join('|') });
  }
  return out;
}

/** Longest delay setTimeout accepts (~24.8 days); longer waits are chained. */
const MAX_DELAY_MS = 2 ** 31 - 1;
/** A slot missed while no replica led (a failover) is still posted if found this soon after it. */
const MAX_CATCH_UP_MS = 10 * 60_000;
/** Retry delay when the schedule's row cannot be read (database unreachable). */
const RETRY_MS = 5000;

/** Stable key of an entry: the same ATPROTO_SCHEDULE entry on every replica gives the same key. */
export function scheduleKey(e: ScheduleEntry): string {
  return createHash('sha256').update(`${e.agent}|${e.when}|${e.topic}`).digest('hex').slice(0, 32);
}

/**
 * The slot times of an entry. Interval schedules count from the anchor kept in Postgres
 * (anchor + k·interval, k ≥ 1), so every leader computes the same times; cron schedules
 * take the expression's own times.
 */
export function slotClock(e: ScheduleEntry, anchor: number) {
  if (e.intervalMs) {
    const iv = e.intervalMs;
    return {
      /** The first slot strictly after `t`. */
      next: (t: number) => anchor + (Math.max(0, Math.floor((t - anchor) / iv)) + 1) * iv,
      /** The last slot at or before `t`, if any. */
      previous: (t: number) => {
        const k = Math.floor((t - anchor) / iv);
        return k >= 1 ? anchor + k * iv : undefined;
      },
      period: () => iv,
    };
  }
  const cron = new Cron(e.when, { paused: true });
  return {
    next: (t: number) => cron.nextRun(new Date(t))?.getTime() ?? Number.POSITIVE_INFINITY,
    previous: (t: number) => cron.previousRuns(1, new Date(t))[0]?.getTime(),
    period: () => {
      const [a, b] = cron.nextRuns(2);
      return a && b ? b.getTime() - a.getTime() : MAX_CATCH_UP_MS;
    },
  };
}

/**
 * Runs the entries of ATPROTO_SCHEDULE (on the leader). Each slot is claimed in Postgres
 * (atproto_schedule_slots, INSERT … ON CONFLICT DO NOTHING) before the workflow starts,
 * so a slot is posted at most once however many schedulers run; a new leader finds the
 * interval's anchor there and keeps the slot times, and posts a slot missed during the
 * failover if it is less than half a period (and 10 min) late.
 */
export function startSchedules(ctx: AppContext, mastra: Mastra): { stop(): void } {
  const logger = ctx.logger.child({ feature: 'atproto', part: 'schedule' });
  const entries = parseSchedule(ctx.config.atproto.schedule, ctx.config.atproto.agents);
  const claimedBy = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  const later = (ms: number, fn: () => void) => {
    if (stopped) return;
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    t.unref();
    timers.add(t);
  };

  for (const e of entries) {
    const key = scheduleKey(e);
    const log = logger.child({ agent: e.agent, when: e.when });
    const post = async (slot: number) => {
      if (stopped) return; // leadership lost or shutting down: a waiting slot is left to the next leader
      try {
        if (!(await claimScheduleSlot(ctx.db, key, new Date(slot), claimedBy))) {
          log.info('scheduled slot already posted by another process', { slot: new Date(slot).toISOString() });
          return;
        }
        let status = 'failed';
        let uri: string | null = null;
        try {
          const wf = mastra.getWorkflow('scheduled-post' as never) as unknown as { createRun(): Promise<{ start(o: { inputData: unknown }): Promise<{ status: string; error?: unknown; result?: { uri?: string } }> }> };
          const res = await (await wf.createRun()).start({ inputData: { agent: e.agent, topic: e.topic } });
          if (res.status === 'success') {
            status = 'posted';
            uri = res.result?.uri ?? null;
          } else log.warn('scheduled post failed', { error: res.error });
        } catch (err) {
          log.warn('scheduled post failed', { error: err });
        }
        await finishScheduleSlot(ctx.db, key, new Date(slot), status, uri).catch((err) => log.warn('recording the scheduled slot failed', { error: err }));
      } catch (err) {
        // The slot could not be claimed (database unreachable): not posted, rather than maybe twice.
        log.warn('scheduled slot not claimed; skipped', { slot: new Date(slot).toISOString(), error: err });
      }
    };

    // One post at a time per entry, in slot order; with one running and one waiting, a
    // further slot is skipped (a model slower than the interval must not build a backlog).
    let inFlight = 0;
    let chain: Promise<void> = Promise.resolve();
    const enqueue = (slot: number) => {
      if (inFlight >= 2) {
        log.warn('scheduled post skipped: the previous ones are still running', { slot: new Date(slot).toISOString() });
        return;
      }
      inFlight++;
      chain = chain.then(() => post(slot)).finally(() => void inFlight--);
    };

    const arm = (clock: ReturnType<typeof slotClock>, slot: number) => {
      if (!Number.isFinite(slot)) return;
      const delay = slot - Date.now();
      if (delay > MAX_DELAY_MS) return later(MAX_DELAY_MS, () => arm(clock, slot));
      later(Math.max(0, delay), () => {
        enqueue(slot);
        arm(clock, clock.next(Math.max(slot, Date.now())));
      });
    };

    const init = async () => {
      try {
        // The first process to start this entry fixes its anchor; everyone after reads it.
        const anchor = await scheduleAnchor(ctx.db, key, `${e.agent}|${e.when}|${e.topic}`, new Date());
        if (stopped) return;
        const clock = slotClock(e, anchor.getTime());
        const now = Date.now();
        const missed = clock.previous(now);
        if (missed !== undefined && now - missed <= Math.min(clock.period() / 2, MAX_CATCH_UP_MS)) {
          const taken = await scheduleSlotTaken(ctx.db, key, new Date(missed));
          if (!taken && !stopped) {
            log.info('posting a slot missed during a leader change', { slot: new Date(missed).toISOString() });
            enqueue(missed);
          }
        }
        const next = clock.next(now);
        arm(clock, next);
        log.info('scheduled posting', { next: Number.isFinite(next) ? new Date(next).toISOString() : null });
      } catch (err) {
        log.warn('schedule not started yet (database); retrying', { error: err });
        later(RETRY_MS, () => void init());
      }
    };
    void init();
  }
  return {
    stop: () => {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
