/**
 * The HTTP side of the embedded sync service: the PowerSync client protocol as the
 * @powersync/node and @powersync/web clients speak it over HTTP.
 *   POST /sync/stream            newline-delimited JSON: checkpoint, data,
 *                                checkpoint_complete, checkpoint_diff, token_expires_in
 *   GET  /write-checkpoint2.json legacy write checkpoint ({data: {write_checkpoint}})
 *   POST /sync/checkpoint-request checkpoint requests ({data: {checkpoint_request_id}})
 *   GET  /probes/liveness        health
 * Every request carries `Authorization: Token <jwt>`, verified against the backend's
 * JWKS (audience checked, expiry enforced; an expired token ends the stream).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { requestUrl } from '../../lib/http';
import type { Logger } from '../../lib/logger';
import type { Replicator } from './replicator';
import type { SyncRules } from './rules';
import type { BucketStorage } from './storage';

export interface SyncServerOptions {
  host: string;
  port: number;
  rules: SyncRules;
  storage: BucketStorage;
  replicator: Replicator;
  keys: JWTVerifyGetKey;
  audience: string | string[];
  logger: Logger;
  /** Seconds between keepalive lines (token_expires_in). */
  keepaliveSeconds?: number;
  /** Ops per data line. */
  batchSize?: number;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

function sendError(res: http.ServerResponse, err: HttpError) {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(err.status, { 'content-type': 'application/json' });
  // The same error shape as the PowerSync Service: {error: {code, status, description}}.
  res.end(JSON.stringify({ error: { code: err.code, status: err.status, description: err.message } }));
}

async function readJson(req: http.IncomingMessage, limit = 1_000_000): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new HttpError(413, 'PSYNC_S2002', 'request body too large');
    chunks.push(c as Buffer);
  }
  if (!size) return {};
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'PSYNC_S2001', 'request body must be a JSON object');
  }
}

/** `user_data["alice"]` → `user_data`. */
const definitionOf = (bucket: string) => (bucket.includes('[') ? bucket.slice(0, bucket.indexOf('[')) : bucket);

export interface RunningSyncServer {
  url: string;
  port: number;
  /** Open sync streams (for tests and metrics). */
  streams(): number;
  /** Counters since start: streams opened, ops sent, and the `after` each stream request asked for. */
  stats(): { streamsOpened: number; opsSent: number; requests: Array<{ user: string; after: Record<string, string> }> };
  close(): Promise<void>;
}

