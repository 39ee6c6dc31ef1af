/**
 * The IPFS feature in the running system (embedded Postgres, embedded PDS, embedded
 * IPFS node; only the model is scripted): /ready, every ipfs-* tool with its errors
 * (bad CID, too large, node down, timeout, not pinned, outside the files dir), the
 * cluster path, the archive-agent / verify-archive / publish-with-media workflows, and
 * the archivist agent on /v1 calling a pinning tool.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { CarReader } from '@ipld/car';
import pg from 'pg';
import { create } from 'kubo-rpc-client';
import { CID } from 'multiformats/cid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedIpfs, type EmbeddedIpfs } from '../../services/ipfs/embedded';
import { IpfsService } from '../../src/clients/ipfs/service';
import { createLogger } from '../../src/logger';
import { createIpfsTools } from '../../src/tools/ipfs';
import { freePort } from '../../services/lib/net';
import { lastUserText, pendingToolResult } from '../../harness/scripted-model';
import { makeDataDir, startTestSystem, type TestSystem } from '../../harness/system';
import { png } from '../../harness/atproto';

let ts: TestSystem;
const ENV_KEY = 'sk-proj-Zx8Qw2Er4Ty6Ui8Op0As2Df4Gh6Jk8Lz';
let filesDir: string;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyTool = { execute: (input: unknown, ctx?: unknown) => Promise<any> };
const tool = (name: string): AnyTool => (ts.system.runtime.mastra.listTools() as Record<string, AnyTool>)[name]!;
/** A tool call as the user a conversation's memory resource names (pins are per user). */
const as = (user: string) => ({ agent: { resourceId: user } });
const call = (name: string, input: Record<string, unknown>, user = 'tester') => tool(name).execute(input, as(user));

beforeAll(async () => {
  const dataDir = await makeDataDir('one-agents-ipfs-');
  filesDir = path.join(dataDir, 'files');
  await fs.mkdir(filesDir, { recursive: true });
  await fs.writeFile(path.join(filesDir, 'report.txt'), 'quarterly report\n');
  await fs.writeFile(path.join(dataDir, 'secret.txt'), 'not for IPFS');
  await fs.writeFile(path.join(filesDir, '.env'), `PORT=8080\nOPENAI_API_KEY=${ENV_KEY}\n`);
  await fs.writeFile(path.join(filesDir, 'picture.png'), png(64, 48));
  ts = await startTestSystem({ dataDir, env: { ATPROTO_AUTOREPLY: '0', IPFS_MAX_READ_BYTES: '64', IPFS_MAX_PIN_BYTES: '2000000' } });
});
afterAll(async () => {
  await ts?.stop();
});

describe('the embedded node in the system', () => {
  it('starts with the system: its URLs are in ctx.urls and /ready checks it', async () => {
    expect(ts.system.ctx.urls.ipfsApiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ts.system.ctx.urls.ipfsClusterUrl).toBeUndefined();
    const ready = await (await fetch(`${ts.system.url}/ready`)).json();
    expect(ready.services.ipfs.ok).toBe(true);
  });
});

