/**
 * Scheduled posts (ATPROTO_SCHEDULE): `agent|every 30m|topic;agent|0 9 * * *|topic`.
 * Each entry starts the scheduled-post workflow on an interval (`every N s|m|h|d`) or a
 * cron expression (5 or 6 fields, croner), in this process, until shutdown.
 */
import type { Mastra } from '@mastra/core';
import { Cron } from 'croner';
import type { AppContext } from '../../clients/context';

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

export function startSchedules(ctx: AppContext, mastra: Mastra): { stop(): void } {
  const logger = ctx.logger.child({ feature: 'atproto', part: 'schedule' });
  const entries = parseSchedule(ctx.config.atproto.schedule, ctx.config.atproto.agents);
  const stops: Array<() => void> = [];
  for (const e of entries) {
    const fire = async () => {
      try {
        const wf = mastra.getWorkflow('scheduled-post' as never) as unknown as { createRun(): Promise<{ start(o: { inputData: unknown }): Promise<{ status: string; error?: unknown }> }> };
        const res = await (await wf.createRun()).start({ inputData: { agent: e.agent, topic: e.topic } });
        if (res.status !== 'success') logger.warn('scheduled post failed', { agent: e.agent, error: res.error });
      } catch (err) {
        logger.warn('scheduled post failed', { agent: e.agent, error: err });
      }
    };
    if (e.intervalMs) {
      const t = setInterval(() => void fire(), e.intervalMs);
      t.unref();
      stops.push(() => clearInterval(t));
    } else {
      const job = new Cron(e.when, { protect: true }, () => void fire());
      stops.push(() => job.stop());
    }
    logger.info('scheduled posting', { agent: e.agent, when: e.when });
  }
  return { stop: () => stops.forEach((s) => s()) };
}
