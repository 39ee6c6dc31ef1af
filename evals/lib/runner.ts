/**
 * Runs suites against one or more models and scores every case.
 *
 * For each model (one column of the report) an in-process run starts the recorded-
 * responses model (replay/record) and a fresh real system (startSystem: embedded
 * Postgres, PDS, IPFS…), runs every suite's cases with bounded concurrency, scores them
 * (side effects on the real services), stores the results with Mastra's datasets and
 * experiments, and stops everything it started. A url target runs the cases against a
 * running server instead.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { startSystem, type System } from '../../src/system';
import { SCORERS, type JudgeConfig, type ScoreContext } from '../scorers';
import { MEMORY_TOOLS } from '../scorers/types';
import { authorNote, authorUpstream, isAuthorModel } from './author';
import { anchorOf, readCassettes, writeCassette, type CassetteEntry, type CassetteFile } from './cassettes';
import type { Progress } from './progress';
import { httpUpstream, startRecordedModel, type RecordedModel } from './recorded-model';
import { suiteRedteam } from './redteam';
import { allRuns, mergeRuns, suiteReliability } from './repeats';
import type { CaseResult, CaseScore, ScorerSummary, SuiteResult } from './results';
import { storeInStudio } from './studio';
import { userTurns, type EvalCase, type Suite } from './suite';
import { inProcessTarget, urlTarget, type CaseRun, type ServiceEndpoints, type Target } from './target';

export interface RunOptions {
  suites: Suite[];
  /** Columns of the report: each is a provider/model id used by every agent (unless agentModels overrides). */
  models: string[];
  /** agent → provider/model, applied in every column (e.g. social=openai/gpt-4o). */
  agentModels: Record<string, string>;
  mode: 'replay' | 'record' | 'live';
  target: { kind: 'in-process'; dataDir?: string } | { kind: 'url'; url: string; apiKey?: string; services: ServiceEndpoints };
  cassetteDir: string;
  concurrency: number;
  /** Runs per case (`--repeat k`); each run is its own conversation (and, offline, its own recording). */
  repeat?: number;
  /** `--calibrate`: judge scorers whose thresholds may not gate, with why. */
  notGated?: Map<string, string>;
  judge?: JudgeConfig;
  /** Upstream for record/live mode with non-author models. */
  upstream?: { baseUrl: string; apiKey?: string };
  runId: string;
  progress?: Progress;
  /** Mastra datasets/experiments (in-process only). */
  studio: boolean;
  log?: (line: string) => void;
  /** The caller's environment: the system's own settings (FEATURES, ATPROTO_*, IPFS_*…) pass through. */
  env?: NodeJS.ProcessEnv;
}

/** Never passed through: where data goes, how the server listens, and which model answers are the runner's choice. */
const NOT_PASSED = /^(DATABASE_URL|DATA_DIR|PORT|HOST|API_KEYS|MODEL|OPENAI_BASE_URL|OPENAI_API_KEY|AGENT_MODEL_.*|LOG_LEVEL|NODE_ENV)$/;

const truncate = (v: unknown, n = 2000): unknown => {
  const s = JSON.stringify(v);
  return s && s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : v;
};

/** Secrets known to this process: the configured model key, API keys, and any secret-looking variable. */
export function knownSecrets(env: NodeJS.ProcessEnv = process.env, extra: Array<string | undefined> = []): string[] {
  const out = new Set<string>();
  for (const [k, v] of Object.entries(env)) if (v && v.length >= 8 && /KEY|SECRET|TOKEN|PASSWORD|PASSPHRASE|PRIVATE/i.test(k)) for (const part of v.split(',')) out.add(part.split(':')[0]!.trim());
  for (const v of extra) if (v && v.length >= 8) out.add(v);
  return [...out].filter((s) => s.length >= 8);
}

async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(n, items.length)) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function scoreCase(suite: Suite, c: EvalCase, run: CaseRun, services: ServiceEndpoints, secrets: string[], judge: JudgeConfig | undefined): Promise<Record<string, CaseScore>> {
  const ctx: ScoreContext = { suite, case: c, run, services, secrets, judge, memo: new Map() };
  const scores: Record<string, CaseScore> = {};
  for (const scorer of SCORERS) {
    if (!scorer.applies(c)) continue;
    try {
      const r = await scorer.score(ctx);
      if ('skipped' in r) scores[scorer.id] = { kind: scorer.kind, skipped: r.skipped, reason: `SKIPPED: ${r.skipped}` };
      else scores[scorer.id] = { kind: scorer.kind, score: Math.round(r.score * 1000) / 1000, passed: r.score >= scorer.passAt, reason: r.reason };
    } catch (err) {
      scores[scorer.id] = { kind: scorer.kind, score: 0, passed: false, reason: `scorer failed: ${(err as Error).message}` };
    }
  }
  return scores;
}

