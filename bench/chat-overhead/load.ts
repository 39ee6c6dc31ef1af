/**
 * The HTTP load generator of bench/chat-overhead, in its own process (forked by run.ts)
 * so parsing responses never competes with the server for its event loop. Receives
 * { variant, total, concurrency } over IPC and answers with the LoadResult.
 */
import { load, readStream } from '../lib';

const base = process.env.BENCH_BASE!;
const up = process.env.BENCH_UPSTREAM!;
const json = { 'content-type': 'application/json' };
let i = 0;
const msg = () => `benchmark message ${process.pid}-${i++}`;
/** Threads of v1_json_thread not in use by a call now. */
const freeThreads: string[] = [];

export const HTTP_VARIANTS: Record<string, () => Promise<{ ok: boolean; ttftMs?: number }>> = {
  upstream: async () => {
    const r = await fetch(`${up}/chat/completions`, { method: 'POST', headers: json, body: JSON.stringify({ model: 'scripted', messages: [{ role: 'user', content: msg() }] }) });
    await r.json();
    return { ok: r.ok };
  },
  mastra_route: async () => {
    const r = await fetch(`${base}/api/agents/assistant/generate`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ messages: [{ role: 'user', content: msg() }], memory: { resource: 'bench', thread: crypto.randomUUID() } }),
    });
    const body = await r.json();
    return { ok: r.ok && String(body.text).startsWith('Echo:') };
  },
  v1_json: async () => {
    const r = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: json, body: JSON.stringify({ model: 'assistant', user: 'bench', messages: [{ role: 'user', content: msg() }] }) });
    const body = await r.json();
    return { ok: r.ok && body.choices[0].message.content.startsWith('Echo:') };
  },
  // A continued conversation: each call takes a thread no other call is using (made by a
  // first turn without x-thread-id when none is free) and sends its next turn with x-thread-id.
  v1_json_thread: async () => {
    const thread = freeThreads.pop();
    const r = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...json, ...(thread ? { 'x-thread-id': thread } : {}) },
      body: JSON.stringify({ model: 'assistant', user: 'bench', messages: [{ role: 'user', content: msg() }] }),
    });
    const body = await r.json();
    const id = r.headers.get('x-thread-id');
    if (id) freeThreads.push(id);
    return { ok: r.ok && body.choices[0].message.content.startsWith('Echo:') };
  },
  v1_stream: async () => {
    const t0 = performance.now();
    const r = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: json, body: JSON.stringify({ model: 'assistant', user: 'bench', stream: true, messages: [{ role: 'user', content: msg() }] }) });
    const ttftMs = await readStream(r, '"content":"Echo', t0);
    return { ok: r.ok && ttftMs !== undefined, ttftMs };
  },
};

if (process.send) {
  process.on('message', async (m: { variant: string; total: number; concurrency: number }) => {
    const r = await load(HTTP_VARIANTS[m.variant]!, m.total, m.concurrency);
    process.send!({ variant: m.variant, result: r });
  });
  process.on('disconnect', () => process.exit(0));
}
