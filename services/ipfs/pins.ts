/**
 * Pins: the pin store (one JSON file per pin under DATA_DIR/ipfs/pins, written
 * atomically, keyed by multihash as Kubo's pinner is) and the pin commands
 * (add, ls, rm) over it. Kubo's rules: a direct pin is upgraded to recursive, never
 * the other way; a recursive pin needs every block of its DAG here; an indirect pin
 * is any block under a recursive one.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { CID } from 'multiformats/cid';
import { KuboError } from './errors';
import type { RwLock } from './lock';

export type PinType = 'recursive' | 'direct' | 'indirect';
export interface PinInfo {
  cid: CID;
  type: PinType;
  name?: string;
  /** For an indirect pin asked about by CID: the recursive pin that holds it. */
  via?: CID;
}

export type PinMetadata = Record<string, string | number | boolean>;

/** A pin as stored. */
interface PinRecord {
  cid: string;
  /** -1 recursive, 0 direct (Kubo has no other depths). */
  depth: -1 | 0;
  metadata: PinMetadata;
  created: string;
}

export interface PinView {
  cid: CID;
  depth: number;
  metadata: PinMetadata;
  created: string;
}

export const mhKey = (cid: CID) => Buffer.from(cid.multihash.bytes).toString('base64url');

const view = (rec: PinRecord): PinView => ({ cid: CID.parse(rec.cid), depth: rec.depth === 0 ? 0 : Infinity, metadata: rec.metadata, created: rec.created });

/** What the pinner needs from the node: the DAG walk and a local block read. */
export interface PinDeps {
  lock: RwLock;
  walk(root: CID, signal?: AbortSignal): AsyncIterable<{ cid: CID }>;
  getBlock(cid: CID, signal?: AbortSignal): Promise<Uint8Array>;
}

export class Pins {
  private readonly records = new Map<string, PinRecord>();

  private constructor(
    private readonly dir: string,
    private readonly deps: PinDeps,
  ) {}

