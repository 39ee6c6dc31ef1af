/**
 * kill -9 under load, then restart: a real `src/main.ts` process (all features, API
 * keys) takes chat turns and PowerSync uploads from concurrent clients; it is SIGKILLed
 * mid-load and started again on the same DATA_DIR. Every acknowledged turn (a 200 with
 * its x-thread-id) is in memory and mirrored to the synced tables, every acknowledged
 * upload is in Postgres, and after the final stop no process of the run is left (the
 * embedded Postgres orphaned by the kill is taken over and stopped by the restart).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedModel, type ScriptedModel } from '../../harness/scripted-model';
import { run, startMain, killAll } from '../../harness/process';
import { makeDataDir } from '../../harness/system';
import { freePort } from '../../services/lib/net';

const ALICE = 'sk-crash-alice-00000000001';
const PG_USER = 'postgres';
let model: ScriptedModel;
let dataDir: string;


/** Processes whose command line names this run's data dir (the postmaster and its workers). */
function processesOf(dir: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(dir) && !l.includes('ps -eo'));
}

beforeAll(async () => {
  model = await startScriptedModel();
  dataDir = await makeDataDir('one-agents-crash-');
});
afterAll(async () => {
  killAll();
  await model?.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('kill -9 under load', () => {
  it('keeps every acknowledged turn and upload, and leaves no process behind after the restart', { timeout: 240_000 }, async () => {
    const port = await freePort();
    const pgPort = await freePort();
    const env = {
      PORT: String(port),
      EMBEDDED_PG_PORT: String(pgPort),
      DATA_DIR: dataDir,
      API_KEYS: `${ALICE}:alice`,
      RATE_LIMIT_RPM: '0',
      MODEL: 'openai/scripted',
      OPENAI_BASE_URL: model.url,
      OPENAI_API_KEY: 'sk-upstream-unused-0001',
      ATPROTO_AUTOREPLY: '0',
      LOG_LEVEL: 'info',
    };
    const first = startMain(env);
    await first.up;
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: ALICE, maxRetries: 0, timeout: 20_000 });
    const turns: Array<{ thread: string; text: string }> = [];
    const uploads: string[] = [];
    let running = true;
    const chatWorker = async (w: number) => {
      for (let i = 0; running; i++) {
        const text = `crash turn ${w}-${i}`;
        try {
          const r = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: text }] }).withResponse();
          turns.push({ thread: r.response.headers.get('x-thread-id')!, text });
        } catch {
          return; // the server is gone
        }
      }
    };
    const uploadWorker = async (w: number) => {
      for (let i = 0; running; i++) {
        const id = `crash-note-${w}-${i}`;
        try {
          const r = await fetch(`http://127.0.0.1:${port}/powersync/upload`, {
            method: 'POST',
            headers: { authorization: `Bearer ${ALICE}`, 'content-type': 'application/json' },
            body: JSON.stringify({ batch: [{ op: 'PUT', table: 'notes', id, data: { title: id, body: 'kept' } }] }),
          });
          if (r.status === 200) uploads.push(id);
        } catch {
          return;
        }
      }
    };
    const load = [0, 1, 2].map(chatWorker).concat([0, 1].map(uploadWorker));
    // Let acknowledged work pile up, then kill in the middle of it.
    const t0 = Date.now();
    while ((turns.length < 10 || uploads.length < 10) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 50));
    first.child.kill('SIGKILL');
    running = false;
    await first.exited;
    await Promise.all(load);
    expect(turns.length).toBeGreaterThanOrEqual(10);
    expect(uploads.length).toBeGreaterThanOrEqual(10);
    // The postmaster outlives its parent's SIGKILL (its own process group): an orphan for now.
    expect(processesOf(dataDir).length).toBeGreaterThan(0);

    const second = startMain(env);
    await second.up;
    const password = (await fs.readFile(path.join(dataDir, 'postgres.password'), 'utf8')).trim();
    const db = new pg.Pool({ connectionString: `postgres://${PG_USER}:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/one_agents` });
    try {
      // Every acknowledged upload is there.
      const notes = await db.query<{ id: string }>('select id from notes where owner_id = $1 and id = any($2)', ['alice', uploads]);
      expect(notes.rowCount).toBe(uploads.length);
      // Every acknowledged turn: the thread continues (memory has it) and devices have it.
      for (const t of turns) {
        const m = await db.query('select 1 from messages m join conversations c on c.id = m.conversation_id where c.thread_id = $1 and m.content = $2', [t.thread, t.text]);
        expect(m.rowCount, `mirror of ${t.text}`).toBeGreaterThan(0);
      }
      const last = turns.at(-1)!;
      await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'after the crash' }] }, { headers: { 'x-thread-id': last.thread } });
      const seen = model.requests.at(-1)!.messages.filter((m) => m.role === 'user').map((m) => m.content);
      expect(seen).toContain(last.text);
    } finally {
      await db.end();
    }
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(processesOf(dataDir)).toEqual([]);
  });
});
