/**
 * The IPFS Cluster REST API (v1) as a cluster of exactly one peer can honestly answer
 * it: the embedded node is the only peer and its IPFS daemon. Pins are the node's
 * own pins with the cluster's fields (name, replication min/max, metadata) kept in
 * the pin's metadata. A replication factor the one peer cannot meet (min > 1) gets
 * the cluster's own allocation error, as a real cluster short of peers answers.
 *
 * Endpoints: GET /id, /version, /peers; POST/DELETE /pins/{cid}, /pins/ipfs/{path};
 * GET /pins, /pins/{cid}, /allocations, /allocations/{cid}; POST /add.
 * Errors are the cluster's `{"code": N, "message": "…"}` with that HTTP status.
 */
import type http from 'node:http';
import type { CID } from 'multiformats/cid';
import type { Logger } from './logger';
import { KuboError, toKuboError } from './errors';
import { safeDecode } from './guard';
import { multipartParts, Params, readPieces, sendJson } from './http-util';
import { parseIpfsPath, type AddEntry, type IpfsNode } from './node';
import { KUBO_CHUNK_SIZE } from './node';

export const CLUSTER_COMPAT_VERSION = '1.1.4';

class ClusterError extends Error {
  constructor(
    public readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface ClusterPinMeta {
  name: string;
  rmin: number;
  rmax: number;
  metadata: Record<string, string>;
  created: string;
}

function metaOf(raw: Record<string, string | number | boolean> | undefined, pinnedAt?: string): ClusterPinMeta {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw ?? {})) if (k.startsWith('meta:')) metadata[k.slice(5)] = String(v);
  return {
    name: typeof raw?.name === 'string' ? raw.name : '',
    rmin: typeof raw?.['cluster:rmin'] === 'number' ? (raw['cluster:rmin'] as number) : -1,
    rmax: typeof raw?.['cluster:rmax'] === 'number' ? (raw['cluster:rmax'] as number) : -1,
    metadata,
    created: typeof raw?.['cluster:created'] === 'string' ? (raw['cluster:created'] as string) : (pinnedAt ?? new Date(0).toISOString()),
  };
}

