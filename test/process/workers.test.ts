/**
 * `npm start` with WORKERS=2 (src/system/workers.ts): the start process runs the backing
 * services once and two HTTP worker processes share PORT. A conversation continues
 * whichever worker takes each turn (its thread is in Postgres), a worker killed with
 * SIGKILL is restarted while the other keeps answering (and /ready says one is missing
 * until it is back), and SIGTERM stops the workers and then the embedded Postgres.
 * THE SCRIPTED MODEL answers (harness/scripted-model.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../services/lib/net';
import { lastUserText, startScriptedModel, type ScriptedModel } from '../../harness/scripted-model';
import { alive, killAll, startMain, stopGroup } from '../../harness/process';
import { makeDataDir } from '../../harness/system';
import { waitFor } from '../../harness/atproto';

let model: ScriptedModel;
let dataDir: string;

beforeAll(async () => {
  model = await startScriptedModel({ script: (req) => ({ text: `echo: ${lastUserText(req)}` }) });
  dataDir = await makeDataDir('one-agents-workers-');
});
afterAll(async () => {
  killAll();
  await model?.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

/** `pid` of every JSON log line with `msg` (worker lines come through the primary's stdio). */
function pidsOf(output: string, msg: string): number[] {
  const out: number[] = [];
  for (const line of output.split('\n')) {
    try {
      const o = JSON.parse(line) as { msg?: string; pid?: number };
      if (o.msg === msg && typeof o.pid === 'number') out.push(o.pid);
    } catch {}
  }
  return out;
}

describe('WORKERS=2', () => {
  it('serves one conversation from both workers, restarts a killed worker, and stops everything on SIGTERM', { timeout: 240_000 }, async () => {
    const port = await freePort();
    const app = startMain({ PORT: String(port), DATA_DIR: dataDir, WORKERS: '2', FEATURES: 'none', MODEL: 'openai/scripted', OPENAI_BASE_URL: model.url, LOG_LEVEL: 'info' }, { group: true });
    await app.up;
    const workers = pidsOf(app.output(), 'worker ready');
    expect(workers).toHaveLength(2);
    expect(new Set([...workers, app.child.pid])).toHaveProperty('size', 3);
    const pgPid = Number((await fs.readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect(alive(pgPid)).toBe(true);

    // One conversation, turns spread over the workers (new connection each: the cluster hands them out in turn).
    const base = `http://127.0.0.1:${port}`;
    const turn = async (content: string, threadId?: string) => {
      const r = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close', ...(threadId ? { 'x-thread-id': threadId } : {}) },
        body: JSON.stringify({ model: 'assistant', messages: [{ role: 'user', content }] }),
      });
      expect(r.status).toBe(200);
      return r.headers.get('x-thread-id')!;
    };
    const threadId = await turn('one');
    for (const word of ['two', 'three', 'four']) await turn(word, threadId);
    const seen = model.requests.at(-1)!.messages.filter((m) => m.role === 'user').map((m) => m.content);
    expect(seen).toEqual(['one', 'two', 'three', 'four']);
    expect((await fetch(`${base}/ready`)).status).toBe(200);

    // A worker dies: the other keeps answering, /ready says one is missing, then it is back under a new pid.
    process.kill(workers[0]!, 'SIGKILL');
    await waitFor('the primary notices', async () => app.output().includes('worker died; restarting it'), 30_000);
    const ready = await fetch(`${base}/ready`, { headers: { connection: 'close' } });
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { services: Record<string, { ok: boolean; error?: string }> }).services.workers).toMatchObject({ ok: false, error: '1 of 2 workers up' });
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'dev', maxRetries: 0 });
    const during = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'still there?' }] });
    expect(during.choices[0]!.message.content).toBe('echo: still there?');
    await waitFor('a third worker pid', async () => pidsOf(app.output(), 'worker ready').length === 3, 120_000);
    const restarted = pidsOf(app.output(), 'worker ready')[2]!;
    expect(workers).not.toContain(restarted);
    await waitFor('/ready again', async () => (await fetch(`${base}/ready`, { headers: { connection: 'close' } })).status === 200, 30_000);

    // SIGTERM to the start process alone: it stops the workers, then the services.
    app.child.kill('SIGTERM');
    expect(await app.exited).toBe(0);
    for (const pid of [workers[1]!, restarted, pgPid]) expect({ pid, alive: alive(pid) }).toEqual({ pid, alive: false });
    expect(app.output()).toContain('"msg":"stopped"');
    await stopGroup(app);
  });

  it('a bad WORKERS value exits 78 naming the variable', { timeout: 120_000 }, async () => {
    const bad = startMain({ PORT: String(await freePort()), DATA_DIR: dataDir, WORKERS: 'lots', FEATURES: 'none' });
    bad.up.catch(() => {});
    expect(await bad.exited).toBe(78);
    expect(bad.output()).toContain('WORKERS');
  });
});
