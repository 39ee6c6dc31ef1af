/**
 * CID parity: the embedded node, reached through the real kubo-rpc-client, must give
 * exactly the CIDs Kubo gives. Two independent references:
 *   - Debian's `ipfs_cid` (package ipfs-cid, a separate Rust implementation of Kubo's
 *     default import: CIDv0, 256 KiB chunks, balanced 174-link DAG);
 *   - CIDs published by Kubo and the IPFS docs, and raw-leaf CIDs computed here from
 *     first principles (sha-256 + the CIDv1 raw prefix + base32), not by multiformats.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { create, type KuboRPCClient } from 'kubo-rpc-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedIpfs, type EmbeddedIpfs } from '../../services/ipfs/embedded';
import { createLogger } from '../../src/logger';
import { oracleCid, pattern as sharedPattern } from './support';

let dir: string;
let node: EmbeddedIpfs;
let ipfs: KuboRPCClient;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ipfs-parity-'));
  node = await startEmbeddedIpfs({ dir: path.join(dir, 'repo'), logger: createLogger('silent') });
  ipfs = create({ url: node.apiUrl });
});

afterAll(async () => {
  await node?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const pattern = (n: number, seed = 1) => sharedPattern(n, seed);
const oracle = (bytes: Uint8Array) => oracleCid(dir, bytes);

/** CIDv1, raw codec, sha2-256, base32 lower: 'b' + base32(0x01 0x55 0x12 0x20 ‖ digest). */
function rawCidV1(bytes: Uint8Array): string {
  const data = Buffer.concat([Buffer.from([0x01, 0x55, 0x12, 0x20]), createHash('sha256').update(bytes).digest()]);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = 'b';
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

describe('CID parity with Kubo', () => {
  it('the oracle is installed (scripts/test-prereqs.sh installs Debian ipfs-cid)', () => {
    expect(() => execFileSync('ipfs_cid', ['--version'], { stdio: 'ignore' })).not.toThrow(/ENOENT/);
  });

  it('published CIDs: "hello world\\n", the empty file, the empty directory', async () => {
    expect((await ipfs.add('hello world\n')).cid.toString()).toBe('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o');
    expect((await ipfs.add(new Uint8Array(0))).cid.toString()).toBe('QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH');
    const out = [];
    for await (const r of ipfs.addAll([{ path: 'empty' }], { wrapWithDirectory: false })) out.push(r);
    expect(out.at(-1)!.cid.toString()).toBe('QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn');
  });

  const sizes: Array<[string, number]> = [
    ['one byte', 1],
    ['exactly one chunk', 262_144],
    ['one chunk + 1 byte', 262_145],
    ['174 chunks (one full node)', 174 * 262_144],
    ['174 chunks + 1 byte (two-level tree)', 174 * 262_144 + 1],
    ['an odd size of several chunks', 3 * 262_144 + 12_345],
  ];
  for (const [label, n] of sizes) {
    it(`CIDv0 defaults match ipfs_cid: ${label} (${n} bytes)`, async () => {
      const bytes = pattern(n, n);
      const got = await ipfs.add(bytes);
      expect(got.cid.toString()).toBe(await oracle(bytes));
    });
  }

  it('the empty file matches ipfs_cid too', async () => {
    expect((await ipfs.add(new Uint8Array(0))).cid.toString()).toBe(await oracle(new Uint8Array(0)));
  });

  it('--cid-version=1 implies raw leaves: a one-chunk file is the raw CID of its bytes', async () => {
    for (const text of ['hello world\n', 'x', '']) {
      const bytes = new TextEncoder().encode(text);
      expect((await ipfs.add(bytes, { cidVersion: 1 })).cid.toString()).toBe(rawCidV1(bytes));
    }
    // Published: `echo -n "hello world" | ipfs add --cid-version=1`.
    expect((await ipfs.add('hello world', { cidVersion: 1 })).cid.toString()).toBe('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e');
  });

  it('--cid-version=1 --raw-leaves=false: a one-chunk file is the CIDv1 form of the CIDv0 node; bigger files link dag-pb v1 leaves', async () => {
    const small = pattern(1000, 7);
    const v0 = (await ipfs.add(small)).cid;
    const v1 = (await ipfs.add(small, { cidVersion: 1, rawLeaves: false })).cid;
    expect(v1.version).toBe(1);
    expect(v1.toV0().toString()).toBe(v0.toString());
    const big = (await ipfs.add(pattern(300_000, 7), { cidVersion: 1, rawLeaves: false })).cid;
    const dag = await ipfs.dag.get(big);
    const leaves = (dag.value as { Links: Array<{ Hash: { version: number; code: number } }> }).Links.map((l) => [l.Hash.version, l.Hash.code]);
    expect(leaves).toEqual([
      [1, 0x70],
      [1, 0x70],
    ]);
  });

  it('multi-chunk CIDv1 files have raw leaves: every leaf is the raw CID of its chunk', async () => {
    const bytes = pattern(2 * 262_144 + 10, 3);
    const root = (await ipfs.add(bytes, { cidVersion: 1 })).cid;
    const links = [];
    for await (const l of ipfs.ls(root)) links.push(l);
    const block = await ipfs.block.get(root);
    expect(block.length).toBeGreaterThan(0);
    const dag = await ipfs.dag.get(root);
    const leafCids = (dag.value as { Links: Array<{ Hash: { toString(): string } }> }).Links.map((l) => l.Hash.toString());
    expect(leafCids).toEqual([rawCidV1(bytes.subarray(0, 262_144)), rawCidV1(bytes.subarray(262_144, 524_288)), rawCidV1(bytes.subarray(524_288))]);
  });

  it('a custom chunker changes the DAG as Kubo does (size-1024 over 3000 bytes → 3 leaves)', async () => {
    const bytes = pattern(3000, 9);
    const root = (await ipfs.add(bytes, { chunker: 'size-1024' })).cid;
    const dag = await ipfs.dag.get(root);
    expect((dag.value as { Links: unknown[] }).Links).toHaveLength(3);
    expect(root.toString()).not.toBe(await oracle(bytes));
  });

  it('a directory: the same CID whichever order the files are sent in, and it contains the files’ own CIDs', async () => {
    const a = pattern(10, 1);
    const b = pattern(300_000, 2);
    const one = [];
    for await (const r of ipfs.addAll([{ path: 'd/a.bin', content: a }, { path: 'd/sub/b.bin', content: b }])) one.push(r);
    const two = [];
    for await (const r of ipfs.addAll([{ path: 'd/sub/b.bin', content: b }, { path: 'd/a.bin', content: a }])) two.push(r);
    const root1 = one.find((r) => r.path === 'd')!.cid.toString();
    expect(two.find((r) => r.path === 'd')!.cid.toString()).toBe(root1);
    const entries = [];
    for await (const e of ipfs.ls(root1)) entries.push([e.name, e.cid.toString()]);
    expect(entries).toEqual([
      ['a.bin', await oracle(a)],
      ['sub', expect.stringMatching(/^Qm/)],
    ]);
    const sub = [];
    for await (const e of ipfs.ls(`${root1}/sub`)) sub.push(e.cid.toString());
    expect(sub).toEqual([await oracle(b)]);
  });

  it('wrap-with-directory wraps a single named file (the published Kubo example of "hello world\\n" as hello.txt)', async () => {
    const out = [];
    for await (const r of ipfs.addAll([{ path: 'hello.txt', content: new TextEncoder().encode('hello world\n') }], { wrapWithDirectory: true })) out.push(r);
    expect(out[0]!.cid.toString()).toBe('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o');
    const root = out.at(-1)!;
    expect(root.path).toBe('');
    const ls = [];
    for await (const e of ipfs.ls(root.cid)) ls.push(e.name);
    expect(ls).toEqual(['hello.txt']);
  });

  it('only-hash gives the same CID and stores nothing', async () => {
    const bytes = pattern(500_000, 11);
    const hashed = await ipfs.add(bytes, { onlyHash: true });
    expect(hashed.cid.toString()).toBe(await oracle(bytes));
    await expect(ipfs.block.stat(hashed.cid)).rejects.toThrow(/not found locally/);
  });
});
