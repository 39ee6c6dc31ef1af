/**
 * Who pins what (migrations/030_ipfs_pins.sql): one `ipfs_pins` row per pin an owner made
 * through a tool or workflow, keyed by owner, CID and name; `multihash` (base58btc) is the
 * content's identity across CID versions. Pins and unpins of one content run inside a
 * transaction holding a Postgres advisory lock on its multihash (`withContentLock`),
 * serialised across processes; src/clients/ipfs/pins.ts asks the node inside it.
 */
import type pg from 'pg';
import { inTransaction } from '../../db/transaction';

const LOCK_NAMESPACE = 7_240_002;

/** Runs `fn` in a transaction holding the content's advisory lock (released at commit/rollback). */
export async function withContentLock<T>(db: pg.Pool, multihash: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(db, async (c) => {
    await c.query('select pg_advisory_xact_lock($1, hashtext($2))', [LOCK_NAMESPACE, multihash]);
    return fn(c);
  });
}

/** Records the owner's pin ('' for an unnamed one); a pin the owner already has is kept as it is. */
export async function addPinRow(c: pg.PoolClient, p: { ownerId: string; cid: string; name: string; multihash: string }): Promise<void> {
  await c.query('insert into ipfs_pins (owner_id, cid, name, multihash) values ($1, $2, $3, $4) on conflict do nothing', [p.ownerId, p.cid, p.name, p.multihash]);
}

/** Deletes every pin row of the owner for the content; returns the CIDs they named (none: the owner had no pin of it). */
export async function deletePinRows(c: pg.PoolClient, ownerId: string, multihash: string): Promise<string[]> {
  const mine = await c.query<{ cid: string }>('delete from ipfs_pins where owner_id = $1 and multihash = $2 returning cid', [ownerId, multihash]);
  return mine.rows.map((r) => r.cid);
}

/** Whether anyone still has a pin row for the content. */
export async function contentPinned(c: pg.PoolClient, multihash: string): Promise<boolean> {
  const others = await c.query('select 1 from ipfs_pins where multihash = $1 limit 1', [multihash]);
  return !!others.rowCount;
}

/** The owner's pin rows, newest first; only those named `name` when given. */
export async function listPinRows(db: pg.Pool, ownerId: string, opts: { name: string | null; limit: number }): Promise<Array<{ cid: string; name: string; created_at: Date }>> {
  const rows = await db.query<{ cid: string; name: string; created_at: Date }>(
    `select cid, name, created_at from ipfs_pins where owner_id = $1 and ($2::text is null or name = $2)
      order by created_at desc, cid, name limit $3`,
    [ownerId, opts.name, opts.limit],
  );
  return rows.rows;
}

/** The names ('' for unnamed) of the owner's pins of the content, oldest first. */
export async function pinNames(db: pg.Pool, ownerId: string, multihash: string): Promise<string[]> {
  const rows = await db.query<{ name: string }>('select name from ipfs_pins where owner_id = $1 and multihash = $2 order by created_at, name', [ownerId, multihash]);
  return rows.rows.map((r) => r.name);
}

/** The CID of the owner's newest pin named `name`, if any. */
export async function newestPinCidByName(db: pg.Pool, ownerId: string, name: string): Promise<string | undefined> {
  const row = await db.query<{ cid: string }>('select cid from ipfs_pins where owner_id = $1 and name = $2 order by created_at desc limit 1', [ownerId, name]);
  return row.rows[0]?.cid;
}
