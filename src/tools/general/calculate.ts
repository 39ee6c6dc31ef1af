/**
 * `calculate`: exact arithmetic for the assistant, so it does not do sums in its head.
 * A small recursive-descent parser (+ - * / % ^, parentheses, unary minus); never eval.
 */
import { createTool } from '@mastra/core/tools';
import { z } from 'zod';
import { AppError } from '../../errors';
import { runTool, toolResult } from '../result';

export class ExpressionError extends AppError<'BAD_EXPRESSION'> {
  constructor(message: string) {
    super('BAD_EXPRESSION', message);
  }
}

export function evaluateExpression(src: string): number {
  const tokens = src.match(/\d+(?:\.\d+)?(?:e[+-]?\d+)?|[-+*/%^()]|\S/gi) ?? [];
  let pos = 0;
  const peek = () => tokens[pos];
  const take = () => tokens[pos++];
  const expect = (t: string) => {
    if (take() !== t) throw new ExpressionError(`expected "${t}"`);
  };
  const primary = (): number => {
    const t = take();
    if (t === undefined) throw new ExpressionError('unexpected end of expression');
    if (t === '(') {
      const v = sum();
      expect(')');
      return v;
    }
    if (t === '-') return -power();
    if (t === '+') return power();
    if (/^\d/.test(t)) return Number(t);
    throw new ExpressionError(`unexpected "${t}"`);
  };
  const power = (): number => {
    const base = primary();
    if (peek() === '^') {
      take();
      return base ** power(); // right-associative
    }
    return base;
  };
  const product = (): number => {
    let v = power();
    while (peek() === '*' || peek() === '/' || peek() === '%') {
      const op = take();
      const r = power();
      if ((op === '/' || op === '%') && r === 0) throw new ExpressionError('division by zero');
      v = op === '*' ? v * r : op === '/' ? v / r : v % r;
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (peek() === '+' || peek() === '-') v = take() === '+' ? v + product() : v - product();
    return v;
  };
  if (src.length > 500) throw new ExpressionError('expression longer than 500 characters');
  const value = sum();
  if (pos !== tokens.length) throw new ExpressionError(`unexpected "${tokens[pos]}"`);
  if (!Number.isFinite(value)) throw new ExpressionError('result is not a finite number');
  return value;
}

export const calculateTool = createTool({
  id: 'calculate',
  description: 'Evaluate an arithmetic expression exactly (+ - * / % ^ and parentheses). Use it for any calculation.',
  inputSchema: z.object({ expression: z.string().min(1).max(500).describe('e.g. "(17 + 4) * 3"') }),
  outputSchema: toolResult({ expression: z.string(), result: z.number() }),
  execute: async ({ expression }) => runTool(() => ({ expression, result: evaluateExpression(expression) })),
});
