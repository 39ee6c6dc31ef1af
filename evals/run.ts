/**
 * `npm run evals`: scores every agent's suite (evals/<agent>/suite.json) and gates on the
 * thresholds. See USAGE in evals/lib/cli.ts and README.md, "## Evals".
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAuthorModel } from './lib/author';
import { parseCli, UsageError, USAGE } from './lib/cli';
import { createProgress } from './lib/progress';
import fs from 'node:fs/promises';
import { calibrate, CalibrationError, renderCalibration, untrusted, type Calibration } from './lib/calibrate';
import { toJUnitXml } from './lib/junit';
import { modelRedteam } from './lib/redteam';
import { modelReliability } from './lib/repeats';
import { BaselineError, compareRuns, readBaseline, readPrevious, redactAll, renderTerminal, writeReports } from './lib/report';
import { toMarkdownSummary } from './lib/summary';
import type { RunReport } from './lib/results';
import { knownSecrets, runEvals } from './lib/runner';
import { loadSuites, SuiteError } from './lib/suite';
import type { JudgeConfig } from './scorers';

export interface MainIO {
  out: (s: string) => void;
  err: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
  /** Tests only: THE SCRIPTED JUDGE in place of a judge model (still needs --judge ID to be on). */
  scriptedJudge?: Pick<JudgeConfig, 'scripted'>;
}

