/**
 * The embedded service's bucket storage, kept in Postgres (tables of storage.sql beside
 * this file, created at start) so a restart resumes where replication stopped:
 *  - powersync_oplog: every PUT/REMOVE per bucket in op_id order;
 *  - powersync_current: which bucket rows each source row is in now, with the
 *    checksum of the data last sent, so an unchanged row writes no new op and a row
 *    leaving a bucket gets a REMOVE;
 *  - powersync_buckets: per bucket, the last op_id and the running checksum (sum of
 *    op checksums mod 2^32) and op count;
 *  - powersync_state: the last op_id and the WAL position replicated so far.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JSONBig } from '@powersync/service-jsonbig';
import type pg from 'pg';
import type { SyncRules } from './rules';

export type SqliteRow = Record<string, unknown>;

const STORAGE_SQL = path.join(path.dirname(fileURLToPath(import.meta.url)), 'storage.sql');
const SCHEMA_LOCK = 7_240_030;

/** Creates the stand-in's own tables (idempotent; serialised across processes by an advisory lock). */
export async function ensureStorageSchema(db: pg.Pool): Promise<void> {
  const sql = readFileSync(STORAGE_SQL, 'utf8');
  const client = await db.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [SCHEMA_LOCK]);
    await client.query(sql);
  } finally {
    await client.query('select pg_advisory_unlock($1)', [SCHEMA_LOCK]).catch(() => {});
    client.release();
  }
}

export interface RowChange {
  table: string;
  /** The row's primary key (text id). */
  key: string;
  /** The row after the change, or undefined when it was deleted. */
  row?: SqliteRow;
}

export interface OplogEntry {
  op_id: string;
  op: 'PUT' | 'REMOVE' | 'MOVE' | 'CLEAR';
  object_type?: string;
  object_id?: string;
  data?: string | null;
  checksum: number;
}

export interface BucketChecksum {
  bucket: string;
  checksum: number;
  count: number;
}

export interface CheckpointState {
  lastOpId: bigint;
  lsn: string;
}

/** The checksum the PowerSync Service gives a PUT: first 4 bytes (LE) of sha256("put.type.id.data"). */
export function putChecksum(type: string, id: string, data: string): number {
  return createHash('sha256').update(`put.${type}.${id}.${data}`).digest().readUInt32LE(0);
}

export function removeChecksum(bucket: string, type: string, id: string): number {
  return createHash('sha256').update(`delete.${bucket}.${type}.${id}`).digest().readUInt32LE(0);
}

export const addChecksums = (a: number, b: number) => (a + b) >>> 0;

interface PendingOp {
  bucket: string;
  op: 'PUT' | 'REMOVE';
  type: string;
  id: string;
  data: string | null;
  checksum: number;
}

export class BucketStorage {
  constructor(private db: pg.Pool, private rules: SyncRules) {}

  async checkpoint(client: pg.Pool | pg.PoolClient = this.db): Promise<CheckpointState & { snapshotDone: boolean }> {
    const r = await client.query<{ last_op_id: string; lsn: string; snapshot_done: boolean }>('select last_op_id, lsn::text as lsn, snapshot_done from powersync_state where id = 1');
    const row = r.rows[0];
    if (!row) throw new Error('powersync_state is missing: run the migrations first');
    return { lastOpId: BigInt(row.last_op_id), lsn: row.lsn, snapshotDone: row.snapshot_done };
  }

