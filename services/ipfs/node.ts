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
import { codecByName, decodeBlock, hasherByName, linksOf } from './codecs';
import { argError, KuboError, notFoundLocally } from './errors';
import { loadOrCreateIdentity, type NodeIdentity } from './identity';
import { RwLock } from './lock';
import { normalizePath, parseIpfsPath } from './paths';
import { mhKey, Pins, type PinInfo, type PinMetadata, type PinType, type PinView } from './pins';

export { CODECS, codecByName, hasherByName, linksOf, type CodecName } from './codecs';
export { parseIpfsPath } from './paths';
export type { PinInfo, PinType } from './pins';

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

export class IpfsNode {
  private readonly lock = new RwLock();
  private pinStore!: Pins;

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
    node.pinStore = await Pins.open(path.join(dir, 'pins'), {
      lock: node.lock,
      walk: (root, signal) => node.walk(root, signal),
      getBlock: (cid, signal) => node.getBlock(cid, signal),
    });
    return node;
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
    const release = await this.lock.readLock();
    try {
      yield* this.addLocked(candidates, store, writer, explicitDirs, s, signal);
    } finally {
      await writer?.flush().catch(() => {});
      release();
    }
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
      for (const r of roots.length ? roots : [results[results.length - 1]!]) await this.pinStore.addUnlocked(r.cid, { recursive: true, name: s.pinName, fresh: true });
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
    await this.pinStore.add(cid, opts);
  }

  /** Replaces a pin's metadata. */
  async setPinMetadata(cid: CID, metadata: PinMetadata): Promise<void> {
    await this.pinStore.setMetadata(cid, metadata);
  }

  /** Every direct and recursive pin, with its CID as pinned and its metadata. */
  async *pins(signal?: AbortSignal): AsyncGenerator<PinView> {
    for (const p of this.pinStore.all()) {
      signal?.throwIfAborted();
      yield p;
    }
  }

  /** The pin record of a CID pinned directly or recursively (not indirectly). */
  pinOf(cid: CID): PinView | undefined {
    return this.pinStore.get(cid);
  }

  pinLs(opts: { type?: 'all' | PinType; cids?: CID[]; signal?: AbortSignal } = {}): AsyncGenerator<PinInfo> {
    return this.pinStore.ls(opts);
  }

  async pinRm(cid: CID, opts: { recursive?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    await this.pinStore.rm(cid, opts);
  }

  /** Pinned directly or recursively (indirect pins are not looked for). */
  isPinned(cid: CID): boolean {
    return this.pinStore.has(cid);
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
      if (opts.pin) await this.pinStore.addUnlocked(cid, { recursive: true });
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
      if (opts.pin) await this.pinStore.addUnlocked(cid, { recursive: true });
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
    return decodeBlock(cid, bytes);
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
      for (const rec of this.pinStore.all()) {
        const root = rec.cid;
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
