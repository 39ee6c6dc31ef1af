/**
 * The Kubo RPC face of the embedded node: the subset of /api/v0 that the tools,
 * workflows and tests use (see README.md for the list and what is left out), plus a
 * read-only path gateway at /ipfs/… on the same port, as Kubo's API port also serves.
 *
 * Conventions copied from Kubo: every command is POST (GET → 405); arguments come in
 * `arg` query parameters; JSON outputs are newline-delimited for streaming commands;
 * errors are `{Message, Code, Type: "error"}` with the status go-ipfs-cmds uses; the
 * global `timeout` option (a Go duration) bounds any command.
 */
import type http from 'node:http';
import zlib from 'node:zlib';
import { CID } from 'multiformats/cid';
import { argError, KuboError, toKuboError } from './errors';
import { safeDecode } from './guard';
import { firstPartBytes, multipartParts, Params, PushQueue, readPieces, parseGoDuration, sendJson, sendKuboError, streamOut } from './http-util';
import { KUBO_CHUNK_SIZE, MAX_CHUNK_SIZE, parseIpfsPath, type AddEntry, type AddSettings, type IpfsNode, type PinType } from './node';
import type { Logger } from './logger';

async function* gzipped(src: AsyncIterable<Uint8Array>, level?: number): AsyncGenerator<Uint8Array> {
  const gz = zlib.createGzip(level === undefined ? {} : { level });
  const pump = (async () => {
    try {
      for await (const c of src) if (!gz.write(c)) await new Promise<void>((r) => gz.once('drain', r));
      gz.end();
    } catch (err) {
      gz.destroy(err as Error);
    }
  })();
  for await (const c of gz) yield c as Uint8Array;
  await pump;
}

/** The Kubo release whose API this face follows. */
export const KUBO_COMPAT_VERSION = '0.38.0';
/** Kubo's soft block size limit (boxo `SoftBlockLimit`). */
const SOFT_BLOCK_LIMIT = 1024 * 1024;
const HARD_BLOCK_LIMIT = 4 * 1024 * 1024;

type Handler = (ctx: { req: http.IncomingMessage; res: http.ServerResponse; p: Params; signal: AbortSignal }) => Promise<void>;

export interface KuboApiOptions {
  node: IpfsNode;
  logger: Logger;
  /** Largest upload accepted by `add`, in bytes (0 = no limit). */
  maxAddBytes?: number;
}

function parseChunker(spec: string | undefined): number {
  if (spec === undefined || spec === '' || spec === 'default') return KUBO_CHUNK_SIZE;
  const m = /^size-(\d+)$/.exec(spec);
  if (!m) {
    if (/^(rabin|buzhash)/.test(spec)) throw argError(`chunker "${spec}" is not implemented by this node (only size-<bytes>)`);
    throw argError(`unrecognized chunker option: ${spec}`);
  }
  const n = Number(m[1]);
  if (n <= 0) throw argError('chunker size must be greater than 0');
  if (n > MAX_CHUNK_SIZE) throw argError(`chunker parameters may not exceed the maximum chunk size of ${MAX_CHUNK_SIZE}`);
  return n;
}

function addSettings(p: Params): AddSettings {
  const cv = p.int('cid-version', 0);
  if (cv !== 0 && cv !== 1) throw argError(`unknown CID version: ${cv}`);
  if (p.bool('trickle', false, 't')) throw argError('the trickle layout is not implemented by this node');
  if (p.bool('inline', false)) throw argError('inline CIDs are not implemented by this node');
  if (p.bool('nocopy', false) || p.bool('fscache', false)) throw argError('filestore options are not implemented by this node');
  const hash = p.str('hash');
  if (hash !== undefined && hash !== 'sha2-256') throw argError(`hash function "${hash}" is not implemented by this node for add (only sha2-256)`);
  // Kubo: --cid-version=1 turns raw leaves on unless --raw-leaves is given explicitly.
  const rawLeaves = p.has('raw-leaves') ? p.bool('raw-leaves', false) : cv === 1;
  return {
    cidVersion: cv,
    rawLeaves,
    chunkSize: parseChunker(p.str('chunker', 's')),
    wrapWithDirectory: p.bool('wrap-with-directory', false, 'w'),
    onlyHash: p.bool('only-hash', false, 'n'),
    pin: p.bool('pin', true),
    pinName: p.str('pin-name') || undefined,
  };
}