  /**
   * Applies one source transaction: evaluates every changed row against the sync
   * rules, writes the resulting ops, and moves the replicated position to `lsn`, all in
   * one Postgres transaction. Returns the buckets that changed (empty when none did).
   */
  async applyTransaction(changes: RowChange[], lsn: string | null, opts: { snapshotDone?: boolean } = {}): Promise<{ buckets: Set<string>; lastOpId: bigint }> {
    const client = await this.db.connect();
    try {
      await client.query('begin');
      const state = await client.query<{ last_op_id: string }>('select last_op_id from powersync_state where id = 1 for update');
      let opId = BigInt(state.rows[0]!.last_op_id);

      // Current bucket membership of every touched row, in one query.
      const current = new Map<string, Map<string, { type: string; id: string; bucket: string; checksum: number }>>();
      const uniq = new Map<string, RowChange>();
      for (const c of changes) uniq.set(`${c.table}\u0000${c.key}`, c);
      const keys = [...uniq.values()];
      for (let i = 0; i < keys.length; i += 5000) {
        const slice = keys.slice(i, i + 5000);
        const res = await client.query<{ source_table: string; source_key: string; bucket: string; object_type: string; object_id: string; checksum: string }>(
          `select c.* from powersync_current c join unnest($1::text[], $2::text[]) as k(t, k) on c.source_table = k.t and c.source_key = k.k`,
          [slice.map((c) => c.table), slice.map((c) => c.key)],
        );
        for (const r of res.rows) {
          const sk = `${r.source_table}\u0000${r.source_key}`;
          const m = current.get(sk) ?? new Map();
          m.set(`${r.bucket}\u0000${r.object_type}\u0000${r.object_id}`, { type: r.object_type, id: r.object_id, bucket: r.bucket, checksum: Number(r.checksum) });
          current.set(sk, m);
        }
      }

      const ops: PendingOp[] = [];
      for (const c of changes) {
        const sk = `${c.table}\u0000${c.key}`;
        const before = current.get(sk) ?? new Map<string, { type: string; id: string; bucket: string; checksum: number }>();
        const after = new Map<string, { type: string; id: string; bucket: string; checksum: number }>();
        const evaluated = c.row ? this.rules.evaluate(c.table, c.row as never) : [];
        for (const e of evaluated) {
          const data = JSONBig.stringify(e.data);
          const checksum = putChecksum(e.table, e.id, data);
          const k = `${e.bucket}\u0000${e.table}\u0000${e.id}`;
          after.set(k, { type: e.table, id: e.id, bucket: e.bucket, checksum });
          if (before.get(k)?.checksum === checksum) continue; // unchanged (also makes replays idempotent)
          ops.push({ bucket: e.bucket, op: 'PUT', type: e.table, id: e.id, data, checksum });
        }
        for (const [k, b] of before) {
          if (after.has(k)) continue;
          ops.push({ bucket: b.bucket, op: 'REMOVE', type: b.type, id: b.id, data: null, checksum: removeChecksum(b.bucket, b.type, b.id) });
        }
        current.set(sk, after);
      }

      const buckets = new Map<string, { lastOpId: bigint; checksum: number; count: number }>();
      const rows: Array<[string, string, string, string, string, string | null, number]> = [];
      for (const o of ops) {
        opId += 1n;
        const b = buckets.get(o.bucket) ?? { lastOpId: 0n, checksum: 0, count: 0 };
        b.lastOpId = opId;
        b.checksum = addChecksums(b.checksum, o.checksum);
        b.count += 1;
        buckets.set(o.bucket, b);
        rows.push([o.bucket, opId.toString(), o.op, o.type, o.id, o.data, o.checksum]);
      }
      for (let i = 0; i < rows.length; i += 5000) {
        const s = rows.slice(i, i + 5000);
        await client.query(
          `insert into powersync_oplog (bucket, op_id, op, object_type, object_id, data, checksum)
           select * from unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])`,
          [s.map((r) => r[0]), s.map((r) => r[1]), s.map((r) => r[2]), s.map((r) => r[3]), s.map((r) => r[4]), s.map((r) => r[5]), s.map((r) => r[6])],
        );
      }
      // Membership after the transaction: replace the touched rows' entries.
      for (let i = 0; i < keys.length; i += 5000) {
        const s = keys.slice(i, i + 5000);
        await client.query(
          `delete from powersync_current c using unnest($1::text[], $2::text[]) as k(t, k) where c.source_table = k.t and c.source_key = k.k`,
          [s.map((c) => c.table), s.map((c) => c.key)],
        );
      }
      const finalRows: Array<{ table: string; key: string; bucket: string; type: string; id: string; checksum: number }> = [];
      for (const c of keys) for (const b of current.get(`${c.table}\u0000${c.key}`)?.values() ?? []) finalRows.push({ table: c.table, key: c.key, ...b });
      for (let i = 0; i < finalRows.length; i += 5000) {
        const s = finalRows.slice(i, i + 5000);
        await client.query(
          `insert into powersync_current (source_table, source_key, bucket, object_type, object_id, checksum)
           select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])`,
          [s.map((r) => r.table), s.map((r) => r.key), s.map((r) => r.bucket), s.map((r) => r.type), s.map((r) => r.id), s.map((r) => r.checksum)],
        );
      }
      if (buckets.size) {
        const list = [...buckets];
        await client.query(
          `insert into powersync_buckets (bucket, last_op_id, checksum, op_count)
           select * from unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
           on conflict (bucket) do update set last_op_id = excluded.last_op_id,
             checksum = (powersync_buckets.checksum + excluded.checksum) % 4294967296,
             op_count = powersync_buckets.op_count + excluded.op_count`,
          [list.map(([b]) => b), list.map(([, v]) => v.lastOpId.toString()), list.map(([, v]) => v.checksum), list.map(([, v]) => v.count)],
        );
      }
      await client.query(
        `update powersync_state set last_op_id = $1,
           lsn = case when $2::pg_lsn is not null and $2::pg_lsn > lsn then $2::pg_lsn else lsn end,
           snapshot_done = snapshot_done or $3
         where id = 1`,
        [opId.toString(), lsn, opts.snapshotDone ?? false],
      );
      await client.query('commit');
      return { buckets: new Set(buckets.keys()), lastOpId: opId };
    } catch (err) {
      await client.query('rollback').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  /** Moves the replicated position forward without data (keepalives, checkpoint markers). */
  async advanceLsn(lsn: string): Promise<boolean> {
    const r = await this.db.query('update powersync_state set lsn = $1::pg_lsn where id = 1 and lsn < $1::pg_lsn', [lsn]);
    return (r.rowCount ?? 0) > 0;
  }

  /** A consistent view of one checkpoint: its op id, the write checkpoint for this client, and bucket checksums. */
  async snapshotFor(buckets: string[], userId: string, clientId: string | undefined): Promise<{ lastOpId: bigint; writeCheckpoint?: bigint; checksums: Map<string, BucketChecksum & { lastOpId: bigint }> }> {
    const client = await this.db.connect();
    try {
      await client.query('begin isolation level repeatable read read only');
      const state = await this.checkpoint(client);
      const sums = await client.query<{ bucket: string; checksum: string; op_count: string; last_op_id: string }>(
        'select bucket, checksum, op_count, last_op_id from powersync_buckets where bucket = any($1)',
        [buckets],
      );
      let writeCheckpoint: bigint | undefined;
      if (clientId) {
        const wc = await client.query<{ cp: string | null }>(
          'select max(checkpoint) as cp from powersync_write_checkpoints where user_id = $1 and client_id = $2 and lsn <= $3::pg_lsn',
          [userId, clientId, state.lsn],
        );
        if (wc.rows[0]?.cp != null) writeCheckpoint = BigInt(wc.rows[0].cp);
      }
      await client.query('commit');
      const checksums = new Map<string, BucketChecksum & { lastOpId: bigint }>();
      for (const b of buckets) checksums.set(b, { bucket: b, checksum: 0, count: 0, lastOpId: 0n });
      for (const r of sums.rows) checksums.set(r.bucket, { bucket: r.bucket, checksum: Number(r.checksum), count: Number(r.op_count), lastOpId: BigInt(r.last_op_id) });
      return { lastOpId: state.lastOpId, writeCheckpoint, checksums };
    } finally {
      client.release();
    }
  }

  /** Ops of one bucket in (after, upTo], at most `limit`. */
  async readOps(bucket: string, after: bigint, upTo: bigint, limit: number): Promise<OplogEntry[]> {
    const r = await this.db.query<{ op_id: string; op: OplogEntry['op']; object_type: string | null; object_id: string | null; data: string | null; checksum: string }>(
      `select op_id, op, object_type, object_id, data, checksum from powersync_oplog
        where bucket = $1 and op_id > $2 and op_id <= $3 order by op_id limit $4`,
      [bucket, after.toString(), upTo.toString(), limit],
    );
    return r.rows.map((o) => {
      const e: OplogEntry = { op_id: o.op_id, op: o.op, checksum: Number(o.checksum) };
      if (o.object_type != null) e.object_type = o.object_type;
      if (o.object_id != null) e.object_id = o.object_id;
      if (o.op === 'PUT') e.data = o.data;
      return e;
    });
  }

  /**
   * Records a write checkpoint for (user, client) at the current WAL head. It is
   * acknowledged in the stream once replication has passed that position.
   * `requested` (checkpoint-request mode) must grow; a stale id returns the stored one.
   */
  async createWriteCheckpoint(userId: string, clientId: string, requested?: bigint): Promise<bigint> {
    const client = await this.db.connect();
    try {
      await client.query('begin');
      const head = (await client.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0]!.lsn;
      let id: bigint;
      if (requested !== undefined) {
        const max = await client.query<{ cp: string | null }>('select max(checkpoint) as cp from powersync_write_checkpoints where user_id = $1 and client_id = $2', [userId, clientId]);
        const stored = max.rows[0]?.cp != null ? BigInt(max.rows[0].cp) : 0n;
        if (requested <= stored) {
          await client.query('commit');
          return stored;
        }
        id = requested;
      } else {
        id = BigInt((await client.query<{ id: string }>("select nextval('powersync_write_checkpoint_seq')::text as id")).rows[0]!.id);
      }
      await client.query('insert into powersync_write_checkpoints (user_id, client_id, checkpoint, lsn) values ($1, $2, $3, $4::pg_lsn) on conflict do nothing', [userId, clientId, id.toString(), head]);
      // Older acknowledged checkpoints of this client are no longer needed.
      await client.query('delete from powersync_write_checkpoints where user_id = $1 and client_id = $2 and checkpoint < $3 and lsn <= (select lsn from powersync_state where id = 1)', [userId, clientId, id.toString()]);
      await client.query('commit');
      // A marker after the mapping exists, so an idle database still moves replication past `head`.
      await this.db.query("select pg_logical_emit_message(true, 'powersync', 'write-checkpoint')");
      return id;
    } catch (err) {
      await client.query('rollback').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }
}
