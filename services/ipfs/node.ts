/**
 * The embedded IPFS node: Helia (createHeliaLight: no libp2p, no public network) over
 * a file-backed blockstore and datastore under DATA_DIR/ipfs. It adds content with
 * Kubo's import settings so it makes Kubo's CIDs, keeps pins (with names) in its
 * datastore, garbage-collects unpinned blocks and exports CARs. Every read is local:
 * a block that is not in the repo fails at once, as on an offline Kubo.
 *
 * The HTTP faces (Kubo RPC, Cluster REST, a path gateway) live in kubo-api.ts and
 * cluster-api.ts; this file knows nothing about HTTP.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { CarWriter } from '@ipld/car';
import * as dagCbor from '@ipld/dag-cbor';
import * as dagJson from '@ipld/dag-json';
import * as dagPb from '@ipld/dag-pb';
import { FsDatastore } from 'datastore-fs';
import { createHeliaLight, type Helia } from 'helia';
import { exporter, type UnixFSEntry } from 'ipfs-unixfs-exporter';
import { importer, type ImportCandidate, type ImporterOptions } from 'ipfs-unixfs-importer';
import { fixedSize } from 'ipfs-unixfs-importer/chunker';
import { balanced } from 'ipfs-unixfs-importer/layout';
import { CID } from 'multiformats/cid';
import * as json from 'multiformats/codecs/json';
import * as raw from 'multiformats/codecs/raw';
import { identity } from 'multiformats/hashes/identity';
import { sha256, sha512 } from 'multiformats/hashes/sha2';
import { RepoBlockstore, type WriteBehind } from './blockstore';
import { argError, KuboError, notFoundLocally } from './errors';
import { loadOrCreateIdentity, type NodeIdentity } from './identity';

/** Kubo's defaults: 256 KiB chunks, 174 links per node (boxo's DefaultLinksPerBlock). */
export const KUBO_CHUNK_SIZE = 262_144;
export const KUBO_MAX_LINKS = 174;
/** boxo's chunker limit (chunk.ChunkSizeLimit). */
export const MAX_CHUNK_SIZE = 2 * 1024 * 1024;

export interface AddSettings {
  cidVersion: 0 | 1;
  rawLeaves: boolean;
  chunkSize: number;
  wrapWithDirectory: boolean;
  onlyHash: boolean;
  pin: boolean;
  pinName?: string;
}

export interface AddEntry {
  path: string;
  /** Absent for a directory. */
  content?: AsyncIterable<Uint8Array> | Uint8Array;
}

export interface AddResult {
  path: string;
  cid: CID;
  /** Cumulative DAG size, as Kubo reports `Size`. */
  size: bigint;
}

export type PinType = 'recursive' | 'direct' | 'indirect';
export interface PinInfo {
  cid: CID;
  type: PinType;
  name?: string;
  /** For an indirect pin asked about by CID: the recursive pin that holds it. */
  via?: CID;
}

export const CODECS = {
  'dag-pb': dagPb,
  'dag-cbor': dagCbor,
  'dag-json': dagJson,
  raw,
  json,
} as const;
export type CodecName = keyof typeof CODECS;
const CODEC_BY_CODE = new Map<number, (typeof CODECS)[CodecName]>(Object.values(CODECS).map((c) => [c.code, c]));
const HASHERS = { 'sha2-256': sha256, 'sha2-512': sha512 } as const;

export function codecByName(name: string): (typeof CODECS)[CodecName] {
  const alias: Record<string, CodecName> = { protobuf: 'dag-pb', cbor: 'dag-cbor', v0: 'dag-pb' };
  const c = CODECS[(alias[name] ?? name) as CodecName];
  if (!c) throw argError(`unknown multicodec: "${name}" (supported: ${Object.keys(CODECS).join(', ')})`);
  return c;
}

export function hasherByName(name: string) {
  const h = HASHERS[name as keyof typeof HASHERS];
  if (!h) throw argError(`unrecognized hash function: ${name} (supported: ${Object.keys(HASHERS).join(', ')})`);
  return h;
}