async function* withLimit(src: AsyncIterable<Uint8Array>, counter: { n: number }, max: number): AsyncGenerator<Uint8Array> {
  for await (const c of src) {
    counter.n += c.length;
    if (max > 0 && counter.n > max) throw argError(`upload larger than this node's limit of ${max} bytes`);
    yield c;
  }
}

export function createKuboApi(opts: KuboApiOptions) {
  const { node } = opts;
  const maxAdd = opts.maxAddBytes ?? 0;

  const cidArg = (p: Params, label = 'cid'): CID => {
    const arg = p.arg(label);
    const { cid, rest } = parseIpfsPath(arg);
    if (rest) throw new KuboError(`invalid path "${arg}": paths inside a DAG are not supported for this command`);
    return cid;
  };

  const routes: Record<string, Handler> = {
    version: async ({ res }) =>
      sendJson(res, 200, { Version: KUBO_COMPAT_VERSION, Commit: 'one-agents-embedded', Repo: '16', System: `${process.arch}/${process.platform}`, Golang: `node${process.versions.node}` }),

    id: async ({ res, p }) => {
      const want = p.args()[0];
      if (want && want !== node.identity.peerId) throw new KuboError('this node is offline: it knows no other peers');
      sendJson(res, 200, {
        ID: node.identity.peerId,
        PublicKey: node.identity.publicKey,
        Addresses: [],
        AgentVersion: `kubo/${KUBO_COMPAT_VERSION}/one-agents-embedded`,
        Protocols: [],
      });
    },

    add: async ({ req, res, p, signal }) => {
      const s = addSettings(p);
      const counter = { n: 0 };
      const progress = p.bool('progress', false, 'p');
      type Line = { Name: string; Hash?: string; Size?: string; Bytes?: number };
      const lines = new PushQueue<Line>();
      let sawFile = false;
      // Kubo's progress lines ({Name, Bytes}: bytes of that file read so far) come while
      // the upload is still being read, so a client can see them before it has sent
      // everything; every file gets at least one (an empty file: Bytes 0).
      const progressOf = (name: string) => (bytes: number) => lines.push({ Name: name, Bytes: bytes }, (last) => last.Hash === undefined && last.Name === name);
      const entries = (async function* (): AsyncGenerator<AddEntry> {
        for await (const part of multipartParts(req)) {
          sawFile = true;
          const path = part.filename.replace(/^\/+/, '');
          if (part.isDirectory) yield { path };
          else {
            yield { path, content: withLimit(readPieces(part.stream, s.chunkSize, progress ? progressOf(path) : undefined), counter, maxAdd) };
          }
        }
        if (!sawFile) throw argError('file argument was nil');
      })();
      // Results come as each entry completes, roots last, as Kubo sends them.
      void (async () => {
        for await (const r of node.add(entries, s, signal)) {
          lines.push({ Name: r.path || (s.wrapWithDirectory ? '' : r.cid.toString()), Hash: r.cid.toString(), Size: r.size.toString() });
        }
      })().then(
        () => lines.end(),
        (err) => lines.fail(err),
      );
      await streamOut(res, lines, { contentType: 'application/json', encode: (l) => JSON.stringify(l) + '\n' });
    },

    cat: async ({ res, p, signal }) => {
      const offset = p.int('offset', undefined);
      const length = p.int('length', undefined);
      await streamOut(res, node.cat(p.arg('ipfs-path'), { offset, length, signal }), { contentType: 'text/plain', encode: (c) => c });
    },

    ls: async ({ res, p, signal }) => {
      const objects = [];
      for (const a of p.args().length ? p.args() : [p.arg('ipfs-path')]) objects.push(await node.ls(a, signal));
      sendJson(res, 200, { Objects: objects });
    },

    get: async ({ res, p, signal }) => {
      const arg = p.arg('ipfs-path');
      const archive = p.bool('archive', false, 'a');
      const compress = p.bool('compress', false, 'C');
      const level = p.int('compression-level', -1, -1) ?? -1;
      if (level !== -1 && (level < 1 || level > 9)) throw argError('compression level must be between 1 and 9');
      let source: AsyncIterable<Uint8Array>;
      if (compress && !archive) {
        // Kubo: -C without -a gzips a file's bytes; a directory needs the tar.
        const entry = await node.resolve(arg, signal);
        if (entry.type === 'directory') throw argError('file is not regular');
        source = node.cat(arg, { signal });
      } else source = node.getTar(arg, signal);
      if (compress) source = gzipped(source, level === -1 ? undefined : level);
      await streamOut(res, source, { contentType: compress ? 'application/x-gzip' : 'application/x-tar', encode: (c) => c });
    },

    refs: async ({ res, p, signal }) => {
      const args = p.args();
      if (!args.length) p.arg('ipfs-path');
      const edges = p.bool('edges', false, 'e');
      const format = p.str('format');
      if (edges && format !== undefined && format !== '<dst>') throw argError('using format argument with edges is not allowed');
      const fmt = edges ? '<src> -> <dst>' : (format ?? '<dst>');
      const recursive = p.bool('recursive', false, 'r');
      const maxDepthOpt = Number(p.str('max-depth') ?? '-1');
      if (!Number.isInteger(maxDepthOpt) || maxDepthOpt < -1) throw argError(`invalid value "${p.str('max-depth')}" for option "max-depth"`);
      const maxDepth = recursive ? maxDepthOpt : maxDepthOpt === -1 ? 1 : maxDepthOpt;
      const unique = p.bool('unique', false, 'u');
      // Every path is resolved before any output, so a bad one is a plain error.
      const roots: CID[] = [];
      for (const a of args) roots.push((await node.resolveCid(a, signal)).cid);
      const source = (async function* () {
        for (const root of roots) {
          if (maxDepth === 0) continue;
          yield* node.refs(root, { maxDepth, unique, signal });
        }
      })();
      await streamOut(res, source, {
        contentType: 'application/json',
        encode: (r) => JSON.stringify({ Ref: fmt.replaceAll('<src>', r.src.toString()).replaceAll('<dst>', r.dst.toString()).replaceAll('<linkname>', r.name), Err: '' }) + '\n',
      });
    },

    'pin/add': async ({ res, p, signal }) => {
      const recursive = p.bool('recursive', true, 'r');
      const name = p.str('name') || undefined;
      const args = p.args();
      if (!args.length) p.arg('ipfs-path');
      const pins: string[] = [];
      for (const a of args) {
        const { cid, rest } = parseIpfsPath(a);
        let target = cid;
        if (rest) target = (await node.resolve(a, signal)).cid;
        await node.pinAdd(target, { recursive, name, signal });
        pins.push(target.toString());
      }
      sendJson(res, 200, { Pins: pins });
    },

    'pin/ls': async ({ res, p, signal }) => {
      const type = (p.str('type', 't') ?? 'all') as 'all' | PinType;
      if (!['all', 'recursive', 'direct', 'indirect'].includes(type)) throw argError(`invalid type '${type}', must be one of {direct, indirect, recursive, all}`);
      // Each arg is a path, resolved to the CID it names (a missing sub-path is an error).
      const labels = p.args();
      const cids: CID[] = [];
      for (const a of labels) cids.push((await node.resolveCid(a, signal)).cid);
      const names = p.bool('names', false, 'n');
      const nameFilter = p.str('name');
      const quiet = p.bool('quiet', false, 'q');
      const encodeType = (pin: { type: PinType; via?: CID }) => (pin.via ? `indirect through ${pin.via}` : pin.type);
      const source = (async function* () {
        for await (const pin of node.pinLs({ type, cids, labels, signal })) {
          if (nameFilter !== undefined && pin.name !== nameFilter) continue;
          yield pin;
        }
      })();
      if (p.bool('stream', false, 's')) {
        await streamOut(res, source, {
          contentType: 'application/json',
          encode: (pin) => JSON.stringify({ Cid: pin.cid.toString(), Name: names ? (pin.name ?? '') : '', Type: quiet ? '' : encodeType(pin) }) + '\n',
        });
        return;
      }
      const keys: Record<string, { Type: string; Name?: string }> = {};
      for await (const pin of source) keys[pin.cid.toString()] = names ? { Type: encodeType(pin), Name: pin.name ?? '' } : { Type: encodeType(pin) };
      sendJson(res, 200, { Keys: keys });
    },

    'pin/rm': async ({ res, p, signal }) => {
      const recursive = p.bool('recursive', true, 'r');
      const args = p.args();
      if (!args.length) p.arg('ipfs-path');
      const pins: string[] = [];
      for (const a of args) {
        const cid = parseIpfsPath(a).rest ? (await node.resolve(a, signal)).cid : parseIpfsPath(a).cid;
        await node.pinRm(cid, { recursive, signal });
        pins.push(cid.toString());
      }
      sendJson(res, 200, { Pins: pins });
    },

    'block/get': async ({ res, p, signal }) => {
      const bytes = await node.getBlock(cidArg(p), signal);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': bytes.length, 'x-stream-output': '1' });
      res.end(bytes);
    },

    'block/rm': async ({ res, p, signal }) => {
      const args = p.args();
      if (!args.length) p.arg('cid');
      const cids = args.map((a) => {
        const { cid, rest } = parseIpfsPath(a);
        if (rest) throw argError(`invalid path "${a}": block rm takes CIDs`);
        return cid;
      });
      const force = p.bool('force', false, 'f');
      const quiet = p.bool('quiet', false, 'q');
      const results = await node.blockRm(cids, { force, signal });
      // Kubo streams one {Hash, Error} per block (quiet: only failures) and ends normally.
      const out = results.filter((r) => r.error || !quiet);
      res.writeHead(200, { 'content-type': 'application/json', 'x-stream-output': '1', 'x-chunked-output': '1' });
      // Error is omitted when empty (Kubo's removedBlock: `json:",omitempty"`).
      res.end(out.map((r) => JSON.stringify(r.error ? { Hash: r.cid.toString(), Error: r.error } : { Hash: r.cid.toString() }) + '\n').join(''));
    },

    'refs/local': async ({ res, signal }) => {
      await streamOut(res, node.refsLocal(signal), { contentType: 'application/json', encode: (cid) => JSON.stringify({ Ref: cid.toString(), Err: '' }) + '\n' });
    },

    'block/stat': async ({ res, p, signal }) => sendJson(res, 200, await node.blockStat(cidArg(p), signal)),

    'block/put': async ({ req, res, p }) => {
      const allowBig = p.bool('allow-big-block', false);
      const limit = allowBig ? HARD_BLOCK_LIMIT : SOFT_BLOCK_LIMIT;
      const bytes = await firstPartBytes(
        req,
        limit,
        allowBig
          ? `produced block is over ${HARD_BLOCK_LIMIT} bytes, the largest this node stores`
          : "produced block is over 1MiB: big blocks can't be exchanged with other peers. consider using UnixFS for automatic chunking of bigger files, or pass --allow-big-block to override",
      );
      const codec = p.str('cid-codec') ?? p.str('format', 'f') ?? 'raw';
      const mhtype = p.str('mhtype') ?? 'sha2-256';
      const mhlen = p.int('mhlen', undefined);
      if (mhlen !== undefined && mhlen !== -1 && mhlen !== (mhtype === 'sha2-512' ? 64 : 32)) throw argError('custom multihash lengths are not implemented by this node');
      const cv = p.str('format', 'f') === 'v0' ? 0 : undefined;
      const cid = await node.blockPut(bytes, { codec, hash: mhtype, cidVersion: cv, pin: p.bool('pin', false) });
      sendJson(res, 200, { Key: cid.toString(), Size: bytes.length });
    },

    'dag/put': async ({ req, res, p }) => {
      const allowBig = p.bool('allow-big-block', false);
      const bytes = await firstPartBytes(req, allowBig ? HARD_BLOCK_LIMIT : SOFT_BLOCK_LIMIT, 'produced block is over 1MiB: pass --allow-big-block to override');
      const cid = await node.dagPut(bytes, {
        inputCodec: p.str('input-codec') ?? 'dag-json',
        storeCodec: p.str('store-codec') ?? 'dag-cbor',
        hash: p.str('hash') ?? 'sha2-256',
        pin: p.bool('pin', false),
      });
      sendJson(res, 200, { Cid: { '/': cid.toString() } });
    },

    'dag/get': async ({ res, p, signal }) => {
      const out = p.str('output-codec') ?? 'dag-json';
      const bytes = await node.dagGet(p.arg('ref'), out, signal);
      res.writeHead(200, { 'content-type': out === 'dag-json' || out === 'json' ? 'application/json' : 'application/octet-stream', 'content-length': bytes.length });
      res.end(bytes);
    },

    'dag/import': async ({ req, res, p, signal }) => {
      const pinRoots = p.bool('pin-roots', true);
      const stats = p.bool('stats', false);
      const counter = { n: 0 };
      let sawFile = false;
      const cars = (async function* () {
        for await (const part of multipartParts(req)) {
          if (part.isDirectory) continue;
          sawFile = true;
          yield withLimit(part.stream as AsyncIterable<Uint8Array>, counter, maxAdd);
        }
        if (!sawFile) throw argError('file argument was nil');
      })();
      const r = await node.dagImport(cars, { pinRoots, maxBlockBytes: HARD_BLOCK_LIMIT, signal });
      const lines: unknown[] = r.roots.map((root) => ({ Root: { Cid: { '/': root.cid.toString() }, PinErrorMsg: root.pinError } }));
      if (stats) lines.push({ Stats: { BlockCount: r.blocks, BlockBytesCount: r.bytes } });
      res.writeHead(200, { 'content-type': 'application/json', 'x-stream-output': '1', 'x-chunked-output': '1' });
      res.end(lines.map((l) => JSON.stringify(l) + '\n').join(''));
    },

    'dag/resolve': async ({ res, p, signal }) => {
      const { cid, remPath } = await node.resolveIpld(p.arg('ref'), signal);
      sendJson(res, 200, { Cid: { '/': cid.toString() }, RemPath: remPath });
    },

    'dag/stat': async ({ res, p, signal }) => {
      const args = p.args();
      if (!args.length) p.arg('root');
      const stats: Array<{ Cid: { '/': string }; Size: number; NumBlocks: number }> = [];
      const unique = new Map<string, number>();
      let total = 0;
      for (const a of args) {
        const { cid } = await node.resolveCid(a, signal);
        let size = 0;
        let blocks = 0;
        for await (const b of node.walk(cid, signal)) {
          size += b.bytes.length;
          blocks++;
          unique.set(b.cid.multihash.bytes.toString(), b.bytes.length);
        }
        total += size;
        stats.push({ Cid: { '/': cid.toString() }, Size: size, NumBlocks: blocks });
      }
      const uniqueSize = [...unique.values()].reduce((x, y) => x + y, 0);
      sendJson(res, 200, { UniqueBlocks: unique.size, TotalSize: uniqueSize, SharedSize: total - uniqueSize, Ratio: uniqueSize ? total / uniqueSize : 0, DagStats: stats });
    },

    'dag/export': async ({ res, p, signal }) => {
      const root = cidArg(p, 'root');
      await streamOut(res, node.dagExport(root, signal), { contentType: 'application/vnd.ipld.car', encode: (c) => c });
    },

    'repo/gc': async ({ res, p, signal }) => {
      const quiet = p.bool('quiet', false, 'q');
      const source = (async function* () {
        for await (const e of node.gc(signal)) {
          if (e.error) yield { Error: e.error };
          else if (!quiet) yield { Key: { '/': e.cid!.toString() } };
        }
      })();
      await streamOut(res, source, { contentType: 'application/json', encode: (o) => JSON.stringify(o) + '\n' });
    },

    'repo/version': async ({ res }) => sendJson(res, 200, { Version: '16' }),

    resolve: async ({ res, p, signal }) => {
      const arg = p.arg('name');
      // IPFS paths only: this node resolves no IPNS or DNSLink names.
      // A path ending inside a dag-cbor/dag-json node resolves to that node plus the rest.
      const { cid, remPath } = await node.resolveCid(arg, signal);
      const base = p.str('cid-base');
      let text = cid.toString();
      if (base) {
        const bases = await import('multiformats/basics');
        const codec = Object.values(bases.bases).find((b) => b.name === base);
        if (!codec) throw argError(`unknown multibase: "${base}"`);
        text = (cid.version === 0 ? cid.toV1() : cid).toString(codec.encoder);
      }
      sendJson(res, 200, { Path: `/ipfs/${text}${remPath ? `/${remPath}` : ''}` });
    },

    'repo/stat': async ({ res }) => {
      const { blocks, bytes } = await node.repoSize();
      sendJson(res, 200, { NumObjects: blocks, RepoSize: bytes, StorageMax: 0, RepoPath: node.dir, Version: 'fs-repo@16' });
    },
  };

  return async function kuboApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const cmd = url.pathname.slice('/api/v0/'.length).replace(/\/+$/, '');
    const handler = routes[cmd];
    if (!handler) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8' }).end('405 - Method Not Allowed\n');
      return;
    }
    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) abort.abort(new KuboError('request canceled by the client'));
    };
    res.on('close', onClose);
    let timer: NodeJS.Timeout | undefined;
    try {
      const p = new Params(url.searchParams);
      const t = p.str('timeout');
      if (t) timer = setTimeout(() => abort.abort(new KuboError('context deadline exceeded')), parseGoDuration(t));
      await handler({ req, res, p, signal: abort.signal });
    } catch (err) {
      const kerr = abort.signal.aborted && abort.signal.reason instanceof KuboError ? abort.signal.reason : toKuboError(err);
      if (kerr.status >= 500 && !(err instanceof KuboError)) opts.logger.warn('ipfs api command failed', { cmd, error: err });
      if (!res.destroyed) sendKuboError(res, kerr);
      req.resume();
    } finally {
      if (timer) clearTimeout(timer);
      res.off('close', onClose);
    }
  };
}

