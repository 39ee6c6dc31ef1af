/**
 * The eval runner end to end, offline: the real system (startSystem) with the assistant
 * agent, THE RECORDED-RESPONSES MODEL fed by THE SCRIPTED AUTHOR (record mode), then
 * replay; the terminal table, JSON and HTML report; exit codes for passing and failing
 * thresholds; a stale cassette; two models side by side.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CassetteFile } from '../../evals/lib/cassettes';
import { sha } from '../../evals/lib/cassettes';
import type { RunReport } from '../../evals/lib/results';
import { startRecordedModel } from '../../evals/lib/recorded-model';
import { main } from '../../evals/run';
import { startBareSystem } from '../../harness/system';

const assistantSuite = JSON.parse(await fs.readFile(path.join(import.meta.dirname, '../../evals/assistant/suite.json'), 'utf8')) as {
  cases: Array<{ id: string; expect: Record<string, unknown> }>;
  [k: string]: unknown;
};
const PICK = ['calc-multiply', 'no-tool-capital', 'time-utc'];

let tmp: string;
async function writeSuite(dir: string, edit: (cases: typeof assistantSuite.cases) => void = () => {}) {
  const cases = structuredClone(assistantSuite.cases.filter((c) => PICK.includes(c.id)));
  edit(cases);
  await fs.mkdir(path.join(dir, 'mini'), { recursive: true });
  await fs.writeFile(path.join(dir, 'mini', 'suite.json'), JSON.stringify({ ...assistantSuite, description: 'three assistant cases', cases }, null, 2));
  return dir;
}

async function run(args: string[]) {
  const lines: string[] = [];
  const r = await main([...args, '--no-progress', '--no-studio', '--concurrency', '2'], { out: (s) => lines.push(s), err: process.stderr, env: { PATH: process.env.PATH, FEATURES: 'none' } });
  return { ...r, out: lines.join('\n') };
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'evals-runner-test-'));
  await writeSuite(path.join(tmp, 'suites'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('npm run evals (offline)', () => {
  it('records cassettes with the scripted author (labelled as such) for two model ids, scored side by side', async () => {
    const r = await run(['--suites-dir', path.join(tmp, 'suites'), '--mode', 'record', '--models', 'author/scripted-v1,author/no-tools-v1', '--cassettes', path.join(tmp, 'cass'), '--reports', path.join(tmp, 'rec-reports')]);
    expect(r.report?.mode).toBe('record');
    const file = JSON.parse(await fs.readFile(path.join(tmp, 'cass', 'author__scripted-v1', 'mini.json'), 'utf8')) as CassetteFile;
    expect(file.recordedBy.kind).toBe('scripted-author');
    expect(file.recordedBy.note).toMatch(/NOT a language model/);
    // calc-multiply: tool call + answer; no-tool-capital: answer; time-utc: tool call + answer
    expect(file.entries.map((e) => `${e.case}:${e.step}`).sort()).toEqual(['calc-multiply:0', 'calc-multiply:1', 'no-tool-capital:0', 'time-utc:0', 'time-utc:1']);
    expect(await fs.stat(path.join(tmp, 'cass', 'author__no-tools-v1', 'mini.json'))).toBeTruthy();
    // One command, two models, one report: the careless policy never calls tools.
    expect(r.report?.models).toEqual(['author/scripted-v1', 'author/no-tools-v1']);
    const [good, careless] = r.report!.results;
    expect(good!.passed).toBe(true);
    expect(careless!.passed).toBe(false);
    expect(careless!.scorers.find((s) => s.id === 'tool-call-accuracy')!.mean).toBe(0);
    expect(r.code).toBe(1);
    expect(r.out).toContain('side by side');
    expect(await fs.readFile(r.files!.html, 'utf8')).toContain('models side by side');
  });

  it('replays them: terminal table, JSON and HTML report, exit code 0', async () => {
    const r = await run(['--suites-dir', path.join(tmp, 'suites'), '--cassettes', path.join(tmp, 'cass'), '--reports', path.join(tmp, 'reports')]);
    expect(r.out).toContain('EVALS PASSED');
    expect(r.code).toBe(0);
    for (const id of PICK) expect(r.out).toMatch(new RegExp(`${id}\\s+PASS`));
    expect(r.out).toMatch(/case\s+result\s+tool-acc/);
    expect(r.out).toMatch(/THRESHOLD/);
    expect(r.out).toContain('helpfulness SKIPPED');
    const json = JSON.parse(await fs.readFile(r.files!.json, 'utf8')) as RunReport;
    expect(json.passed).toBe(true);
    expect(json.scriptedAuthor).toBe(true);
    const suite = json.results[0]!;
    expect(suite.cases.map((c) => c.status)).toEqual(['pass', 'pass', 'pass']);
    const calc = suite.cases.find((c) => c.id === 'calc-multiply')!;
    expect(calc.toolCalls[0]).toMatchObject({ name: 'calculate', args: { expression: '17 * 23' }, result: { result: 391 } });
    expect(calc.reply).toContain('391');
    expect(calc.tokens.total).toBeGreaterThan(0);
    // The replayed reply quotes THIS run's clock, not the recording's.
    const time = suite.cases.find((c) => c.id === 'time-utc')!;
    expect(time.reply).toContain(String((time.toolCalls[0]!.result as { iso: string }).iso));
    const html = await fs.readFile(r.files!.html, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    for (const id of PICK) expect(html).toContain(id);
    expect(html).not.toMatch(/<script src|<link rel="stylesheet"/);
  });

  it('exits 1 when a threshold fails, and flags the case as a regression against the previous run', async () => {
    const dir = await writeSuite(path.join(tmp, 'suites-fail'), (cases) => {
      cases.find((c) => c.id === 'calc-multiply')!.expect.contains = ['392'];
    });
    const r = await run(['--suites-dir', dir, '--cassettes', path.join(tmp, 'cass'), '--reports', path.join(tmp, 'reports')]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/calc-multiply\s+FAIL/);
    expect(r.out).toMatch(/reply-content: mean 0\.\d+ < threshold 0\.9/);
    expect(r.out).toMatch(/REGRESSION .* calc-multiply: case pass → fail/);
    const json = JSON.parse(await fs.readFile(r.files!.json, 'utf8')) as RunReport;
    expect(json.passed).toBe(false);
    expect(json.comparison?.regressions.some((x) => x.case === 'calc-multiply')).toBe(true);
    expect(await fs.readFile(r.files!.html, 'utf8')).toContain('class="regressed"');
  });

  it('reports a cassette recorded against another tool schema as stale, never as a pass', async () => {
    const stale = path.join(tmp, 'cass-stale');
    await fs.cp(path.join(tmp, 'cass'), stale, { recursive: true });
    const p = path.join(stale, 'author__scripted-v1', 'mini.json');
    const file = JSON.parse(await fs.readFile(p, 'utf8')) as CassetteFile;
    for (const e of file.entries) {
      // As if recorded before the calculate tool's schema changed: its hash and key differ.
      e.parts.tools.calculate = 'recorded-with-an-older-schema';
      e.key = sha(`${e.key}-older`);
    }
    await fs.writeFile(p, JSON.stringify(file));
    const r = await run(['--suites-dir', path.join(tmp, 'suites'), '--cassettes', stale, '--reports', path.join(tmp, 'reports-stale')]);
    expect(r.code).toBe(1);
    const json = JSON.parse(await fs.readFile(r.files!.json, 'utf8')) as RunReport;
    for (const c of json.results[0]!.cases) {
      expect(c.status).toBe('stale');
      expect(c.reason).toContain('cassette stale: tool schema changed (calculate)');
    }
    expect(r.out).toContain('stale cassette');
  });

  it('scores a running server through its /v1 (OpenAI SDK) with the same cassettes', async () => {
    // The server under test uses the recorded-responses model as its model endpoint.
    const model = await startRecordedModel({ modelIds: ['author/scripted-v1'], mode: 'replay', cassetteDir: path.join(tmp, 'cass'), volatile: { 'current-time': ['iso', 'local'] } });
    const bare = await startBareSystem({
      prefix: 'evals-url-target-',
      env: { FEATURES: 'none', MODEL: 'author/scripted-v1', OPENAI_BASE_URL: model.url, OPENAI_API_KEY: 'unused', API_KEYS: 'sk-evals-url-target-key:evals', ADMIN_USERS: 'evals' },
    });
    const { system } = bare;
    try {
      const r = await run(['--suites-dir', path.join(tmp, 'suites'), '--target', `${system.url}/v1`, '--api-key', 'sk-evals-url-target-key', '--reports', path.join(tmp, 'reports-url')]);
      expect(r.report?.mode).toBe('url');
      expect(model.misses).toEqual([]);
      const calc = r.report!.results[0]!.cases.find((c) => c.id === 'calc-multiply')!;
      expect(calc.toolCalls[0]).toMatchObject({ name: 'calculate', args: { expression: '17 * 23' } });
      expect(r.code).toBe(0);
      // The API key is a secret: never in the report.
      expect(await fs.readFile(r.files!.json, 'utf8')).not.toContain('sk-evals-url-target-key');
    } finally {
      await bare.stop();
      await model.close();
    }
  });

  it('rejects bad flags with exit code 2', async () => {
    expect((await run(['--mode', 'sideways'])).code).toBe(2);
    expect((await run(['--models', 'gpt4'])).code).toBe(2);
    expect((await run(['--suites-dir', path.join(tmp, 'suites'), '--suite', 'nope'])).code).toBe(2);
  });
});