/** Cases that name tools the agent does not have cannot be scored honestly. */
function invalidReason(c: EvalCase, tools: string[]): string | undefined {
  const named = [...(c.expect.tools ?? []), ...Object.keys(c.expect.toolArgs ?? {}), ...(c.expect.forbiddenTools ?? []), ...c.author.flatMap((t) => ('toolCalls' in t ? t.toolCalls.map((x) => x.name) : []))];
  const unknown = [...new Set(named.filter((n) => !tools.includes(n) && !MEMORY_TOOLS.has(n)))];
  return unknown.length ? `the agent has no tool ${unknown.join(', ')} (its tools: ${tools.join(', ') || 'none'})` : undefined;
}

export function summarize(suite: Suite, merged: CaseResult[], notGated: Map<string, string> = new Map()): ScorerSummary[] {
  const cases = allRuns(merged);
  const out: ScorerSummary[] = [];
  for (const scorer of SCORERS) {
    const applicable = cases.filter((c) => c.scores[scorer.id] || (c.status !== 'pass' && c.status !== 'fail' && scorer.applies(suite.cases.find((x) => x.id === c.id)!)));
    const threshold = suite.thresholds[scorer.id];
    if (!applicable.length && threshold === undefined) continue;
    let sum = 0;
    let applied = 0;
    let skipped = 0;
    let skipReason: string | undefined;
    for (const c of applicable) {
      const s = c.scores[scorer.id];
      if (s?.skipped) {
        skipped++;
        skipReason ??= s.skipped;
        continue;
      }
      applied++;
      sum += s?.score ?? 0; // a stale/errored/invalid case scores 0 on every scorer it should have met
    }
    const mean = applied ? Math.round((sum / applied) * 1000) / 1000 : null;
    out.push({
      id: scorer.id,
      kind: scorer.kind,
      description: scorer.description,
      applied,
      skipped,
      mean,
      threshold,
      passed: threshold === undefined || mean === null || notGated.has(scorer.id) ? null : mean >= threshold,
      ...(notGated.has(scorer.id) && threshold !== undefined ? { notGated: notGated.get(scorer.id) } : {}),
      skipReason,
    });
  }
  return out;
}

