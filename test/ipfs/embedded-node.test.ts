/**
 * The embedded node through the real clients: kubo-rpc-client for /api/v0 (every call
 * the tools and workflows use, and the rest of the implemented subset), and
 * @nftstorage/ipfs-cluster for the single-peer Cluster API. Restart keeps pins and the
 * peer identity; gc keeps pinned blocks and drops the rest; bad input and missing
 * blocks fail at once with Kubo's error shape.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CarReader } from '@ipld/car';
import { Cluster } from '@nftstorage/ipfs-cluster';
import { create, type KuboRPCClient } from 'kubo-rpc-client';
import { CID } from 'multiformats/cid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedIpfs, type EmbeddedIpfs } from '../../services/ipfs/embedded';
import { createLogger } from '../../src/logger';

let dir: string;
let node: EmbeddedIpfs;
let ipfs: KuboRPCClient;
const logger = createLogger('silent');
const text = (s: string) => new TextEncoder().encode(s);

async function collect(it: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts).toString('utf8');
}

async function start() {
  node = await startEmbeddedIpfs({ dir: path.join(dir, 'repo'), logger, maxAddBytes: 8 * 1024 * 1024 });
  ipfs = create({ url: node.apiUrl });
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ipfs-node-'));
  await start();
});

afterAll(async () => {
  await node?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('Kubo RPC through kubo-rpc-client', () => {
  it('version and id', async () => {
    const v = await ipfs.version();
    expect(v.version).toMatch(/^\d+\.\d+\.\d+$/);
    const id = await ipfs.id();
    expect(id.id.toString()).toMatch(/^12D3KooW/);
    expect(id.publicKey).toMatch(/^[A-Za-z0-9+/=]+$/);
  });

  it('add (pinned by default) then cat whole, with offset and length', async () => {
    const r = await ipfs.add(text('0123456789abcdef'));
    expect(r.size).toBeGreaterThan(16);
    expect(await collect(ipfs.cat(r.cid))).toBe('0123456789abcdef');
    expect(await collect(ipfs.cat(r.cid, { offset: 10 }))).toBe('abcdef');
    expect(await collect(ipfs.cat(r.cid, { offset: 2, length: 3 }))).toBe('234');
    const pins = [];
    for await (const p of ipfs.pin.ls({ paths: [r.cid] })) pins.push(p.type);
    expect(pins).toEqual(['recursive']);
  });

  it('cat across chunk boundaries of a multi-chunk file', async () => {
    const big = new Uint8Array(700_000).map((_, i) => i % 251);
    const r = await ipfs.add(big);
    const parts: Uint8Array[] = [];
    for await (const c of ipfs.cat(r.cid, { offset: 262_000, length: 1000 })) parts.push(c);
    expect(Buffer.concat(parts).equals(Buffer.from(big.subarray(262_000, 263_000)))).toBe(true);
  });

  it('add with pin=false leaves it unpinned; pin add/ls/rm with names', async () => {
    const r = await ipfs.add(text('unpinned at first'), { pin: false });
    await expect(
      (async () => {
        for await (const _ of ipfs.pin.ls({ paths: [r.cid] })) void _;
      })(),
    ).rejects.toThrow(/is not pinned/);
    expect((await ipfs.pin.add(r.cid, { name: 'first-note' })).toString()).toBe(r.cid.toString());
    const named = [];
    for await (const p of ipfs.pin.ls({ type: 'recursive', names: true })) if (p.cid.equals(r.cid)) named.push(p.name);
    expect(named).toEqual(['first-note']);
    const byName = [];
    for await (const p of ipfs.pin.ls({ name: 'first-note' })) byName.push(p.cid.toString());
    expect(byName).toEqual([r.cid.toString()]);
    expect((await ipfs.pin.rm(r.cid)).toString()).toBe(r.cid.toString());
    await expect(ipfs.pin.rm(r.cid)).rejects.toThrow(/not pinned/);
  });

  it('indirect pins: blocks under a recursive pin are listed and cannot be unpinned alone', async () => {
    const root = (await ipfs.add(new Uint8Array(600_000).fill(7))).cid;
    const leaf = ((await ipfs.dag.get(root)).value as { Links: Array<{ Hash: CID }> }).Links[0]!.Hash;
    const found = [];
    for await (const p of ipfs.pin.ls({ paths: [leaf] })) found.push(p.type);
    expect(found[0]).toBe(`indirect through ${root}`);
    await expect(ipfs.pin.rm(leaf)).rejects.toThrow(/not pinned or pinned indirectly/);
  });

  it('directories: addAll with wrap-with-directory, then ls and cat by path', async () => {
    const out = [];
    for await (const r of ipfs.addAll([{ path: 'notes/a.txt', content: text('A') }, { path: 'notes/b.txt', content: text('BB') }], { wrapWithDirectory: true })) out.push(r);
    const root = out.at(-1)!.cid;
    const names = [];
    for await (const e of ipfs.ls(root)) names.push(`${e.name}:${e.type}`);
    expect(names).toEqual(['notes:dir']);
    const files = [];
    for await (const e of ipfs.ls(`${root}/notes`)) files.push(`${e.name}:${e.size}`);
    expect(files).toEqual(['a.txt:1', 'b.txt:2']);
    expect(await collect(ipfs.cat(`/ipfs/${root}/notes/b.txt`))).toBe('BB');
    await expect(collect(ipfs.cat(root))).rejects.toThrow(/directory/);
  });

  it('dag put/get (dag-cbor and dag-json), with a link and a path', async () => {
    const leaf = (await ipfs.add(text('linked'))).cid;
    const cid = await ipfs.dag.put({ title: 'doc', child: leaf, n: [1, 2] }, { storeCodec: 'dag-cbor', pin: true });
    expect(cid.code).toBe(0x71);
    const got = await ipfs.dag.get(cid);
    expect(got.value).toMatchObject({ title: 'doc', n: [1, 2] });
    expect(CID.asCID((got.value as { child: unknown }).child)?.toString()).toBe(leaf.toString());
    const json = await ipfs.dag.put({ a: 1 }, { storeCodec: 'dag-json' });
    expect(json.code).toBe(0x0129);
    // The server side of dag/get, with a path, as curl users call it.
    const res = await fetch(`${node.apiUrl}/api/v0/dag/get?arg=${cid}/n`, { method: 'POST' });
    expect(await res.json()).toEqual([1, 2]);
  });

  it('block put/get/stat', async () => {
    const cid = await ipfs.block.put(text('a raw block'));
    expect(cid.toString()).toMatch(/^bafkrei/);
    expect(Buffer.from(await ipfs.block.get(cid)).toString()).toBe('a raw block');
    expect(await ipfs.block.stat(cid)).toEqual({ cid, size: 11 });
    const cbor = await ipfs.block.put(new Uint8Array([0xa1, 0x61, 0x61, 0x01]), { format: 'dag-cbor' });
    expect(cbor.code).toBe(0x71);
  });

  it('dag export writes a CAR whose blocks rebuild the content', async () => {
    const r = await ipfs.add(new Uint8Array(300_000).map((_, i) => i % 13));
    const chunks: Uint8Array[] = [];
    for await (const c of ipfs.dag.export(r.cid)) chunks.push(c);
    const car = await CarReader.fromBytes(Buffer.concat(chunks));
    expect((await car.getRoots()).map(String)).toEqual([r.cid.toString()]);
    let blocks = 0;
    for await (const b of car.blocks()) {
      blocks++;
      expect(Buffer.from(b.bytes).equals(Buffer.from(await ipfs.block.get(b.cid)))).toBe(true);
    }
    expect(blocks).toBe(3); // root + 2 leaves
  });

  it('repo gc drops unpinned blocks and keeps pinned ones', async () => {
    const keep = (await ipfs.add(text('keep me'))).cid;
    const drop = (await ipfs.add(text('drop me'), { pin: false })).cid;
    const removed = [];
    for await (const r of ipfs.repo.gc()) {
      expect(r.err).toBeNull();
      removed.push(r.cid!.multihash.bytes.toString());
    }
    expect(removed).toContain(drop.multihash.bytes.toString());
    expect(removed).not.toContain(keep.multihash.bytes.toString());
    expect(await collect(ipfs.cat(keep))).toBe('keep me');
    await expect(collect(ipfs.cat(drop))).rejects.toThrow(/not found locally/);
  });
});

describe('errors in Kubo’s shape, at once', () => {
  const post = (cmd: string, qs = '') => fetch(`${node.apiUrl}/api/v0/${cmd}${qs}`, { method: 'POST' });

  it('a bad CID: 500 {Message, Code: 0, Type: "error"}', async () => {
    const res = await post('cat', '?arg=not-a-cid');
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body).toMatchObject({ Code: 0, Type: 'error' });
    expect(body.Message).toMatch(/^invalid path "not-a-cid"/);
    await expect(ipfs.pin.add('not-a-cid')).rejects.toThrow(/invalid path/);
  });

  it('a missing argument is a client error (400, Code 1)', async () => {
    const res = await post('cat');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ Message: 'argument "ipfs-path" is required', Code: 1, Type: 'error' });
  });

  it('a bad option value, an unknown chunker, an unimplemented option: 400', async () => {
    expect((await post('pin/ls', '?type=weird')).status).toBe(400);
    await expect(ipfs.add(text('x'), { chunker: 'rabin-1-2-3' })).rejects.toThrow(/not implemented/);
    await expect(ipfs.add(text('x'), { chunker: 'size-0' })).rejects.toThrow(/greater than 0/);
    await expect(ipfs.add(text('x'), { trickle: true })).rejects.toThrow(/trickle/);
  });

  it('GET is 405 and an unknown command 404, as on Kubo', async () => {
    expect((await fetch(`${node.apiUrl}/api/v0/version`)).status).toBe(405);
    const res = await post('swarm/peers');
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('404 page not found\n');
  });

  it('missing blocks fail fast for cat, pin add, block get, dag export', async () => {
    const absent = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5p';
    await expect(collect(ipfs.cat(absent))).rejects.toThrow(/block was not found locally \(offline\)/);
    await expect(ipfs.pin.add(absent)).rejects.toThrow(/not found locally/);
    await expect(ipfs.block.get(CID.parse(absent))).rejects.toThrow(/not found locally/);
    const parts = [];
    await expect(
      (async () => {
        for await (const c of ipfs.dag.export(CID.parse(absent))) parts.push(c);
      })(),
    ).rejects.toThrow(/not found locally/);
  });

  it('a pinned DAG with a missing child cannot be pinned again elsewhere', async () => {
    // A dag-cbor node linking to a block that is not in the repo.
    const cid = await ipfs.dag.put({ child: CID.parse('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku') }, { storeCodec: 'dag-cbor' });
    await expect(ipfs.pin.add(cid)).rejects.toThrow(/not found locally/);
    await ipfs.pin.add(cid, { recursive: false });
    const t = [];
    for await (const p of ipfs.pin.ls({ paths: [cid] })) t.push(p.type);
    expect(t).toEqual(['direct']);
  });

  it('uploads over the node’s limit are refused', async () => {
    await expect(ipfs.add(new Uint8Array(9 * 1024 * 1024))).rejects.toThrow(/limit/);
  });

  it('block put refuses blocks over 1 MiB unless allow-big-block', async () => {
    await expect(ipfs.block.put(new Uint8Array(1024 * 1024 + 1))).rejects.toThrow(/over 1MiB/);
  });

  it('the global timeout option is honoured (Go duration)', async () => {
    const res = await post('version', '?timeout=bogus');
    expect(res.status).toBe(400);
  });
});

describe('the single-peer Cluster API through @nftstorage/ipfs-cluster', () => {
  it('pin with replication 1, name and metadata; status; unpin', async () => {
    const cluster = new Cluster(node.clusterUrl);
    expect(await cluster.version()).toMatch(/^\d/);
    const info = await cluster.info();
    expect(info.id).toBe((await ipfs.id()).id.toString());
    const cid = (await ipfs.add(text('for the cluster'), { pin: false })).cid.toString();
    const pinned = await cluster.pin(cid, { name: 'cluster-note', replicationFactorMin: 1, replicationFactorMax: 1, metadata: { kind: 'test' } });
    expect(pinned).toMatchObject({ cid, name: 'cluster-note', replicationFactorMin: 1, replicationFactorMax: 1, metadata: { kind: 'test' } });
    const status = await cluster.status(cid);
    expect(Object.values(status.peerMap).map((p) => p.status)).toEqual(['pinned']);
    expect(status.name).toBe('cluster-note');
    const all = await cluster.statusAll();
    expect(all.map((s) => s.cid)).toContain(cid);
    await cluster.unpin(cid);
    expect(Object.values((await cluster.status(cid)).peerMap).map((p) => p.status)).toEqual(['unpinned']);
  });

  it('cluster add imports and pins with Kubo-compatible CIDs', async () => {
    const cluster = new Cluster(node.clusterUrl);
    const added = await cluster.add(new Blob([text('hello world\n')]), { cidVersion: 0, rawLeaves: false, name: 'hw' });
    expect(added.cid).toBe('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o');
    expect((await cluster.status(added.cid)).name).toBe('hw');
  });

  it('replication above what one peer can hold is refused with the cluster’s own error', async () => {
    const cluster = new Cluster(node.clusterUrl);
    const cid = (await ipfs.add(text('needs two peers'), { pin: false })).cid.toString();
    const res = await fetch(`${node.clusterUrl}/pins/${cid}?replication-min=2&replication-max=3`, { method: 'POST' });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({
      code: 500,
      message: 'not enough peers to allocate CID. Needed at least: 2. Wanted at most: 3. Available candidates: 1. See logs for more info.',
    });
    await expect(cluster.pin(cid, { replicationFactorMin: 2, replicationFactorMax: 2 })).rejects.toThrow(/500/);
    expect(Object.values((await cluster.status(cid)).peerMap).map((p) => p.status)).toEqual(['unpinned']);
  });
});

describe('restart', () => {
  it('keeps pins (with names), their content and the peer identity', async () => {
    const before = (await ipfs.id()).id.toString();
    const r = await ipfs.add(text('survives a restart'));
    await ipfs.pin.add(r.cid, { name: 'durable' });
    const pinsBefore = [];
    for await (const p of ipfs.pin.ls({ type: 'recursive', names: true })) pinsBefore.push(`${p.cid}:${p.name ?? ''}`);
    await node.stop();
    await start();
    expect((await ipfs.id()).id.toString()).toBe(before);
    const pinsAfter = [];
    for await (const p of ipfs.pin.ls({ type: 'recursive', names: true })) pinsAfter.push(`${p.cid}:${p.name ?? ''}`);
    expect(pinsAfter.sort()).toEqual(pinsBefore.sort());
    for await (const _ of ipfs.repo.gc()) void _;
    expect(await collect(ipfs.cat(r.cid))).toBe('survives a restart');
  });
});
