/**
 * The /v1 turn mirror is queued in Postgres before the response is sent and drained in
 * the background (src/clients/powersync/records.ts): a real `src/main.ts` process
 * killed with SIGKILL right after a 200, while its drainer is held up, loses nothing;
 * the restarted process copies the turn into the synced tables (what devices replicate),
 * exactly once.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../services/lib/net';
import { startScriptedModel, type ScriptedModel } from '../../harness/scripted-model';
import { startMain, killAll } from '../../harness/process';
import { makeDataDir } from '../../harness/system';

let model: ScriptedModel;
let dataDir: string;
const t0 = Date.now();
const step = (what: string) => process.env.TEST_LOG_LEVEL && console.log(`${Date.now() - t0} ms: ${what}`);


beforeAll(async () => {
  model = await startScriptedModel();
  dataDir = await makeDataDir('one-agents-mirror-');
});
afterAll(async () => {
  killAll();
  await model?.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('turn mirror queue', () => {
  it('survives kill -9 right after a 200: the restarted process mirrors the turn once', async () => {
    const [port, pgPort] = [await freePort(), await freePort()];
    const env = { PORT: String(port), DATA_DIR: dataDir, FEATURES: 'powersync', EMBEDDED_PG_PORT: String(pgPort), MODEL: 'openai/scripted', OPENAI_BASE_URL: model.url, LOG_LEVEL: 'info' };
    const first = startMain(env);
    await first.up;
    step('first process up');

    const password = (await fs.readFile(path.join(dataDir, 'postgres.password'), 'utf8')).trim();
    const db = new pg.Client({ connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/one_agents` });
    await db.connect();
    try {
      // Hold the drainer up: it cannot write messages until this transaction ends.
      await db.query('begin');
      await db.query('lock table messages in share mode');

      const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'dev', maxRetries: 0 });
      const r = await client.chat.completions.create({ model: 'assistant', user: 'crash-user', messages: [{ role: 'user', content: 'remember me after a crash' }] }).withResponse();
      expect(r.response.status).toBe(200);
      const threadId = r.response.headers.get('x-thread-id')!;
      step('200 received; SIGKILL');
      first.child.kill('SIGKILL');
      await first.exited;
      await db.query('commit');

      // Queued, not mirrored: the killed process's drain never committed.
      expect((await db.query('select count(*)::int as n from turn_mirror_queue')).rows[0].n).toBe(1);
      expect((await db.query('select count(*)::int as n from conversations where thread_id = $1', [threadId])).rows[0].n).toBe(0);
    } finally {
      await db.end().catch(() => {});
    }

    step('restarting');
    const second = startMain(env);
    await second.up;
    const db2 = new pg.Client({ connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/one_agents` });
    await db2.connect();
    try {
      let rows: Array<{ role: string; content: string; owner_id: string }> = [];
      for (let i = 0; i < 100 && rows.length < 2; i++) {
        rows = (
          await db2.query(
            "select m.role, m.content, m.owner_id from messages m join conversations c on c.id = m.conversation_id where c.agent = 'assistant' and c.owner_id = 'crash-user' order by m.created_at",
          )
        ).rows;
        if (rows.length < 2) await new Promise((res) => setTimeout(res, 100));
      }
      expect(rows).toEqual([
        { role: 'user', content: 'remember me after a crash', owner_id: 'crash-user' },
        { role: 'assistant', content: 'Echo: remember me after a crash', owner_id: 'crash-user' },
      ]);
      expect((await db2.query('select count(*)::int as n from turn_mirror_queue')).rows[0].n).toBe(0);
    } finally {
      await db2.end().catch(() => {});
    }
    second.child.kill('SIGTERM');
    await second.exited;
  }, 180_000);
});