export function createClusterApi(opts: { node: IpfsNode; logger: Logger; peerName?: string }) {
  const { node } = opts;
  const peerId = node.identity.peerId;
  const peerName = opts.peerName ?? 'one-agents-embedded';

  const pinJson = (cid: CID | string, m: ClusterPinMeta) => ({
    cid: cid.toString(),
    type: 2, // DataType
    allocations: [peerId],
    max_depth: -1,
    reference: null,
    mode: 'recursive',
    name: m.name,
    replication_factor_min: m.rmin,
    replication_factor_max: m.rmax,
    shard_size: 0,
    user_allocations: null,
    expire_at: '0001-01-01T00:00:00Z',
    metadata: m.metadata,
    pin_update: null,
    origins: [],
    timestamp: m.created,
  });

  const statusJson = (cid: CID | string, pinned: boolean, m?: ClusterPinMeta) => ({
    cid: cid.toString(),
    name: m?.name ?? '',
    allocations: pinned ? [peerId] : [],
    origins: [],
    created: m?.created ?? new Date(0).toISOString(),
    metadata: m?.metadata ?? null,
    peer_map: {
      [peerId]: {
        peername: peerName,
        ipfs_peer_id: peerId,
        ipfs_peer_addresses: [],
        status: pinned ? 'pinned' : 'unpinned',
        timestamp: new Date().toISOString(),
        error: '',
        attempt_count: 0,
        priority_pin: false,
      },
    },
  });

  const readPinOptions = (p: Params, url: URL) => {
    const int = (name: string) => {
      const v = p.str(name);
      if (v === undefined || v === '') return 0;
      const n = Number(v);
      if (!Number.isInteger(n)) throw new ClusterError(400, `error decoding ${name}: strconv.Atoi: parsing "${v}": invalid syntax`);
      return n;
    };
    let rmin = int('replication-min');
    let rmax = int('replication-max');
    const factor = int('replication');
    if (factor) rmin = rmax = factor;
    // The cluster's defaults (replication_factor_min/max = -1: everywhere) when unset.
    if (rmin === 0) rmin = -1;
    if (rmax === 0) rmax = -1;
    if (rmax !== -1 && rmin !== -1 && rmin > rmax) throw new ClusterError(500, 'wrong replication factors: replication_factor_min is greater than replication_factor_max');
    if (rmin === -1 && rmax !== -1) throw new ClusterError(500, 'wrong replication factors: replication_factor_min is -1 but replication_factor_max is not');
    // One peer: a minimum above 1 cannot be allocated (the cluster's own wording).
    if (rmin > 1) {
      throw new ClusterError(
        500,
        `not enough peers to allocate CID. Needed at least: ${rmin}. Wanted at most: ${rmax}. Available candidates: 1. See logs for more info.`,
      );
    }
    const metadata: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (k.startsWith('meta-')) metadata[k.slice(5)] = v;
    return { rmin, rmax, name: p.str('name') ?? '', metadata };
  };

  const pinMeta = async (cid: CID): Promise<ClusterPinMeta | undefined> => {
    const pin = node.pinOf(cid);
    return pin ? metaOf(pin.metadata, pin.created) : undefined;
  };

  const pin = async (target: string, p: Params, url: URL, signal: AbortSignal) => {
    const o = readPinOptions(p, url);
    const { cid, rest } = parseIpfsPath(target);
    const root = rest ? (await node.resolve(target, signal)).cid : cid;
    const created = new Date().toISOString();
    const md: Record<string, string | number | boolean> = { name: o.name, 'cluster:rmin': o.rmin, 'cluster:rmax': o.rmax, 'cluster:created': created };
    for (const [k, v] of Object.entries(o.metadata)) md[`meta:${k}`] = v;
    await node.pinAdd(root, { recursive: true, signal });
    await node.setPinMetadata(root, md);
    return pinJson(root, metaOf(md));
  };

  const unpin = async (target: string, signal: AbortSignal) => {
    const { cid } = parseIpfsPath(target);
    const m = await pinMeta(cid);
    if (!m) throw new ClusterError(404, 'uncommitted to state: cid is not part of the global state');
    await node.pinRm(cid, { signal });
    return pinJson(cid, m);
  };

  const idJson = () => ({
    id: peerId,
    addresses: [],
    cluster_peers: [peerId],
    cluster_peers_addresses: [],
    version: CLUSTER_COMPAT_VERSION,
    commit: 'one-agents-embedded',
    rpc_protocol_version: '/ipfscluster/1.0/rpc',
    error: '',
    ipfs: { id: peerId, addresses: [], error: '' },
    peername: peerName,
  });

  const ndjson = (res: http.ServerResponse, items: unknown[]) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(items.map((i) => JSON.stringify(i) + '\n').join(''));
  };

  return async function clusterApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const p = new Params(url.searchParams);
    const m = req.method ?? 'GET';
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    try {
      const parts = url.pathname.split('/').filter(Boolean).map((s) => {
        const d = safeDecode(s);
        if (d === undefined) throw new ClusterError(400, `invalid percent-encoding in the path: ${s.slice(0, 100)}`);
        return d;
      });
      const [head, ...rest] = parts;
      if (m === 'GET' && head === 'id' && !rest.length) return sendJson(res, 200, idJson());
      if (m === 'GET' && head === 'version' && !rest.length) return sendJson(res, 200, { version: CLUSTER_COMPAT_VERSION });
      if (m === 'GET' && head === 'peers' && !rest.length) return ndjson(res, [idJson()]);
      if (head === 'pins' && rest.length) {
        const target = rest[0] === 'ipfs' ? '/ipfs/' + rest.slice(1).join('/') : rest.join('/');
        if (m === 'POST') return sendJson(res, 200, await pin(target, p, url, abort.signal));
        if (m === 'DELETE') return sendJson(res, 200, await unpin(target, abort.signal));
        if (m === 'GET') {
          const { cid } = parseIpfsPath(target);
          return sendJson(res, 200, statusJson(cid, Boolean(await pinMeta(cid)), await pinMeta(cid)));
        }
      }
      if (m === 'GET' && head === 'pins' && !rest.length) {
        const filter = (p.str('filter') ?? '').split(',').filter(Boolean);
        // Parsed once (not once per pin), and looked up by multihash.
        const wanted = new Set((p.str('cids') ?? '').split(',').filter(Boolean).map((w) => parseIpfsPath(w).cid.multihash.bytes.toString()));
        const out = [];
        for await (const pinned of node.pins()) {
          const cid = pinned.cid.toString();
          if (wanted.size && !wanted.has(pinned.cid.multihash.bytes.toString())) continue;
          if (filter.length && !filter.includes('pinned')) continue;
          out.push(statusJson(cid, true, metaOf(pinned.metadata, pinned.created)));
        }
        return ndjson(res, out);
      }
      if (m === 'GET' && head === 'allocations') {
        if (rest.length) {
          const { cid } = parseIpfsPath(rest.join('/'));
          const meta = await pinMeta(cid);
          if (!meta) throw new ClusterError(404, 'cid is not part of the global state');
          return sendJson(res, 200, pinJson(cid, meta));
        }
        const out = [];
        for await (const pinned of node.pins()) out.push(pinJson(pinned.cid, metaOf(pinned.metadata, pinned.created)));
        return ndjson(res, out);
      }
      if (m === 'POST' && head === 'add' && !rest.length) {
        const o = readPinOptions(p, url);
        if ((p.str('format') ?? 'unixfs') !== 'unixfs') throw new ClusterError(400, 'only the unixfs format is implemented by this peer');
        const cv = Number(p.str('cid-version') ?? '0');
        const rawLeaves = p.has('raw-leaves') ? p.bool('raw-leaves', false) : cv === 1;
        const entries = (async function* (): AsyncGenerator<AddEntry> {
          for await (const part of multipartParts(req)) {
            const path = part.filename.replace(/^\/+/, '');
            yield part.isDirectory ? { path } : { path, content: readPieces(part.stream, KUBO_CHUNK_SIZE) };
          }
        })();
        const results = [];
        for await (const r of node.add(entries, { cidVersion: cv === 1 ? 1 : 0, rawLeaves, chunkSize: KUBO_CHUNK_SIZE, wrapWithDirectory: p.bool('wrap-with-directory', false), onlyHash: false, pin: false }, abort.signal)) {
          results.push({ name: r.path || r.cid.toString(), cid: r.cid.toString(), size: Number(r.size), allocations: [peerId] });
        }
        const root = results[results.length - 1];
        if (!root) throw new ClusterError(400, 'no file in the request');
        const md: Record<string, string | number | boolean> = { name: o.name || root.name, 'cluster:rmin': o.rmin, 'cluster:rmax': o.rmax, 'cluster:created': new Date().toISOString() };
        for (const [k, v] of Object.entries(o.metadata)) md[`meta:${k}`] = v;
        const rootCid = parseIpfsPath(root.cid).cid;
        await node.pinAdd(rootCid, { recursive: true });
        await node.setPinMetadata(rootCid, md);
        if (p.bool('stream-channels', true)) return ndjson(res, results);
        return sendJson(res, 200, results);
      }
      throw new ClusterError(404, `${m} ${url.pathname}: not found`);
    } catch (err) {
      let status = 500;
      let message: string;
      if (err instanceof ClusterError) {
        status = err.status;
        message = err.message;
      } else {
        const k = toKuboError(err);
        message = k.message;
        if (err instanceof KuboError && /invalid path|invalid cid/.test(message)) status = 400;
        if (status === 500 && !(err instanceof KuboError)) opts.logger.warn('ipfs cluster api request failed', { path: url.pathname, error: err });
      }
      if (res.headersSent) res.destroy();
      else sendJson(res, status, { code: status, message });
      req.resume();
    }
  };
}
