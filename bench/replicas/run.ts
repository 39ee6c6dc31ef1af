/**
 * bench/replicas: /v1 chat throughput of 1 app process vs 3 behind a round-robin client,
 * and the leader failover time.
 *
 * `npm run services`-style services (src/services.ts in its own process, FEATURES=powersync:
 * the embedded Postgres and the PowerSync stand-in, so every turn is mirrored into the
 * synced tables as in production; no PDS or IPFS node, which the chat path does not touch),
 * three app processes (src/main.ts, as `npm start` runs it) sourcing its services.env, and
 * THE SCRIPTED MODEL (an instant local upstream, in this process) as the model. The HTTP
 * load comes from its own process (load.ts), round-robin over the targeted replicas.
 *
 * All three replicas run throughout; "1 replica" sends every request to the first, "3"
 * spreads them over all three (the idle two only poll the leadership). The two set-ups are
 * interleaved in BENCH_REPLICAS_ROUNDS rounds so the shared machine's load swings hit both
 * alike; numbers are medians over the rounds. Then the leader of the answerer sweep is
 * SIGKILLed twice and the time until another replica logs "leading" is measured
 * (LEADERSHIP_POLL_MS, default 2000 as in production).
 */
import { fork } from 'node:child_process';
import fs from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, killAll, type Running } from '../../harness/process';
import { startScriptedModel } from '../../harness/scripted-model';
import { makeDataDir } from '../../harness/system';
import { freePort } from '../../services/lib/net';
import { table, writeResult, type LoadResult } from '../lib';

const TOTAL = Number(process.env.BENCH_REPLICAS_N ?? 600);
const CONCURRENCY = Number(process.env.BENCH_REPLICAS_CONCURRENCY ?? 48);
const ROUNDS = Number(process.env.BENCH_REPLICAS_ROUNDS ?? 4);
const POLL_MS = Number(process.env.BENCH_REPLICAS_POLL_MS ?? 2000);
const REPLICAS = 3;

const model = await startScriptedModel();
const dirs: string[] = [];
const cleanup = async () => {
  killAll();
  await model.close();
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

/** `NAME='value'` lines of services.env (as written by src/services.ts) → an env object. */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^([A-Z0-9_]+)='((?:[^']|'\\'')*)'$/gm)) env[m[1]!] = m[2]!.replace(/'\\''/g, "'");
  return env;
}

const rssMb = (pid: number) => {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  } catch {
    return NaN;
  }
};
/** RSS of a process and its descendants (the services process's embedded Postgres). */
function treeRssMb(root: number): number {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {}
  }
  let sum = 0;
  const walk = (p: number) => {
    sum += rssMb(p) || 0;
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(root);
  return sum;
}
const leads = (output: string) => output.split('\n').some((l) => l.includes('"msg":"leading"'));