export async function runSuiteOnTarget(opts: {
  suite: Suite;
  model: string;
  target: Target;
  concurrency: number;
  repeat?: number;
  notGated?: Map<string, string>;
  secrets: string[];
  judge?: JudgeConfig;
  runId: string;
  recorded?: RecordedModel;
  progress?: Progress;
}): Promise<SuiteResult> {
  const { suite, target } = opts;
  const problems: string[] = [];
  const agents = await target.agentNames();
  if (!agents.includes(suite.agent)) {
    const problem = `agent "${suite.agent}" is not served by ${target.describe} (agents: ${agents.join(', ')})`;
    opts.progress?.tick(suite.cases.length * (opts.repeat ?? 1));
    const cases = suite.cases.map((c) => blankCase(c, 'invalid', problem));
    const rel = suiteReliability(cases, opts.repeat ?? 1, suite.reliability ?? {});
    return { suite: suite.name, agent: suite.agent, model: opts.model, tools: [], cases, scorers: summarize(suite, cases, opts.notGated), passed: false, problems: [problem, ...rel.problems], reliability: rel.reliability };
  }
  const agentOf = (c: EvalCase) => c.agent ?? suite.agent;
  const toolsByAgent = new Map<string, string[]>();
  const prompts = new Map<string, string | undefined>();
  for (const name of new Set([suite.agent, ...suite.cases.map(agentOf)])) {
    if (!agents.includes(name)) continue;
    toolsByAgent.set(name, (await target.toolNames(name)).sort());
    prompts.set(name, await target.instructions(name).catch(() => undefined));
  }
  const tools = toolsByAgent.get(suite.agent) ?? [];
  const cases: CaseResult[] = [];
  const k = opts.repeat ?? 1;
  const runOnce = async (c: EvalCase, r: number): Promise<CaseResult> => {
    const suffix = r ? `-r${r + 1}` : '';
    const ids = { threadId: `eval-${opts.runId}-${suite.name}-${c.id}`.slice(0, 128 - suffix.length) + suffix, resourceId: `eval-${opts.runId}-${suite.name}-${c.id}${suffix}` };
    const anchor = anchorOf(userTurns(c));
    opts.recorded?.setRepeat(anchor, r);
    const seeded = await seed(c, target.services);
    const run = seeded ? ({ ...blankRun(ids), error: seeded } as CaseRun) : await target.run(agentOf(c), c, ids);
    run.systemPrompt = prompts.get(agentOf(c));
    const miss = opts.recorded?.misses.find((m) => m.anchor === anchor && m.model === opts.model && m.repeat === r);
    const scores = await scoreCase(suite, c, run, target.services, opts.secrets, opts.judge);
    // An untrusted judge (--calibrate) fails no case either: its score is shown, not counted.
    const failing = Object.entries(scores).filter(([id, s]) => s.passed === false && !opts.notGated?.has(id));
    let status: CaseResult['status'] = 'pass';
    let reason: string | undefined;
    if (miss) {
      status = 'stale';
      reason = miss.reason;
    } else if (run.error) {
      status = 'error';
      reason = run.error;
    } else if (failing.length) {
      status = 'fail';
      reason = failing.map(([id, s]) => `${id}: ${s.reason}`).join(' | ');
    }
    if (status === 'stale' || status === 'error') for (const s of Object.values(scores)) if (!s.skipped) Object.assign(s, { score: 0, passed: false });
    return {
      id: c.id,
      description: c.description,
      tags: c.tags,
      status,
      reason,
      input: c.input,
      history: c.history,
      reply: run.text,
      toolCalls: run.toolCalls.map((t) => ({ name: t.name, args: t.args, result: truncate(t.result), error: t.error })),
      latencyMs: run.latencyMs,
      tokens: run.usage,
      threadId: run.threadId,
      scores,
    };
  };
  await pool(suite.cases, opts.concurrency, async (c) => {
    const invalid = agents.includes(agentOf(c)) ? invalidReason(c, toolsByAgent.get(agentOf(c)) ?? []) : `agent "${agentOf(c)}" is not served by ${target.describe}`;
    if (invalid) {
      cases.push(blankCase(c, 'invalid', invalid));
      opts.progress?.tick(k, `${suite.name}/${c.id}`);
      return;
    }
    // The runs of one case are sequential: the recorded model keys them by repeat.
    const runs: CaseResult[] = [];
    for (let r = 0; r < k; r++) {
      runs.push(await runOnce(c, r));
      opts.progress?.tick(1, `${suite.name}/${c.id}${k > 1 ? ` #${r + 1}` : ''} ${runs.at(-1)!.status}`);
    }
    cases.push(mergeRuns(runs));
  });
  cases.sort((a, b) => suite.cases.findIndex((c) => c.id === a.id) - suite.cases.findIndex((c) => c.id === b.id));
  const scorers = summarize(suite, cases, opts.notGated);
  for (const s of scorers) if (s.passed === false) problems.push(`${s.id}: mean ${s.mean} < threshold ${s.threshold}`);
  const stale = cases.filter((c) => c.status === 'stale');
  if (stale.length) problems.push(`${stale.length} stale cassette(s): ${stale.map((c) => `${c.id} (${c.reason})`).join('; ')}`);
  const invalid = cases.filter((c) => c.status === 'invalid');
  if (invalid.length) problems.push(`${invalid.length} invalid case(s): ${invalid.map((c) => `${c.id} (${c.reason})`).join('; ')}`);
  const errored = cases.filter((c) => c.status === 'error');
  if (errored.length) problems.push(`${errored.length} case(s) errored: ${errored.map((c) => `${c.id} (${c.reason})`).join('; ')}`);
  const rel = suiteReliability(cases, k, suite.reliability ?? {});
  problems.push(...rel.problems);
  const redteam = suiteRedteam(suite, cases);
  return { suite: suite.name, agent: suite.agent, model: opts.model, tools, cases, scorers, passed: problems.length === 0, problems, reliability: rel.reliability, ...(redteam ? { redteam } : {}) };
}

const blankRun = (ids: { threadId: string; resourceId: string }): CaseRun => ({
  text: '',
  latencyMs: 0,
  usage: { input: 0, output: 0, total: 0 },
  ...ids,
  scorerInput: { inputMessages: [], rememberedMessages: [], systemMessages: [], taggedSystemMessages: {} },
  scorerOutput: [],
  toolCalls: [],
});

/**
 * Puts a case's `seed` on the real services before it runs: `ipfs` content is added and
 * pinned over the Kubo RPC API (CIDv0, as the case's input names it). An error message when
 * that fails or gives another CID (the case then errors), else undefined.
 */
export async function seed(c: EvalCase, services: ServiceEndpoints): Promise<string | undefined> {
  const ipfs = c.seed?.ipfs;
  if (!ipfs) return undefined;
  if (!services.ipfsApiUrl) return 'seed: the case puts content on IPFS but no IPFS API URL is known (--ipfs-api-url)';
  const form = new FormData();
  form.append('file', new Blob([ipfs.content]), 'seed.txt');
  try {
    const res = await fetch(`${services.ipfsApiUrl.replace(/\/$/, '')}/api/v0/add?pin=true&cid-version=0`, { method: 'POST', body: form, signal: AbortSignal.timeout(15_000) });
    const body = await res.text();
    if (!res.ok) return `seed: IPFS add answered HTTP ${res.status}: ${body.slice(0, 120)}`;
    const cid = (JSON.parse(body.trim().split('\n').at(-1)!) as { Hash?: string }).Hash;
    return cid === ipfs.cid ? undefined : `seed: IPFS gave ${cid} for the seeded content, the case names ${ipfs.cid}`;
  } catch (err) {
    return `seed: ${(err as Error).message}`;
  }
}

function blankCase(c: EvalCase, status: CaseResult['status'], reason: string): CaseResult {
  return { id: c.id, description: c.description, tags: c.tags, status, reason, input: c.input, history: c.history, reply: '', toolCalls: [], latencyMs: 0, tokens: { input: 0, output: 0, total: 0 }, threadId: '', scores: {} };
}

/** In-process: the real system on a fresh data dir, its model pointed at `modelUrl`. */
async function startEvalSystem(model: string, agentModels: Record<string, string>, modelUrl: string | undefined, apiKey: string | undefined, dataDir: string, callerEnv: NodeJS.ProcessEnv): Promise<System> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(callerEnv)) if (v !== undefined && !NOT_PASSED.test(k) && !k.startsWith('EVAL_')) env[k] = v;
  Object.assign(env, {
    PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: callerEnv.EVAL_LOG_LEVEL ?? 'error',
    MODEL: model,
    MODEL_MAX_RETRIES: '0',
  });
  if (modelUrl) env.OPENAI_BASE_URL = modelUrl;
  if (apiKey) env.OPENAI_API_KEY = apiKey;
  for (const [agent, id] of Object.entries(agentModels)) env[`AGENT_MODEL_${agent.toUpperCase().replace(/-/g, '_')}`] = id;
  const config = loadConfig(env);
  return startSystem(config, { logger: createLogger(config.logLevel) });
}

