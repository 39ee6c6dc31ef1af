import { describe, expect, it } from 'vitest';
import { binomial, passAtK, passHatK } from '../../evals/lib/reliability';

describe('reliability metrics', () => {
  it('binomial coefficients', () => {
    expect(binomial(5, 2)).toBe(10);
    expect(binomial(8, 0)).toBe(1);
    expect(binomial(3, 4)).toBe(0);
  });
  it('pass@k on known values', () => {
    expect(passAtK(5, 2, 1)).toBeCloseTo(0.4);
    expect(passAtK(5, 2, 2)).toBeCloseTo(1 - 3 / 10);
    expect(passAtK(4, 0, 2)).toBe(0);
    expect(passAtK(4, 3, 2)).toBe(1);
  });
  it('pass^k on known values', () => {
    expect(passHatK(5, 2, 1)).toBeCloseTo(0.4);
    expect(passHatK(5, 2, 2)).toBeCloseTo(1 / 10);
    expect(passHatK(8, 8, 8)).toBe(1);
    expect(passHatK(8, 7, 8)).toBe(0);
  });
  it('rejects impossible counts', () => {
    expect(() => passAtK(3, 4, 1)).toThrow(RangeError);
    expect(() => passHatK(3, 1, 4)).toThrow(RangeError);
  });
});
