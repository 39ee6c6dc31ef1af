/**
 * bench/chat-overhead: what an agent turn costs on top of the model, and what memory adds.
 * THE SCRIPTED MODEL is an instant local upstream. This process only serves (the real
 * system, FEATURES=none) and runs the in-process variants; the HTTP load comes from a
 * child process (load.ts), so parsing responses does not compete with the server.
 *
 *   upstream             the scripted model directly (HTTP)
 *   inprocess_stateless  agent.generate of the `assistant` agent without memory
 *   inprocess_memory     agent.generate of `assistant` with Postgres memory (fresh thread)
 *   inprocess_memory_upstream  the same agent with Mastra's stock Memory + PostgresStore on
 *                        the same database, in a Mastra instance of its own: the memory
 *                        path as it was before src/mastra/memory.ts (now src/db/memory/memory.ts), measured in the same run
 *   mastra_route         Mastra's /api/agents/assistant/generate (fresh thread)
 *   v1_json, v1_stream   our /v1/chat/completions (a fresh thread per request, as /v1 does)
 *   v1_json_thread       the same, continuing conversations: each request takes a thread no
 *                        other request is using and sends its next turn with x-thread-id
 *                        (as many threads as clients; history up to lastMessages = 40)
 *
 * Every variant runs at 1 and 50 concurrent clients in this one run, interleaved in
 * BENCH_CHAT_ROUNDS rounds (each round runs every variant once, in rotating order, with
 * total/rounds requests), so a busy machine's load swings hit every variant alike; a
 * variant's numbers are the medians over its rounds. BENCH_CHAT_VARIANTS picks a subset
 * (e.g. for a CPU profile). The JSON gets the load average of each round and the idle
 * RSS of the whole stack (this process + the embedded Postgres).
 * TRACING=false: the same run without Mastra's traces (on by default, as in production);
 * TRACING_SAMPLE_RATIO=0.1: with one trace in ten kept.
 * BENCH_CPU_PROF=<dir>: a V8 CPU profile of this (the server) process over the load
 * only, without start-up and shutdown (summarise it with profile.ts).
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Session } from 'node:inspector/promises';
import { Mastra } from '@mastra/core';
import { Agent } from '@mastra/core/agent';
import { Memory } from '@mastra/memory';
import { PostgresStore } from '@mastra/pg';
import { startTestSystem } from '../../harness/system';
import { ASSISTANT_INSTRUCTIONS } from '../../src/mastra/agents/assistant';
import { resolveModel } from '../../src/mastra/model';
import { createGeneralTools } from '../../src/tools';
import { load, table, writeResult, type LoadResult } from '../lib';

const N1 = Number(process.env.BENCH_N1 ?? 200);
const N50 = Number(process.env.BENCH_N50 ?? 1000);
const ROUNDS = Number(process.env.BENCH_CHAT_ROUNDS ?? 5);
const ALL = ['upstream', 'inprocess_stateless', 'inprocess_memory', 'inprocess_memory_upstream', 'mastra_route', 'v1_json', 'v1_json_thread', 'v1_stream'];
const pick = process.env.BENCH_CHAT_VARIANTS?.split(',').filter(Boolean) ?? ALL;

// TRACING (default on, as in production) can be switched off for a run to measure what the traces cost.
const TRACING = process.env.TRACING;
// TRACING_SAMPLE_RATIO=0.1: the same run with one trace in ten kept.
const SAMPLE = process.env.TRACING_SAMPLE_RATIO;
const t = await startTestSystem({ env: { FEATURES: 'none', RATE_LIMIT_RPM: '0', ...(TRACING ? { TRACING } : {}), ...(SAMPLE ? { TRACING_SAMPLE_RATIO: SAMPLE } : {}) } });
const { mastra } = t.system.runtime;
const withMemory = mastra.getAgent('assistant');
// The same agent (model, instructions, tools) without memory, registered the same way.
const stateless = new Agent({
  id: 'assistant-stateless',
  name: 'assistant-stateless',
  instructions: ASSISTANT_INSTRUCTIONS,
  model: resolveModel(t.system.ctx.config, 'assistant'),
  maxRetries: 0,
  tools: createGeneralTools(),
});
mastra.addAgent(stateless, 'assistant-stateless');
// Stock Mastra: Memory + PostgresStore as src/system/runtime.ts configured them before src/mastra/memory.ts (now src/db/memory/memory.ts).
const stockStore = new PostgresStore({ id: 'bench-stock-pg', connectionString: t.system.ctx.urls.databaseUrl });
await stockStore.init();
const stockAgent = new Agent({
  id: 'assistant-stock',
  name: 'assistant-stock',
  instructions: ASSISTANT_INSTRUCTIONS,
  model: resolveModel(t.system.ctx.config, 'assistant'),
  maxRetries: 0,
  tools: createGeneralTools(),
  memory: new Memory({ storage: stockStore, options: { lastMessages: 40, workingMemory: { enabled: true, scope: 'resource' }, generateTitle: false } }),
});
new Mastra({ agents: { 'assistant-stock': stockAgent }, storage: stockStore, logger: false });
let i = 0;
const IN_PROCESS: Record<string, () => Promise<{ ok: boolean }>> = {
  inprocess_stateless: async () => ({ ok: (await stateless.generate(`benchmark message ${i++}`)).text.startsWith('Echo:') }),
  inprocess_memory: async () => ({ ok: (await withMemory.generate(`benchmark message ${i++}`, { memory: { resource: 'bench', thread: randomUUID() } })).text.startsWith('Echo:') }),
  inprocess_memory_upstream: async () => ({ ok: (await stockAgent.generate(`benchmark message ${i++}`, { memory: { resource: 'bench', thread: randomUUID() } })).text.startsWith('Echo:') }),
};

/** RSS and PSS (MB) of this process plus every process of the embedded Postgres. */
function stackMemory() {
  const pgPid = Number(fs.readFileSync(path.join(t.dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const pids = [process.pid, pgPid];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pgPid) pids.push(Number(d));
    } catch {}
  }
  const field = (pid: number, file: string, key: string) => {
    try {
      const m = fs.readFileSync(`/proc/${pid}/${file}`, 'utf8').match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
      return m ? Number(m[1]) / 1024 : 0;
    } catch {
      return 0;
    }
  };
  const sum = (file: string, key: string) => +pids.reduce((a, p) => a + field(p, file, key), 0).toFixed(1);
  return { processes: pids.length, app_rss_mb: +field(process.pid, 'status', 'VmRSS').toFixed(1), rss_sum_mb: sum('status', 'VmRSS'), pss_sum_mb: sum('smaps_rollup', 'Pss') };
}

