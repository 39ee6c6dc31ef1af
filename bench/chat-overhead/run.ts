/**
 * bench/chat-overhead: what our OpenAI-compatible layer costs.
 * With THE SCRIPTED MODEL as an instant local upstream, at 1 and 50 concurrent clients:
 *   (a) the upstream directly, (b) agent.generate/stream in-process,
 *   (c) Mastra's own /api/agents/:id/generate|stream, (d) our /v1/chat/completions.
 * Every agent path uses memory (a fresh thread per request, stored in the embedded
 * Postgres), as /v1 does. Everything runs in this one process (server and load), so
 * peak RSS is the process's. Targets: (d) adds ≤ 2 ms p50 over (b); (d) ≤ (c).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import { startTestSystem } from '../../harness/system';
import { load, readStream, table, writeResult, type LoadResult } from '../lib';

const N1 = Number(process.env.BENCH_N1 ?? 200);
const N50 = Number(process.env.BENCH_N50 ?? 1000);
const t = await startTestSystem({ env: { FEATURES: 'none', RATE_LIMIT_RPM: '0' } });
const agent = t.system.runtime.mastra.getAgent('assistant');
const base = t.system.url;
const up = t.model.url;
const msg = (i: number) => `benchmark message ${i}`;
const json = { 'content-type': 'application/json' };
let i = 0;

const variants: Record<string, { stream: boolean; run: () => Promise<{ ok: boolean; ttftMs?: number }> }> = {
  'a upstream direct': {
    stream: false,
    run: async () => {
      const r = await fetch(`${up}/chat/completions`, { method: 'POST', headers: json, body: JSON.stringify({ model: 'scripted', messages: [{ role: 'user', content: msg(i++) }] }) });
      await r.json();
      return { ok: r.ok };
    },
  },
  'b agent.generate': {
    stream: false,
    run: async () => {
      const r = await agent.generate(msg(i++), { memory: { resource: 'bench', thread: randomUUID() } });
      return { ok: r.text.startsWith('Echo:') };
    },
  },
  'c mastra /api generate': {
    stream: false,
    run: async () => {
      const r = await fetch(`${base}/api/agents/assistant/generate`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ messages: [{ role: 'user', content: msg(i++) }], memory: { resource: 'bench', thread: randomUUID() } }),
      });
      const body = await r.json();
      return { ok: r.ok && String(body.text).startsWith('Echo:') };
    },
  },
  'd our /v1 (json)': {
    stream: false,
    run: async () => {
      const r = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: json, body: JSON.stringify({ model: 'assistant', user: 'bench', messages: [{ role: 'user', content: msg(i++) }] }) });
      const body = await r.json();
      return { ok: r.ok && body.choices[0].message.content.startsWith('Echo:') };
    },
  },
  'a upstream direct (stream)': {
    stream: true,
    run: async () => {
      const t0 = performance.now();
      const r = await fetch(`${up}/chat/completions`, { method: 'POST', headers: json, body: JSON.stringify({ model: 'scripted', stream: true, messages: [{ role: 'user', content: msg(i++) }] }) });
      return { ok: r.ok, ttftMs: await readStream(r, '"content":"Echo', t0) };
    },
  },
  'b agent.stream': {
    stream: true,
    run: async () => {
      const t0 = performance.now();
      const s = await agent.stream(msg(i++), { memory: { resource: 'bench', thread: randomUUID() } });
      let ttftMs: number | undefined;
      for await (const part of s.fullStream as AsyncIterable<{ type: string }>) if (ttftMs === undefined && part.type === 'text-delta') ttftMs = performance.now() - t0;
      return { ok: ttftMs !== undefined, ttftMs };
    },
  },
  'c mastra /api stream': {
    stream: true,
    run: async () => {
      const t0 = performance.now();
      const r = await fetch(`${base}/api/agents/assistant/stream`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ messages: [{ role: 'user', content: msg(i++) }], memory: { resource: 'bench', thread: randomUUID() } }),
      });
      const ttftMs = await readStream(r, '"text-delta"', t0);
      return { ok: r.ok && ttftMs !== undefined, ttftMs };
    },
  },
  'd our /v1 (stream)': {
    stream: true,
    run: async () => {
      const t0 = performance.now();
      const r = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ model: 'assistant', user: 'bench', stream: true, messages: [{ role: 'user', content: msg(i++) }] }),
      });
      const ttftMs = await readStream(r, '"content":"Echo', t0);
      return { ok: r.ok && ttftMs !== undefined, ttftMs };
    },
  },
};

const results: Record<string, Record<string, LoadResult>> = {};
const rows = [];
for (const [conc, total] of [
  [1, N1],
  [50, N50],
] as const) {
  for (const [name, v] of Object.entries(variants)) {
    await load(v.run, Math.min(20, total), Math.min(conc, 10)); // warm-up
    const r = await load(v.run, total, conc);
    (results[name] ??= {})[`c${conc}`] = r;
    rows.push({ variant: name, clients: conc, n: r.n, errors: r.errors, 'p50 ms': r.p50, 'p95 ms': r.p95, 'ttft p50': r.ttftP50, 'req/s': r.rps, 'peak RSS MB': r.peakRssMb });
  }
}

const verdict: Record<string, unknown> = {};
for (const c of ['c1', 'c50']) {
  const b = results['b agent.generate']![c]!.p50;
  const cc = results['c mastra /api generate']![c]!.p50;
  const d = results['d our /v1 (json)']![c]!.p50;
  const bs = results['b agent.stream']![c]!.p50;
  const cs = results['c mastra /api stream']![c]!.p50;
  const ds = results['d our /v1 (stream)']![c]!.p50;
  verdict[c] = {
    json_added_over_in_process_ms: +(d - b).toFixed(2),
    stream_added_over_in_process_ms: +(ds - bs).toFixed(2),
    json_ours_minus_mastra_api_ms: +(d - cc).toFixed(2),
    stream_ours_minus_mastra_api_ms: +(ds - cs).toFixed(2),
  };
}

console.log('\nbench/chat-overhead (instant scripted upstream; every agent path stores a fresh memory thread in Postgres)\n');
console.log(table(rows));
console.log('\nOur layer vs. in-process (b) and vs. Mastra /api (c), p50 ms:');
console.log(table(Object.entries(verdict).map(([k, v]) => ({ clients: k, ...(v as Record<string, number>) }))));
const file = await writeResult('chat-overhead', { params: { N1, N50 }, results, verdict });
console.log(`\nJSON: ${file}`);
await t.stop();
await fs.rm(t.dataDir, { recursive: true, force: true }).catch(() => {});
process.exit(0);
