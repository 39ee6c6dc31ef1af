/** Small HTTP helpers shared by the Kubo RPC and Cluster REST faces of the embedded node. */
import type http from 'node:http';
import type { Readable } from 'node:stream';
import Busboy from 'busboy';
import { argError, KuboError } from './errors';

export class Params {
  constructor(private readonly q: URLSearchParams) {}

  has(name: string) {
    return this.q.has(name);
  }

  str(name: string, ...aliases: string[]): string | undefined {
    for (const n of [name, ...aliases]) {
      const v = this.q.get(n);
      if (v !== null) return v;
    }
    return undefined;
  }

  args(): string[] {
    return this.q.getAll('arg');
  }

  /** The first `arg`, required (Kubo: `argument "ipfs-path" is required`). */
  arg(label: string): string {
    const a = this.q.get('arg');
    if (a === null || a === '') throw argError(`argument "${label}" is required`);
    return a;
  }

  /** go-ipfs-cmds booleans: a bare flag (`?pin`) is true; else strconv.ParseBool's words. */
  bool(name: string, def: boolean, ...aliases: string[]): boolean {
    const v = this.str(name, ...aliases);
    if (v === undefined) return def;
    if (['', '1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
    if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
    throw argError(`invalid value "${v}" for option "${name}": strconv.ParseBool: parsing "${v}": invalid syntax`);
  }

  int(name: string, def: number | undefined, min = 0): number | undefined {
    const v = this.str(name);
    if (v === undefined || v === '') return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw argError(`invalid value "${v}" for option "${name}": must be a whole number ≥ ${min}`);
    return n;
  }
}

/** Go durations as Kubo's global `timeout` option takes them: 300ms, 5s, 1m30s. */
export function parseGoDuration(text: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(text))) {
    total += Number(m[1]) * units[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (!text || consumed !== text.length) throw argError(`invalid value "${text}" for option "timeout": time: invalid duration "${text}"`);
  return total;
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}) {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

export function sendKuboError(res: http.ServerResponse, err: KuboError) {
  if (res.headersSent) {
    // Kubo's trailer for an error after the output began; then cut the stream so a
    // client that does not read trailers still sees a failure, never a short result.
    try {
      res.addTrailers({ 'X-Stream-Error': err.message });
    } catch {
      /* trailers not declared */
    }
    res.destroy(err);
    return;
  }
  sendJson(res, err.status, err.body());
}

/**
 * Streams an iterable as the response body. The first item is produced before any
 * header is written, so an error that comes at once (bad CID, missing block) is a
 * proper error response; an error later cuts the stream (see sendKuboError).
 */
export async function streamOut<T>(
  res: http.ServerResponse,
  source: AsyncIterable<T>,
  opts: { contentType: string; encode: (item: T) => string | Uint8Array; headers?: Record<string, string> },
) {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  res.writeHead(200, {
    'content-type': opts.contentType,
    'x-stream-output': '1',
    'x-chunked-output': '1',
    trailer: 'X-Stream-Error',
    ...opts.headers,
  });
  if (first.done) {
    res.end();
    return;
  }
  const write = async (chunk: string | Uint8Array) => {
    if (!res.write(chunk)) await new Promise<void>((r) => res.once('drain', r));
  };
  await write(opts.encode(first.value));
  for (let n = await it.next(); !n.done; n = await it.next()) {
    if (res.destroyed) {
      await it.return?.();
      return;
    }
    await write(opts.encode(n.value));
  }
  res.end();
}

/** Bytes of a file part buffered ahead of the importer (per upload: one part is read at a time). */
export const FILE_READ_AHEAD = 8 * 1024 * 1024;

/**
 * A readable stream in pieces of exactly `size` bytes (the last one may be shorter).
 * The stream joins its buffered pieces once per output piece (`read(size)`); an async
 * iterator would join everything buffered and leave the regrouping to a second copy.
 */
export async function* readPieces(stream: Readable, size: number, onReceived?: (bytes: number) => void): AsyncGenerator<Uint8Array> {
  // Bytes received so far (read out + buffered): what progress reports, before a whole piece is in.
  let consumed = 0;
  let reported = -1;
  const report = () => {
    const n = consumed + stream.readableLength;
    if (onReceived && n !== reported) {
      reported = n;
      onReceived(n);
    }
  };
  let ended = false;
  let failed: Error | undefined;
  let wake: (() => void) | undefined;
  const signal = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onEnd = () => {
    ended = true;
    signal();
  };
  const onError = (err: Error) => {
    failed = err;
    signal();
  };
  stream.on('readable', signal);
  stream.on('end', onEnd);
  stream.on('error', onError);
  try {
    while (true) {
      if (failed) throw failed;
      const piece = stream.read(size) as Buffer | null;
      if (piece !== null) {
        consumed += piece.length;
        report();
        yield piece;
        continue;
      }
      report();
      if (ended || stream.readableEnded) return;
      if (stream.destroyed) throw (stream.errored as Error | null) ?? new KuboError('upload stream closed early');
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    stream.off('readable', signal);
    stream.off('end', onEnd);
    stream.off('error', onError);
  }
}

export interface MultipartPart {
  /** The part's field name (file, file-1, dir-2 …). */
  field: string;
  /** The decoded file name: a path relative to the upload. */
  filename: string;
  isDirectory: boolean;
  stream: Readable;
}

/**
 * The parts of a multipart/form-data body, one at a time, streamed (never buffered):
 * the next part is only read once the caller has consumed the previous one.
 */
export async function* multipartParts(req: http.IncomingMessage, limits: { files?: number } = {}): AsyncGenerator<MultipartPart> {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data/i.test(type)) throw argError('file argument was nil');
  let bb: Busboy.Busboy;
  try {
    // A deep file buffer is the upload's read-ahead: busboy keeps taking bytes off the
    // socket while the importer hashes and writes the previous chunks (it works in
    // batches of 16 and does not read meanwhile); without it the two take turns.
    bb = Busboy({ headers: req.headers, limits: { files: limits.files ?? 100_000, fields: 100, fieldSize: 64 * 1024, parts: (limits.files ?? 100_000) + 100 }, preservePath: true, defParamCharset: 'utf8', highWaterMark: 1024 * 1024, fileHwm: FILE_READ_AHEAD });
  } catch (err) {
    throw argError(`bad multipart body: ${(err as Error).message}`);
  }
  const queue: Array<MultipartPart | Error | null> = [];
  let wake: (() => void) | undefined;
  const push = (v: MultipartPart | Error | null) => {
    queue.push(v);
    wake?.();
  };
  bb.on('file', (field, stream, info) => {
    let filename = info.filename ?? '';
    try {
      filename = decodeURIComponent(filename);
    } catch {
      /* keep it as sent */
    }
    const isDirectory = /application\/x-directory/i.test(info.mimeType);
    push({ field: field.split('?')[0]!, filename, isDirectory, stream });
  });
  bb.on('field', () => {
    /* plain fields carry nothing Kubo reads */
  });
  bb.on('error', (err: Error) => push(argError(`bad multipart body: ${err.message}`)));
  bb.on('close', () => push(null));
  req.on('aborted', () => push(new KuboError('request aborted')));
  req.pipe(bb);
  try {
    while (true) {
      while (!queue.length) await new Promise<void>((r) => (wake = r));
      const next = queue.shift()!;
      if (next === null) return;
      if (next instanceof Error) throw next;
      yield next;
      // A part the caller did not read (a directory, an unused file) must still be drained.
      next.stream.resume();
    }
  } finally {
    req.unpipe(bb);
    req.resume();
  }
}

/** The whole first file part, at most `max` bytes (for block/put and dag/put). */
export async function firstPartBytes(req: http.IncomingMessage, max: number, tooBig: string): Promise<Uint8Array> {
  for await (const part of multipartParts(req, { files: 1 })) {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of part.stream) {
      n += c.length;
      if (n > max) throw argError(tooBig);
      chunks.push(Buffer.from(c));
    }
    return Buffer.concat(chunks, n);
  }
  throw argError('file argument was nil');
}

/**
 * An async queue one producer side pushes to and one consumer iterates. `coalesce`
 * lets a push replace the last queued item (progress lines: only the newest count
 * for a file matters), so a slow reader never makes the queue grow with the upload.
 */
export class PushQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private done = false;
  private failure: unknown;
  private wake: (() => void) | undefined;

  push(item: T, coalesce?: (last: T) => boolean) {
    const last = this.items[this.items.length - 1];
    if (last !== undefined && coalesce?.(last)) this.items[this.items.length - 1] = item;
    else this.items.push(item);
    this.signal();
  }
  end() {
    this.done = true;
    this.signal();
  }
  fail(err: unknown) {
    this.failure ??= err;
    this.done = true;
    this.signal();
  }
  private signal() {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    while (true) {
      if (this.items.length) {
        yield this.items.shift()!;
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.done) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}