/** `Qm…`, `/ipfs/Qm…/a/b` → root CID and the rest of the path. Kubo's wording on failure. */
export function parseIpfsPath(arg: string): { cid: CID; rest: string; path: string } {
  let p = arg.trim();
  if (p.startsWith('/ipfs/')) p = p.slice('/ipfs/'.length);
  else if (p.startsWith('/ipns/')) throw new KuboError(`invalid path "${arg}": IPNS names cannot be resolved by this node`);
  else if (p.startsWith('/')) throw new KuboError(`invalid path "${arg}": unknown namespace "${p.split('/')[1]}"`);
  const slash = p.indexOf('/');
  const head = slash === -1 ? p : p.slice(0, slash);
  const rest = slash === -1 ? '' : p.slice(slash + 1).replace(/\/+$/, '');
  if (!head) throw new KuboError(`invalid path "${arg}": path does not have enough components`);
  let cid: CID;
  try {
    cid = CID.parse(head);
  } catch (err) {
    throw new KuboError(`invalid path "${arg}": invalid cid: ${(err as Error).message}`);
  }
  return { cid, rest, path: rest ? `${cid}/${rest}` : cid.toString() };
}

async function concat(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of chunks) {
    parts.push(c);
    n += c.length;
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
}

function isMissingBlock(err: unknown): boolean {
  const name = (err as Error)?.name ?? '';
  return name === 'BlockNotFoundWhileOfflineError' || name === 'NotFoundError' || (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/** A pin as stored: one JSON file per pin under DATA_DIR/ipfs/pins, written atomically. */
interface PinRecord {
  cid: string;
  /** -1 recursive, 0 direct (Kubo has no other depths). */
  depth: -1 | 0;
  metadata: Record<string, string | number | boolean>;
  created: string;
}

/** Many readers (adds, pins, reads) or one writer (gc). Writers go first once waiting. */
class RwLock {
  private readers = 0;
  private writer = false;
  private queue: Array<{ write: boolean; go: () => void }> = [];

  private pump() {
    while (this.queue.length) {
      const next = this.queue[0]!;
      if (next.write ? this.writer || this.readers > 0 : this.writer) return;
      this.queue.shift();
      if (next.write) this.writer = true;
      else this.readers++;
      next.go();
      if (next.write) return;
    }
  }

  async run<T>(write: boolean, fn: () => Promise<T>): Promise<T> {
    await new Promise<void>((go) => {
      this.queue.push({ write, go });
      this.pump();
    });
    try {
      return await fn();
    } finally {
      if (write) this.writer = false;
      else this.readers--;
      this.pump();
    }
  }
}

const mhKey = (cid: CID) => Buffer.from(cid.multihash.bytes).toString('base64url');

export class IpfsNode {
  private readonly pinRecords = new Map<string, PinRecord>();
  private readonly lock = new RwLock();

  private constructor(
    readonly dir: string,
    readonly helia: Helia,
    private readonly blocks: RepoBlockstore,
    readonly identity: NodeIdentity,
  ) {}

  static async open(dir: string): Promise<IpfsNode> {
    await fs.mkdir(path.join(dir, 'pins'), { recursive: true, mode: 0o700 });
    const identity = await loadOrCreateIdentity(dir);
    const blockstore = new RepoBlockstore(path.join(dir, 'blocks'));
    const datastore = new FsDatastore(path.join(dir, 'datastore'));
    await blockstore.open();
    await datastore.open();
    const helia = createHeliaLight({ blockstore, datastore, codecs: [dagCbor, dagJson, json], hashers: [sha512], blockBrokers: [], routers: [] });
    await helia.start();
    const node = new IpfsNode(dir, helia, blockstore, identity);
    await node.loadPins();
    return node;
  }

  private async loadPins() {
    const dir = path.join(this.dir, 'pins');
    for (const f of await fs.readdir(dir)) {
      if (!f.endsWith('.json')) continue;
      const rec = JSON.parse(await fs.readFile(path.join(dir, f), 'utf8')) as PinRecord;
      this.pinRecords.set(f.slice(0, -5), rec);
    }
  }

  private async writePin(cid: CID, rec: PinRecord | undefined) {
    const key = mhKey(cid);
    const file = path.join(this.dir, 'pins', `${key}.json`);
    if (!rec) {
      await fs.rm(file, { force: true });
      this.pinRecords.delete(key);
      return;
    }
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(rec));
    await fs.rename(tmp, file);
    this.pinRecords.set(key, rec);
  }

  async close(): Promise<void> {
    await this.lock.run(true, async () => {
      await this.helia.stop();
    });
  }

  /** One block, from the local repo only. */
  async getBlock(cid: CID, signal?: AbortSignal): Promise<Uint8Array> {
    if (cid.multihash.code === identity.code) return cid.multihash.digest;
    signal?.throwIfAborted();
    try {
      return await concat(this.blocks.get(cid, { signal }));
    } catch (err) {
      if (isMissingBlock(err)) throw notFoundLocally(cid.toString());
      throw err;
    }
  }

  async hasBlock(cid: CID): Promise<boolean> {
    return this.blocks.has(cid);
  }

  private async putBlock(cid: CID, bytes: Uint8Array): Promise<void> {
    await this.blocks.put(cid, bytes);
  }

  /** The blockstore as the unixfs exporter wants it, local-only, with Kubo's error for a missing block. */
  private readonly localStore = {
    get: async function* (this: IpfsNode, cid: CID, options?: { signal?: AbortSignal }) {
      yield await this.getBlock(cid, options?.signal);
    }.bind(this),
  };

  // ---------------------------------------------------------------- add / read

  importerOptions(s: AddSettings): ImporterOptions {
    return {
      cidVersion: s.cidVersion,
      rawLeaves: s.rawLeaves,
      leafType: 'file',
      reduceSingleLeafToSelf: true,
      chunker: fixedSize({ chunkSize: s.chunkSize }),
      layout: balanced({ maxChildrenPerNode: KUBO_MAX_LINKS }),
      shardSplitStrategy: 'links-bytes',
      shardSplitThresholdBytes: 262_144,
      fieldOrder: 'links-first',
      wrapWithDirectory: s.wrapWithDirectory,
      // Entries arrive one by one from a stream (multipart): the importer must finish
      // one file before it asks for the next, or it waits for entries that never come.
      fileImportConcurrency: 1,
      blockWriteConcurrency: 16,
    };
  }

  /** Imports files and directories; yields one result per entry (root last), then pins the roots. */
  async *add(entries: AsyncIterable<AddEntry>, s: AddSettings, signal?: AbortSignal): AsyncGenerator<AddResult> {
    // Blocks are written behind the import (bounded), and flushed before any CID is
    // reported or pinned: reading the upload and hashing need not wait for the disk.
    const writer = s.onlyHash ? undefined : this.blocks.writeBehind();
    const store = writer ? { put: (cid: CID, bytes: Uint8Array) => writer.put(cid, bytes) } : { put: async (cid: CID) => cid };
    const explicitDirs: string[] = [];
    const candidates = (async function* () {
      for await (const e of entries) {
        signal?.throwIfAborted();
        if (e.content === undefined) explicitDirs.push(normalizePath(e.path));
        const content = e.content === undefined || e.content instanceof Uint8Array ? e.content : rechunk(e.content, s.chunkSize);
        yield (content === undefined ? { path: e.path } : { path: e.path, content }) as ImportCandidate;
      }
    })();
    // The read lock keeps gc from sweeping blocks of an import before they are pinned.
    const release = await this.readLock();
    try {
      yield* this.addLocked(candidates, store, writer, explicitDirs, s, signal);
    } finally {
      await writer?.flush().catch(() => {});
      release();
    }
  }

  private async readLock(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let acquired!: () => void;
    const ready = new Promise<void>((r) => (acquired = r));
    void this.lock.run(false, async () => {
      acquired();
      await held;
    });
    await ready;
    return release;
  }

  private async *addLocked(
    candidates: AsyncIterable<ImportCandidate>,
    store: unknown,
    writer: WriteBehind | undefined,
    explicitDirs: string[],
    s: AddSettings,
    signal?: AbortSignal,
  ): AsyncGenerator<AddResult> {
    const results: AddResult[] = [];
    // Files are reported as they are imported. Directories only come once the upload has
    // ended (the importer builds them last); they are held back and reported as Kubo does:
    // each directory after its subdirectories, in name order, empty ones included (the
    // importer links an empty directory but reports it only at the top level).
    const dirs: AddResult[] = [];
    for await (const r of importer(candidates, store as never, { ...this.importerOptions(s), signal } as ImporterOptions)) {
      const res = { path: r.path ?? '', cid: r.cid, size: r.size };
      results.push(res);
      if (r.unixfs?.isDirectory()) {
        dirs.push(res);
        continue;
      }
      await writer?.flush();
      yield res;
    }
    if (dirs.length || explicitDirs.length) {
      const reported = new Set(dirs.map((d) => d.path));
      const empty = await emptyDirectory(s.cidVersion);
      for (const p of explicitDirs) {
        if (reported.has(p) || !p) continue;
        reported.add(p);
        const res = { path: p, cid: empty.cid, size: empty.size };
        dirs.push(res);
        results.push(res);
      }
      await writer?.flush();
      yield* kuboDirectoryOrder(dirs);
    }
    if (s.pin && !s.onlyHash && results.length) {
      // Kubo pins the roots: the wrapping directory, or every top-level entry.
      const roots = s.wrapWithDirectory ? results.filter((r) => r.path === '') : results.filter((r) => !r.path.includes('/'));
      for (const r of roots.length ? roots : [results[results.length - 1]!]) await this.pinUnlocked(r.cid, { recursive: true, name: s.pinName, fresh: true });
    }
  }

  async resolve(arg: string, signal?: AbortSignal): Promise<UnixFSEntry> {
    const { path: p } = parseIpfsPath(arg);
    try {
      return await exporter(p, this.localStore as never, { signal, offline: true });
    } catch (err) {
      if (err instanceof KuboError) throw err;
      const name = (err as Error).name;
      if (name === 'NotFoundError' || name === 'ERR_NOT_FOUND') throw new KuboError(`no link named "${p.split('/').pop()}" under ${p.split('/')[0]}`);
      if (name === 'NoResolverError' || name === 'ERR_NO_RESOLVER') throw new KuboError(`unsupported codec in ${arg}`);
      throw err;
    }
  }

  async *cat(arg: string, opts: { offset?: number; length?: number; signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    const entry = await this.resolve(arg, opts.signal);
    if (entry.type === 'directory') throw new KuboError('this dag node is a directory');
    if (entry.type === 'object') throw new KuboError(`unsupported node type: ${entry.cid.toString()} is not a UnixFS file`);
    yield* entry.content({ offset: opts.offset, length: opts.length, signal: opts.signal });
  }

  /** `ipfs ls`: the entries of a directory, or the chunk links of a file. */
  async ls(arg: string, signal?: AbortSignal) {
    const entry = await this.resolve(arg, signal);
    const links: Array<{ Name: string; Hash: string; Size: number; Type: number; Target: string }> = [];
    if (entry.type === 'directory') {
      for await (const child of entry.entries({ signal })) {
        const sub = await exporter(child.cid, this.localStore as never, { signal, offline: true });
        const isDir = sub.type === 'directory';
        links.push({ Name: child.name, Hash: child.cid.toString(), Size: isDir ? 0 : Number(sub.size), Type: isDir ? 1 : 2, Target: '' });
      }
    } else if (entry.type === 'file' && entry.cid.code === dagPb.code) {
      // Kubo lists a chunked file's links: unnamed, each a file of its own size (a
      // leaf's bytes, or the bytes under an inner node). A one-block file has none.
      const root = dagPb.decode(await this.getBlock(entry.cid, signal));
      for (const l of root.Links) {
        const sub = await exporter(l.Hash, this.localStore as never, { signal, offline: true });
        links.push({ Name: l.Name ?? '', Hash: l.Hash.toString(), Size: Number(sub.size), Type: 2, Target: '' });
      }
    } else if (entry.type === 'object') {
      throw new KuboError(`cannot list ${entry.cid.toString()}: not a UnixFS node`);
    }
    return { Hash: arg, Links: links };
  }

  // ---------------------------------------------------------------- pins

  async pinAdd(cid: CID, opts: { recursive?: boolean; name?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.lock.run(false, () => this.pinUnlocked(cid, opts));
  }

  /** `fresh`: the DAG was written by this add a moment ago, under the same lock. */
  private async pinUnlocked(cid: CID, opts: { recursive?: boolean; name?: string; signal?: AbortSignal; fresh?: boolean }): Promise<void> {
    const depth = opts.recursive === false ? 0 : -1;
    const existing = this.pinRecords.get(mhKey(cid));
    if (existing?.depth === depth) {
      if (opts.name !== undefined) await this.writePin(cid, { ...existing, metadata: { ...existing.metadata, name: opts.name } });
      return;
    }
    // Kubo upgrades a direct pin to recursive; it refuses the other way round.
    if (existing && depth === 0) throw new KuboError(`${cid} already pinned recursively`);
    // Every block must be here before the pin is recorded (Kubo fetches them; offline, a missing one fails).
    if (depth === -1 && !opts.fresh) await this.walkAll(cid, opts.signal);
    else if (!opts.fresh) await this.getBlock(cid, opts.signal);
    const metadata = { ...(existing?.metadata ?? {}) };
    if (opts.name) metadata.name = opts.name;
    await this.writePin(cid, { cid: cid.toString(), depth, metadata, created: existing?.created ?? new Date().toISOString() });
  }

  /** Replaces a pin's metadata. */
  async setPinMetadata(cid: CID, metadata: Record<string, string | number | boolean>): Promise<void> {
    const existing = this.pinRecords.get(mhKey(cid));
    if (!existing) throw new KuboError(`${cid} is not pinned`);
    await this.writePin(cid, { ...existing, metadata });
  }

  /** Every direct and recursive pin, with its CID as pinned and its metadata. */
  async *pins(signal?: AbortSignal): AsyncGenerator<{ cid: CID; depth: number; metadata: Record<string, string | number | boolean>; created: string }> {
    for (const rec of [...this.pinRecords.values()]) {
      signal?.throwIfAborted();
      yield { cid: CID.parse(rec.cid), depth: rec.depth === 0 ? 0 : Infinity, metadata: rec.metadata, created: rec.created };
    }
  }

  /** The pin record of a CID pinned directly or recursively (not indirectly). */
  pinOf(cid: CID): { cid: CID; depth: number; metadata: Record<string, string | number | boolean>; created: string } | undefined {
    const rec = this.pinRecords.get(mhKey(cid));
    return rec ? { cid: CID.parse(rec.cid), depth: rec.depth === 0 ? 0 : Infinity, metadata: rec.metadata, created: rec.created } : undefined;
  }

  /** Visits every block of a DAG (fails at the first missing one); yields each CID once. */
  async *walk(root: CID, signal?: AbortSignal): AsyncGenerator<{ cid: CID; bytes: Uint8Array }> {
    const seen = new Set<string>();
    const stack = [root];
    while (stack.length) {
      signal?.throwIfAborted();
      const cid = stack.pop()!;
      const key = cid.toString();
      if (seen.has(key)) continue;
      seen.add(key);
      const bytes = await this.getBlock(cid, signal);
      yield { cid, bytes };
      const children = linksOf(cid, bytes);
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
    }
  }

  private async walkAll(root: CID, signal?: AbortSignal) {
    for await (const _ of this.walk(root, signal)) void _;
  }

  async *pinLs(opts: { type?: 'all' | PinType; cids?: CID[]; signal?: AbortSignal } = {}): AsyncGenerator<PinInfo> {
    const type = opts.type ?? 'all';
    const pins: PinInfo[] = [];
    for await (const p of this.pins(opts.signal)) {
      const name = typeof p.metadata?.name === 'string' ? p.metadata.name : undefined;
      pins.push({ cid: p.cid, type: p.depth === 0 ? 'direct' : 'recursive', name });
    }
    if (opts.cids?.length) {
      for (const cid of opts.cids) {
        const direct = pins.find((p) => p.cid.equals(cid) && (type === 'all' || p.type === type));
        if (direct) {
          yield direct;
          continue;
        }
        let via: CID | undefined;
        if (type === 'all' || type === 'indirect') {
          for (const p of pins.filter((x) => x.type === 'recursive')) {
            for await (const b of this.walk(p.cid, opts.signal)) {
              if (!b.cid.equals(p.cid) && equalBytes(b.cid.multihash.bytes, cid.multihash.bytes)) via = p.cid;
              if (via) break;
            }
            if (via) break;
          }
        }
        if (via) {
          yield { cid, type: 'indirect', via };
          continue;
        }
        throw new KuboError(`path '${cid}' is not pinned`);
      }
      return;
    }
    for (const p of pins) if (type === 'all' || p.type === type) yield p;
    if (type === 'all' || type === 'indirect') {
      const direct = new Set(pins.map((p) => p.cid.toString()));
      const seen = new Set<string>();
      for (const p of pins.filter((x) => x.type === 'recursive')) {
        for await (const b of this.walk(p.cid, opts.signal)) {
          const key = b.cid.toString();
          if (b.cid.equals(p.cid) || direct.has(key) || seen.has(key)) continue;
          seen.add(key);
          yield { cid: b.cid, type: 'indirect' };
        }
      }
    }
  }

  async pinRm(cid: CID, opts: { recursive?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    await this.lock.run(false, async () => {
      const existing = this.pinRecords.get(mhKey(cid));
      if (!existing) throw new KuboError('not pinned or pinned indirectly');
      if (existing.depth !== 0 && opts.recursive === false) throw new KuboError(`${cid} is pinned recursively`);
      await this.writePin(cid, undefined);
    });
  }

  /** Pinned directly or recursively (indirect pins are not looked for). */
  isPinned(cid: CID): boolean {
    return this.pinRecords.has(mhKey(cid));
  }

  // ---------------------------------------------------------------- blocks and dags

  async blockPut(bytes: Uint8Array, opts: { codec: string; hash: string; cidVersion?: 0 | 1; pin?: boolean }): Promise<CID> {
    const codec = codecByName(opts.codec);
    const hasher = hasherByName(opts.hash);
    if (codec.code !== raw.code) this.validate(codec, bytes);
    const digest = await hasher.digest(bytes);
    const v0 = (opts.cidVersion ?? (codec.code === dagPb.code && hasher.code === sha256.code ? 0 : 1)) === 0;
    if (v0 && (codec.code !== dagPb.code || hasher.code !== sha256.code)) throw argError('cidv0 only supports dag-pb and sha2-256');
    const cid = v0 ? CID.createV0(digest as never) : CID.createV1(codec.code, digest);
    await this.lock.run(false, async () => {
      await this.putBlock(cid, bytes);
      if (opts.pin) await this.pinUnlocked(cid, { recursive: true });
    });
    return cid;
  }

  private validate(codec: { name: string; decode(b: Uint8Array): unknown }, bytes: Uint8Array) {
    try {
      codec.decode(bytes);
    } catch (err) {
      throw argError(`the block is not valid ${codec.name}: ${(err as Error).message}`);
    }
  }

  async blockStat(cid: CID, signal?: AbortSignal) {
    const bytes = await this.getBlock(cid, signal);
    return { Key: cid.toString(), Size: bytes.length };
  }

  /** `dag put`: decode with the input codec, store with the store codec. */
  async dagPut(bytes: Uint8Array, opts: { inputCodec: string; storeCodec: string; hash: string; pin: boolean }): Promise<CID> {
    const input = codecByName(opts.inputCodec);
    const store = codecByName(opts.storeCodec);
    let value: unknown;
    try {
      value = input.decode(bytes);
    } catch (err) {
      throw argError(`failed to decode the input as ${input.name}: ${(err as Error).message}`);
    }
    let encoded: Uint8Array;
    try {
      encoded = input.code === store.code ? bytes : (store.encode as (v: unknown) => Uint8Array)(value);
    } catch (err) {
      throw argError(`cannot store the input as ${store.name}: ${(err as Error).message}`);
    }
    const digest = await hasherByName(opts.hash).digest(encoded);
    const cid = CID.createV1(store.code, digest);
    await this.lock.run(false, async () => {
      await this.putBlock(cid, encoded);
      if (opts.pin) await this.pinUnlocked(cid, { recursive: true });
    });
    return cid;
  }

  /** `dag get`: the node (or the value at a path inside it) encoded with the output codec. */
  async dagGet(arg: string, outputCodec: string, signal?: AbortSignal): Promise<Uint8Array> {
    const out = codecByName(outputCodec);
    const { cid, rest } = parseIpfsPath(arg);
    let current: CID = cid;
    let value: unknown = this.decode(current, await this.getBlock(current, signal));
    const parts = rest ? rest.split('/').filter(Boolean) : [];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      let next: unknown;
      if (current.code === dagPb.code) {
        const node = value as dagPb.PBNode;
        const link = node.Links.find((l) => l.Name === part);
        if (part === 'Links' || part === 'Data') next = (node as unknown as Record<string, unknown>)[part];
        else next = link?.Hash;
      } else if (value !== null && typeof value === 'object') {
        next = (value as Record<string, unknown>)[part];
      }
      if (next === undefined) throw new KuboError(`no link named "${part}" under ${current}`);
      const asCid = CID.asCID(next);
      if (asCid) {
        current = asCid;
        value = this.decode(current, await this.getBlock(current, signal));
      } else value = next;
    }
    try {
      return (out.encode as (v: unknown) => Uint8Array)(value);
    } catch (err) {
      throw new KuboError(`cannot encode the node as ${out.name}: ${(err as Error).message}`);
    }
  }

  decode(cid: CID, bytes: Uint8Array): unknown {
    const codec = CODEC_BY_CODE.get(cid.code);
    if (!codec) throw new KuboError(`unsupported codec 0x${cid.code.toString(16)} in ${cid}`);
    return codec.decode(bytes);
  }

  /** A CARv1 stream of the whole DAG (depth-first, root first), as `ipfs dag export` writes it. */
  async *dagExport(root: CID, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    await this.getBlock(root, signal); // fail before any byte is sent
    const { writer, out } = CarWriter.create([root]);
    const feed = (async () => {
      try {
        for await (const b of this.walk(root, signal)) await writer.put(b);
      } finally {
        await writer.close();
      }
    })();
    let failed: unknown;
    feed.catch((err) => (failed = err));
    for await (const chunk of out) yield chunk;
    await feed.catch(() => {});
    if (failed) throw failed;
  }

  /**
   * Kubo's mark and sweep: every block reachable from a pin is kept, every other
   * block is deleted. Runs under the write lock, so no add or pin is half done.
   * Yields each removed CID; a pinned DAG with a missing block is reported as an
   * error and its blocks are all kept.
   */
  async *gc(signal?: AbortSignal): AsyncGenerator<{ cid?: CID; error?: string }> {
    const events: Array<{ cid?: CID; error?: string }> = [];
    await this.lock.run(true, async () => {
      const live = new Set<string>();
      let incomplete = false;
      for (const rec of this.pinRecords.values()) {
        const root = CID.parse(rec.cid);
        if (rec.depth === 0) {
          live.add(mhKey(root));
          continue;
        }
        try {
          for await (const b of this.walk(root, signal)) live.add(mhKey(b.cid));
        } catch (err) {
          if (!(err instanceof KuboError)) throw err;
          incomplete = true;
          events.push({ error: `could not walk pin ${rec.cid}: ${err.message}` });
        }
      }
      if (incomplete) return; // never delete what a damaged pin might still need
      for await (const pair of this.blocks.getAll({ signal })) {
        if (live.has(mhKey(pair.cid))) continue;
        await this.blocks.delete(pair.cid);
        events.push({ cid: pair.cid });
      }
    });
    yield* events;
  }

  /** Bytes stored in the repo (the blocks directory). */
  async repoSize(): Promise<{ blocks: number; bytes: number }> {
    let blocks = 0;
    let bytes = 0;
    const visit = async (dir: string) => {
      for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await visit(p);
        else if (e.name.endsWith('.data')) {
          blocks++;
          bytes += (await fs.stat(p)).size;
        }
      }
    };
    await visit(path.join(this.dir, 'blocks'));
    return { blocks, bytes };
  }
}

/** `a//b/` → `a/b`, as the importer names paths. */
function normalizePath(p: string): string {
  return p.split('/').filter(Boolean).join('/');
}

/** The empty UnixFS directory (Kubo: QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn, 4 bytes). */
async function emptyDirectory(cidVersion: 0 | 1): Promise<{ cid: CID; size: bigint }> {
  const bytes = dagPb.encode({ Data: Uint8Array.of(0x08, 0x01), Links: [] });
  const digest = await sha256.digest(bytes);
  return { cid: cidVersion === 0 ? CID.createV0(digest) : CID.createV1(dagPb.code, digest), size: BigInt(bytes.length) };
}

/** Directories in the order Kubo's adder reports them: depth first, children by name, each after its subdirectories. */
function kuboDirectoryOrder(dirs: AddResult[]): AddResult[] {
  const byPath = new Map(dirs.map((d) => [d.path, d]));
  const children = new Map<string, string[]>();
  const roots: string[] = [];
  for (const d of dirs) {
    // '' is the wrapping directory; a top-level entry's parent is '' when there is one.
    const parent = d.path === '' ? undefined : d.path.includes('/') ? d.path.slice(0, d.path.lastIndexOf('/')) : '';
    if (parent !== undefined && byPath.has(parent)) children.set(parent, [...(children.get(parent) ?? []), d.path]);
    else roots.push(d.path);
  }
  const out: AddResult[] = [];
  const visit = (p: string) => {
    for (const c of (children.get(p) ?? []).sort()) visit(c);
    out.push(byPath.get(p)!);
  };
  for (const r of roots.sort()) visit(r);
  return out;
}

/**
 * Regroups a stream of arbitrary pieces (16–64 KiB from HTTP) into whole chunks of
 * the import's chunk size. Same bytes, same CIDs; the importer's chunker is several
 * times faster on aligned input than on many small pieces.
 */
export async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let buf = Buffer.allocUnsafe(size);
  let fill = 0;
  for await (const piece of source) {
    if (fill === 0 && piece.length === size) {
      yield piece; // already a whole chunk: no copy
      continue;
    }
    let off = 0;
    while (off < piece.length) {
      const n = Math.min(size - fill, piece.length - off);
      buf.set(piece.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === size) {
        yield buf;
        buf = Buffer.allocUnsafe(size);
        fill = 0;
      }
    }
  }
  if (fill > 0) yield buf.subarray(0, fill);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The CIDs a block links to, by codec. */
export function linksOf(cid: CID, bytes: Uint8Array): CID[] {
  switch (cid.code) {
    case dagPb.code:
      return dagPb.decode(bytes).Links.map((l) => l.Hash);
    case dagCbor.code:
      return collectCids(dagCbor.decode(bytes));
    case dagJson.code:
      return collectCids(dagJson.decode(bytes));
    default:
      return [];
  }
}

function collectCids(value: unknown, out: CID[] = []): CID[] {
  const cid = CID.asCID(value);
  if (cid) out.push(cid);
  else if (Array.isArray(value)) for (const v of value) collectCids(v, out);
  else if (value && typeof value === 'object' && !(value instanceof Uint8Array)) for (const v of Object.values(value)) collectCids(v, out);
  return out;
}
