/**
 * `npm run services` as an operator runs it: a real process (src/services.ts) starts the
 * embedded backing services and writes DATA_DIR/services.env; two app replicas
 * (src/main.ts) source that file in a shell, each with its own PORT and DATA_DIR, answer
 * a chat, report every service ready, log the social agent in with the written
 * credentials and serve the same PowerSync signing key; everything stops cleanly.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../services/lib/net';
import { startScriptedModel, type ScriptedModel } from '../../harness/scripted-model';
import { run, alive, killAll, allExited, BASE_ENV } from '../../harness/process';
import { makeDataDir } from '../../harness/system';

let model: ScriptedModel;
const dirs: string[] = [];



beforeAll(async () => {
  model = await startScriptedModel();
});
afterAll(async () => {
  killAll();
  await model?.close();
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

describe('npm run services', () => {
  it('starts the backing services once, and app replicas run against them from services.env', { timeout: 180_000 }, async () => {
    const dataDir = await makeDataDir('one-agents-services-');
    dirs.push(dataDir);
    const services = run(process.execPath, ['--import', 'tsx', 'src/services.ts'], { ...BASE_ENV, DATA_DIR: dataDir, LOG_LEVEL: 'info' }, 'ONE Agents services are up');
    await services.up;

    const envFile = path.join(dataDir, 'services.env');
    expect((await fs.stat(envFile)).mode & 0o777).toBe(0o600);
    const text = await fs.readFile(envFile, 'utf8');
    for (const name of ['DATABASE_URL', 'PDS_URL', 'PLC_URL', 'IPFS_API_URL', 'IPFS_CLUSTER_URL', 'IPFS_GATEWAY_URL', 'POWERSYNC_URL', 'POWERSYNC_JWT_PRIVATE_KEY', 'ATPROTO_IDENTIFIER_SOCIAL', 'ATPROTO_PASSWORD_SOCIAL'])
      expect(text).toMatch(new RegExp(`^${name}='.+'$`, 'm'));
    const accounts = JSON.parse(await fs.readFile(path.join(dataDir, 'atproto', 'accounts.json'), 'utf8')) as Record<string, { did: string; password: string }>;
    expect(text).toContain(`ATPROTO_IDENTIFIER_SOCIAL='${accounts.social!.did}'`);
    // The passwords and the private key stay out of the log.
    expect(services.output()).not.toContain(accounts.social!.password);
    const signingKey = JSON.parse(await fs.readFile(path.join(dataDir, 'powersync', 'jwt-key.json'), 'utf8')) as { n: string; d: string };
    expect(services.output()).not.toContain(signingKey.d);

    // Two replicas: each sources the file in a shell, as the docs say, with its own PORT and DATA_DIR.
    const replicas = [];
    for (let i = 0; i < 2; i++) {
      const replicaDir = await makeDataDir(`one-agents-replica${i}-`);
      dirs.push(replicaDir);
      const port = await freePort();
      const r = run(
        'bash',
        ['-c', 'set -a; . "$1"; set +a; exec "$2" --import tsx src/main.ts', 'replica', envFile, process.execPath],
        { ...BASE_ENV, PORT: String(port), DATA_DIR: replicaDir, MODEL: 'openai/scripted', OPENAI_BASE_URL: model.url, LOG_LEVEL: 'info' },
        'ONE Agents is up',
      );
      replicas.push({ ...r, port, replicaDir });
    }
    await Promise.all(replicas.map((r) => r.up));

    for (const r of replicas) {
      const base = `http://127.0.0.1:${r.port}`;
      const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'dev', maxRetries: 0 });
      const chat = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: `hello from replica ${r.port}` }] });
      expect(chat.choices[0]!.message.content).toBeTruthy();
      expect(model.requests.at(-1)!.messages.some((m) => m.role === 'user' && m.content === `hello from replica ${r.port}`)).toBe(true);

      const ready = (await (await fetch(`${base}/ready`)).json()) as { ready: boolean; services: Record<string, { ok: boolean }> };
      expect(ready.ready).toBe(true);
      expect(Object.keys(ready.services).sort()).toEqual(['atproto:social', 'ipfs', 'pds', 'postgres', 'powersync']);
      for (const s of Object.values(ready.services)) expect(s.ok).toBe(true);

      // Tokens from any replica verify at the one sync service: the same key.
      const jwks = (await (await fetch(`${base}/powersync/jwks.json`)).json()) as { keys: Array<{ n: string }> };
      expect(jwks.keys.map((k) => k.n)).toEqual([signingKey.n]);
      // The social agent logged in to the shared PDS with the written credentials; nothing was embedded.
      expect(r.output()).not.toContain('AT agent account unavailable');
      expect(r.output()).toContain('"agents":["assistant","social","archivist","organizer"]');
      expect(await fs.readdir(r.replicaDir)).not.toContain('postgres');
    }

    for (const r of replicas) {
      r.child.kill('SIGTERM');
      expect(await r.exited).toBe(0);
    }
    const pgPid = Number((await fs.readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect(alive(pgPid)).toBe(true);
    services.child.kill('SIGINT');
    expect(await services.exited).toBe(0);
    expect(services.output()).toContain('"msg":"stopped"');
    expect(alive(pgPid)).toBe(false);
    await expect(fs.stat(envFile)).rejects.toThrow();
    expect(allExited()).toBe(true);
  });
});
