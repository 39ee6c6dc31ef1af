/** BUDGET_TOKENS_PER_DAY[_<OWNER>] parsing and the UTC-day arithmetic of src/server/usage.ts. */
import { describe, expect, it } from 'vitest';
import { budgetEnvName, budgetFor, ConfigError, loadConfig } from '../../src/config';
import { secondsUntilUtcMidnight, utcDay } from '../../src/server/usage';

describe('token budgets in the environment', () => {
  it('default 0 (none); a default and per-owner values; 0 per owner = unlimited', () => {
    expect(loadConfig({}).budgets).toEqual({ tokensPerDay: 0, perOwner: new Map() });
    const c = loadConfig({ BUDGET_TOKENS_PER_DAY: '1000', BUDGET_TOKENS_PER_DAY_ALICE: ' 50 ', BUDGET_TOKENS_PER_DAY_OPS: '0', BUDGET_TOKENS_PER_DAY_CAROL_C: '7', BUDGET_TOKENS_PER_DAY_X: ' ' });
    expect(budgetFor(c.budgets, 'alice')).toBe(50);
    expect(budgetFor(c.budgets, 'ops')).toBe(0);
    expect(budgetFor(c.budgets, 'carol.c')).toBe(7);
    expect(budgetFor(c.budgets, 'carol-c')).toBe(7);
    expect(budgetFor(c.budgets, 'x')).toBe(1000);
    expect(budgetFor(c.budgets, 'bob')).toBe(1000);
  });

  it('names the variable of a bad value', () => {
    for (const [k, v] of [
      ['BUDGET_TOKENS_PER_DAY', '-1'],
      ['BUDGET_TOKENS_PER_DAY', '1.5'],
      ['BUDGET_TOKENS_PER_DAY_ALICE', 'lots'],
      ['BUDGET_TOKENS_PER_DAY_ALICE', '-3'],
      ['BUDGET_TOKENS_PER_DAY_ALICE', '1e400'],
    ]) {
      let err: unknown;
      try {
        loadConfig({ [k!]: v! });
      } catch (e) {
        err = e;
      }
      expect(err, `${k}=${v}`).toBeInstanceOf(ConfigError);
      expect(String((err as Error).message)).toContain(k);
    }
  });

  it('owner → variable suffix', () => {
    expect(budgetEnvName('alice')).toBe('ALICE');
    expect(budgetEnvName('carol.c-2@x')).toBe('CAROL_C_2_X');
  });
});

describe('UTC days', () => {
  it('day and seconds to the next 00:00 UTC', () => {
    const t = Date.parse('2026-11-26T23:59:30.500Z');
    expect(utcDay(t)).toBe('2026-11-26');
    expect(secondsUntilUtcMidnight(t)).toBe(30);
    expect(secondsUntilUtcMidnight(Date.parse('2026-11-27T00:00:00.000Z'))).toBe(86_400);
    expect(secondsUntilUtcMidnight(Date.parse('2026-11-26T23:59:59.999Z'))).toBe(1);
  });
});
