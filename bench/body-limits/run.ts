/**
 * bench/body-limits: how long the event loop stalls while the server handles bodies at
 * the size limit (1 MB). /health is polled from this process while each body is sent;
 * the system runs in the same process, so the slowest /health answer is the stall.
 * Target: < 100 ms for every case.
 */
import { startTestSystem } from '../../harness/system';
import { MAX_MESSAGES } from '../../src/server/openai/schema';
import os from 'node:os';
import { table, writeResult } from '../lib';

const LIMIT = 1024 * 1024;
const t = await startTestSystem({ env: { FEATURES: 'none', BODY_LIMIT: '1mb', RATE_LIMIT_RPM: '0' } });
const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${t.system.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

function bodyOf(count: number) {
  const role = (i: number) => (i === count - 1 || i % 2 === 0 ? 'user' : 'assistant');
  const skeleton = JSON.stringify({ model: 'assistant', messages: Array.from({ length: count }, (_, i) => ({ role: role(i), content: '' })) }).length;
  const per = Math.floor((LIMIT - 200 - skeleton) / count);
  return { model: 'assistant', messages: Array.from({ length: count }, (_, i) => ({ role: role(i), content: `m${i} `.padEnd(per, 'x') })) };
}

async function stall(work: () => Promise<number>) {
  let done = false;
  let worst = 0;
  const poller = (async () => {
    while (!done) {
      const t0 = performance.now();
      await (await fetch(`${t.system.url}/health`)).arrayBuffer();
      worst = Math.max(worst, performance.now() - t0);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  const t0 = performance.now();
  const status = await work();
  const ms = performance.now() - t0;
  done = true;
  await poller;
  return { status, request_ms: ms, worst_health_ms: worst };
}

await post({ model: 'assistant', messages: [{ role: 'user', content: 'warm up' }] });
const cases: Array<[string, () => Promise<number>]> = [
  ['25 000 tiny messages (refused)', async () => (await post(bodyOf(25_000))).status],
  [`${MAX_MESSAGES - 1} messages of ~4 KB`, async () => (await post(bodyOf(MAX_MESSAGES - 1), { 'x-thread-id': `bench-${Date.now()}` })).status],
  ['one ~1 MB message', async () => (await post(bodyOf(1))).status],
  ['30 000 content parts (refused)', async () => (await post({ model: 'assistant', messages: [{ role: 'user', content: Array.from({ length: 30_000 }, () => ({ type: 'text', text: 'abcdefgh' })) }] })).status],
];
const rows = [];
for (const [name, work] of cases) {
  const runs = [];
  for (let i = 0; i < 3; i++) runs.push(await stall(work));
  const worst = Math.max(...runs.map((r) => r.worst_health_ms));
  rows.push({ case: name, status: runs[0]!.status, 'request ms (median)': runs.map((r) => r.request_ms).sort((a, b) => a - b)[1]!, 'worst /health ms': worst, 'target < 100 ms': worst < 100 ? 'met' : 'NOT met' });
}
console.log('\nbench/body-limits: event-loop stall while bodies at the 1 MB limit are handled (3 runs each)\n');
console.log(table(rows));
const file = await writeResult('body-limits', { loadavg: os.loadavg(), cases: rows });
console.log(`\nJSON: ${file}`);
await t.stop();
process.exit(0);
