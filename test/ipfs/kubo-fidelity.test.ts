/**
 * Differences from Kubo found by the interface-ipfs-core run, each fixed at its root
 * and checked here through kubo-rpc-client: paths under a file, block put's codec and
 * CID version, dag put's canonical re-encoding, pin ls of a path, and gc/block rm with
 * any hash function.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as dagJson from '@ipld/dag-json';
import { create, type KuboRPCClient } from 'kubo-rpc-client';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import zlib from 'node:zlib';
import { startEmbeddedIpfs, type EmbeddedIpfs } from '../../services/ipfs/embedded';

let dir: string;
let node: EmbeddedIpfs;
let ipfs: KuboRPCClient;
const text = (s: string) => new TextEncoder().encode(s);
const all = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ipfs-fidelity-'));
  node = await startEmbeddedIpfs({ dir: path.join(dir, 'repo') });
  ipfs = create({ url: node.apiUrl });
});

afterAll(async () => {
  await node?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('a path under a file is an error, as in Kubo', () => {
  it('cat and ls of <file>/does-not-exist: no link named … under <file>', async () => {
    const { cid } = await ipfs.add(text('just a file'));
    await expect(all(ipfs.cat(`${cid}/does-not-exist`))).rejects.toThrow(`no link named "does-not-exist" under ${cid}`);
    await expect(all(ipfs.ls(`/ipfs/${cid}/does-not-exist`))).rejects.toThrow(`no link named "does-not-exist" under ${cid}`);
    await expect(all(ipfs.cat(`${cid}/a/b`))).rejects.toThrow(`no link named "a" under ${cid}`);
  });
  it('paths through directories still resolve, and a missing name is reported under its directory', async () => {
    const res = await all(ipfs.addAll([{ path: 'd/sub/f.txt', content: text('deep') }]));
    const root = res.find((r) => r.path === 'd')!.cid;
    const sub = res.find((r) => r.path === 'd/sub')!.cid;
    expect(Buffer.concat(await all(ipfs.cat(`/ipfs/${root}/sub/f.txt`))).toString()).toBe('deep');
    await expect(all(ipfs.cat(`${root}/sub/nope`))).rejects.toThrow(`no link named "nope" under ${sub}`);
    await expect(all(ipfs.cat(`${root}/sub/f.txt/x`))).rejects.toThrow(/no link named "x" under/);
  });
});

describe('block put names the bytes, it does not validate them (Kubo)', () => {
  it('--cid-codec=dag-pb with bytes that are not dag-pb: stored as sent, CIDv1', async () => {
    const bytes = text('not protobuf at all');
    const cid = await ipfs.block.put(bytes, { format: 'dag-pb' } as never);
    expect(cid.version).toBe(1);
    expect(cid.code).toBe(0x70);
    expect(cid.multihash.bytes).toEqual((await sha256.digest(bytes)).bytes);
    expect(Buffer.from(await ipfs.block.get(cid)).toString()).toBe('not protobuf at all');
  });
  it('--cid-codec=dag-cbor with bytes that are not CBOR: stored, CIDv1', async () => {
    const cid = await ipfs.block.put(Uint8Array.of(0xff, 0xfe), { format: 'dag-cbor' } as never);
    expect(cid.toString()).toMatch(/^bafyrei/);
  });
  it('only --format=v0 gives a Qm… CID; the default is raw CIDv1', async () => {
    const bytes = text('v0 please');
    const res = await fetch(`${node.apiUrl}/api/v0/block/put?format=v0`, { method: 'POST', body: multipart(bytes) });
    expect(((await res.json()) as { Key: string }).Key).toMatch(/^Qm/);
    const def = await ipfs.block.put(bytes);
    expect(def.toString()).toBe(CID.createV1(raw.code, await sha256.digest(bytes)).toString());
  });
});

function multipart(bytes: Uint8Array): FormData {
  const fd = new FormData();
  fd.append('file', new Blob([Buffer.from(bytes)]), 'data');
  return fd;
}

describe('dag put re-encodes canonically (sharness t0053 "dag-json to dag-json")', () => {
  it('the same value in any key order or spacing gets one CID, of the canonical bytes', async () => {
    const canonical = dagJson.encode({ a: 1, b: [1, 2], c: 'x' });
    const messy = text('{ "c": "x",  "b": [1, 2],\n "a": 1 }');
    const put = async (bytes: Uint8Array) => {
      const res = await fetch(`${node.apiUrl}/api/v0/dag/put?input-codec=dag-json&store-codec=dag-json`, { method: 'POST', body: multipart(bytes) });
      return CID.parse(((await res.json()) as { Cid: { '/': string } }).Cid['/']);
    };
    const a = await put(messy);
    const b = await put(canonical);
    expect(a.toString()).toBe(b.toString());
    expect(a.toString()).toBe(CID.createV1(dagJson.code, await sha256.digest(canonical)).toString());
    expect(Buffer.from(await ipfs.block.get(a)).toString()).toBe(Buffer.from(canonical).toString());
  });
});

describe('pin ls of a path resolves the whole path', () => {
  it('a leaf under a recursive pin: indirect through the root; a missing sub-path: an error', async () => {
    const res = await all(ipfs.addAll([{ path: 'root/files/b.txt', content: text('bee') }, { path: 'root/a.txt', content: text('ay') }]));
    const root = res.find((r) => r.path === 'root')!.cid;
    const leaf = res.find((r) => r.path === 'root/files/b.txt')!.cid;
    const out = await all(ipfs.pin.ls({ paths: [`/ipfs/${root}/files/b.txt`], type: 'all' }));
    expect(out).toHaveLength(1);
    expect(out[0]!.cid.toString()).toBe(leaf.toString());
    expect(out[0]!.type).toBe(`indirect through ${root}`);
    await expect(all(ipfs.pin.ls({ paths: [`/ipfs/${root}/files/nope.txt`] }))).rejects.toThrow(/no link named "nope.txt"/);
    const rootOnly = await all(ipfs.pin.ls({ paths: [root] }));
    expect(rootOnly[0]!.type).toBe('recursive');
  });
  it('a CID that is not pinned: path … is not pinned', async () => {
    const cid = await ipfs.block.put(text('loose block'));
    await expect(all(ipfs.pin.ls({ paths: [cid] }))).rejects.toThrow(`path '${cid}' is not pinned`);
  });
});

describe('gc and block rm handle every block the node accepted', () => {
  it('after a dag put --hash=sha2-512, gc still runs, and removes the block once unpinned', async () => {
    const cid = await ipfs.dag.put({ big: 'hash' }, { storeCodec: 'dag-cbor', hashAlg: 'sha2-512' });
    expect(cid.multihash.code).toBe(0x13);
    const first = await all(ipfs.repo.gc());
    expect(first.every((r) => !r.err)).toBe(true);
    expect(first.map((r) => r.cid?.multihash.bytes.toString())).toContain(cid.multihash.bytes.toString());
    const again = await all(ipfs.repo.gc());
    expect(again.every((r) => !r.err)).toBe(true);
  });
  it('a pinned sha2-512 block survives gc', async () => {
    const cid = await ipfs.dag.put({ kept: true }, { storeCodec: 'dag-cbor', hashAlg: 'sha2-512', pin: true });
    await all(ipfs.repo.gc());
    expect((await ipfs.dag.get(cid)).value).toEqual({ kept: true });
  });
  it('block rm removes unpinned blocks (any hash), refuses pinned ones, reports missing ones', async () => {
    const a = await ipfs.dag.put({ n: 1 }, { storeCodec: 'dag-cbor', hashAlg: 'sha2-512' });
    const b = await ipfs.block.put(text('rm me'));
    const pinned = await ipfs.block.put(text('keep me'), { pin: true });
    const removed = await all(ipfs.block.rm([a, b]));
    expect(removed.map((r) => r.cid.toString())).toEqual([a.toString(), b.toString()]);
    expect(removed.every((r) => !r.error)).toBe(true);
    await expect(ipfs.block.stat(a)).rejects.toThrow(/not found/);
    const refused = await all(ipfs.block.rm(pinned));
    expect(refused[0]!.error?.message).toBe('pinned: recursive');
    const missing = await all(ipfs.block.rm(b));
    expect(missing[0]!.error?.message).toMatch(/block not found/);
    const forced = await all(ipfs.block.rm(b, { force: true }));
    expect(forced[0]!.error).toBeUndefined();
    const quiet = await all(ipfs.block.rm(await ipfs.block.put(text('quiet')), { quiet: true }));
    expect(quiet).toEqual([]);
  });
  it('block rm refuses a block pinned indirectly: pinned via <root>', async () => {
    const res = await all(ipfs.addAll([{ path: 'p/x.txt', content: text('x') }]));
    const root = res.find((r) => r.path === 'p')!.cid;
    const leaf = res.find((r) => r.path === 'p/x.txt')!.cid;
    const out = await all(ipfs.block.rm(leaf));
    expect(out[0]!.error?.message).toBe(`pinned via ${root}`);
  });
  it('refs local lists every block as CIDv1 raw over its multihash', async () => {
    const cid = await ipfs.dag.put({ local: 1 }, { storeCodec: 'dag-cbor', hashAlg: 'sha2-512' });
    const refs = (await all(ipfs.refs.local())).map((r) => r.ref);
    expect(refs).toContain(CID.createV1(raw.code, cid.multihash).toString());
  });
});

describe('what a pinning agent needs besides', () => {
  it('add with progress: {Name, Bytes} lines while the upload is read, then the result', async () => {
    const seen: Array<[number, string]> = [];
    const data = new Uint8Array(700_000).fill(7);
    const r = await ipfs.add({ path: 'big.bin', content: data }, { progress: (bytes, name) => seen.push([bytes, name ?? '']) });
    expect(r.path).toBe('big.bin');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[seen.length - 1]).toEqual([700_000, 'big.bin']);
    const empty: number[] = [];
    await ipfs.add(new Uint8Array(0), { progress: (b) => empty.push(b) });
    expect(empty).toEqual([0]);
  });
  it('get: a tar of the directory, named under the CID, that tar(1) unpacks', async () => {
    const res = await all(ipfs.addAll([{ path: 'g/a.txt', content: text('A') }, { path: 'g/sub/b.txt', content: text('B'.repeat(1000)) }, { path: `g/${'n'.repeat(120)}.txt`, content: text('long') }]));
    const root = res.find((r) => r.path === 'g')!.cid;
    const tar = Buffer.concat(await all(ipfs.get(root)));
    const out = path.join(dir, 'untar');
    await fs.mkdir(out);
    await fs.writeFile(path.join(dir, 'g.tar'), tar);
    execFileSync('tar', ['-xf', path.join(dir, 'g.tar'), '-C', out]);
    expect(await fs.readFile(path.join(out, root.toString(), 'a.txt'), 'utf8')).toBe('A');
    expect(await fs.readFile(path.join(out, root.toString(), 'sub', 'b.txt'), 'utf8')).toBe('B'.repeat(1000));
    expect(await fs.readFile(path.join(out, root.toString(), `${'n'.repeat(120)}.txt`), 'utf8')).toBe('long');
    const gz = Buffer.concat(await all(ipfs.get(`${root}/a.txt`, { compress: true })));
    expect(zlib.gunzipSync(gz).toString()).toBe('A');
    await expect(all(ipfs.get(root, { compress: true }))).rejects.toThrow(/file is not regular/);
  });
  it('refs (direct, recursive, unique, edges, format) and dag resolve / dag stat', async () => {
    const res = await all(ipfs.addAll([{ path: 'r/x.txt', content: text('x') }, { path: 'r/d/y.txt', content: text('y') }]));
    const root = res.find((r) => r.path === 'r')!.cid;
    const d = res.find((r) => r.path === 'r/d')!.cid;
    const x = res.find((r) => r.path === 'r/x.txt')!.cid;
    const y = res.find((r) => r.path === 'r/d/y.txt')!.cid;
    expect((await all(ipfs.refs(root))).map((r) => r.ref)).toEqual([d.toString(), x.toString()]);
    expect((await all(ipfs.refs(root, { recursive: true }))).map((r) => r.ref)).toEqual([d.toString(), y.toString(), x.toString()]);
    expect((await all(ipfs.refs(root, { edges: true }))).map((r) => r.ref)).toEqual([`${root} -> ${d}`, `${root} -> ${x}`]);
    expect((await all(ipfs.refs(root, { format: '<linkname>: <dst>' }))).map((r) => r.ref)).toEqual([`d: ${d}`, `x.txt: ${x}`]);
    expect((await all(ipfs.refs(`/ipfs/${root}/d`))).map((r) => r.ref)).toEqual([y.toString()]);
    const resolved = await ipfs.dag.resolve(`/ipfs/${root}/d/y.txt`);
    expect(resolved.cid.toString()).toBe(y.toString());
    const obj = await ipfs.dag.put({ a: { b: [1, 2] }, link: root }, { storeCodec: 'dag-cbor' });
    const inner = await ipfs.dag.resolve(`${obj}/a/b`);
    expect(inner.cid.toString()).toBe(obj.toString());
    expect(inner.remainderPath).toBe('a/b');
    const through = await ipfs.dag.resolve(`${obj}/link`);
    expect(through.cid.toString()).toBe(root.toString());
    const stat = (await (await fetch(`${node.apiUrl}/api/v0/dag/stat?arg=${root}&progress=false`, { method: 'POST' })).json()) as { UniqueBlocks: number; DagStats: Array<{ NumBlocks: number }> };
    expect(stat.UniqueBlocks).toBe(4);
    expect(stat.DagStats[0]!.NumBlocks).toBe(4);
  });
});

describe('dag import', () => {
  async function car(roots: CID[], blocks: Array<{ cid: CID; bytes: Uint8Array }>): Promise<Uint8Array> {
    const { CarWriter } = await import('@ipld/car');
    const { writer, out } = CarWriter.create(roots);
    const done = all(out);
    for (const b of blocks) await writer.put(b);
    await writer.close();
    return Buffer.concat(await done);
  }
  const rawBlock = async (s: string) => {
    const bytes = text(s);
    return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes };
  };

  it('stores the blocks, pins the roots, reports a root it cannot pin', async () => {
    const a = await rawBlock(`import-a-${Math.random()}`);
    const b = await rawBlock(`import-b-${Math.random()}`);
    const missing = (await rawBlock(`never-sent-${Math.random()}`)).cid;
    const out = await all(ipfs.dag.import([await car([a.cid, missing], [a, b])]));
    expect(out.map((o) => [o.root.cid.toString(), o.root.pinErrorMsg])).toEqual([
      [a.cid.toString(), ''],
      [missing.toString(), expect.stringMatching(/not found/)],
    ]);
    expect(Buffer.from(await ipfs.block.get(b.cid)).toString()).toMatch(/^import-b-/);
    expect((await all(ipfs.pin.ls({ paths: [a.cid] })))[0]!.type).toBe('recursive');
  });
  it('pin-roots=false pins nothing and reports no roots', async () => {
    const a = await rawBlock(`nopin-${Math.random()}`);
    expect(await all(ipfs.dag.import([await car([a.cid], [a])], { pinRoots: false }))).toEqual([]);
    await expect(all(ipfs.pin.ls({ paths: [a.cid] }))).rejects.toThrow(/is not pinned/);
  });
  it('a block whose bytes do not match its CID, or bytes that are not a CAR, are refused', async () => {
    const a = await rawBlock('honest');
    const forged = await car([a.cid], [{ cid: a.cid, bytes: text('forged') }]);
    await expect(all(ipfs.dag.import([forged]))).rejects.toThrow(/do not match its CID/);
    await expect(all(ipfs.dag.import([text('not a car')]))).rejects.toThrow(/invalid CAR/);
  });
});