try {
  const dataDir = await makeDataDir('one-agents-bench-replicas-');
  dirs.push(dataDir);
  const services = run(process.execPath, ['--import', 'tsx', 'src/services.ts'], { DATA_DIR: dataDir, FEATURES: 'powersync', LOG_LEVEL: 'info' }, 'ONE Agents services are up');
  await services.up;
  const servicesEnv = parseEnvFile(await fs.readFile(path.join(dataDir, 'services.env'), 'utf8'));

  const replicas: Array<Running & { port: number; url: string }> = [];
  for (let i = 0; i < REPLICAS; i++) {
    const dir = await makeDataDir(`one-agents-bench-replica${i}-`);
    dirs.push(dir);
    const port = await freePort();
    const r = run(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      ...servicesEnv,
      PORT: String(port),
      DATA_DIR: dir,
      MODEL: 'openai/scripted',
      OPENAI_BASE_URL: model.url,
      RATE_LIMIT_RPM: '0',
      LOG_LEVEL: 'info',
      LEADERSHIP_POLL_MS: String(POLL_MS),
    });
    replicas.push({ ...r, port, url: `http://127.0.0.1:${port}` });
  }
  await Promise.all(replicas.map((r) => r.up));
  const idleRss = replicas.map((r) => +rssMb(r.child.pid!).toFixed(1));
  const servicesRss = +treeRssMb(services.child.pid!).toFixed(1);

  const child = fork(path.join(import.meta.dirname, 'load.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_BASES: replicas.map((r) => r.url).join(',') },
    stdio: 'inherit',
  });
  const pending = new Map<number, (r: LoadResult) => void>();
  child.on('message', (m: { id: number; result: LoadResult }) => pending.get(m.id)?.(m.result));
  let ids = 0;
  const remote = (targets: number, total: number, concurrency: number) =>
    new Promise<LoadResult>((resolve) => {
      const id = ids++;
      pending.set(id, resolve);
      child.send({ id, targets, total, concurrency });
    });

  // Warm-up: every replica's first turns (JIT, pools, prepared statements).
  await remote(REPLICAS, 60, 6);
  const per = Math.max(1, Math.round(TOTAL / ROUNDS));
  const rounds: Record<string, Array<LoadResult & { loadavg1: number }>> = { '1': [], '3': [] };
  const peakRss: number[] = replicas.map(() => 0);
  for (let round = 0; round < ROUNDS; round++) {
    for (const n of round % 2 ? [REPLICAS, 1] : [1, REPLICAS]) {
      const loadavg1 = +os.loadavg()[0]!.toFixed(2);
      const sampler = setInterval(() => replicas.forEach((r, i) => (peakRss[i] = Math.max(peakRss[i]!, rssMb(r.child.pid!) || 0))), 100);
      const r = await remote(n, per, CONCURRENCY);
      clearInterval(sampler);
      rounds[String(n)]!.push({ ...r, loadavg1 });
    }
  }
  child.disconnect();

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const summary: Record<string, { rps: number; p50_ms: number; p95_ms: number; n: number; errors: number }> = {};
  const rows = [];
  for (const n of ['1', '3']) {
    const rs = rounds[n]!;
    const s = {
      rps: +median(rs.map((r) => r.rps)).toFixed(1),
      p50_ms: +median(rs.map((r) => r.p50)).toFixed(1),
      p95_ms: +median(rs.map((r) => r.p95)).toFixed(1),
      n: rs.reduce((a, r) => a + r.n, 0),
      errors: rs.reduce((a, r) => a + r.errors, 0),
    };
    summary[n] = s;
    rows.push({ replicas: Number(n), clients: CONCURRENCY, n: s.n, errors: s.errors, 'req/s': s.rps, 'p50 ms': s.p50_ms, 'p95 ms': s.p95_ms, 'req/s per round': rs.map((r) => r.rps.toFixed(0)).join(' '), 'load1 (min-max)': `${Math.min(...rs.map((r) => r.loadavg1))}-${Math.max(...rs.map((r) => r.loadavg1))}` });
  }

  // Failover: SIGKILL the leader of the answerer sweep, time until a survivor leads (twice).
  const failovers: number[] = [];
  let alive = [...replicas];
  for (let k = 0; k < 2; k++) {
    const leader = alive.find((r) => leads(r.output()));
    if (!leader) throw new Error('no replica leads');
    const others = alive.filter((r) => r !== leader);
    const before = new Map(others.map((r) => [r, r.output().length]));
    const t0 = performance.now();
    leader.child.kill('SIGKILL');
    let next: (typeof alive)[number] | undefined;
    while (!next && performance.now() - t0 < 60_000) {
      next = others.find((r) => leads(r.output().slice(before.get(r)!)));
      if (!next) await new Promise((r) => setTimeout(r, 10));
    }
    if (!next) throw new Error('no replica took over within 60 s');
    failovers.push(Math.round(performance.now() - t0));
    await leader.exited;
    alive = others;
  }

  console.log(`\nbench/replicas (/v1 chat JSON, instant scripted upstream, ${CONCURRENCY} clients round-robin from a separate process, ${os.cpus().length} cores, FEATURES=powersync)\n`);
  console.log(table(rows));
  const scaling = +(summary['3']!.rps / summary['1']!.rps).toFixed(2);
  console.log(`\n3 replicas / 1: ${scaling}× req/s`);
  console.log(`RSS MB: replicas idle ${idleRss.join(', ')}; peak under load ${peakRss.map((x) => x.toFixed(0)).join(', ')}; services process tree (Postgres + PowerSync stand-in) ${servicesRss}`);
  console.log(`failover (SIGKILL of the leader → a survivor leads, LEADERSHIP_POLL_MS=${POLL_MS}): ${failovers.join(' ms, ')} ms`);

  const file = await writeResult('replicas', {
    params: { TOTAL, CONCURRENCY, ROUNDS, REPLICAS, LEADERSHIP_POLL_MS: POLL_MS, cores: os.cpus().length, features: 'powersync' },
    summary: { ...summary, scaling_3_over_1: scaling },
    rounds,
    rss_mb: { replicas_idle: idleRss, replicas_peak: peakRss.map((x) => +x.toFixed(1)), services_tree_idle: servicesRss },
    failover_ms: failovers,
  });
  console.log(`\nwrote ${file}`);

  for (const r of alive) r.child.kill('SIGTERM');
  await Promise.all(alive.map((r) => r.exited));
  services.child.kill('SIGTERM');
  await services.exited;
} finally {
  await cleanup();
}
