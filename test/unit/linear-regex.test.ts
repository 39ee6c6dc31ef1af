/**
 * src/util/linear-regex.ts: the linear-time engine for caller patterns (structured output)
 * and the backtracking check for patterns handed on (tool parameters). Issue 21 item 2.
 */
import { describe, expect, it } from 'vitest';
import { backtrackingIssue, linearRegExp, MAX_PROGRAM, RegexBudgetError, UnsupportedPatternError, withRegexBudget } from '../../src/util/linear-regex';

const patterns = [
  '^(a|a)*$', '^[a-z]+@x\\.com$', 'a{2,3}b', '^\\d{3}-\\d{4}$', '(ab|a)(bc|c)?$', '^$', '\\bfoo\\b', '\\Boo\\B', '^(?:a|b)*c', 'x*',
  '^\\p{L}+$', '[^\\]]+', '^.$', '(?<n>a)b', '^(a*)*$', 'colou?r', '^[\\u0041-\\u005A]+$', '\\u{1F600}', '^\\s*\\S+\\s*$', 'a|',
  '(|a)+b', '^\\w+\\W', '[\\-a]', '\\/', 'a{0}b', 'a{2,}$', '^a{1,3}?$', '\\x41', '\\cJ', '\\ud83d\\ude00', '^[^a-c]{2}$', '\\d+?',
];
const inputs = ['', 'a', 'aa', 'aaa', 'aaaab', 'ab', 'abc', 'b', 'x@x.com', 'foo bar', 'foobar', 'boot', '123-4567', 'color', 'colour', '😀', 'é', ' x ', 'ABC', 'c', 'bac', 'a\n', '\n', ']]', 'ab!', 'a-', '/', 'A', 'dd', 'xx'];

describe('linearRegExp', () => {
  it('answers exactly as V8 does (u flag) on every pattern and input here', () => {
    for (const p of patterns) {
      const lin = linearRegExp(p, 'u');
      const native = new RegExp(p, 'u');
      for (const s of inputs) expect(lin.test(s), `${p} on ${JSON.stringify(s)}`).toBe(native.test(s));
    }
  });

  it('is linear where V8 backtracks exponentially: ^(a|a)*$ against 5,000 characters answers', () => {
    expect(linearRegExp('^(a|a)*$').test(`${'a'.repeat(5000)}!`)).toBe(false);
    expect(linearRegExp('^(a+)+$').test('a'.repeat(5000))).toBe(true);
  });

  it('refuses backreferences, lookaround, inline modifiers, invalid syntax and oversized programs', () => {
    for (const p of ['(a)\\1', '(?<x>a)\\k<x>', '(?=a)', '(?!a)', '(?<=a)b', '(?<!a)b', '(?i)a', '(', '[a', 'a{5,2}', '*a', `a{${MAX_PROGRAM + 1}}`, '((a{100}){100})', 'x'.repeat(1001)]) {
      expect(() => linearRegExp(p), p).toThrow(UnsupportedPatternError);
    }
    expect(() => linearRegExp('a', 'gi')).toThrow(UnsupportedPatternError);
  });

  it('withRegexBudget bounds the steps of the work it runs, and restores the budget after', () => {
    const re = linearRegExp('[a-z]+@');
    expect(() => withRegexBudget(1000, () => re.test('a'.repeat(10_000)))).toThrow(RegexBudgetError);
    expect(withRegexBudget(1_000_000, () => re.test('abc@'))).toBe(true);
    expect(re.test('a'.repeat(10_000))).toBe(false); // no budget outside
  });
});

describe('backtrackingIssue', () => {
  it.each(['^(a|a)*$', '^(a+)+$', '(a*)*', '(\\w|_)+x', '(a?)+b', '^(a|ab)*$', '(.|x){2,}', '(a)\\1', '(?=a)a'])('refuses %s', (p) => {
    expect(backtrackingIssue(p)).toMatch(/\w/);
  });
  it.each(['^[a-z]+$', '^\\d{3}-\\d{4}$', '^(ab|cd)*$', '^([0-9]{3}-)+x$', '^(?:https?)://\\S+$', 'colou?r', '^(a|b)$', '^(\\/x)+$'])('allows %s', (p) => {
    expect(backtrackingIssue(p)).toBeUndefined();
  });
});
