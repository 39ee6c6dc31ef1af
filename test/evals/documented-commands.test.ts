/**
 * The offline eval commands README.md documents ("## Evals") run as written: each is
 * spawned as a child process, `npm run evals -- …` exactly as the README spells it, with
 * `--suite assistant --no-progress` appended to keep the run bounded (the README's
 * commands without them run every suite: the same code, ~20 s per model column). The
 * child gets no model endpoint (every OPENAI_ and EVAL_ variable removed) and writes its reports to a
 * temp dir. Models here are THE SCRIPTED AUTHOR's policies replayed from the checked-in
 * cassettes, not language models.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTHOR_POLICIES } from '../../evals/lib/author';
import { cassettePath, type CassetteFile } from '../../evals/lib/cassettes';
import { parseCli } from '../../evals/lib/cli';
import type { RunReport } from '../../evals/lib/results';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** As README.md writes them. */
const DEFAULT_RUN = 'npm run evals';
const DEMO = 'npm run evals -- --models author/scripted-v1,author/no-tools-v1';
const BOUNDED = '--suite assistant --no-progress';

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'evals-documented-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Runs `command` through the shell in the repository root; kills its whole process group on timeout. */
async function sh(command: string, reportDir: string, timeoutMs = 150_000): Promise<{ code: number | null; out: string; report: RunReport }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(OPENAI_|EVAL_)/.test(k)) env[k] = v;
  env.EVAL_REPORT_DIR = reportDir;
  const child = spawn(command, { cwd: ROOT, env, shell: true, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  const report = JSON.parse(await fs.readFile(path.join(reportDir, 'latest.json'), 'utf8').catch(() => 'null')) as RunReport;
  if (!report) throw new Error(`${command} wrote no report (exit ${code}):\n${out.slice(-3000)}`);
  return { code, out, report };
}

const mean = (r: RunReport['results'][number], scorer: string) => r.scorers.find((s) => s.id === scorer)?.mean;

describe('documented offline eval commands', () => {
  it(`${DEFAULT_RUN} -- ${BOUNDED}: the scripted author's cassettes replay and pass`, { timeout: 180_000 }, async () => {
    const r = await sh(`${DEFAULT_RUN} -- ${BOUNDED}`, path.join(tmp, 'default'));
    expect(r.out).toContain('EVALS PASSED');
    expect(r.out).not.toMatch(/stale/i);
    expect(r.report.models).toEqual(['author/scripted-v1']);
    expect(r.report.scriptedAuthor).toBe(true);
    for (const c of r.report.results[0]!.cases) expect(c.status, `${c.id}: ${c.reason}`).toBe('pass');
    expect(r.code).toBe(0);
  });

  it(`${DEMO} ${BOUNDED}: no stale case, the careless policy scores 0 on tool accuracy, the scripted author passes`, { timeout: 180_000 }, async () => {
    const r = await sh(`${DEMO} ${BOUNDED}`, path.join(tmp, 'demo'));
    expect(r.out).not.toMatch(/stale/i);
    expect(r.out).toContain('side by side');
    expect(r.report.models).toEqual(['author/scripted-v1', 'author/no-tools-v1']);
    const [scripted, careless] = r.report.results;
    for (const res of [scripted!, careless!]) for (const c of res.cases) expect(['pass', 'fail'], `${res.model} ${c.id}: ${c.status} (${c.reason})`).toContain(c.status);
    expect(scripted!.passed).toBe(true);
    expect(mean(scripted!, 'tool-call-accuracy')).toBe(1);
    expect(careless!.passed).toBe(false);
    expect(mean(careless!, 'tool-call-accuracy')).toBe(0);
    expect(careless!.cases.flatMap((c) => c.toolCalls)).toEqual([]);
    // The careless policy failing its thresholds is the point of the demo: exit status 1.
    expect(r.code).toBe(1);
  });

  it('npm run evals -- --help prints every flag', { timeout: 60_000 }, async () => {
    const child = spawn('npm run evals -- --help', { cwd: ROOT, shell: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    for (const flag of ['--suite', '--models', '--mode', '--judge', '--target', '--no-progress', '--repeat', '--junit', '--summary', '--baseline', '--fail-on-regression']) expect(out).toContain(flag);
  });

  it('npm run evals -- --mode record (the documented re-recording) records every scripted author policy', () => {
    expect(parseCli(['--mode', 'record'], {}).models).toEqual([...AUTHOR_POLICIES]);
    expect(parseCli([], {}).models).toEqual(['author/scripted-v1']);
    expect(parseCli(['--mode', 'record', '--models', 'openai/gpt-4o-mini'], {}).models).toEqual(['openai/gpt-4o-mini']);
  });

  it('every suite has a cassette from every scripted author policy (so the demo runs offline on every suite; the compromised policy where a suite has compromised scripts)', async () => {
    const suites = (await fs.readdir(path.join(ROOT, 'evals'), { withFileTypes: true })).filter((d) => d.isDirectory());
    const withSuite: string[] = [];
    for (const d of suites) if (await fs.stat(path.join(ROOT, 'evals', d.name, 'suite.json')).catch(() => null)) withSuite.push(d.name);
    expect(withSuite.length).toBeGreaterThan(0);
    const hasCompromisedScripts = async (suite: string) => (JSON.parse(await fs.readFile(path.join(ROOT, 'evals', suite, 'suite.json'), 'utf8')) as { cases: Array<{ compromised?: unknown }> }).cases.some((c) => c.compromised);
    for (const policy of AUTHOR_POLICIES) {
      for (const suite of withSuite) {
        // author/compromised-v1 differs from scripted-v1 only on cases with a `compromised` script (the red-team suite).
        if (policy === 'author/compromised-v1' && !(await hasCompromisedScripts(suite))) continue;
        const file = JSON.parse(await fs.readFile(cassettePath(path.join(ROOT, 'evals', 'cassettes'), policy, suite), 'utf8')) as CassetteFile;
        expect(file.recordedBy).toMatchObject({ kind: 'scripted-author', policy });
        expect(file.recordedBy.note).toMatch(/NOT a language model/);
        expect(file.entries.length).toBeGreaterThan(0);
      }
    }
  });
});