const child = fork(path.join(import.meta.dirname, 'load.ts'), [], {
  execArgv: ['--import', 'tsx'],
  env: { ...process.env, BENCH_BASE: t.system.url, BENCH_UPSTREAM: t.model.url },
  stdio: 'inherit',
});
const pending = new Map<string, (r: LoadResult) => void>();
child.on('message', (m: { variant: string; result: LoadResult }) => pending.get(m.variant)?.(m.result));
const remote = (variant: string, total: number, concurrency: number) =>
  new Promise<LoadResult>((resolve) => {
    pending.set(variant, resolve);
    child.send({ variant, total, concurrency });
  });

const idleBefore = stackMemory();
const loadavgStart = os.loadavg();
const profDir = process.env.BENCH_CPU_PROF;
const profiler = profDir ? new Session() : undefined;
if (profiler) {
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
type Row = { p50_ms: number; p95_ms: number; rps: number; ttft_p50_ms?: number; n: number; errors: number; rounds: Array<LoadResult & { loadavg1: number }>; server_peak_rss_mb: number };
const variants: Record<string, Record<string, Row>> = {};
const rows = [];
const names = ALL.filter((v) => pick.includes(v));
for (const [conc, total] of [
  [1, N1],
  [50, N50],
] as const) {
  const per = Math.max(1, Math.round(total / ROUNDS));
  const rounds: Record<string, Array<LoadResult & { loadavg1: number }>> = {};
  const peaks: Record<string, number> = {};
  for (const name of names) {
    // warm-up, once per variant and concurrency
    if (IN_PROCESS[name]) await load(IN_PROCESS[name], Math.min(20, total), Math.min(conc, 10));
    else await remote(name, Math.min(20, total), Math.min(conc, 10));
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + round) % names.length]!;
      const loadavg1 = +os.loadavg()[0]!.toFixed(2);
      let peak = process.memoryUsage().rss;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25);
      const r = IN_PROCESS[name] ? await load(IN_PROCESS[name], per, conc) : await remote(name, per, conc);
      clearInterval(sampler);
      peaks[name] = Math.max(peaks[name] ?? 0, peak / 1048576);
      (rounds[name] ??= []).push({ ...r, loadavg1 });
    }
  }
  for (const name of names) {
    const rs = rounds[name]!;
    const ttft = rs.map((r) => r.ttftP50).filter((x): x is number => x !== undefined);
    const row: Row = {
      p50_ms: +median(rs.map((r) => r.p50)).toFixed(2),
      p95_ms: +median(rs.map((r) => r.p95)).toFixed(2),
      rps: +median(rs.map((r) => r.rps)).toFixed(1),
      ...(ttft.length ? { ttft_p50_ms: +median(ttft).toFixed(2) } : {}),
      n: rs.reduce((a, r) => a + r.n, 0),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      server_peak_rss_mb: +peaks[name]!.toFixed(1),
      rounds: rs,
    };
    (variants[name] ??= {})[`c${conc}`] = row;
    rows.push({ variant: name, clients: conc, n: row.n, errors: row.errors, 'p50 ms': row.p50_ms, 'p95 ms': row.p95_ms, 'ttft p50': row.ttft_p50_ms, 'req/s': row.rps, 'server RSS MB': row.server_peak_rss_mb, 'load1 (min-max)': `${Math.min(...rs.map((r) => r.loadavg1))}-${Math.max(...rs.map((r) => r.loadavg1))}` });
  }
}
if (profiler) {
  const { profile } = await profiler.post('Profiler.stop');
  fs.mkdirSync(profDir!, { recursive: true });
  const out = path.join(profDir!, `chat-overhead-${process.pid}.cpuprofile`);
  fs.writeFileSync(out, JSON.stringify(profile));
  console.log(`CPU profile: ${out} (${rows.reduce((a, r) => a + r.n, 0)} requests)`);
}
child.disconnect();
await new Promise((r) => setTimeout(r, 1000));
const idleAfter = stackMemory();