const MIME: Record<string, string> = {
  txt: 'text/plain; charset=utf-8',
  html: 'text/html; charset=utf-8',
  json: 'application/json',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  md: 'text/markdown; charset=utf-8',
  car: 'application/vnd.ipld.car',
};

/**
 * Headers on every gateway response. The gateway shares its origin with /api/v0, and
 * that origin is one the API trusts: content served here must not run as that origin.
 * `Content-Security-Policy: sandbox` gives any document an opaque origin with scripts,
 * forms and plugins off (a request it still managed to make would carry `Origin: null`,
 * which the API refuses); `nosniff` keeps a browser from reading a file as HTML or
 * script against its content type.
 */
export const GATEWAY_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/plain; charset=utf-8',
  'content-security-policy': 'sandbox',
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
};

/** GET/HEAD /ipfs/<cid>[/path]: a read-only path gateway over the local repo. */
export function createGateway(node: IpfsNode) {
  return async function gateway(req: http.IncomingMessage, res: http.ServerResponse, url: URL) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...GATEWAY_HEADERS, allow: 'GET, HEAD' }).end();
      return;
    }
    const p = safeDecode(url.pathname);
    if (p === undefined) {
      res.writeHead(400, GATEWAY_HEADERS).end('invalid percent-encoding in the path\n');
      return;
    }
    try {
      let entry = await node.resolve(p);
      if (entry.type === 'directory') {
        const names: string[] = [];
        for await (const e of entry.entries()) names.push(e.name);
        if (names.includes('index.html')) entry = await node.resolve(`${p.replace(/\/$/, '')}/index.html`);
        else {
          const body = JSON.stringify({ cid: entry.cid.toString(), entries: names }) + '\n';
          res.writeHead(200, { ...GATEWAY_HEADERS, 'content-type': 'application/json', etag: `"${entry.cid}"` }).end(req.method === 'HEAD' ? undefined : body);
          return;
        }
      }
      if (entry.type === 'object' || entry.type === 'directory') {
        res.writeHead(406, GATEWAY_HEADERS).end('not a UnixFS file: use /api/v0/dag/get\n');
        return;
      }
      const ext = (entry.path.split('/').pop() ?? '').split('.').pop()?.toLowerCase() ?? '';
      res.writeHead(200, {
        ...GATEWAY_HEADERS,
        'content-type': MIME[ext] ?? 'application/octet-stream',
        'content-length': String(entry.size),
        etag: `"${entry.cid}"`,
        'cache-control': 'public, max-age=29030400, immutable',
        'x-ipfs-path': url.pathname,
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      for await (const c of entry.content()) if (!res.write(c)) await new Promise<void>((r) => res.once('drain', r));
      res.end();
    } catch (err) {
      const k = toKuboError(err);
      if (res.headersSent) res.destroy();
      else {
        const status = /invalid path|invalid cid/.test(k.message) ? 400 : /not found|no link/.test(k.message) ? 404 : 500;
        res.writeHead(status, GATEWAY_HEADERS).end(`${k.message}\n`);
      }
    }
  };
}
