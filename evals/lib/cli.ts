/** `npm run evals -- [flags]`: flags, and the environment variables they default from. */
import { parseArgs } from 'node:util';
import { AUTHOR_POLICIES } from './author';

export const USAGE = `npm run evals -- [flags]

  --suite NAMES         comma-separated suites (folders of evals/ with a suite.json); default: all
  --models IDS          provider/model ids to score side by side, e.g. openai/gpt-4o-mini,ollama/llama3.2
                        (alias --model); default EVAL_MODELS or author/scripted-v1 (the scripted author's cassettes);
                        with --mode record the default is every scripted author policy (${AUTHOR_POLICIES.join(', ')})
  --agent-model A=ID    model for one agent in every column (repeatable), e.g. --agent-model social=openai/gpt-4o
  --mode MODE           replay (default; cassettes only, no network), record (write cassettes from
                        OPENAI_BASE_URL, or from the scripted author for author/* ids), live (real endpoint, no cassettes)
  --judge ID            judge model for the LLM-judge scorers (default EVAL_JUDGE_MODEL); without one they are SKIPPED
  --concurrency N       cases run at once per suite (default EVAL_CONCURRENCY or 4)
  --repeat K            run each case K times (default EVAL_REPEAT or 1), each its own conversation; reports
                        pass@1, pass@k and pass^k per case, suite and model; offline, each run replays its own
                        recording (record them with --mode record --repeat K)
  --junit FILE          also write JUnit XML (one testcase per case x model; failures carry the scorer reasons)
  --summary FILE        also write a compact markdown summary (for a PR comment)
  --baseline B          compare with this run report (a JSON file from --reports, or "latest" = latest.json of
                        --reports, which must exist); default: latest.json when there is one
  --fail-on-regression  exit 1 when anything regressed against the baseline, even above the thresholds
  --calibrate           first measure the judge against the labelled sets (evals/calibration/<scorer>.json):
                        true-positive and true-negative rates; a judge below a set's minimum rates does not gate
  --target T            in-process (default: start the real system here) or the /v1 URL of a running server
  --api-key KEY         bearer key for a url target (default EVAL_API_KEY)
  --pds-url URL         PDS the url target's server uses (side-effect scorers; default EVAL_PDS_URL)
  --ipfs-api-url URL    IPFS (Kubo RPC) the url target's server uses (default EVAL_IPFS_API_URL)
  --database-url URL    Postgres the url target's server uses (synced-rows; default EVAL_DATABASE_URL)
  --cassettes DIR       cassette directory (default EVAL_CASSETTE_DIR or evals/cassettes)
  --reports DIR         report directory (default EVAL_REPORT_DIR or evals/reports)
  --suites-dir DIR      where suites live (default evals)
  --data-dir DIR        in-process data dir to keep (e.g. .data, so Studio shows the experiments); default: a fresh temp dir
  --no-studio           do not store results with Mastra datasets/experiments
  --no-progress         no progress bar
  -h, --help            this text

Exit status: 0 when every suite meets its thresholds; 1 when a threshold (scorer mean or
reliability) fails, a case is stale (cassette no longer matches the prompt/tool schema), invalid
or errored, or (with --fail-on-regression) anything regressed against the baseline; 2 on bad
flags, a bad suite file or a missing baseline.`;

export interface CliOptions {
  suites?: string[];
  models: string[];
  agentModels: Record<string, string>;
  mode: 'replay' | 'record' | 'live';
  judge?: string;
  concurrency: number;
  repeat: number;
  junit?: string;
  summary?: string;
  /** A report file, or 'latest'; undefined = latest.json if present. */
  baseline?: string;
  failOnRegression: boolean;
  calibrate: boolean;
  target: string;
  apiKey?: string;
  pdsUrl?: string;
  ipfsApiUrl?: string;
  databaseUrl?: string;
  cassetteDir: string;
  reportDir: string;
  suitesDir: string;
  dataDir?: string;
  studio: boolean;
  progress: boolean;
  help: boolean;
}

export class UsageError extends Error {}

const MODEL_ID = /^[A-Za-z0-9_.-]+\/\S+$/;
const list = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);

