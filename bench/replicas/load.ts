/**
 * The load generator of bench/replicas and bench/workers, in its own process (forked by
 * their run.ts): /v1 chat JSON requests, round-robin over the first `targets` of the
 * message's `bases` (else BENCH_BASES). Receives { id, targets, total, concurrency,
 * bases? } over IPC and answers with { id, result }.
 */
import { load } from '../lib';

const envBases = (process.env.BENCH_BASES ?? '').split(',').filter(Boolean);
let i = 0;
let rr = 0;

const chat = (bases: string[], targets: number) => async () => {
  const base = bases[rr++ % targets]!;
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'assistant', user: 'bench', messages: [{ role: 'user', content: `chat benchmark ${process.pid}-${i++}` }] }),
  });
  const body = await r.json();
  return { ok: r.ok && String(body.choices?.[0]?.message?.content).startsWith('Echo:') };
};

if (process.send) {
  process.on('message', async (m: { id: number; targets: number; total: number; concurrency: number; bases?: string[] }) => {
    const result = await load(chat(m.bases ?? envBases, m.targets), m.total, m.concurrency);
    process.send!({ id: m.id, result });
  });
  process.on('disconnect', () => process.exit(0));
}