export async function startSyncServer(o: SyncServerOptions): Promise<RunningSyncServer> {
  const keepaliveMs = (o.keepaliveSeconds ?? 20) * 1000;
  const batchSize = o.batchSize ?? 2000;
  const open = new Set<http.ServerResponse>();
  const stats = { streamsOpened: 0, opsSent: 0, requests: [] as Array<{ user: string; after: Record<string, string> }> };

  async function authenticate(req: http.IncomingMessage): Promise<JWTPayload & { sub: string; exp: number }> {
    const header = req.headers.authorization ?? '';
    const m = /^(?:Token|Bearer)\s+(\S+)$/i.exec(header);
    if (!m) throw new HttpError(401, 'PSYNC_S2106', 'Authentication required: send Authorization: Token <jwt>');
    try {
      const { payload } = await jwtVerify(m[1]!, o.keys, { audience: o.audience, requiredClaims: ['sub', 'exp', 'iat'] });
      if (typeof payload.sub !== 'string' || !payload.sub) throw new Error('sub must be a non-empty string');
      return payload as JWTPayload & { sub: string; exp: number };
    } catch (err) {
      const reason = (err as { code?: string }).code === 'ERR_JWT_EXPIRED' ? 'token expired' : 'token is not valid';
      throw new HttpError(401, 'PSYNC_S2101', `Authentication failed: ${reason}`);
    }
  }

  async function stream(req: http.IncomingMessage, res: http.ServerResponse) {
    const token = await authenticate(req);
    const body = await readJson(req);
    const clientId = typeof body.client_id === 'string' ? body.client_id : undefined;
    const after = new Map<string, bigint>();
    if (body.buckets !== undefined && !Array.isArray(body.buckets)) throw new HttpError(400, 'PSYNC_S2001', 'buckets must be an array');
    for (const b of (body.buckets as Array<{ name?: unknown; after?: unknown }>) ?? []) {
      if (typeof b?.name !== 'string' || !/^\d+$/.test(String(b.after ?? ''))) throw new HttpError(400, 'PSYNC_S2001', 'each bucket must be {name, after} with a numeric after');
      after.set(b.name, BigInt(String(b.after)));
    }
    const params = body.parameters && typeof body.parameters === 'object' ? (body.parameters as Record<string, unknown>) : {};
    const buckets = o.rules.bucketsFor(token as Record<string, unknown>, params);
    const priority = new Map(buckets.map((b) => [b.bucket, b.priority]));
    const names = buckets.map((b) => b.bucket);
    // Bucket definitions are default streams: the checkpoint lists them and every bucket points at its definition.
    const streams = [...new Set(names.map(definitionOf))].map((name) => ({ name, is_default: true, errors: [] }));
    const streamIndex = new Map(streams.map((st, i) => [st.name, i]));

    stats.streamsOpened++;
    stats.requests.push({ user: token.sub, after: Object.fromEntries([...after].map(([k, v]) => [k, v.toString()])) });
    if (stats.requests.length > 1000) stats.requests.shift();
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    open.add(res);
    let closed = false;
    let wake: (() => void) | null = null;
    let dirty = true;
    const onCheckpoint = () => {
      dirty = true;
      wake?.();
    };
    o.replicator.on('checkpoint', onCheckpoint);
    const finish = () => {
      if (closed) return;
      closed = true;
      o.replicator.off('checkpoint', onCheckpoint);
      clearInterval(keepalive);
      open.delete(res);
      wake?.();
    };
    res.on('close', finish);
    const write = (line: unknown) =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        if (res.write(JSON.stringify(line) + '\n')) return resolve();
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.once('drain', done);
        res.once('close', done);
      });
    const expiresIn = () => Math.max(0, token.exp - Math.floor(Date.now() / 1000));
    const keepalive = setInterval(() => {
      const left = expiresIn();
      void write({ token_expires_in: left });
      if (left <= 0) res.end();
    }, keepaliveMs);
    await write({ token_expires_in: expiresIn() });

    const log = o.logger.child({ user: token.sub, client: clientId });
    let sent: Map<string, { checksum: number; count: number }> | null = null;
    let lastWrite: bigint | undefined;
    try {
      while (!closed) {
        if (expiresIn() <= 0) {
          await write({ token_expires_in: 0 });
          break;
        }
        if (!dirty) {
          await new Promise<void>((r) => {
            wake = r;
            if (dirty || closed) r();
            setTimeout(r, keepaliveMs).unref();
          });
          wake = null;
          continue;
        }
        dirty = false;
        const snap = await o.storage.snapshotFor(names, token.sub, clientId);
        const lastOpId = snap.lastOpId.toString();
        const entries = [...snap.checksums.values()].map((c) => ({ bucket: c.bucket, checksum: c.checksum, count: c.count, priority: priority.get(c.bucket) ?? 3, subscriptions: [{ default: streamIndex.get(definitionOf(c.bucket)) ?? 0 }] }));
        if (sent === null) {
          await write({ checkpoint: { last_op_id: lastOpId, ...(snap.writeCheckpoint !== undefined ? { write_checkpoint: snap.writeCheckpoint.toString() } : {}), buckets: entries, streams } });
        } else {
          const updated = entries.filter((e) => {
            const p = sent!.get(e.bucket);
            return !p || p.checksum !== e.checksum || p.count !== e.count;
          });
          if (!updated.length && snap.writeCheckpoint === lastWrite) continue;
          await write({ checkpoint_diff: { last_op_id: lastOpId, ...(snap.writeCheckpoint !== undefined ? { write_checkpoint: snap.writeCheckpoint.toString() } : {}), updated_buckets: updated, removed_buckets: [] } });
        }
        sent = new Map(entries.map((e) => [e.bucket, { checksum: e.checksum, count: e.count }]));
        lastWrite = snap.writeCheckpoint;
        // Data for every bucket the client is behind on, up to this checkpoint.
        for (const c of snap.checksums.values()) {
          let from = after.get(c.bucket) ?? 0n;
          if (from > snap.lastOpId) from = 0n; // the client is ahead of us (storage was reset): resend
          while (!closed && from < c.lastOpId) {
            const ops = await o.storage.readOps(c.bucket, from, snap.lastOpId, batchSize);
            if (!ops.length) break;
            const next = BigInt(ops[ops.length - 1]!.op_id);
            const hasMore = ops.length === batchSize && next < c.lastOpId;
            stats.opsSent += ops.length;
            await write({ data: { bucket: c.bucket, after: from.toString(), next_after: next.toString(), has_more: hasMore, data: ops } });
            from = next;
          }
          after.set(c.bucket, from > c.lastOpId ? from : c.lastOpId);
        }
        if (!closed) await write({ checkpoint_complete: { last_op_id: lastOpId } });
      }
    } catch (err) {
      if (!closed) log.warn('sync stream failed', { error: err });
    } finally {
      finish();
      if (!res.writableEnded) res.end();
    }
  }

  async function writeCheckpoint(req: http.IncomingMessage, res: http.ServerResponse, url: URL) {
    const token = await authenticate(req);
    const clientId = url.searchParams.get('client_id') ?? '';
    if (!clientId || clientId.length > 200) throw new HttpError(400, 'PSYNC_S2001', 'client_id is required');
    const cp = await o.storage.createWriteCheckpoint(token.sub, clientId);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ data: { write_checkpoint: cp.toString() } }));
  }

  async function checkpointRequest(req: http.IncomingMessage, res: http.ServerResponse) {
    const token = await authenticate(req);
    const body = await readJson(req);
    const clientId = body.client_id;
    const requested = body.checkpoint_request_id;
    if (typeof clientId !== 'string' || !clientId || clientId.length > 200) throw new HttpError(400, 'PSYNC_S2001', 'client_id is required');
    if (!/^\d+$/.test(String(requested ?? ''))) throw new HttpError(400, 'PSYNC_S2001', 'checkpoint_request_id must be a whole number');
    const cp = await o.storage.createWriteCheckpoint(token.sub, clientId, BigInt(String(requested)));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ data: { checkpoint_request_id: cp.toString() } }));
  }

  const server = http.createServer((req, res) => {
    const url = requestUrl(req);
    if (!url) return sendError(res, new HttpError(400, 'PSYNC_S2001', 'malformed request URL'));
    const route = `${req.method} ${url.pathname}`;
    let handler: Promise<void>;
    if (route === 'POST /sync/stream') handler = stream(req, res);
    else if (route === 'GET /write-checkpoint2.json') handler = writeCheckpoint(req, res, url);
    else if (route === 'POST /sync/checkpoint-request') handler = checkpointRequest(req, res);
    else if (route === 'GET /probes/liveness' || route === 'GET /probes/readiness') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: true, replicated_lsn: o.replicator.lsn }));
      return;
    } else handler = Promise.reject(new HttpError(404, 'PSYNC_S2002', `${req.method} ${url.pathname} is not a route of this service`));
    handler.catch((err) => {
      if (err instanceof HttpError) return sendError(res, err);
      o.logger.error('sync service request failed', { route, error: err });
      sendError(res, new HttpError(500, 'PSYNC_S2001', 'internal error'));
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `http://${host}:${port}`,
    port,
    streams: () => open.size,
    stats: () => stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of open) r.end();
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      }),
  };
}
