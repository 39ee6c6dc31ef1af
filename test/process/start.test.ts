/**
 * The start command as an operator runs it: a real process (src/main.ts under Node 24,
 * which is what `npm start` execs after bootstrapping), PORT and DATA_DIR honoured,
 * clean shutdown on SIGTERM/SIGINT with the embedded Postgres stopped, and a restart
 * that keeps the conversation.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../services/lib/net';
import { startScriptedModel, type ScriptedModel } from '../../harness/scripted-model';
import { run, startMain, alive, killAll } from '../../harness/process';
import { makeDataDir } from '../../harness/system';

let model: ScriptedModel;
let dataDir: string;



beforeAll(async () => {
  model = await startScriptedModel();
  dataDir = await makeDataDir('one-agents-proc-');
});
afterAll(async () => {
  killAll();
  await model?.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('start command', () => {
  it('serves on PORT with data in DATA_DIR, stops cleanly on SIGTERM and SIGINT, and keeps threads across restarts', { timeout: 180_000 }, async () => {
    const port = await freePort();
    const env = { PORT: String(port), DATA_DIR: dataDir, MODEL: 'openai/scripted', OPENAI_BASE_URL: model.url, LOG_LEVEL: 'info' };
    const first = startMain(env);
    await first.up;
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'dev', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'keep this' }] }).withResponse();
    const threadId = r.response.headers.get('x-thread-id')!;
    const pgPid = Number((await fs.readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect(alive(pgPid)).toBe(true);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain('"msg":"stopped"');
    expect(alive(pgPid)).toBe(false);

    const second = startMain(env);
    await second.up;
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'and now?' }] }, { headers: { 'x-thread-id': threadId } });
    const seen = model.requests.at(-1)!.messages.filter((m) => m.role === 'user').map((m) => m.content);
    expect(seen).toEqual(['keep this', 'and now?']);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
    // Secrets never reach the log: the upstream key, the Postgres password.
    const pw = (await fs.readFile(path.join(dataDir, 'postgres.password'), 'utf8')).trim();
    expect(first.output() + second.output()).not.toContain(pw);
  });

  it('refuses to start on a public address without API keys, naming the variable', async () => {
    const bad = startMain({ PORT: String(await freePort()), DATA_DIR: dataDir, HOST: '0.0.0.0' });
    bad.up.catch(() => {});
    expect(await bad.exited).toBe(78);
    expect(bad.output()).toContain('HOST: refusing to listen on 0.0.0.0 without API_KEYS');
  });

  it('exits 78 with one line naming a corrupt data file (PowerSync key, AT accounts, PDS state)', async () => {
    const cases: Array<[string, string, string]> = [
      ['sync', 'powersync/jwt-key.json', '{"kty": "RSA", '],
      ['atproto', 'pds/state.json', '[1, 2, 3]'],
      ['atproto', 'atproto/accounts.json', '{"social": null}'],
    ];
    await Promise.all(cases.map(async ([features, rel, content]) => {
      const dir = await makeDataDir('one-agents-corrupt-');
      try {
        await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
        await fs.writeFile(path.join(dir, rel), content);
        const run = startMain({ PORT: String(await freePort()), DATA_DIR: dir, FEATURES: features, ATPROTO_AUTOREPLY: '0', LOG_LEVEL: 'silent' });
        run.up.catch(() => {});
        expect({ rel, code: await run.exited }).toEqual({ rel, code: 78 });
        const out = run.output().trim();
        expect(out.split('\n')).toHaveLength(1);
        expect(out).toContain(path.join(dir, rel));
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    }));
  }, 240_000);

  it('writes one JSON object per log line when the model fails, and says once at start-up that no model is configured', async () => {
    const lines = (out: string) => out.split('\n').filter((l) => l.trim());
    const notJson = (out: string) =>
      lines(out).filter((l) => {
        try {
          return typeof JSON.parse(l) !== 'object';
        } catch {
          return true;
        }
      });

    // A model endpoint nobody listens on: every failure is logged as JSON, no stack dumps.
    const downPort = await freePort();
    const port = await freePort();
    const down = startMain({ PORT: String(port), DATA_DIR: dataDir, FEATURES: 'none', MODEL: 'openai/scripted', OPENAI_BASE_URL: `http://127.0.0.1:${downPort}/v1`, MODEL_MAX_RETRIES: '0', LOG_LEVEL: 'info' });
    await down.up;
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'dev', maxRetries: 0 });
    const err = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(err).toMatchObject({ status: 503, code: 'upstream_unavailable' });
    // Every log line of a request carries its id, which is also the x-request-id answered.
    const traced = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'req-log-test-1' }, body: JSON.stringify({ model: 'assistant', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(traced.headers.get('x-request-id')).toBe('req-log-test-1');
    const fresh = await fetch(`http://127.0.0.1:${port}/health`, { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    down.child.kill('SIGTERM');
    expect(await down.exited).toBe(0);
    expect(down.output()).toContain('Upstream LLM API error');
    const ofRequest = down.output().split('\n').filter((l) => l.includes('"request_id":"req-log-test-1"'));
    expect(ofRequest.some((l) => l.includes('Upstream LLM API error'))).toBe(true);
    expect(notJson(down.output())).toEqual([]);
    expect(down.output()).not.toMatch(/\n\s+at /);

    // No model at all (no OPENAI_BASE_URL, no key): one line at start-up, then 503 model_not_configured
    // at once on every request, without trying the default provider's host.
    const port2 = await freePort();
    const none = startMain({ PORT: String(port2), DATA_DIR: dataDir, FEATURES: 'none', LOG_LEVEL: 'info' });
    await none.up;
    const client2 = new OpenAI({ baseURL: `http://127.0.0.1:${port2}/v1`, apiKey: 'dev', maxRetries: 0 });
    for (let i = 0; i < 2; i++) {
      const e = await client2.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'hi' }] }).catch((x: unknown) => x);
      expect(e).toMatchObject({ status: 503, code: 'model_not_configured' });
    }
    none.child.kill('SIGTERM');
    expect(await none.exited).toBe(0);
    expect(lines(none.output()).filter((l) => String(JSON.parse(l).msg).startsWith('no language model is configured'))).toHaveLength(1);
    expect(notJson(none.output())).toEqual([]);
    expect(none.output()).not.toMatch(/\\n\s+at /);
  });
});
