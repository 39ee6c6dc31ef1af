/**
 * ctx.clients.ipfs: the one way tools and workflows reach IPFS. Content goes through
 * kubo-rpc-client at the IPFS API URL (embedded node or real Kubo, the code does not
 * know which); with IPFS_CLUSTER_URL, pins go through @nftstorage/ipfs-cluster with
 * the configured replication, name and metadata, and status comes from the cluster.
 *
 * Every failure becomes an IpfsError with a stable code (see errors.ts).
 */
import { Cluster } from '@nftstorage/ipfs-cluster';
import { create, type KuboRPCClient } from 'kubo-rpc-client';
import { CID } from 'multiformats/cid';
import type { IpfsConfig } from '../../config';
import type { Logger } from '../../logger';
import { assertNoSecretInBytes } from '../../util/secrets';
import { IpfsError, toIpfsError } from './errors';

export interface PinResult {
  cid: string;
  /** Bytes of content pinned (for added content: the file size). */
  size: number;
  gatewayUrl: string;
  name?: string;
  /** 'cluster' when the pin went through IPFS Cluster, else 'kubo'. */
  pinnedVia: 'kubo' | 'cluster';
}

export interface PinListing {
  cid: string;
  name?: string;
  type: string;
}

export interface PinStatus {
  cid: string;
  pinned: boolean;
  /** Kubo pin type, or the cluster's per-peer statuses. */
  type?: string;
  name?: string;
  peers?: Array<{ peer: string; status: string; error?: string }>;
  source: 'kubo' | 'cluster';
}

export interface ReadResult {
  cid: string;
  bytes: Uint8Array;
  truncated: boolean;
}

