import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { toJUnitXml } from '../../evals/lib/junit';
import type { CaseResult, RunReport } from '../../evals/lib/results';

const kase = (id: string, status: CaseResult['status'], reason = ''): CaseResult => ({
  id, description: '', tags: [], status, input: '', history: [], reply: '', toolCalls: [], latencyMs: 1200,
  tokens: { input: 0, output: 0, total: 0 }, threadId: 't',
  scores: status === 'fail' ? { posted: { kind: 'code', passed: false, reason } } : {},
});

describe('JUnit XML', () => {
  it('parses back with the right counts and escaped messages', () => {
    const report = { runId: 'r1', results: [{ suite: 'social', model: 'm<1>', cases: [kase('a', 'pass'), kase('b', 'fail', 'posted "<x>" & more'), kase('c', 'stale')] }] } as unknown as RunReport;
    const xml = toJUnitXml(report);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml);
    const suite = doc.testsuites.testsuite;
    expect(suite.name).toBe('social [m<1>]');
    expect([suite.tests, suite.failures, suite.errors]).toEqual(['3', '1', '1']);
    expect(suite.testcase).toHaveLength(3);
    expect(suite.testcase[1].failure.message).toBe('posted: posted "<x>" & more');
    expect(suite.testcase[2].error.type).toBe('stale');
  });
});
