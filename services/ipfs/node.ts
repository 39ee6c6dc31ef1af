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
import { CarBlockIterator } from '@ipld/car/iterator';
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
import { codecByName, codecCall, decodeBlock, hasherByName, linksOf, namedLinksOf } from './codecs';
import { TAR_END, tarHeader, tarPad } from './tar';
import { argError, KuboError, notFoundLocally } from './errors';
import { loadOrCreateIdentity, type NodeIdentity } from './identity';
import { RwLock } from './lock';
import { normalizePath, parseIpfsPath, resolveDagPath, resolveUnixfsPath } from './paths';
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

  /** An IPLD path (`dag resolve`): dag-pb link names, dag-cbor/dag-json fields; see resolveDagPath. */
  async resolveIpld(arg: string, signal?: AbortSignal): Promise<{ cid: CID; remPath: string }> {
    const r = await resolveDagPath(arg, async (c) => this.decode(c, await this.getBlock(c, signal)));
    return { cid: r.cid, remPath: r.remPath };
  }

  /** A UnixFS path (cat, ls, get, pin add/rm): see resolveUnixfsPath. */
  async resolve(arg: string, signal?: AbortSignal): Promise<UnixFSEntry> {
    return resolveUnixfsPath(arg, this.localStore, signal);
  }

  /**
   * The CID a path names, for commands that take any path (pin ls, dag resolve, refs):
   * through UnixFS names under a dag-pb root, through fields and links under dag-cbor
   * or dag-json. `remPath` is what is left inside the last node (Kubo's RemPath).
   */
  async resolveCid(arg: string, signal?: AbortSignal): Promise<{ cid: CID; remPath: string }> {
    const { cid, rest } = parseIpfsPath(arg);
    if (!rest) return { cid, remPath: '' };
    if (cid.code === dagPb.code) return { cid: (await this.resolve(arg, signal)).cid, remPath: '' };
    const r = await resolveDagPath(arg, async (c) => this.decode(c, await this.getBlock(c, signal)));
    return { cid: r.cid, remPath: r.remPath };
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

  pinLs(opts: { type?: 'all' | PinType; cids?: CID[]; labels?: string[]; signal?: AbortSignal } = {}): AsyncGenerator<PinInfo> {
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

  /**
   * `block put`: the bytes as sent, under a CID of the codec asked for. As in Kubo, the
   * codec only names the bytes: they are not decoded or validated ("passing alternative
   * --cid-codec does not modify imported data, nor run any validation"). CIDv1 always,
   * except `cidVersion: 0` (Kubo's `--format=v0`), which is dag-pb + sha2-256 only.
   */
  async blockPut(bytes: Uint8Array, opts: { codec: string; hash: string; cidVersion?: 0 | 1; pin?: boolean }): Promise<CID> {
    const codec = codecByName(opts.codec);
    const hasher = hasherByName(opts.hash);
    const digest = await hasher.digest(bytes);
    const v0 = opts.cidVersion === 0;
    if (v0 && (codec.code !== dagPb.code || hasher.code !== sha256.code)) throw argError('cidv0 only supports dag-pb and sha2-256');
    const cid = v0 ? CID.createV0(digest as never) : CID.createV1(codec.code, digest);
    await this.lock.run(false, async () => {
      await this.putBlock(cid, bytes);
      if (opts.pin) await this.pinStore.addUnlocked(cid, { recursive: true });
    });
    return cid;
  }

  async blockStat(cid: CID, signal?: AbortSignal) {
    const bytes = await this.getBlock(cid, signal);
    return { Key: cid.toString(), Size: bytes.length };
  }

  /**
   * `dag put`: decode with the input codec, encode with the store codec, always — also
   * when both are the same, as Kubo does (its sharness t0053 "dag-json to dag-json"):
   * the stored bytes are the canonical encoding, whatever key order or spacing came in.
   */
  async dagPut(bytes: Uint8Array, opts: { inputCodec: string; storeCodec: string; hash: string; pin: boolean }): Promise<CID> {
    const input = codecByName(opts.inputCodec);
    const store = codecByName(opts.storeCodec);
    const value = codecCall(`failed to decode the input as ${input.name}`, () => input.decode(bytes), true);
    const encoded = codecCall(`cannot store the input as ${store.name}`, () => (store.encode as (v: unknown) => Uint8Array)(value), true);
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
    const { value } = await resolveDagPath(arg, async (c) => this.decode(c, await this.getBlock(c, signal)));
    return codecCall(`cannot encode the node as ${out.name}`, () => (out.encode as (v: unknown) => Uint8Array)(value));
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
      for await (const cid of this.blocks.multihashes({ signal })) {
        if (live.has(mhKey(cid))) continue;
        await this.blocks.deleteBlock(cid);
        events.push({ cid });
      }
    });
    yield* events;
  }

  /**
   * `refs`: the links under a node, depth first and in link order, each reported
   * before the links under it (Kubo's RefWriter). `maxDepth` -1 is unlimited (Kubo's
   * --recursive), 1 is the node's own links. `unique` reports each CID once and does
   * not walk under a CID already seen.
   */
  async *refs(root: CID, opts: { maxDepth: number; unique: boolean; signal?: AbortSignal }): AsyncGenerator<{ src: CID; dst: CID; name: string }> {
    const seen = new Set<string>();
    const stack: Array<{ cid: CID; depth: number; links?: Array<{ name: string; cid: CID }>; i: number }> = [{ cid: root, depth: 0, i: 0 }];
    while (stack.length) {
      opts.signal?.throwIfAborted();
      const top = stack[stack.length - 1]!;
      top.links ??= namedLinksOf(top.cid, await this.getBlock(top.cid, opts.signal));
      if (top.i >= top.links.length) {
        stack.pop();
        continue;
      }
      const link = top.links[top.i++]!;
      const depth = top.depth + 1;
      if (opts.unique) {
        const key = link.cid.toString();
        if (seen.has(key)) continue;
        seen.add(key);
      }
      yield { src: top.cid, dst: link.cid, name: link.name };
      if (opts.maxDepth === -1 || depth < opts.maxDepth) stack.push({ cid: link.cid, depth, i: 0 });
    }
  }

  /**
   * `get`: the file or directory at a path as a tar stream (Kubo's answer; the client
   * unpacks it). Entries are named under the path's last segment (the CID for a bare
   * CID), directories before their contents.
   */
  async *getTar(arg: string, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    const top = await this.resolve(arg, signal);
    const { cid, rest } = parseIpfsPath(arg);
    const base = rest ? rest.split('/').filter(Boolean).pop()! : cid.toString();
    const stack: Array<{ entry: UnixFSEntry; name: string }> = [{ entry: top, name: base }];
    while (stack.length) {
      const { entry, name } = stack.pop()!;
      signal?.throwIfAborted();
      if (entry.type === 'directory') {
        yield* tarHeader(name, 'directory', 0n);
        const children: Array<{ entry: UnixFSEntry; name: string }> = [];
        for await (const child of entry.entries({ signal })) {
          children.push({ entry: await exporter(child.cid, this.localStore as never, { signal, offline: true }), name: `${name}/${child.name}` });
        }
        for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
      } else if (entry.type === 'file' || entry.type === 'raw' || entry.type === 'identity') {
        yield* tarHeader(name, 'file', entry.size);
        for await (const c of entry.content({ signal })) yield c;
        const pad = tarPad(entry.size);
        if (pad.length) yield pad;
      } else {
        throw new KuboError(`cannot get ${entry.cid}: not a UnixFS node`);
      }
    }
    yield TAR_END;
  }

  /**
   * `dag import`: the blocks of one or more CARs, streamed, each checked against its
   * CID's multihash (sha2-256/sha2-512; others are refused) and stored; then, with
   * `pinRoots`, every root named in a CAR header is pinned recursively (a root whose
   * DAG is incomplete gets its error in `pinError`, as Kubo's PinErrorMsg). The whole
   * import holds the repo's read lock, so a gc cannot take blocks before their pin.
   */
  async dagImport(
    cars: AsyncIterable<AsyncIterable<Uint8Array>>,
    opts: { pinRoots: boolean; maxBlockBytes: number; signal?: AbortSignal },
  ): Promise<{ roots: Array<{ cid: CID; pinError: string }>; blocks: number; bytes: number }> {
    const release = await this.lock.readLock();
    try {
      const roots = new Map<string, CID>();
      let blocks = 0;
      let bytes = 0;
      for await (const car of cars) {
        let reader: CarBlockIterator;
        try {
          reader = await CarBlockIterator.fromIterable(car);
        } catch (err) {
          throw argError(`invalid CAR: ${(err as Error).message}`);
        }
        for (const r of await reader.getRoots()) roots.set(r.toString(), r);
        try {
          for await (const block of reader) {
            opts.signal?.throwIfAborted();
            if (block.bytes.length > opts.maxBlockBytes) throw argError(`block ${block.cid} is over ${opts.maxBlockBytes} bytes`);
            const hasher = block.cid.multihash.code === sha256.code ? sha256 : block.cid.multihash.code === sha512.code ? sha512 : undefined;
            if (!hasher) throw argError(`block ${block.cid}: unsupported hash function 0x${block.cid.multihash.code.toString(16)}`);
            const digest = await hasher.digest(block.bytes);
            if (!equalDigests(digest.bytes, block.cid.multihash.bytes)) throw argError(`block ${block.cid}: its bytes do not match its CID`);
            await this.putBlock(block.cid, block.bytes);
            blocks++;
            bytes += block.bytes.length;
          }
        } catch (err) {
          if (err instanceof KuboError) throw err;
          throw argError(`invalid CAR: ${(err as Error).message}`);
        }
      }
      const out: Array<{ cid: CID; pinError: string }> = [];
      for (const cid of roots.values()) {
        if (!opts.pinRoots) continue;
        try {
          await this.pinStore.addUnlocked(cid, { recursive: true, signal: opts.signal });
          out.push({ cid, pinError: '' });
        } catch (err) {
          if (!(err instanceof KuboError)) throw err;
          out.push({ cid, pinError: err.message });
        }
      }
      return { roots: out, blocks, bytes };
    } finally {
      release();
    }
  }

  /** `refs local`: every block in the repo, as CIDv1 raw over its multihash (as Kubo lists them). */
  async *refsLocal(signal?: AbortSignal): AsyncGenerator<CID> {
    yield* this.blocks.multihashes({ signal });
  }

  /**
   * `block rm`: removes blocks, never a pinned one (Kubo's wording: "pinned: recursive",
   * "pinned via <root>"). Runs under the write lock, like gc. One result per CID, in
   * order; `error` set when that block was not removed.
   */
  async blockRm(cids: CID[], opts: { force?: boolean; signal?: AbortSignal } = {}): Promise<Array<{ cid: CID; error?: string }>> {
    return this.lock.run(true, async () => {
      const wanted = new Map(cids.map((c) => [mhKey(c), c]));
      // Which of them are pinned, and how: direct/recursive from the store, indirect by one walk of each recursive pin.
      const pinned = new Map<string, string>();
      for (const p of this.pinStore.all()) {
        const key = mhKey(p.cid);
        if (wanted.has(key)) pinned.set(key, `pinned: ${p.depth === 0 ? 'direct' : 'recursive'}`);
      }
      for (const p of this.pinStore.all()) {
        if (p.depth === 0 || pinned.size === wanted.size) continue;
        try {
          for await (const b of this.walk(p.cid, opts.signal)) {
            const key = mhKey(b.cid);
            if (!b.cid.equals(p.cid) && wanted.has(key) && !pinned.has(key)) pinned.set(key, `pinned via ${p.cid}`);
          }
        } catch (err) {
          if (!(err instanceof KuboError)) throw err;
          // A pin whose DAG cannot be walked: refuse to remove anything it might hold.
          for (const key of wanted.keys()) if (!pinned.has(key)) pinned.set(key, `pinned via ${p.cid} (its DAG could not be walked: ${err.message})`);
        }
      }
      const out: Array<{ cid: CID; error?: string }> = [];
      for (const cid of cids) {
        const reason = pinned.get(mhKey(cid));
        if (reason) {
          out.push({ cid, error: reason });
          continue;
        }
        if (!opts.force && !(await this.blocks.has(cid))) {
          out.push({ cid, error: 'blockstore: block not found' });
          continue;
        }
        await this.blocks.deleteBlock(cid);
        out.push({ cid });
      }
      return out;
    });
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

function equalDigests(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