export async function main(argv: string[], io: MainIO = { out: (s) => process.stdout.write(s + '\n'), err: process.stderr, env: process.env }): Promise<{ code: number; report?: RunReport; files?: { json: string; html: string; junit?: string; summary?: string } }> {
  let cli;
  try {
    cli = parseCli(argv, io.env);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err.write(`${err.message}\n\n${USAGE}\n`);
      return { code: 2 };
    }
    throw err;
  }
  if (cli.help) {
    io.out(USAGE);
    return { code: 0 };
  }
  let suites;
  try {
    suites = await loadSuites(path.resolve(cli.suitesDir), cli.suites);
  } catch (err) {
    if (err instanceof SuiteError) {
      io.err.write(`${err.message}\n`);
      return { code: 2 };
    }
    throw err;
  }
  if (!suites.length) {
    io.err.write(`no suites found under ${cli.suitesDir}\n`);
    return { code: 2 };
  }
  const upstreamUrl = io.env.OPENAI_BASE_URL || undefined;
  const needsUpstream = cli.mode === 'live' || (cli.mode === 'record' && cli.models.some((m) => !isAuthorModel(m)));
  if (needsUpstream && !upstreamUrl && cli.target === 'in-process') {
    io.err.write(`--mode ${cli.mode} with a real model needs OPENAI_BASE_URL (and OPENAI_API_KEY)\n`);
    return { code: 2 };
  }
  // The baseline is read before the run: a missing one is a usage error, not a finding after minutes of work.
  const reportDir = path.resolve(cli.reportDir);
  let baseline: { report: RunReport; file: string } | null = null;
  try {
    baseline = cli.baseline ? await readBaseline(cli.baseline, reportDir) : null;
  } catch (err) {
    if (err instanceof BaselineError) {
      io.err.write(`${err.message}\n`);
      return { code: 2 };
    }
    throw err;
  }
  const previous = baseline?.report ?? (await readPrevious(reportDir));
  const judge: JudgeConfig | undefined = cli.judge
    ? { model: cli.judge, baseUrl: io.env.EVAL_JUDGE_BASE_URL || upstreamUrl, apiKey: io.env.EVAL_JUDGE_API_KEY || io.env.OPENAI_API_KEY }
    : undefined;

  let calibration: Calibration[] | undefined;
  if (cli.calibrate) {
    try {
      calibration = await calibrate(path.join(path.resolve(cli.suitesDir), 'calibration'), judge && { ...judge, ...io.scriptedJudge });
    } catch (err) {
      if (err instanceof CalibrationError) {
        io.err.write(`${err.message}\n`);
        return { code: 2 };
      }
      throw err;
    }
    io.out(renderCalibration(calibration, cli.judge));
  }

  const runId = `${new Date().toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;
  const startedAt = new Date();
  const columns = cli.target === 'in-process' ? cli.models.length : 1;
  const progress = createProgress(suites.reduce((n, s) => n + s.cases.length, 0) * columns * cli.repeat, io.err, cli.progress);
  const results = await runEvals({
    suites,
    models: cli.models,
    agentModels: cli.agentModels,
    mode: cli.mode,
    target: cli.target === 'in-process' ? { kind: 'in-process', dataDir: cli.dataDir ? path.resolve(cli.dataDir) : undefined } : { kind: 'url', url: cli.target, apiKey: cli.apiKey, services: { pdsUrl: cli.pdsUrl, ipfsApiUrl: cli.ipfsApiUrl, databaseUrl: cli.databaseUrl } },
    cassetteDir: path.resolve(cli.cassetteDir),
    concurrency: cli.concurrency,
    repeat: cli.repeat,
    notGated: calibration ? untrusted(calibration) : undefined,
    judge: judge && { ...judge, ...io.scriptedJudge },
    upstream: upstreamUrl ? { baseUrl: upstreamUrl, apiKey: io.env.OPENAI_API_KEY } : undefined,
    runId,
    progress,
    studio: cli.studio && cli.target === 'in-process',
    log: (l) => cli.progress && io.err.write(`${l}\n`),
    env: io.env,
  });
  progress.done();

  const failures = results.filter((r) => !r.passed).map((r) => `${r.suite} @ ${r.model}: ${r.problems.join('; ')}`);
  const report: RunReport = {
    version: 1,
    runId,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    target: cli.target,
    mode: cli.target === 'in-process' ? cli.mode : 'url',
    models: cli.target === 'in-process' ? cli.models : ['server default'],
    judge: cli.judge ?? null,
    repeat: cli.repeat,
    reliability: modelReliability(results, cli.repeat),
    ...(modelRedteam(results, suites) ? { redteam: modelRedteam(results, suites) } : {}),
    ...(calibration ? { calibration } : {}),
    scriptedAuthor: cli.target === 'in-process' && cli.mode !== 'live' && cli.models.some(isAuthorModel),
    results,
    passed: failures.length === 0,
    failures,
    comparison: null,
  };
  report.comparison = compareRuns(results, previous, baseline ? path.relative(process.cwd(), baseline.file) : undefined);
  if (cli.failOnRegression && report.comparison?.regressions.length) {
    const n = report.comparison.regressions.length;
    report.failures.push(`${n} regression(s) against ${report.comparison.baseline ?? 'the previous run'} (run ${report.comparison.previousRunId}; --fail-on-regression)`);
    report.passed = false;
  }
  const secrets = knownSecrets(io.env, [cli.apiKey, judge?.apiKey]);
  const files: { json: string; html: string; junit?: string; summary?: string } = await writeReports(reportDir, report, secrets);
  const extra = async (file: string, text: string) => {
    const p = path.resolve(file);
    await fs.mkdir(path.dirname(p), { recursive: true });
    await fs.writeFile(p, redactAll(text, secrets));
    return p;
  };
  if (cli.junit) files.junit = await extra(cli.junit, toJUnitXml(report));
  if (cli.summary) files.summary = await extra(cli.summary, toMarkdownSummary(report));
  io.out(redactAll(renderTerminal(report), secrets));
  io.out(`report: ${[files.html, files.json, files.junit, files.summary].filter(Boolean).map((f) => path.relative(process.cwd(), f!)).join(' · ')}`);
  return { code: report.passed ? 0 : 1, report, files };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    ({ code }) => process.exit(code),
    (err) => {
      process.stderr.write(`evals failed to run: ${(err as Error)?.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
