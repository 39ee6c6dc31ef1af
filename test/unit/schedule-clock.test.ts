/**
 * The slot times of ATPROTO_SCHEDULE entries (src/features/atproto/schedule.ts): interval
 * slots are the anchor's grid, whoever computes them and whenever; cron slots are the
 * expression's times; the key is the entry's text.
 */
import { describe, expect, it } from 'vitest';
import { parseSchedule, scheduleKey, slotClock } from '../../src/features/atproto/schedule';

describe('schedule slots', () => {
  it('an interval counts from the anchor: next is strictly after, previous at or before, none before the first slot', () => {
    const [e] = parseSchedule('social|every 10s|tides', ['social']);
    const anchor = Date.UTC(2026, 0, 1, 0, 0, 0);
    const c = slotClock(e!, anchor);
    expect(c.next(anchor)).toBe(anchor + 10_000);
    expect(c.next(anchor + 9_999)).toBe(anchor + 10_000);
    expect(c.next(anchor + 10_000)).toBe(anchor + 20_000);
    expect(c.next(anchor + 123_456)).toBe(anchor + 130_000);
    expect(c.previous(anchor + 5_000)).toBeUndefined();
    expect(c.previous(anchor + 10_000)).toBe(anchor + 10_000);
    expect(c.previous(anchor + 29_999)).toBe(anchor + 20_000);
    expect(c.period()).toBe(10_000);
    // A clock behind the anchor (another host) still gets the first slot, not a past one.
    expect(c.next(anchor - 60_000)).toBe(anchor + 10_000);
  });

  it('a cron entry uses its own times, independent of the anchor', () => {
    const [e] = parseSchedule('social|0 9 * * *|good morning', ['social']);
    const a = slotClock(e!, 0);
    const b = slotClock(e!, Date.now());
    const t = new Date(2026, 5, 1, 10, 0, 0).getTime(); // local time, as croner uses
    expect(a.next(t)).toBe(new Date(2026, 5, 2, 9, 0, 0).getTime());
    expect(b.next(t)).toBe(a.next(t));
    expect(a.previous(t)).toBe(new Date(2026, 5, 1, 9, 0, 0).getTime());
    expect(a.period()).toBe(86_400_000);
  });

  it('the key is the entry: same text same key, any change a new schedule', () => {
    const [x] = parseSchedule('social|every 10s|tides', ['social']);
    const [y] = parseSchedule(' social | every 10s | tides ', ['social']);
    const [z] = parseSchedule('social|every 11s|tides', ['social']);
    expect(scheduleKey(x!)).toBe(scheduleKey(y!));
    expect(scheduleKey(x!)).not.toBe(scheduleKey(z!));
    expect(scheduleKey(x!)).toMatch(/^[0-9a-f]{32}$/);
  });
});