console.log('\nbench/chat-overhead (instant scripted upstream; load from a separate process; memory variants use a fresh thread per request)\n');
console.log(table(rows));
const v = (n: string, c: string, k: 'p50_ms' | 'rps') => variants[n]?.[c]?.[k];
const summary = {
  stock_memory_cost_c1_p50_ms: +((v('inprocess_memory_upstream', 'c1', 'p50_ms') ?? NaN) - (v('inprocess_stateless', 'c1', 'p50_ms') ?? NaN)).toFixed(2),
  memory_cost_c1_p50_ms: +((v('inprocess_memory', 'c1', 'p50_ms') ?? NaN) - (v('inprocess_stateless', 'c1', 'p50_ms') ?? NaN)).toFixed(2),
  v1_json_over_stateless_c1_p50_ms: +((v('v1_json', 'c1', 'p50_ms') ?? NaN) - (v('inprocess_stateless', 'c1', 'p50_ms') ?? NaN)).toFixed(2),
  v1_json_c50_rps: +(v('v1_json', 'c50', 'rps') ?? NaN).toFixed(1),
  v1_json_thread_c1_p50_ms: +(v('v1_json_thread', 'c1', 'p50_ms') ?? NaN).toFixed(2),
  v1_json_thread_c50_rps: +(v('v1_json_thread', 'c50', 'rps') ?? NaN).toFixed(1),
};
console.log('\n', summary);
console.log('idle stack memory (this process + embedded Postgres), before / after the load:', idleBefore, idleAfter);
const file = await writeResult('chat-overhead', {
  params: { N1, N50, ROUNDS, cores: os.cpus().length, features: 'none', tracing: t.system.ctx.config.observability.enabled, tracing_sample_ratio: t.system.ctx.config.observability.sampleRatio },
  loadavg: { start: loadavgStart, end: os.loadavg() },
  idle_stack_memory: { before_load: idleBefore, after_load: idleAfter },
  summary,
  variants,
});
console.log(`\nJSON: ${file}`);
await stockStore.close();
await t.stop();
process.exit(0);
