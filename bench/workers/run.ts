/**
 * bench/workers: `npm start` with WORKERS=1 (the app in the started process) against
 * WORKERS=2 (a node:cluster primary with the services, two HTTP workers sharing PORT;
 * src/system/workers.ts), and the app process alone with external services.
 *
 * THE SCRIPTED MODEL (an instant local upstream, in this process) is the model; FEATURES
 * (BENCH_WORKERS_FEATURES, default none; `powersync` as bench/replicas) with the embedded
 * Postgres; traces on as in production (TRACING unset) unless BENCH_WORKERS_TRACING is set.
 * Each set-up is started from its own data folder (the first start of each runs initdb
 * and the migrations; later ones reuse the folder), in its own process group, one at a
 * time, interleaved over BENCH_WORKERS_ROUNDS rounds (order alternating) so the shared
 * machine's load swings hit both alike. Per start:
 *   - start: ms from spawn to the "ONE Agents is up" line
 *   - idle RSS (after BENCH_WORKERS_IDLE_MS): VmRSS of every process of the tree — the
 *     started process, each worker, the embedded Postgres (all its processes, summed)
 *   - /v1 chat JSON at BENCH_WORKERS_CONCURRENCY clients (BENCH_WORKERS_N requests, after
 *     a warm-up of BENCH_WORKERS_WARMUP) from a separate load process (bench/replicas/load.ts): req/s,
 *     p50/p95 latency.
 * Numbers are medians over the rounds. Then `src/services.ts` runs the services in its own
 * process and `src/main.ts` WORKERS=1 sources its services.env: that app process's idle
 * RSS (issue 27: ≤ 250 MB) and start time, and the services tree's RSS.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { alive, killAll, run, stopGroup, type Running } from '../../harness/process';
import { startScriptedModel } from '../../harness/scripted-model';
import { makeDataDir } from '../../harness/system';
import { freePort } from '../../services/lib/net';
import { table, writeResult, type LoadResult } from '../lib';
import { descendants, readProcs, treeRss, type TreeRss } from './proc';

const ROUNDS = Number(process.env.BENCH_WORKERS_ROUNDS ?? 2);
const TOTAL = Number(process.env.BENCH_WORKERS_N ?? 300);
const WARMUP = Number(process.env.BENCH_WORKERS_WARMUP ?? 50);
const CONCURRENCY = Number(process.env.BENCH_WORKERS_CONCURRENCY ?? 50);
const IDLE_MS = Number(process.env.BENCH_WORKERS_IDLE_MS ?? 3000);
const FEATURES = process.env.BENCH_WORKERS_FEATURES ?? 'none';
const TRACING = process.env.BENCH_WORKERS_TRACING;
const SETUPS = [1, 2];

const model = await startScriptedModel();
const dirs: string[] = [];
/** Postgres pids seen in a tree (own process group): stopped by pid if a stop left them. */
const pgPids = new Set<number>();
const cleanup = async () => {
  killAll();
  for (const pid of pgPids) {
    if (!alive(pid)) continue;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
  }
  await model.close();
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** `NAME='value'` lines of services.env (as written by src/services.ts) → an env object. */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^([A-Z0-9_]+)='((?:[^']|'\\'')*)'$/gm)) env[m[1]!] = m[2]!.replace(/'\\''/g, "'");
  return env;
}
const appEnv = (port: number, dataDir: string, workers: number) => ({
  PORT: String(port),
  DATA_DIR: dataDir,
  FEATURES,
  WORKERS: String(workers),
  MODEL: 'openai/scripted',
  OPENAI_BASE_URL: model.url,
  RATE_LIMIT_RPM: '0',
  LOG_LEVEL: 'info',
  ...(TRACING ? { TRACING } : {}),
});
const rememberPostgres = (root: number) => {
  for (const p of descendants(readProcs(), root)) if (p.comm === 'postgres') pgPids.add(p.pid);
};
async function stop(r: Running) {
  rememberPostgres(r.child.pid!);
  await stopGroup(r, 'SIGTERM', 30_000);
  // The embedded Postgres runs in a process group of its own: wait for the app's stop to end it.
  for (let i = 0; i < 100 && [...pgPids].some(alive); i++) await sleep(100);
}