export function parseCli(argv: string[], env: NodeJS.ProcessEnv = process.env): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        suite: { type: 'string', multiple: true },
        suites: { type: 'string', multiple: true },
        models: { type: 'string', multiple: true },
        model: { type: 'string', multiple: true },
        'agent-model': { type: 'string', multiple: true },
        mode: { type: 'string' },
        judge: { type: 'string' },
        concurrency: { type: 'string' },
        repeat: { type: 'string' },
        junit: { type: 'string' },
        summary: { type: 'string' },
        baseline: { type: 'string' },
        'fail-on-regression': { type: 'boolean' },
        calibrate: { type: 'boolean' },
        target: { type: 'string' },
        'api-key': { type: 'string' },
        'pds-url': { type: 'string' },
        'ipfs-api-url': { type: 'string' },
        'database-url': { type: 'string' },
        cassettes: { type: 'string' },
        reports: { type: 'string' },
        'suites-dir': { type: 'string' },
        'data-dir': { type: 'string' },
        'no-studio': { type: 'boolean' },
        'no-progress': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  const suites = [...(v.suite ?? []), ...(v.suites ?? [])].flatMap(list);
  const models = [...(v.models ?? []), ...(v.model ?? [])].flatMap(list);
  const mode = (v.mode ?? env.EVAL_MODE ?? 'replay') as CliOptions['mode'];
  // Re-recording the scripted author's cassettes records every author policy, so the
  // offline side-by-side demo (author/scripted-v1 vs author/no-tools-v1) never lacks one.
  const defaultModels = mode === 'record' ? [...AUTHOR_POLICIES] : ['author/scripted-v1'];
  const finalModels = models.length ? models : list(env.EVAL_MODELS).length ? list(env.EVAL_MODELS) : defaultModels;
  for (const m of finalModels) if (!MODEL_ID.test(m)) throw new UsageError(`--models: "${m}" must look like provider/model`);
  const agentModels: Record<string, string> = {};
  for (const pair of v['agent-model'] ?? []) {
    const [agent, id] = pair.split('=');
    if (!agent || !id || !MODEL_ID.test(id)) throw new UsageError(`--agent-model: "${pair}" must look like agent=provider/model`);
    agentModels[agent.trim()] = id.trim();
  }
  if (!['replay', 'record', 'live'].includes(mode)) throw new UsageError(`--mode must be replay, record or live (got "${mode}")`);
  const concurrency = Number(v.concurrency ?? env.EVAL_CONCURRENCY ?? 4);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new UsageError('--concurrency must be a whole number from 1 to 64');
  const repeat = Number(v.repeat ?? env.EVAL_REPEAT ?? 1);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 50) throw new UsageError('--repeat must be a whole number from 1 to 50');
  for (const f of ['junit', 'summary', 'baseline'] as const) if (v[f] === '') throw new UsageError(`--${f} needs a file`);
  const target = v.target ?? env.EVAL_TARGET ?? 'in-process';
  if (target !== 'in-process' && !/^https?:\/\//.test(target)) throw new UsageError('--target must be in-process or an http(s) URL ending in /v1');
  if (target !== 'in-process' && finalModels.length > 1) throw new UsageError('--models compares models in-process; a url target answers with its own configured model');
  const judge = v.judge ?? env.EVAL_JUDGE_MODEL ?? undefined;
  if (judge && !MODEL_ID.test(judge)) throw new UsageError('--judge must look like provider/model');
  return {
    suites: suites.length ? suites : undefined,
    models: finalModels,
    agentModels,
    mode,
    judge: judge || undefined,
    concurrency,
    repeat,
    junit: v.junit,
    summary: v.summary,
    baseline: v.baseline,
    failOnRegression: Boolean(v['fail-on-regression']),
    calibrate: Boolean(v.calibrate),
    target,
    apiKey: v['api-key'] ?? env.EVAL_API_KEY,
    pdsUrl: v['pds-url'] ?? env.EVAL_PDS_URL,
    ipfsApiUrl: v['ipfs-api-url'] ?? env.EVAL_IPFS_API_URL,
    databaseUrl: v['database-url'] ?? env.EVAL_DATABASE_URL,
    cassetteDir: v.cassettes ?? env.EVAL_CASSETTE_DIR ?? 'evals/cassettes',
    reportDir: v.reports ?? env.EVAL_REPORT_DIR ?? 'evals/reports',
    suitesDir: v['suites-dir'] ?? 'evals',
    dataDir: v['data-dir'],
    studio: !v['no-studio'],
    progress: !v['no-progress'],
    help: Boolean(v.help),
  };
}
