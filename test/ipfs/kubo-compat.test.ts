/**
 * Kubo-compatibility details of the embedded node, through the real kubo-rpc-client:
 *   - `add` reports every directory of an upload, empty ones included, each after its
 *     subdirectories (Kubo's adder output);
 *   - `ls` on a chunked file lists its chunk links (checked against Debian's ipfs_cid:
 *     a chunk of a file has the CID of a one-chunk file of the same bytes);
 *   - uploads arriving in any piece size give the same CIDs (the read-ahead path);
 *   - with a cluster, content is pinned by the add itself, so a gc between the add and
 *     the cluster's pin cannot collect it (a real proxy runs `repo gc` at that moment);
 *     a pin the cluster refuses is taken back.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { create, type KuboRPCClient } from 'kubo-rpc-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedIpfs, type EmbeddedIpfs } from '../../services/ipfs/embedded';
import { loadConfig } from '../../src/config';
import { IpfsService } from '../../src/clients/ipfs/service';
import { createLogger } from '../../src/logger';
import { oracleCid, pattern as sharedPattern } from './support';

let dir: string;
let node: EmbeddedIpfs;
let ipfs: KuboRPCClient;
const logger = createLogger('silent');
const EMPTY_DIR_V0 = 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn';

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ipfs-compat-'));
  node = await startEmbeddedIpfs({ dir: path.join(dir, 'repo'), logger });
  ipfs = create({ url: node.apiUrl });
});

afterAll(async () => {
  await node?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const pattern = (n: number, seed = 7) => sharedPattern(n, seed);
const oracle = (bytes: Uint8Array) => oracleCid(dir, bytes);

describe('add output', () => {
  it('reports empty subdirectories, each directory after its subdirectories, by name', async () => {
    const out: Array<[string, string, number]> = [];
    for await (const r of ipfs.addAll([
      { path: 'd/f.txt', content: new TextEncoder().encode('hi\n') },
      { path: 'd/zz-empty' },
      { path: 'd/sub/deeper' },
      { path: 'd/a-empty' },
    ])) {
      out.push([r.path, r.cid.toString(), r.size]);
    }
    expect(out.map(([p]) => p)).toEqual(['d/f.txt', 'd/a-empty', 'd/sub/deeper', 'd/sub', 'd/zz-empty', 'd']);
    for (const [p, cid, size] of out.filter(([p]) => /empty|deeper/.test(p))) expect([p, cid, size]).toEqual([p, EMPTY_DIR_V0, 4]);
    // Each reported directory is the one linked in the tree.
    const root = out.find(([p]) => p === 'd')![1];
    const names = new Map<string, string>();
    for await (const e of ipfs.ls(root)) names.set(e.name, e.cid.toString());
    expect(names.get('a-empty')).toBe(EMPTY_DIR_V0);
    expect(names.get('sub')).toBe(out.find(([p]) => p === 'd/sub')![1]);
    expect(names.get('f.txt')).toBe(out.find(([p]) => p === 'd/f.txt')![1]);
  });

  it('an empty directory with cid-version=1 is the CIDv1 of the same block', async () => {
    const out: string[] = [];
    for await (const r of ipfs.addAll([{ path: 'w/x', content: new Uint8Array([1]) }, { path: 'w/e' }], { cidVersion: 1 })) out.push(`${r.path} ${r.cid}`);
    expect(out).toContain('w/e bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354');
  });
});

describe('ls on a file', () => {
  it('lists the chunk links of a chunked file (leaf CIDs match ipfs_cid of each chunk)', async () => {
    const chunk = 262_144;
    const bytes = pattern(2 * chunk + 1000);
    const { cid } = await ipfs.add(bytes);
    const links = [];
    for await (const e of ipfs.ls(cid)) links.push({ name: e.name, cid: e.cid.toString(), size: e.size, type: e.type });
    const parts = [bytes.subarray(0, chunk), bytes.subarray(chunk, 2 * chunk), bytes.subarray(2 * chunk)];
    expect(links).toEqual(await Promise.all(parts.map(async (p) => ({ name: '', cid: await oracle(p), size: p.length, type: 'file' }))));
  });

  it('a one-block file has no links (the client then describes the file itself)', async () => {
    const { cid } = await ipfs.add(new TextEncoder().encode('small\n'));
    const res = await fetch(`${node.apiUrl}/api/v0/ls?arg=${cid}`, { method: 'POST' });
    expect(await res.json()).toEqual({ Objects: [{ Hash: cid.toString(), Links: [] }] });
    const links = [];
    for await (const e of ipfs.ls(cid)) links.push({ cid: e.cid.toString(), type: e.type });
    expect(links).toEqual([{ cid: cid.toString(), type: 'file' }]);
  });
});

describe('uploads in any piece size', () => {
  it('give the same CID as the oracle, whole or in odd pieces', async () => {
    const bytes = pattern(3 * 262_144 + 12_345, 3);
    const want = await oracle(bytes);
    const pieces = function* (size: number) {
      for (let o = 0; o < bytes.length; o += size) yield bytes.subarray(o, o + size);
    };
    expect((await ipfs.add(bytes)).cid.toString()).toBe(want);
    expect((await ipfs.add(pieces(1000))).cid.toString()).toBe(want);
    expect((await ipfs.add(pieces(262_144))).cid.toString()).toBe(want);
    expect((await ipfs.add(pieces(1_000_003))).cid.toString()).toBe(want);
  });
});

describe('cluster pinning and gc', () => {
  it('a gc between the add and the cluster pin does not collect the content', async () => {
    // A real proxy in front of the cluster API runs `repo gc` on the node just before it
    // forwards a pin request: the worst moment for content that was added unpinned.
    const gcRuns: string[][] = [];
    const proxy = http.createServer((req, res) => {
      void (async () => {
        if (req.method === 'POST' && req.url?.startsWith('/pins/')) {
          const removed: string[] = [];
          for await (const r of ipfs.repo.gc()) if (r.cid) removed.push(r.cid.toString());
          gcRuns.push(removed);
        }
        const target = new URL(req.url ?? '/', node.clusterUrl);
        const up = http.request(target, { method: req.method, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        up.on('error', () => res.destroy());
        req.pipe(up);
      })().catch(() => res.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const clusterUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const config = loadConfig({ ...process.env, DATA_DIR: dir }).ipfs;
      const svc = new IpfsService(config, node.apiUrl, `${node.apiUrl}/ipfs/`, logger, clusterUrl);
      const bytes = pattern(600_000, 11);
      const r = await svc.pinBytes(bytes, { name: 'raced' });
      expect(r).toMatchObject({ pinnedVia: 'cluster', name: 'raced', cid: await oracle(bytes) });
      expect(gcRuns).toHaveLength(1);
      expect(gcRuns[0]).not.toContain(r.cid);
      expect(Buffer.from(await svc.readExact(r.cid, bytes.length)).equals(Buffer.from(bytes))).toBe(true);
      expect(await svc.status(r.cid)).toMatchObject({ pinned: true, source: 'cluster', name: 'raced' });
      await svc.unpin(r.cid);
      expect(await svc.status(r.cid)).toMatchObject({ pinned: false });
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  it('a pin the cluster refuses is taken back on the node', async () => {
    const config = { ...loadConfig({ ...process.env, DATA_DIR: dir }).ipfs, replicationMin: 2, replicationMax: 3 };
    const svc = new IpfsService(config, node.apiUrl, `${node.apiUrl}/ipfs/`, logger, node.clusterUrl);
    const bytes = new TextEncoder().encode('wants two copies, gets none');
    await expect(svc.pinBytes(bytes)).rejects.toMatchObject({ code: 'REPLICATION' });
    const cid = (await ipfs.add(bytes, { onlyHash: true })).cid;
    await expect(
      (async () => {
        for await (const p of ipfs.pin.ls({ paths: [cid] })) return p;
      })(),
    ).rejects.toThrow(/is not pinned/);
  });
});
