/**
 * The start command as an operator runs it: a real process (src/main.ts under Node 24,
 * which is what `npm start` execs after bootstrapping), PORT and DATA_DIR honoured,
 * clean shutdown on SIGTERM/SIGINT with the embedded Postgres stopped, and a restart
 * that keeps the conversation.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/util/net';
import { startScriptedModel, type ScriptedModel } from '../../harness/scripted-model';
import { makeDataDir } from '../../harness/system';

const ROOT = path.resolve(__dirname, '../..');
let model: ScriptedModel;
let dataDir: string;
const children: ChildProcess[] = [];

function start(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, MASTRA_TELEMETRY_DISABLED: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const up = new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (output.includes('ONE Agents is up')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`exited with ${code} before it was up:\n${output}`)));
  });
  return { child, up, exited, output: () => output };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  model = await startScriptedModel();
  dataDir = await makeDataDir('one-agents-proc-');
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await model?.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('start command', () => {
  it('serves on PORT with data in DATA_DIR, stops cleanly on SIGTERM and SIGINT, and keeps threads across restarts', async () => {
    const port = await freePort();
    const env = { PORT: String(port), DATA_DIR: dataDir, MODEL: 'openai/scripted', OPENAI_BASE_URL: model.url, LOG_LEVEL: 'info' };
    const first = start(env);
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

    const second = start(env);
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
    const bad = start({ PORT: String(await freePort()), DATA_DIR: dataDir, HOST: '0.0.0.0' });
    bad.up.catch(() => {});
    expect(await bad.exited).toBe(78);
    expect(bad.output()).toContain('HOST: refusing to listen on 0.0.0.0 without API_KEYS');
  });
});
