/**
 * The load generator of bench/workers, in its own process (forked by run.ts): /v1 chat
 * JSON requests to the base URL of each message. Receives { id, base, total, concurrency }
 * over IPC and answers with { id, result }.
 */
import { load } from '../lib';

let i = 0;

const chat = (base: string) => async () => {
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'assistant', user: 'bench', messages: [{ role: 'user', content: `workers benchmark ${process.pid}-${i++}` }] }),
  });
  const body = await r.json();
  return { ok: r.ok && String(body.choices?.[0]?.message?.content).startsWith('Echo:') };
};

if (process.send) {
  process.on('message', async (m: { id: number; base: string; total: number; concurrency: number }) => {
    const result = await load(chat(m.base), m.total, m.concurrency);
    process.send!({ id: m.id, result });
  });
  process.on('disconnect', () => process.exit(0));
}