// The load process.
const child = fork(path.join(import.meta.dirname, '..', 'replicas', 'load.ts'), [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
const pending = new Map<number, (r: LoadResult) => void>();
child.on('message', (m: { id: number; result: LoadResult }) => pending.get(m.id)?.(m.result));
let ids = 0;
const remote = (base: string, total: number, concurrency: number) =>
  new Promise<LoadResult>((resolve) => {
    const id = ids++;
    pending.set(id, resolve);
    child.send({ id, bases: [base], targets: 1, total, concurrency });
  });

interface Round {
  round: number;
  workers: number;
  fresh: boolean;
  start_ms: number;
  idle: TreeRss;
  load: LoadResult;
  loadavg1: number;
}

try {
  const setupDirs = new Map<number, string>();
  for (const w of SETUPS) {
    const d = await makeDataDir(`one-agents-bench-workers${w}-`);
    dirs.push(d);
    setupDirs.set(w, d);
  }
  const rounds: Round[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const w of round % 2 ? [...SETUPS].reverse() : SETUPS) {
      const port = await freePort();
      const loadavg1 = +os.loadavg()[0]!.toFixed(2);
      const t0 = performance.now();
      const r = run(process.execPath, ['--import', 'tsx', 'src/main.ts'], appEnv(port, setupDirs.get(w)!, w), 'ONE Agents is up', { group: true });
      try {
        await r.up;
        const start_ms = Math.round(performance.now() - t0);
        await sleep(IDLE_MS);
        const idle = treeRss(r.child.pid!);
        const base = `http://127.0.0.1:${port}`;
        await remote(base, WARMUP, Math.min(CONCURRENCY, 10));
        const load = await remote(base, TOTAL, CONCURRENCY);
        rounds.push({ round, workers: w, fresh: round === 0, start_ms, idle, load, loadavg1 });
        console.log(`round ${round + 1}/${ROUNDS} WORKERS=${w}: up in ${start_ms} ms, ${load.rps.toFixed(0)} req/s, idle RSS total ${idle.total_mb} MB`);
      } finally {
        await stop(r);
      }
    }
  }

  // The app process alone: services in their own process, main.ts WORKERS=1 sourcing services.env.
  const svcDir = await makeDataDir('one-agents-bench-workers-services-');
  const appDir = await makeDataDir('one-agents-bench-workers-app-');
  dirs.push(svcDir, appDir);
  const services = run(process.execPath, ['--import', 'tsx', 'src/services.ts'], { DATA_DIR: svcDir, FEATURES, LOG_LEVEL: 'info' }, 'ONE Agents services are up', { group: true });
  let external!: { start_ms: number; app_idle: TreeRss; services_idle: TreeRss; load: LoadResult };
  try {
    await services.up;
    const servicesEnv = parseEnvFile(await fs.readFile(path.join(svcDir, 'services.env'), 'utf8'));
    const port = await freePort();
    const t0 = performance.now();
    const app = run(process.execPath, ['--import', 'tsx', 'src/main.ts'], { ...servicesEnv, ...appEnv(port, appDir, 1), FEATURES }, 'ONE Agents is up', { group: true });
    try {
      await app.up;
      const start_ms = Math.round(performance.now() - t0);
      await sleep(IDLE_MS);
      const app_idle = treeRss(app.child.pid!);
      const services_idle = treeRss(services.child.pid!);
      const base = `http://127.0.0.1:${port}`;
      await remote(base, WARMUP, Math.min(CONCURRENCY, 10));
      const load = await remote(base, TOTAL, CONCURRENCY);
      external = { start_ms, app_idle, services_idle, load };
    } finally {
      await stopGroup(app, 'SIGTERM', 30_000);
    }
  } finally {
    await stop(services);
  }
  child.disconnect();

  const summary: Record<string, Record<string, number | number[]>> = {};
  const rows = [];
  for (const w of SETUPS) {
    const rs = rounds.filter((r) => r.workers === w);
    const warm = rs.filter((r) => !r.fresh);
    const s = {
      rps: +median(rs.map((r) => r.load.rps)).toFixed(1),
      p50_ms: +median(rs.map((r) => r.load.p50)).toFixed(1),
      p95_ms: +median(rs.map((r) => r.load.p95)).toFixed(1),
      errors: rs.reduce((a, r) => a + r.load.errors, 0),
      start_first_ms: rs.find((r) => r.fresh)?.start_ms ?? NaN,
      start_again_ms: median(warm.map((r) => r.start_ms)),
      idle_root_mb: median(rs.map((r) => r.idle.root_mb)),
      idle_workers_mb: rs.map((r) => r.idle.workers_mb).at(-1) ?? [],
      idle_workers_sum_mb: +median(rs.map((r) => r.idle.workers_mb.reduce((a, b) => a + b, 0))).toFixed(1),
      idle_postgres_mb: median(rs.map((r) => r.idle.postgres_mb)),
      idle_total_mb: median(rs.map((r) => r.idle.total_mb)),
    };
    summary[`workers_${w}`] = s;
    rows.push({
      set_up: `WORKERS=${w}`,
      'req/s': s.rps,
      'p50 ms': s.p50_ms,
      'p95 ms': s.p95_ms,
      errors: s.errors,
      'req/s per round': rs.map((r) => r.load.rps.toFixed(0)).join(' '),
      'start ms (1st, then)': `${s.start_first_ms}, ${warm.map((r) => r.start_ms).join(' ')}`,
      'RSS MB primary/app': s.idle_root_mb,
      'RSS MB workers': s.idle_workers_mb.join('+') || '-',
      'RSS MB postgres': s.idle_postgres_mb,
      'RSS MB total': s.idle_total_mb,
      load1: `${Math.min(...rs.map((r) => r.loadavg1))}-${Math.max(...rs.map((r) => r.loadavg1))}`,
    });
  }
  rows.push({
    set_up: 'external services, WORKERS=1',
    'req/s': +external.load.rps.toFixed(1),
    'p50 ms': +external.load.p50.toFixed(1),
    'p95 ms': +external.load.p95.toFixed(1),
    errors: external.load.errors,
    'req/s per round': external.load.rps.toFixed(0),
    'start ms (1st, then)': String(external.start_ms),
    'RSS MB primary/app': external.app_idle.root_mb,
    'RSS MB workers': '-',
    'RSS MB postgres': `${external.services_idle.postgres_mb} (services tree ${external.services_idle.total_mb})`,
    'RSS MB total': +(external.app_idle.total_mb + external.services_idle.total_mb).toFixed(1),
    load1: '-',
  });

  const uptime = (await fs.readFile('/proc/loadavg', 'utf8')).trim();
  console.log(`\nbench/workers (/v1 chat JSON, instant scripted upstream, ${CONCURRENCY} clients from a separate process, ${os.cpus().length} cores, FEATURES=${FEATURES}, traces ${TRACING ?? 'on (default)'}, ${ROUNDS} rounds of ${TOTAL})\n`);
  console.log(table(rows));
  const scaling = +((summary.workers_2!.rps as number) / (summary.workers_1!.rps as number)).toFixed(2);
  console.log(`\nWORKERS=2 / WORKERS=1: ${scaling}× req/s; /proc/loadavg at the end: ${uptime}`);

  const file = await writeResult('workers', {
    params: { ROUNDS, TOTAL, WARMUP, CONCURRENCY, IDLE_MS, FEATURES, TRACING: TRACING ?? 'default (on)', cores: os.cpus().length },
    summary: { ...summary, scaling_2_over_1: scaling, external },
    rounds,
    loadavg_end: uptime,
  });
  console.log(`\nwrote ${file}`);
} finally {
  if (child.connected) child.disconnect();
  await cleanup();
}
