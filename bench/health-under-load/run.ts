/**
 * bench/health-under-load: /health latency (p50, p95, max) while 50 requests run in
 * parallel (issue 21 item 8). /health is polled from this process every ~5 ms while each
 * batch runs; the system runs in the same process, so a slow /health answer is time the
 * event loop spent on something else. Attribution: each kind of request is also run alone
 * (50 of that kind in parallel), and the mixed batch (50 spread over all kinds) last; the
 * kind whose own batch shows the worst /health is what blocks. Event-loop delay
 * (perf_hooks.monitorEventLoopDelay, max) is reported beside it. The model is the
 * harness's scripted model (echo), so the numbers are the server's own work.
 */
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startTestSystem } from '../../harness/system';
import { percentile, table, writeResult } from '../lib';

const t = await startTestSystem({ env: { FEATURES: 'none', RATE_LIMIT_RPM: '0' } });
const url = t.system.url;
const post = (path: string, body: unknown) => fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const drain = async (r: Response) => {
  await r.arrayBuffer();
  return r.status;
};
const ask = [{ role: 'user', content: 'hello there' }];
const props = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i.toString(36)}`, { type: 'null' }]));

// The large bodies are serialized once, here: the batches measure the server, not this client.
const schemaBody = (n: number) => JSON.stringify({ model: 'assistant', messages: ask, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: props(n) } } } });
const body250 = schemaBody(250);
const body2700 = schemaBody(2700);

const kinds: Record<string, () => Promise<number>> = {
  'chat': async () => drain(await post('/v1/chat/completions', { model: 'assistant', messages: ask })),
  'chat stream': async () => drain(await post('/v1/chat/completions', { model: 'assistant', messages: ask, stream: true })),
  'responses': async () => drain(await post('/v1/responses', { model: 'assistant', input: 'hello there', store: false })),
  'json_schema, pattern ^(a|a)*$': async () =>
    drain(await post('/v1/chat/completions', { model: 'assistant', messages: ask, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', patternProperties: { '^(a|a)*$': {} } } } } })),
  'json_schema, 250 properties': async () => drain(await post('/v1/chat/completions', body250)),
  'json_schema, 2,700 properties (400)': async () => drain(await post('/v1/chat/completions', body2700)),
  'tool, pattern (a+)+ (400)': async () =>
    drain(await post('/v1/chat/completions', { model: 'assistant', messages: ask, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { q: { type: 'string', pattern: '^(a+)+$' } } } } }] })),
  '/v1/models': async () => drain(await fetch(`${url}/v1/models`)),
  '/metrics': async () => drain(await fetch(`${url}/metrics`)),
  'unknown path (404)': async () => drain(await fetch(`${url}/scan-${Math.random()}`)),
};
const names = Object.keys(kinds);

async function measure(jobs: Array<() => Promise<number>>) {
  const health: number[] = [];
  let done = false;
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const poller = (async () => {
    while (!done) {
      const t0 = performance.now();
      await (await fetch(`${url}/health`)).arrayBuffer();
      health.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const t0 = performance.now();
  const statuses = await Promise.all(jobs.map((j) => j().catch(() => 0)));
  const wall = performance.now() - t0;
  done = true;
  await poller;
  h.disable();
  const count: Record<string, number> = {};
  for (const s of statuses) count[s] = (count[s] ?? 0) + 1;
  return {
    statuses: Object.entries(count).map(([s, n]) => `${s}×${n}`).join(' '),
    batch_ms: wall,
    health_polls: health.length,
    health_p50_ms: percentile(health, 50),
    health_p95_ms: percentile(health, 95),
    health_max_ms: Math.max(...health),
    loop_delay_max_ms: h.max / 1e6,
  };
}

await drain(await post('/v1/chat/completions', { model: 'assistant', messages: ask })); // warm up
const rows: Array<Record<string, string | number>> = [];
for (const name of names) rows.push({ batch: `50 × ${name}`, ...(await measure(Array.from({ length: 50 }, () => kinds[name]!))) });
const mixed = Array.from({ length: 50 }, (_, i) => kinds[names[i % names.length]!]!);
rows.push({ batch: `50 mixed (${names.length} kinds)`, ...(await measure(mixed)) });

console.log('\nbench/health-under-load: /health while 50 requests run in parallel (same process)\n');
console.log(table(rows));
const worst = rows.slice(0, -1).reduce((a, b) => ((b.health_max_ms as number) > (a.health_max_ms as number) ? b : a));
console.log(`\nworst single kind: ${worst.batch} (/health max ${(worst.health_max_ms as number).toFixed(1)} ms)`);
const file = await writeResult('health-under-load', { loadavg: os.loadavg(), cpus: os.cpus().length, rows, worst_kind: worst.batch });
console.log(`JSON: ${file}`);
await t.stop();
process.exit(0);