function servicesOf(system: System): ServiceEndpoints {
  const out: ServiceEndpoints = {};
  for (const [k, v] of Object.entries(system.ctx.urls)) if (typeof v === 'string') out[k] = v;
  return out;
}

export async function runEvals(opts: RunOptions): Promise<SuiteResult[]> {
  const results: SuiteResult[] = [];
  const secrets = knownSecrets(process.env, [opts.upstream?.apiKey, opts.judge?.apiKey, opts.target.kind === 'url' ? opts.target.apiKey : undefined]);
  const volatile: Record<string, string[]> = {};
  for (const s of opts.suites) for (const [tool, keys] of Object.entries(s.volatile)) volatile[tool] = [...new Set([...(volatile[tool] ?? []), ...keys])];
  const log = opts.log ?? (() => {});

  if (opts.target.kind === 'url') {
    const target = urlTarget(opts.target.url, opts.target.apiKey, opts.target.services);
    for (const suite of opts.suites) results.push(await runSuiteOnTarget({ suite, model: 'server default', target, concurrency: opts.concurrency, repeat: opts.repeat, notGated: opts.notGated, secrets, judge: opts.judge, runId: opts.runId, progress: opts.progress }));
    return results;
  }

  for (const model of opts.models) {
    const ids = [...new Set([model, ...Object.values(opts.agentModels)])];
    let recorded: RecordedModel | undefined;
    if (opts.mode !== 'live') {
      recorded = await startRecordedModel({
        modelIds: ids,
        mode: opts.mode,
        cassetteDir: opts.cassetteDir,
        volatile,
        upstream: (id) => {
          if (isAuthorModel(id)) return authorUpstream(id, opts.suites);
          if (!opts.upstream) throw new Error(`recording ${id} needs a real endpoint: set OPENAI_BASE_URL (and OPENAI_API_KEY)`);
          return httpUpstream(opts.upstream.baseUrl, opts.upstream.apiKey);
        },
      });
    } else if (ids.some(isAuthorModel)) {
      throw new Error('author/* ids are scripted policies, not models: use --mode replay or --mode record');
    }
    const ownDataDir = !opts.target.dataDir;
    const dataDir = opts.target.dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'one-agents-evals-')));
    let system: System | undefined;
    try {
      log(`starting the system for ${model} (data: ${dataDir})`);
      system = await startEvalSystem(model, opts.agentModels, recorded?.url ?? opts.upstream?.baseUrl, recorded ? 'recorded-model-needs-no-key' : opts.upstream?.apiKey, dataDir, opts.env ?? process.env);
      const target = inProcessTarget(system, servicesOf(system));
      for (const suite of opts.suites) {
        const r = await runSuiteOnTarget({ suite, model: opts.agentModels[suite.agent] ?? model, target, concurrency: opts.concurrency, repeat: opts.repeat, notGated: opts.notGated, secrets, judge: opts.judge, runId: opts.runId, recorded, progress: opts.progress });
        r.model = model + (opts.agentModels[suite.agent] ? ` (${suite.agent}: ${opts.agentModels[suite.agent]})` : '');
        if (opts.studio) r.studio = await storeInStudio(system.runtime.mastra, suite, r, opts.runId);
        results.push(r);
      }
      if (recorded && opts.mode === 'record') for (const id of ids) for (const p of await saveRecordings(opts, id, recorded)) log(`wrote ${p}`);
    } finally {
      await system?.stop();
      await recorded?.close();
      if (ownDataDir) await fs.rm(dataDir, { recursive: true, force: true }).catch(() => {});
    }
  }
  return results;
}