describe('ipfs tools', () => {
  it('pin text: Kubo’s CID, the size and a gateway URL that serves it', async () => {
    const r = await call('ipfs-pin-text', { text: 'hello world\n', name: 'greeting' });
    expect(r).toMatchObject({ ok: true, cid: 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o', size: 12, name: 'greeting', pinnedVia: 'kubo' });
    const res = await fetch(r.gatewayUrl);
    expect(await res.text()).toBe('hello world\n');
  });

  it('pin JSON and bytes; bad base64 is BAD_INPUT', async () => {
    const j = await call('ipfs-pin-json', { data: { a: 1, list: [1, 2] }, name: 'data' });
    expect(j.ok).toBe(true);
    expect(JSON.parse((await call('ipfs-read', { cid: j.cid, maxBytes: 64 })).content)).toEqual({ a: 1, list: [1, 2] });
    const b = await call('ipfs-pin-bytes', { base64: Buffer.from([0, 1, 2, 255]).toString('base64') });
    expect(b).toMatchObject({ ok: true, size: 4 });
    const read = await call('ipfs-read', { cid: b.cid });
    expect(read).toMatchObject({ ok: true, encoding: 'base64', content: 'AAEC/w==' });
    expect(await call('ipfs-pin-bytes', { base64: 'not base64!!' })).toMatchObject({ ok: false, error: { code: 'BAD_INPUT' } });
  });

  it('pin a local file only from the files directory', async () => {
    const r = await call('ipfs-pin-file', { path: 'report.txt' });
    expect(r).toMatchObject({ ok: true, name: 'report.txt', path: 'report.txt', size: 17 });
    expect(await call('ipfs-pin-file', { path: '../secret.txt' })).toMatchObject({ ok: false, error: { code: 'BAD_INPUT' } });
    expect(await call('ipfs-pin-file', { path: 'nope.txt' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('pin an existing CID, list pins with names, status, unpin', async () => {
    const kubo = create({ url: ts.system.ctx.urls.ipfsApiUrl! });
    const cid = (await kubo.add('already on the node', { pin: false })).cid.toString();
    expect((await call('ipfs-pin-status', { cid })).pinned).toBe(false);
    expect(await call('ipfs-pin-cid', { cid, name: 'adopted' })).toMatchObject({ ok: true, cid, name: 'adopted' });
    const list = await call('ipfs-list-pins', {});
    expect(list.pins).toEqual(expect.arrayContaining([{ cid, name: 'adopted', type: 'recursive', createdAt: expect.any(String) }, expect.objectContaining({ name: 'greeting' })]));
    expect((await call('ipfs-list-pins', { name: 'adopted' })).pins).toEqual([{ cid, name: 'adopted', type: 'recursive', createdAt: expect.any(String) }]);
    expect(await call('ipfs-pin-status', { cid })).toMatchObject({ ok: true, pinned: true, type: 'recursive', name: 'adopted', source: 'kubo' });
    expect(await call('ipfs-unpin', { cid })).toMatchObject({ ok: true, cid });
    expect(await call('ipfs-unpin', { cid })).toMatchObject({ ok: false, error: { code: 'NOT_PINNED' } });
  });

  it('errors: bad CID, content not on the node, too large to read or pin', async () => {
    expect(await call('ipfs-read', { cid: 'definitely-not-a-cid' })).toMatchObject({ ok: false, error: { code: 'BAD_CID' } });
    expect(await call('ipfs-pin-cid', { cid: 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5p' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    const long = await call('ipfs-pin-text', { text: 'x'.repeat(100) });
    expect(await call('ipfs-read', { cid: long.cid })).toMatchObject({ ok: false, error: { code: 'TOO_LARGE' } });
    expect(await call('ipfs-read', { cid: long.cid, truncate: true })).toMatchObject({ ok: true, truncated: true, size: 64 });
    expect(await call('ipfs-pin-text', { text: 'y'.repeat(2_000_001) })).toMatchObject({ ok: false, error: { code: 'TOO_LARGE' } });
  });

  it('refuses to pin key material (IPFS content is public and permanent)', async () => {
    const secret = 'deploy key -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA';
    const pins = async () => (await call('ipfs-list-pins', {})).pins?.length ?? 0;
    const before = await pins();
    expect(before).toBeGreaterThan(0);
    const r = await call('ipfs-pin-text', { text: secret });
    expect(r).toMatchObject({ ok: false, error: { code: 'SECRET_DETECTED' } });
    expect(JSON.stringify(r)).not.toContain('b3BlbnNzaC1rZXktdjEAAAAA');
    expect(await call('ipfs-pin-json', { data: { token: 'ghp_0123456789abcdefghijklmnopqrstuvwxyzAB' } })).toMatchObject({ ok: false, error: { code: 'SECRET_DETECTED' } });
    expect(await pins()).toBe(before);
  });

  it('refuses key material in a file and in base64 bytes too (the bytes pinned are scanned), and pins a benign PNG', async () => {
    const kubo = create({ url: ts.system.ctx.urls.ipfsApiUrl! });
    const pinnedCids = async () => {
      const out: string[] = [];
      for await (const p of kubo.pin.ls({ type: 'recursive' })) out.push(p.cid.toString());
      return out.sort();
    };
    const before = await pinnedCids();
    const file = await call('ipfs-pin-file', { path: '.env' });
    expect(file).toMatchObject({ ok: false, error: { code: 'SECRET_DETECTED' } });
    expect(JSON.stringify(file)).not.toContain(ENV_KEY);
    const b64 = Buffer.from(`OPENAI_API_KEY=${ENV_KEY}\n`).toString('base64');
    expect(await call('ipfs-pin-bytes', { base64: b64 })).toMatchObject({ ok: false, error: { code: 'SECRET_DETECTED' } });
    expect(await call('ipfs-pin-bytes', { base64: `data:application/octet-stream;base64,${b64}` })).toMatchObject({ ok: false, error: { code: 'SECRET_DETECTED' } });
    // A key past the first scan chunk, in otherwise binary content.
    const big = Buffer.concat([png(200, 200), Buffer.alloc(70_000, 7), Buffer.from(`\0${ENV_KEY}\0`), Buffer.alloc(1000, 9)]);
    expect(await call('ipfs-pin-bytes', { base64: big.toString('base64') })).toMatchObject({ ok: false, error: { code: 'SECRET_DETECTED' } });
    // Nothing reached the node: the bytes were never added.
    const hashes = await Promise.all([Buffer.from(`PORT=8080\nOPENAI_API_KEY=${ENV_KEY}\n`), Buffer.from(`OPENAI_API_KEY=${ENV_KEY}\n`), big].map((b) => ts.system.ctx.clients.ipfs!.hashOnly(b)));
    expect(await pinnedCids()).toEqual(before);
    for (const h of hashes) expect(await kubo.block.stat(CID.parse(h), { timeout: 500 }).then(() => 'present', () => 'absent')).toBe('absent');

    const picture = await call('ipfs-pin-file', { path: 'picture.png' });
    expect(picture).toMatchObject({ ok: true, name: 'picture.png' });
    expect(await call('ipfs-pin-bytes', { base64: png(300, 10).toString('base64') })).toMatchObject({ ok: true });
  });

  it('errors: node down (UNAVAILABLE) and a node that never answers (TIMEOUT)', async () => {
    const logger = createLogger('silent');
    const down = new IpfsService({ ...ts.system.ctx.config.ipfs }, `http://127.0.0.1:${await freePort()}`, 'http://gw/ipfs/', logger);
    const downTools = createIpfsTools({ ipfs: () => down, db: ts.system.ctx.db, filesDir });
    expect(await (downTools['ipfs-pin-text'] as unknown as AnyTool).execute({ text: 'x' }, as('tester'))).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
    const silent = http.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as { port: number }).port;
      const slow = new IpfsService({ ...ts.system.ctx.config.ipfs, timeoutMs: 300 }, `http://127.0.0.1:${port}`, 'http://gw/ipfs/', logger);
      const slowTools = createIpfsTools({ ipfs: () => slow, db: ts.system.ctx.db, filesDir });
      expect(await (slowTools['ipfs-read'] as unknown as AnyTool).execute({ cid: 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o' })).toMatchObject({ ok: false, error: { code: 'TIMEOUT' } });
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});

describe('pins belong to their owner (alice and bob)', () => {
  const kubo = () => create({ url: ts.system.ctx.urls.ipfsApiUrl! });
  const nodePinned = async (cid: string) => {
    try {
      for await (const p of kubo().pin.ls({ paths: [CID.parse(cid)] })) if (p.type) return true;
    } catch {
      /* "is not pinned" */
    }
    return false;
  };
  const rows = async (cid: string) =>
    (await ts.system.ctx.db.query<{ owner_id: string; name: string }>('select owner_id, name from ipfs_pins where cid = $1 order by owner_id, name', [cid])).rows;

  it('every IPFS tool: bob cannot list, status, read by name or unpin alice’s pins', async () => {
    const fresh = (await kubo().add('alice adopts this', { pin: false })).cid.toString();
    const alice = [
      await call('ipfs-pin-text', { text: 'alice’s diary, day 1\n', name: 'diary' }, 'alice'),
      await call('ipfs-pin-json', { data: { owner: 'alice', plan: 'secret-free plan' }, name: 'plan' }, 'alice'),
      await call('ipfs-pin-bytes', { base64: Buffer.from([9, 8, 7, 6, 5]).toString('base64'), name: 'blob' }, 'alice'),
      await call('ipfs-pin-file', { path: 'report.txt', name: 'alice-report' }, 'alice'),
      await call('ipfs-pin-cid', { cid: fresh, name: 'adopted-by-alice' }, 'alice'),
    ];
    for (const r of alice) expect(r.ok, JSON.stringify(r)).toBe(true);
    const names = ['diary', 'plan', 'blob', 'alice-report', 'adopted-by-alice'];

    // Alice sees exactly her pins, with her names, newest first.
    const mine = await call('ipfs-list-pins', {}, 'alice');
    expect(mine.pins.map((p: { name: string }) => p.name)).toEqual([...names].reverse());
    expect(await call('ipfs-read', { name: 'diary' }, 'alice')).toMatchObject({ ok: true, content: 'alice’s diary, day 1\n' });

    // Bob sees none of them, by any tool.
    expect(await call('ipfs-list-pins', {}, 'bob')).toMatchObject({ ok: true, pins: [], count: 0 });
    for (const name of names) {
      expect(await call('ipfs-list-pins', { name }, 'bob')).toMatchObject({ ok: true, count: 0 });
      const read = await call('ipfs-read', { name }, 'bob');
      expect(read).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    }
    for (const r of alice) {
      const st = await call('ipfs-pin-status', { cid: r.cid }, 'bob');
      expect(st).toEqual({ ok: true, cid: r.cid, pinned: false, source: 'kubo' });
      expect(await call('ipfs-unpin', { cid: r.cid }, 'bob')).toMatchObject({ ok: false, error: { code: 'NOT_PINNED' } });
      expect(await nodePinned(r.cid)).toBe(true);
      expect(await call('ipfs-pin-status', { cid: r.cid }, 'alice')).toMatchObject({ ok: true, pinned: true, name: expect.any(String) });
    }
    // A bare CID is public content: bob may read it by CID (not discover it through her names).
    expect(await call('ipfs-read', { cid: alice[0]!.cid }, 'bob')).toMatchObject({ ok: true, content: 'alice’s diary, day 1\n' });
    // Without a user (no memory resource) the pin tools refuse.
    expect(await tool('ipfs-list-pins').execute({}, {})).toMatchObject({ ok: false, error: { code: 'NO_USER' } });
    expect(await tool('ipfs-unpin').execute({ cid: alice[0]!.cid }, {})).toMatchObject({ ok: false, error: { code: 'NO_USER' } });
    expect(await nodePinned(alice[0]!.cid)).toBe(true);
  });

  it('both pin the same content: names stay private, one unpin leaves the other’s pin, the last one unpins on the node', async () => {
    const a = await call('ipfs-pin-text', { text: 'shared by two\n', name: 'alice-name' }, 'alice');
    const b = await call('ipfs-pin-text', { text: 'shared by two\n', name: 'bob-name' }, 'bob');
    expect(b.cid).toBe(a.cid);
    expect(await call('ipfs-pin-status', { cid: a.cid }, 'bob')).toMatchObject({ pinned: true, name: 'bob-name' });
    expect(await call('ipfs-pin-status', { cid: a.cid }, 'alice')).toMatchObject({ pinned: true, name: 'alice-name' });
    expect((await call('ipfs-list-pins', {}, 'bob')).pins.map((p: { name: string }) => p.name)).not.toContain('alice-name');

    expect(await call('ipfs-unpin', { cid: a.cid }, 'bob')).toMatchObject({ ok: true, cid: a.cid });
    expect(await nodePinned(a.cid)).toBe(true);
    expect(await call('ipfs-pin-status', { cid: a.cid }, 'alice')).toMatchObject({ pinned: true, name: 'alice-name' });
    expect(await call('ipfs-unpin', { cid: a.cid }, 'bob')).toMatchObject({ ok: false, error: { code: 'NOT_PINNED' } });
    expect(await call('ipfs-read', { name: 'alice-name' }, 'alice')).toMatchObject({ ok: true, content: 'shared by two\n' });

    // The same content by its CIDv1 form is the same pin: bob pins it so, alice's unpin keeps it.
    const v1 = CID.parse(a.cid).toV1().toString();
    expect(await call('ipfs-pin-cid', { cid: v1, name: 'bob-v1' }, 'bob')).toMatchObject({ ok: true, cid: v1 });
    expect(await call('ipfs-unpin', { cid: a.cid }, 'alice')).toMatchObject({ ok: true });
    expect(await nodePinned(a.cid)).toBe(true);
    expect(await call('ipfs-unpin', { cid: v1 }, 'bob')).toMatchObject({ ok: true });
    expect(await nodePinned(a.cid)).toBe(false);
    expect(await rows(a.cid)).toEqual([]);
  });

  it('race: concurrent pins and unpins of one CID by two users, from two app processes (two pools), stay consistent', async () => {
    const ipfs = ts.system.ctx.clients.ipfs!;
    const pools = [new pg.Pool({ connectionString: ts.system.ctx.urls.databaseUrl, max: 4 }), new pg.Pool({ connectionString: ts.system.ctx.urls.databaseUrl, max: 4 })];
    try {
      const [p1, p2] = pools.map((db) => createIpfsTools({ ipfs: () => ipfs, db, filesDir }) as unknown as Record<string, AnyTool>);
      for (let round = 0; round < 6; round++) {
        const text = `raced content ${round}\n`;
        // alice holds it; alice unpins while bob pins: bob's pin must survive.
        const a = await p1!['ipfs-pin-text']!.execute({ text, name: 'a' }, as('alice'));
        const [un, pin] = await Promise.all([p1!['ipfs-unpin']!.execute({ cid: a.cid }, as('alice')), p2!['ipfs-pin-text']!.execute({ text, name: 'b' }, as('bob'))]);
        expect(un).toMatchObject({ ok: true });
        expect(pin).toMatchObject({ ok: true, cid: a.cid });
        expect(await rows(a.cid)).toEqual([{ owner_id: 'bob', name: 'b' }]);
        expect(await nodePinned(a.cid)).toBe(true);

        // both hold it; both unpin at once: both succeed and the node's pin is gone.
        await p1!['ipfs-pin-cid']!.execute({ cid: a.cid, name: 'a2' }, as('alice'));
        const both = await Promise.all([p1!['ipfs-unpin']!.execute({ cid: a.cid }, as('alice')), p2!['ipfs-unpin']!.execute({ cid: a.cid }, as('bob'))]);
        expect(both).toEqual([expect.objectContaining({ ok: true }), expect.objectContaining({ ok: true })]);
        expect(await rows(a.cid)).toEqual([]);
        expect(await nodePinned(a.cid)).toBe(false);

        // both pin at once: both recorded, pinned.
        await Promise.all([p1!['ipfs-pin-text']!.execute({ text, name: 'a3' }, as('alice')), p2!['ipfs-pin-cid']!.execute({ cid: a.cid, name: 'b3' }, as('bob'))]);
        expect((await rows(a.cid)).map((r) => r.owner_id)).toEqual(['alice', 'bob']);
        expect(await nodePinned(a.cid)).toBe(true);
        await p1!['ipfs-unpin']!.execute({ cid: a.cid }, as('alice'));
        await p2!['ipfs-unpin']!.execute({ cid: a.cid }, as('bob'));
        expect(await nodePinned(a.cid)).toBe(false);
      }
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('on /v1 through the archivist: bob’s list-pins and unpin of alice’s CID reach nothing of hers', async () => {
    let aliceCid = '';
    ts.model.setScript((req) => {
      const done = pendingToolResult(req);
      if (done) return { text: `tool said: ${done.content}` };
      const said = lastUserText(req);
      if (said.startsWith('pin')) return { toolCalls: [{ name: 'ipfs-pin-text', arguments: { text: 'alice on v1\n', name: 'v1-diary' } }] };
      if (said.startsWith('list')) return { toolCalls: [{ name: 'ipfs-list-pins', arguments: {} }] };
      return { toolCalls: [{ name: 'ipfs-unpin', arguments: { cid: aliceCid } }] };
    });
    const ask = async (user: string, content: string) =>
      (await ts.client().chat.completions.create({ model: 'archivist', messages: [{ role: 'user', content }], user })).choices[0]!.message.content!;
    const pinned = await ask('alice-v1', 'pin my diary');
    aliceCid = /"cid":"(\w+)"/.exec(pinned)![1]!;
    expect(await ask('bob-v1', 'list my pins')).toContain('"count":0');
    expect(await ask('bob-v1', `unpin ${aliceCid}`)).toContain('NOT_PINNED');
    expect(await nodePinned(aliceCid)).toBe(true);
    expect(await ask('alice-v1', 'list my pins')).toContain('v1-diary');
  });
});

describe('through IPFS Cluster (IPFS_CLUSTER_URL)', () => {
  let other: EmbeddedIpfs;
  beforeAll(async () => {
    other = await startEmbeddedIpfs({ dir: path.join(ts.dataDir, 'other-ipfs'), logger: createLogger('silent') });
  });
  afterAll(async () => {
    await other?.stop();
  });

  it('pins with name and replication through the cluster, and reads status from it', async () => {
    const svc = new IpfsService({ ...ts.system.ctx.config.ipfs, replicationMin: 1, replicationMax: 1 }, other.apiUrl, `${other.apiUrl}/ipfs/`, createLogger('silent'), other.clusterUrl);
    const tools = createIpfsTools({ ipfs: () => svc, db: ts.system.ctx.db, filesDir }) as unknown as Record<string, AnyTool>;
    const r = await tools['ipfs-pin-text']!.execute({ text: 'clustered', name: 'via-cluster' }, as('tester'));
    expect(r).toMatchObject({ ok: true, pinnedVia: 'cluster', name: 'via-cluster' });
    const st = await tools['ipfs-pin-status']!.execute({ cid: r.cid }, as('tester'));
    expect(st).toMatchObject({ ok: true, pinned: true, source: 'cluster', name: 'via-cluster' });
    expect(st.peers).toEqual([expect.objectContaining({ status: 'pinned' })]);
    expect((await tools['ipfs-list-pins']!.execute({ name: 'via-cluster' }, as('tester'))).pins.map((p: { cid: string }) => p.cid)).toEqual([r.cid]);
    expect(await tools['ipfs-unpin']!.execute({ cid: r.cid }, as('tester'))).toMatchObject({ ok: true });

    const greedy = new IpfsService({ ...ts.system.ctx.config.ipfs, replicationMin: 2, replicationMax: 3 }, other.apiUrl, 'http://gw/ipfs/', createLogger('silent'), other.clusterUrl);
    const g = await (createIpfsTools({ ipfs: () => greedy, db: ts.system.ctx.db, filesDir })['ipfs-pin-text'] as unknown as AnyTool).execute({ text: 'wants 2 copies' }, as('tester'));
    expect(g).toMatchObject({ ok: false, error: { code: 'REPLICATION' } });
    expect(g.error.message).toContain('not enough peers to allocate CID');
  });
});

describe('workflows', () => {
  it('archive-agent: the social agent’s AT repo (CAR) and conversations, recorded and verified', async () => {
    // A conversation with the agent first, so there is something to archive.
    ts.model.setScript(() => ({ text: 'noted' }));
    await ts.client().chat.completions.create({ model: 'archivist', messages: [{ role: 'user', content: 'a line worth archiving' }], user: 'carol' });

    const run = await ts.system.runtime.mastra.getWorkflow('archive-agent' as never).createRun();
    const res = await run.start({ inputData: { agent: 'social' } });
    expect(res.status).toBe('success');
    const out = (res as { result: { archives: Array<{ id: string; kind: string; cid: string; sizeBytes: number }>; verification: Array<{ ok: boolean }>; did: string } }).result;
    expect(out.did).toMatch(/^did:plc:/);
    expect(out.archives.map((a) => a.kind)).toEqual(['at-repo', 'conversations']);
    expect(out.verification.map((v) => v.ok)).toEqual([true, true]);

    const rows = await ts.system.ctx.db.query('select kind, cid, size_bytes, verified_at from archives where agent = $1 order by kind', ['social']);
    expect(rows.rows.map((r) => r.kind)).toEqual(['at-repo', 'conversations']);
    expect(rows.rows.every((r) => r.verified_at !== null)).toBe(true);
    // Each archive's pin is recorded with the archive's owner.
    const owned = await ts.system.ctx.db.query('select owner_id from ipfs_pins where cid = any($1)', [out.archives.map((a) => a.cid)]);
    expect(owned.rows.map((r) => r.owner_id)).toEqual(['agent:social', 'agent:social']);

    // The pinned CAR is the PDS's repo: its root is the repo's current commit.
    const kubo = create({ url: ts.system.ctx.urls.ipfsApiUrl! });
    const car = out.archives[0]!;
    const parts: Uint8Array[] = [];
    for await (const c of kubo.cat(car.cid)) parts.push(c);
    const reader = await CarReader.fromBytes(Buffer.concat(parts));
    const latest = await (await fetch(`${ts.system.ctx.urls.pdsUrl}/xrpc/com.atproto.sync.getLatestCommit?did=${out.did}`)).json();
    expect((await reader.getRoots()).map(String)).toEqual([latest.cid]);
    const pins = [];
    for await (const p of kubo.pin.ls({ paths: [car.cid] })) pins.push(p.type);
    expect(pins).toEqual(['recursive']);
  });

  it('archive-agent for an agent without an AT account archives conversations only, and says so', async () => {
    const run = await ts.system.runtime.mastra.getWorkflow('archive-agent' as never).createRun();
    const res = await run.start({ inputData: { agent: 'archivist' } });
    const out = (res as { result: { archives: Array<{ kind: string; cid: string }>; notes: string[] } }).result;
    expect(out.archives.map((a) => a.kind)).toEqual(['conversations']);
    expect(out.notes.join(' ')).toMatch(/no DID/);
    const kubo = create({ url: ts.system.ctx.urls.ipfsApiUrl! });
    const parts: Uint8Array[] = [];
    for await (const c of kubo.cat(out.archives[0]!.cid)) parts.push(c);
    const doc = JSON.parse(Buffer.concat(parts).toString('utf8'));
    expect(doc.agent).toBe('archivist');
    expect(JSON.stringify(doc.conversations)).toContain('a line worth archiving');
  });

  it('verify-archive catches an archive whose record no longer matches its content', async () => {
    const row = (await ts.system.ctx.db.query("select id from archives where agent = 'archivist' limit 1")).rows[0];
    const good = await (await ts.system.runtime.mastra.getWorkflow('verify-archive' as never).createRun()).start({ inputData: { archiveId: row.id } });
    expect((good as { result: { ok: boolean } }).result.ok).toBe(true);
    await ts.system.ctx.db.query('update archives set size_bytes = size_bytes + 1 where id = $1', [row.id]);
    const bad = await (await ts.system.runtime.mastra.getWorkflow('verify-archive' as never).createRun()).start({ inputData: { archiveId: row.id } });
    expect((bad as { result: { ok: boolean; reason: string } }).result).toMatchObject({ ok: false, reason: expect.stringMatching(/read \d+ bytes/) });
  });

  it('publish-with-media pins the document first, then posts it with its CID', async () => {
    const run = await ts.system.runtime.mastra.getWorkflow('publish-with-media' as never).createRun();
    const res = await run.start({ inputData: { text: 'Our new paper', media: { base64: Buffer.from('the paper, in full').toString('base64'), mimeType: 'text/plain', filename: 'paper.txt' }, agent: 'social' } });
    expect(res.status).toBe('success');
    const out = (res as { result: { cid: string; posted: boolean; post: { uri: string } } }).result;
    expect(out.posted).toBe(true);
    const [, , did, , rkey] = out.post.uri.split('/');
    const rec = await (await fetch(`${ts.system.ctx.urls.pdsUrl}/xrpc/com.atproto.repo.getRecord?repo=${did}&collection=app.bsky.feed.post&rkey=${rkey}`)).json();
    expect(rec.value.text).toContain(`ipfs://${out.cid}`);
    // The pin has an owner: the run's resource, else the posting agent; other users do not see it.
    const st = await call('ipfs-pin-status', { cid: out.cid }, 'agent:social');
    expect(st).toMatchObject({ pinned: true, name: 'paper.txt' });
    expect((await call('ipfs-pin-status', { cid: out.cid })).pinned).toBe(false);
    const run2 = await ts.system.runtime.mastra.getWorkflow('publish-with-media' as never).createRun();
    const res2 = await run2.start({ inputData: { text: 'Dana’s notes', media: { base64: Buffer.from('dana wrote this').toString('base64'), mimeType: 'text/plain', filename: 'dana.txt' }, agent: 'social', ownerId: 'dana' } });
    const out2 = (res2 as { result: { cid: string } }).result;
    expect(await call('ipfs-pin-status', { cid: out2.cid }, 'dana')).toMatchObject({ pinned: true, name: 'dana.txt' });
  });
});

describe('the archivist agent on /v1', () => {
  it('calls ipfs-pin-text and reports the CID the tool returned', async () => {
    ts.model.setScript((req) => {
      const done = pendingToolResult(req);
      if (done) return { text: `Stored. ${JSON.parse(done.content).cid ?? JSON.parse(done.content).result?.cid}` };
      expect(lastUserText(req)).toContain('keep this');
      return { toolCalls: [{ name: 'ipfs-pin-text', arguments: { text: 'keep this safe\n', name: 'memo' } }] };
    });
    const reply = await ts.client().chat.completions.create({ model: 'archivist', messages: [{ role: 'user', content: 'Please keep this: keep this safe' }] });
    const kubo = create({ url: ts.system.ctx.urls.ipfsApiUrl! });
    const expected = (await kubo.add('keep this safe\n', { onlyHash: true })).cid.toString();
    expect(reply.choices[0]!.message.content).toBe(`Stored. ${expected}`);
    const named = [];
    for await (const p of kubo.pin.ls({ name: 'memo' })) named.push(p.cid.toString());
    expect(named).toEqual([expected]);
    const toolNames = ts.model.requests.at(-1)!.tools!.map((t) => t.function.name);
    expect(toolNames).toEqual(expect.arrayContaining(['ipfs-pin-text', 'ipfs-read', 'ipfs-list-pins', 'ipfs-pin-status']));
  });
});
