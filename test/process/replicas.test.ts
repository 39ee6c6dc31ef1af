/**
 * Three app replicas on one set of services (`npm run services`): the firehose trigger
 * runs on the leader only (Postgres advisory lock); the leader is SIGKILLed while mentions
 * arrive, another replica takes over, and every mention gets exactly one reply. A chat
 * started on one replica continues on another.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { AtpAgent, RichText } from '@atproto/api';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedModel, type ScriptedModel } from '../../harness/scripted-model';
import { run, killAll, BASE_ENV } from '../../harness/process';
import { makeDataDir } from '../../harness/system';
import { freePort } from '../../services/lib/net';

let model: ScriptedModel;
const dirs: string[] = [];


const leads = (output: string) => output.split('\n').some((l) => l.includes('"msg":"leading"') && l.includes('atproto-triggers'));

beforeAll(async () => {
  model = await startScriptedModel();
});
afterAll(async () => {
  killAll();
  await model?.close();
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

describe('replicas', () => {
  it('the leader is SIGKILLed while mentions arrive: another replica takes over, every mention is answered exactly once, chats continue anywhere', { timeout: 300_000 }, async () => {
    const dataDir = await makeDataDir('one-agents-replicas-');
    dirs.push(dataDir);
    const services = run(process.execPath, ['--import', 'tsx', 'src/services.ts'], { ...BASE_ENV, DATA_DIR: dataDir, LOG_LEVEL: 'info' }, 'ONE Agents services are up');
    await services.up;
    const envFile = path.join(dataDir, 'services.env');
    const pdsUrl = /^PDS_URL='([^']+)'$/m.exec(await fs.readFile(envFile, 'utf8'))![1]!;

    const replicas = [];
    for (let i = 0; i < 3; i++) {
      const replicaDir = await makeDataDir(`one-agents-replica${i}-`);
      dirs.push(replicaDir);
      const port = await freePort();
      const r = run(
        'bash',
        ['-c', 'set -a; . "$1"; set +a; exec "$2" --import tsx src/main.ts', 'replica', envFile, process.execPath],
        { ...BASE_ENV, PORT: String(port), DATA_DIR: replicaDir, MODEL: 'openai/scripted', OPENAI_BASE_URL: model.url, LOG_LEVEL: 'info', LEADERSHIP_POLL_MS: '300' },
        'ONE Agents is up',
      );
      replicas.push({ ...r, port });
    }
    await Promise.all(replicas.map((r) => r.up));
    const leaders = replicas.filter((r) => leads(r.output()));
    expect(leaders).toHaveLength(1);
    const leader = leaders[0]!;

    // A chat on one replica continues on another (threads and memory live in Postgres).
    const c0 = new OpenAI({ baseURL: `http://127.0.0.1:${replicas[0]!.port}/v1`, apiKey: 'dev', maxRetries: 0 });
    const c2 = new OpenAI({ baseURL: `http://127.0.0.1:${replicas[2]!.port}/v1`, apiKey: 'dev', maxRetries: 0 });
    const first = await c0.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'remember: kiwi' }] }).withResponse();
    const thread = first.response.headers.get('x-thread-id')!;
    await c2.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'what did I say?' }] }, { headers: { 'x-thread-id': thread } });
    expect(model.requests.at(-1)!.messages.filter((m) => m.role === 'user').map((m) => m.content)).toEqual(['remember: kiwi', 'what did I say?']);

    // A stranger mentions @social; halfway through, the leader dies.
    const person = new AtpAgent({ service: pdsUrl });
    await person.createAccount({ handle: 'stranger.agents.test', password: 'stranger-password-1', email: 'stranger@agents.test' });
    const mentions: string[] = [];
    let killedAt = 0;
    for (let i = 0; i < 8; i++) {
      const rt = new RichText({ text: `@social.agents.test question ${i}` });
      await rt.detectFacets(person);
      mentions.push((await person.post({ text: rt.text, facets: rt.facets })).uri);
      if (i === 3) {
        leader.child.kill('SIGKILL');
        killedAt = Date.now();
        await leader.exited;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    const survivors = replicas.filter((r) => r !== leader);
    const t0 = Date.now();
    while (!survivors.some((r) => leads(r.output())) && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
    const failoverMs = Date.now() - killedAt;
    expect(survivors.filter((r) => leads(r.output()))).toHaveLength(1);

    // Every mention answered exactly once (replies in social's repo, by parent).
    const social = new AtpAgent({ service: pdsUrl });
    const socialDid = (await social.resolveHandle({ handle: 'social.agents.test' })).data.did;
    const repliesTo = async () => {
      const out = new Map<string, number>();
      let cursor: string | undefined;
      do {
        const page = await social.com.atproto.repo.listRecords({ repo: socialDid, collection: 'app.bsky.feed.post', limit: 100, cursor });
        for (const r of page.data.records) {
          const parent = (r.value as { reply?: { parent?: { uri?: string } } }).reply?.parent?.uri;
          if (parent) out.set(parent, (out.get(parent) ?? 0) + 1);
        }
        cursor = page.data.cursor;
      } while (cursor);
      return out;
    };
    const t1 = Date.now();
    let replies = await repliesTo();
    // A mention the killed leader had claimed is retried once its 60 s lease (MENTION_LEASE_MS) expires.
    while (mentions.some((m) => !replies.get(m)) && Date.now() - t1 < 150_000) {
      await new Promise((r) => setTimeout(r, 500));
      replies = await repliesTo();
    }
    for (const m of mentions) expect(replies.get(m), `replies to ${m}`).toBe(1);
    // Settled: nothing answers a second time later.
    await new Promise((r) => setTimeout(r, 2000));
    replies = await repliesTo();
    for (const m of mentions) expect(replies.get(m)).toBe(1);
    console.log(`failover: ${failoverMs} ms from SIGKILL to the new leader (LEADERSHIP_POLL_MS=300)`);

    for (const r of survivors) {
      r.child.kill('SIGTERM');
      expect(await r.exited).toBe(0);
    }
    services.child.kill('SIGTERM');
    expect(await services.exited).toBe(0);
  });
});
