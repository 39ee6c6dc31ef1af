/**
 * The load generator of bench/replicas, in its own process (forked by run.ts): /v1 chat
 * JSON requests, round-robin over the first `targets` of BENCH_BASES. Receives
 * { id, targets, total, concurrency } over IPC and answers with { id, result }.
 */
import { load } from '../lib';

const bases = process.env.BENCH_BASES!.split(',');
let i = 0;
let rr = 0;

const chat = (targets: number) => async () => {
  const base = bases[rr++ % targets]!;
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'assistant', user: 'bench', messages: [{ role: 'user', content: `replica benchmark ${process.pid}-${i++}` }] }),
  });
  const body = await r.json();
  return { ok: r.ok && String(body.choices?.[0]?.message?.content).startsWith('Echo:') };
};

if (process.send) {
  process.on('message', async (m: { id: number; targets: number; total: number; concurrency: number }) => {
    const result = await load(chat(m.targets), m.total, m.concurrency);
    process.send!({ id: m.id, result });
  });
  process.on('disconnect', () => process.exit(0));
}