  static async open(dir: string, deps: PinDeps): Promise<Pins> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const pins = new Pins(dir, deps);
    for (const f of await fs.readdir(dir)) {
      if (!f.endsWith('.json')) continue;
      const rec = JSON.parse(await fs.readFile(path.join(dir, f), 'utf8')) as PinRecord;
      pins.records.set(f.slice(0, -5), rec);
    }
    return pins;
  }

  private async write(cid: CID, rec: PinRecord | undefined) {
    const key = mhKey(cid);
    const file = path.join(this.dir, `${key}.json`);
    if (!rec) {
      await fs.rm(file, { force: true });
      this.records.delete(key);
      return;
    }
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(rec));
    await fs.rename(tmp, file);
    this.records.set(key, rec);
  }

  /** Every direct and recursive pin (a snapshot). */
  all(): PinView[] {
    return [...this.records.values()].map(view);
  }

  /** The pin record of a CID pinned directly or recursively (not indirectly). */
  get(cid: CID): PinView | undefined {
    const rec = this.records.get(mhKey(cid));
    return rec ? view(rec) : undefined;
  }

  has(cid: CID): boolean {
    return this.records.has(mhKey(cid));
  }

  async add(cid: CID, opts: { recursive?: boolean; name?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.deps.lock.run(false, () => this.addUnlocked(cid, opts));
  }

  /** Under a read lock the caller holds. `fresh`: the DAG was written by this add a moment ago. */
  async addUnlocked(cid: CID, opts: { recursive?: boolean; name?: string; signal?: AbortSignal; fresh?: boolean }): Promise<void> {
    const depth = opts.recursive === false ? 0 : -1;
    const existing = this.records.get(mhKey(cid));
    if (existing?.depth === depth) {
      if (opts.name !== undefined) await this.write(cid, { ...existing, metadata: { ...existing.metadata, name: opts.name } });
      return;
    }
    // Kubo upgrades a direct pin to recursive; it refuses the other way round.
    if (existing && depth === 0) throw new KuboError(`${cid} already pinned recursively`);
    // Every block must be here before the pin is recorded (Kubo fetches them; offline, a missing one fails).
    if (depth === -1 && !opts.fresh) for await (const _ of this.deps.walk(cid, opts.signal)) void _;
    else if (!opts.fresh) await this.deps.getBlock(cid, opts.signal);
    const metadata = { ...(existing?.metadata ?? {}) };
    if (opts.name) metadata.name = opts.name;
    await this.write(cid, { cid: cid.toString(), depth, metadata, created: existing?.created ?? new Date().toISOString() });
  }

  /** Replaces a pin's metadata. */
  async setMetadata(cid: CID, metadata: PinMetadata): Promise<void> {
    const existing = this.records.get(mhKey(cid));
    if (!existing) throw new KuboError(`${cid} is not pinned`);
    await this.write(cid, { ...existing, metadata });
  }

  async rm(cid: CID, opts: { recursive?: boolean } = {}): Promise<void> {
    await this.deps.lock.run(false, async () => {
      const existing = this.records.get(mhKey(cid));
      if (!existing) throw new KuboError('not pinned or pinned indirectly');
      if (existing.depth !== 0 && opts.recursive === false) throw new KuboError(`${cid} is pinned recursively`);
      await this.write(cid, undefined);
    });
  }

  /**
   * `pin ls`: every pin of the type, or (with `cids`) the pin state of each CID —
   * pinned itself, or indirectly through the first recursive pin whose DAG holds it.
   */
  async *ls(opts: { type?: 'all' | PinType; cids?: CID[]; labels?: string[]; signal?: AbortSignal } = {}): AsyncGenerator<PinInfo> {
    const type = opts.type ?? 'all';
    const pins: PinInfo[] = this.all().map((p) => ({
      cid: p.cid,
      type: p.depth === 0 ? 'direct' : 'recursive',
      name: typeof p.metadata?.name === 'string' ? p.metadata.name : undefined,
    }));
    if (opts.cids?.length) {
      const cids = opts.cids;
      // Indirect pins of every asked-for CID in one pass over the recursive pins
      // (stopping once each has been found), not one pass per CID.
      const via = new Map<string, CID>();
      if (type === 'all' || type === 'indirect') {
        const wanted = new Set(cids.filter((c) => !pins.some((p) => p.cid.equals(c))).map(mhKey));
        for (const p of pins.filter((x) => x.type === 'recursive')) {
          if (via.size >= wanted.size) break;
          for await (const b of this.deps.walk(p.cid, opts.signal)) {
            const key = mhKey(b.cid);
            if (!b.cid.equals(p.cid) && wanted.has(key) && !via.has(key)) via.set(key, p.cid);
          }
        }
      }
      for (let i = 0; i < cids.length; i++) {
        const cid = cids[i]!;
        const direct = pins.find((p) => p.cid.equals(cid) && (type === 'all' || p.type === type));
        if (direct) {
          yield direct;
          continue;
        }
        const through = via.get(mhKey(cid));
        if (through) {
          yield { cid, type: 'indirect', via: through };
          continue;
        }
        throw new KuboError(`path '${opts.labels?.[i] ?? cid}' is not pinned`);
      }
      return;
    }
    for (const p of pins) if (type === 'all' || p.type === type) yield p;
    if (type === 'all' || type === 'indirect') {
      const direct = new Set(pins.map((p) => p.cid.toString()));
      const seen = new Set<string>();
      for (const p of pins.filter((x) => x.type === 'recursive')) {
        for await (const b of this.deps.walk(p.cid, opts.signal)) {
          const key = b.cid.toString();
          if (b.cid.equals(p.cid) || direct.has(key) || seen.has(key)) continue;
          seen.add(key);
          yield { cid: b.cid, type: 'indirect' };
        }
      }
    }
  }
}

