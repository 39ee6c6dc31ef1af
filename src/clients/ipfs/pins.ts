/**
 * Pins have an owner: the user a tool acts for (the conversation's memory resource), or
 * the owner a workflow records (`agent:<name>` for an agent's own archives). Every pin
 * made through a tool or workflow is a row in `ipfs_pins` (owner, CID, name, time);
 * listing, status, read-by-name and unpin see only the caller's rows.
 *
 * The node holds one pin per content, whoever asked for it: an unpin removes the
 * caller's rows and takes the node's pin away only when no other owner's row for the
 * same content remains. Pins and unpins of one content are serialised across processes
 * by a transaction-scoped Postgres advisory lock on its multihash (v0 and v1 CIDs of one
 * DAG are one pin on Kubo), held while the node is asked, so a concurrent pin by bob and
 * unpin by alice can never leave bob's row without its pin. No process memory is used.
 *
 * Reading a bare CID is not gated here: content addressed data is public to anyone who
 * has the CID (any gateway serves it). What is private is the association of a user
 * with a CID and a name.
 */
import { base58btc } from 'multiformats/bases/base58';
import type pg from 'pg';
import { addPinRow, contentPinned, deletePinRows, listPinRows, newestPinCidByName, pinNames, withContentLock } from '../../stores/ipfs/pins';
import { IpfsError } from './errors';
import { parseCid, type IpfsService, type PinResult, type PinStatus } from './service';

export interface OwnedPin {
  cid: string;
  name?: string;
  createdAt: string;
}

export interface PinOptions {
  name?: string;
  metadata?: Record<string, string>;
}

/** The content's identity across CID versions: base58btc of the multihash. */
export function multihashOf(cidText: string): string {
  return base58btc.encode(parseCid(cidText).multihash.bytes);
}

export class IpfsPins {
  constructor(
    private readonly db: pg.Pool,
    readonly ipfs: IpfsService,
  ) {}

  /** Pins on the node (inside the content's lock) and records the owner's row. */
  private claim<T extends PinResult>(owner: string, cid: string, name: string | undefined, pinOnNode: () => Promise<T>): Promise<T> {
    const mh = multihashOf(cid);
    return withContentLock(this.db, mh, async (c) => {
      const r = await pinOnNode();
      await addPinRow(c, { ownerId: owner, cid, name: name ?? '', multihash: mh });
      return r;
    });
  }

  /** Adds and pins bytes for `owner` (secret scan and size limit in IpfsService.pinBytes). */
  async pinBytes(owner: string, bytes: Uint8Array, opts: PinOptions = {}): Promise<PinResult> {
    const added = await this.ipfs.pinBytes(bytes, opts);
    // The add pinned it already (gc-safe); it is pinned once more inside the content's
    // lock, so an unpin by another owner that ran between the add and this point (and
    // found no row but its own) cannot leave this owner's row without a pin on the node.
    return this.claim(owner, added.cid, opts.name, async () => {
      await this.ipfs.pinCid(added.cid, opts);
      return added;
    });
  }

  /** Pins content already on IPFS for `owner`. */
  async pinCid(owner: string, cidText: string, opts: PinOptions = {}): Promise<PinResult> {
    const cid = parseCid(cidText).toString();
    return this.claim(owner, cid, opts.name, () => this.ipfs.pinCid(cid, opts));
  }

  /**
   * Removes `owner`'s pins of the content (every name, every CID form); the node's pin
   * goes only when no other owner still pins it. NOT_PINNED when the owner has no pin
   * of it (whether or not someone else does: that is not said).
   */
  async unpin(owner: string, cidText: string): Promise<{ cid: string }> {
    const cid = parseCid(cidText).toString();
    const mh = multihashOf(cid);
    return withContentLock(this.db, mh, async (c) => {
      const mine = await deletePinRows(c, owner, mh);
      if (!mine.length) throw new IpfsError('NOT_PINNED', `${cid} is not among your pins`);
      if (await contentPinned(c, mh)) return { cid };
      for (const form of new Set([cid, ...mine])) {
        try {
          await this.ipfs.unpin(form);
        } catch (err) {
          // Already gone on the node (another CID form of it, or unpinned outside the app).
          if ((err as { code?: string }).code !== 'NOT_PINNED') throw err;
        }
      }
      return { cid };
    });
  }

  /** The owner's pins, newest first; only those named `name` when given. */
  async list(owner: string, opts: { name?: string; limit?: number } = {}): Promise<OwnedPin[]> {
    const rows = await listPinRows(this.db, owner, { name: opts.name ?? null, limit: opts.limit ?? 100 });
    return rows.map((r) => ({ cid: r.cid, name: r.name || undefined, createdAt: r.created_at.toISOString() }));
  }

  /**
   * Status of one of the owner's pins: the node's (or cluster's) view with the owner's
   * own name. A CID the owner does not pin answers `pinned: false` without asking the
   * node, so status does not tell whether anyone else pins it.
   */
  async status(owner: string, cidText: string): Promise<PinStatus> {
    const cid = parseCid(cidText).toString();
    const names = await pinNames(this.db, owner, multihashOf(cid));
    const source = this.ipfs.cluster ? 'cluster' : 'kubo';
    if (!names.length) return { cid, pinned: false, source };
    const s = await this.ipfs.status(cid);
    return { ...s, name: names.find((n) => n) };
  }

  /** The CID of the owner's newest pin named `name` (NOT_FOUND when the owner has none). */
  async cidByName(owner: string, name: string): Promise<string> {
    const cid = await newestPinCidByName(this.db, owner, name);
    if (!cid) throw new IpfsError('NOT_FOUND', `you have no pin named ${JSON.stringify(name.slice(0, 200))}`);
    return cid;
  }
}