export function parseCid(text: string): CID {
  const t = text.trim().replace(/^ipfs:\/\//, '').replace(/^\/ipfs\//, '');
  try {
    return CID.parse(t.split('/')[0]!);
  } catch {
    throw new IpfsError('BAD_CID', `not a valid CID: ${JSON.stringify(text.slice(0, 100))}`);
  }
}

/**
 * The bytes of an upload as kubo-rpc-client sends them fastest: views of at most 1 MiB
 * (no copy). Handed one large Uint8Array, the client pushes it whole through web streams
 * and uploads at about half the speed. Same bytes, same CID.
 */
export function uploadPieces(bytes: Uint8Array, size = 1024 * 1024): Uint8Array | Iterable<Uint8Array> {
  if (bytes.length <= size) return bytes;
  return (function* () {
    for (let off = 0; off < bytes.length; off += size) yield bytes.subarray(off, off + size);
  })();
}

export class IpfsService {
  readonly kubo: KuboRPCClient;
  readonly cluster?: Cluster;

  constructor(
    readonly config: IpfsConfig,
    readonly apiUrl: string,
    readonly gatewayBase: string,
    private readonly logger: Logger,
    clusterUrl?: string,
  ) {
    this.kubo = create({ url: apiUrl, timeout: config.timeoutMs });
    if (clusterUrl) {
      const headers = config.clusterBasicAuth ? { authorization: `Basic ${Buffer.from(config.clusterBasicAuth).toString('base64')}` } : undefined;
      this.cluster = new Cluster(clusterUrl.endsWith('/') ? clusterUrl : `${clusterUrl}/`, { headers });
    }
  }

  gatewayUrl(cid: string): string {
    return `${this.gatewayBase.replace(/\/+$/, '')}/${cid}`;
  }

  private signal(ms = this.config.timeoutMs) {
    return AbortSignal.timeout(ms);
  }

  private async guard<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      // The cluster client throws "500: Internal Server Error" and keeps the body on .response.
      const response = (err as { response?: Response }).response;
      if (response && typeof response.text === 'function' && !response.bodyUsed) {
        const body = await response.text().catch(() => '');
        let message = body;
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? body;
        } catch {
          /* not JSON */
        }
        if (message) (err as Error).message = `${message} (HTTP ${response.status})`;
      }
      const e = toIpfsError(err);
      if (e.code === 'IPFS_ERROR') this.logger.warn('ipfs call failed', { op, error: e });
      throw e;
    }
  }

  /**
   * Adds bytes (Kubo defaults: CIDv0, 256 KiB chunks) and pins them, by the cluster when
   * there is one. IPFS content is public and permanent: the bytes themselves (whatever
   * they were decoded from: text, base64, a file) are scanned for key material first
   * and refused with SECRET_DETECTED; every tool and workflow that adds content comes here.
   */
  async pinBytes(bytes: Uint8Array, opts: { name?: string; metadata?: Record<string, string> } = {}): Promise<PinResult> {
    if (bytes.length > this.config.maxPinBytes) throw new IpfsError('TOO_LARGE', `content is ${bytes.length} bytes; the limit is ${this.config.maxPinBytes} (IPFS_MAX_PIN_BYTES)`);
    assertNoSecretInBytes('content', bytes);
    return this.guard('add', async () => {
      // Pinned by the add itself, also with a cluster: content added unpinned could be
      // collected by a gc on the node before the cluster's pin reaches it. The cluster
      // then takes over (on its peer that is this node, its pin is this same pin); if
      // the cluster refuses, the pin made here is taken back.
      const added = await this.kubo.add(uploadPieces(bytes), { pin: true, cidVersion: 0, signal: this.signal() });
      const cid = added.cid.toString();
      if (this.cluster) {
        try {
          await this.clusterPin(cid, opts);
        } catch (err) {
          await this.kubo.pin.rm(added.cid, { signal: this.signal() }).catch(() => {});
          throw err;
        }
      } else if (opts.name) await this.kubo.pin.add(added.cid, { name: opts.name, signal: this.signal() });
      return { cid, size: bytes.length, gatewayUrl: this.gatewayUrl(cid), name: opts.name, pinnedVia: this.cluster ? 'cluster' : 'kubo' };
    });
  }

  private async clusterPin(cid: string, opts: { name?: string; metadata?: Record<string, string> }) {
    await this.cluster!.pin(cid, {
      name: opts.name,
      metadata: opts.metadata,
      replicationFactorMin: this.config.replicationMin || undefined,
      replicationFactorMax: this.config.replicationMax || undefined,
      signal: this.signal(),
    });
  }

  /** Pins content that is already on IPFS (the node must have or find every block). */
  async pinCid(cidText: string, opts: { name?: string; metadata?: Record<string, string> } = {}): Promise<PinResult> {
    const cid = parseCid(cidText);
    return this.guard('pin', async () => {
      if (this.cluster) await this.clusterPin(cid.toString(), opts);
      else await this.kubo.pin.add(cid, { recursive: true, name: opts.name, signal: this.signal() });
      const stat = await this.kubo.block.stat(cid, { signal: this.signal() }).catch(() => undefined);
      return { cid: cid.toString(), size: stat?.size ?? 0, gatewayUrl: this.gatewayUrl(cid.toString()), name: opts.name, pinnedVia: this.cluster ? 'cluster' : 'kubo' };
    });
  }

  async unpin(cidText: string): Promise<{ cid: string }> {
    const cid = parseCid(cidText);
    return this.guard('unpin', async () => {
      try {
        if (this.cluster) {
          await this.cluster.unpin(cid.toString(), { signal: this.signal() });
          // The pin pinBytes made on the API node, if the cluster did not allocate the CID there.
          await this.kubo.pin.rm(cid, { signal: this.signal() }).catch(() => {});
        } else await this.kubo.pin.rm(cid, { signal: this.signal() });
      } catch (err) {
        const msg = (err as Error).message ?? '';
        if (/not pinned|not part of the global state|404/.test(msg)) throw new IpfsError('NOT_PINNED', `${cid} is not pinned`);
        throw err;
      }
      return { cid: cid.toString() };
    });
  }

  async listPins(opts: { name?: string; limit?: number } = {}): Promise<PinListing[]> {
    return this.guard('pin ls', async () => {
      const out: PinListing[] = [];
      const limit = opts.limit ?? 100;
      if (this.cluster) {
        for (const s of await this.cluster.statusAll({ signal: this.signal() })) {
          if (opts.name && s.name !== opts.name) continue;
          out.push({ cid: s.cid, name: s.name || undefined, type: 'cluster' });
          if (out.length >= limit) break;
        }
        return out;
      }
      for await (const p of this.kubo.pin.ls({ type: 'recursive', names: true, ...(opts.name ? { name: opts.name } : {}), signal: this.signal() })) {
        out.push({ cid: p.cid.toString(), name: p.name || undefined, type: p.type });
        if (out.length >= limit) break;
      }
      return out;
    });
  }

  /** Reads content by CID, at most `maxBytes` (default IPFS_MAX_READ_BYTES); TOO_LARGE beyond unless `truncate`. */
  async read(cidText: string, opts: { maxBytes?: number; truncate?: boolean; timeoutMs?: number } = {}): Promise<ReadResult> {
    const cid = parseCid(cidText);
    const path = cidText.trim().replace(/^ipfs:\/\//, '').replace(/^\/ipfs\//, '');
    const max = Math.min(opts.maxBytes ?? this.config.maxReadBytes, this.config.maxReadBytes);
    const timeout = Math.min(opts.timeoutMs ?? this.config.timeoutMs, this.config.timeoutMs);
    return this.guard('cat', async () => {
      const chunks: Uint8Array[] = [];
      let n = 0;
      for await (const c of this.kubo.cat(path, { length: max + 1, timeout, signal: this.signal(timeout) })) {
        chunks.push(c);
        n += c.length;
      }
      const all = Buffer.concat(chunks, n);
      if (all.length > max && !opts.truncate) throw new IpfsError('TOO_LARGE', `${cid} holds more than ${max} bytes; ask for fewer bytes or allow truncation`);
      return { cid: cid.toString(), bytes: all.subarray(0, max), truncated: all.length > max };
    });
  }

  /** Reads all of a content of known size (archives): fails if it holds more than `size` bytes. */
  async readExact(cidText: string, size: number): Promise<Uint8Array> {
    const cid = parseCid(cidText);
    return this.guard('cat', async () => {
      const chunks: Uint8Array[] = [];
      let n = 0;
      for await (const c of this.kubo.cat(cid, { length: size + 1, timeout: this.config.timeoutMs, signal: this.signal() })) {
        chunks.push(c);
        n += c.length;
      }
      return Buffer.concat(chunks, n);
    });
  }

  /** The CID the same bytes get with the same import settings, without storing anything (only-hash). */
  async hashOnly(bytes: Uint8Array): Promise<string> {
    return this.guard('add --only-hash', async () => (await this.kubo.add(uploadPieces(bytes), { onlyHash: true, pin: false, cidVersion: 0, signal: this.signal() })).cid.toString());
  }

  async status(cidText: string): Promise<PinStatus> {
    const cid = parseCid(cidText);
    return this.guard('status', async () => {
      if (this.cluster) {
        const s = await this.cluster.status(cid.toString(), { signal: this.signal() });
        const peers = Object.entries(s.peerMap ?? {}).map(([peer, v]) => ({ peer, status: v.status, error: v.error || undefined }));
        return { cid: cid.toString(), pinned: peers.some((p) => p.status === 'pinned'), name: s.name || undefined, peers, source: 'cluster' };
      }
      try {
        for await (const p of this.kubo.pin.ls({ paths: [cid], names: true, signal: this.signal() })) {
          return { cid: cid.toString(), pinned: true, type: p.type, name: p.name || undefined, source: 'kubo' };
        }
      } catch (err) {
        if (/is not pinned/.test((err as Error).message ?? '')) return { cid: cid.toString(), pinned: false, source: 'kubo' };
        throw err;
      }
      return { cid: cid.toString(), pinned: false, source: 'kubo' };
    });
  }

  /** Reachability check for /ready. */
  async ping(): Promise<void> {
    await this.guard('version', async () => {
      await this.kubo.version({ signal: this.signal(Math.min(5000, this.config.timeoutMs)) });
      if (this.cluster) await this.cluster.version({ signal: this.signal(Math.min(5000, this.config.timeoutMs)) });
    });
  }
}