/** Record mode: each suite's cassette file keeps the cases not re-run and gets the new turns of those that were. */
async function saveRecordings(opts: RunOptions, model: string, recorded: RecordedModel): Promise<string[]> {
  const existing = new Map((await readCassettes(opts.cassetteDir, model)).map((f) => [f.suite, f]));
  const written: string[] = [];
  for (const suite of opts.suites) {
    const anchors = new Map(suite.cases.map((c) => [anchorOf(userTurns(c)), c.id]));
    const fresh: CassetteEntry[] = [...recorded.recorded.values()].filter((e) => e.model === model && anchors.has(e.anchor)).map((e) => ({ ...e, case: anchors.get(e.anchor) }));
    if (!fresh.length) continue;
    // The compromised policy differs from scripted-v1 only where a case has a `compromised` script.
    if (model === 'author/compromised-v1' && !suite.cases.some((c) => c.compromised)) continue;
    // A (case, repeat) re-run replaces its old turns; other cases and other repeats stay.
    const run = (e: CassetteEntry) => `${e.anchor}#${e.repeat ?? 0}`;
    const rerun = new Set(fresh.map(run));
    const kept = (existing.get(suite.name)?.entries ?? []).filter((e) => !rerun.has(run(e)) && anchors.has(e.anchor));
    const author = isAuthorModel(model);
    const file: CassetteFile = {
      about: `Recorded model turns for the "${suite.name}" eval suite (evals/${suite.name}/suite.json), replayed by evals/lib/recorded-model.ts. Keys hash the request (model, system prompt, messages with volatile values masked, tool schemas, sampling settings).`,
      recordedBy: author
        ? { kind: 'scripted-author', policy: model, note: authorNote(model) }
        : { kind: 'model', policy: model, note: `Recorded from a real model endpoint (${model}).` },
      model,
      suite: suite.name,
      entries: [...kept, ...fresh],
    };
    written.push(await writeCassette(opts.cassetteDir, file));
  }
  return written;
}
