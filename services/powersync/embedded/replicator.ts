/**
 * Logical replication (pgoutput) from the `powersync` publication into the bucket
 * storage. On first start it creates a replication slot, copies the existing rows (the
 * initial snapshot), then streams every committed transaction. Progress (the commit
 * LSN) is stored with the ops in the same Postgres transaction and acknowledged to the
 * slot only afterwards, so a restart resumes from the slot without resending
 * everything, and a transaction replayed after a crash is skipped.
 */
import { EventEmitter } from 'node:events';
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import type { Pgoutput } from 'pg-logical-replication';
import pg from 'pg';
import type { Logger } from '../../lib/logger';
import { toSqliteValue, type SyncRules } from './rules';
import type { BucketStorage, RowChange } from './storage';

export interface ReplicatorOptions {
  databaseUrl: string;
  db: pg.Pool;
  rules: SyncRules;
  storage: BucketStorage;
  logger: Logger;
  slotName: string;
  publication: string;
}

/** Emits 'checkpoint' (buckets: Set<string>) after every applied transaction or marker. */
export class Replicator extends EventEmitter {
  private service?: LogicalReplicationService;
  private stopped = false;
  private failed = false;
  private restartTimer?: NodeJS.Timeout;
  private tx: RowChange[] | null = null;
  private appliedLsn = '0/0';
  private ready?: Promise<void>;

  constructor(private o: ReplicatorOptions) {
    super();
    this.setMaxListeners(0);
  }

  /** Creates the slot, runs the initial snapshot if needed, and starts streaming. */
  async start(): Promise<void> {
    const { db, slotName } = this.o;
    const slot = await db.query<{ confirmed: string | null }>('select confirmed_flush_lsn::text as confirmed from pg_replication_slots where slot_name = $1', [slotName]);
    if (slot.rowCount === 0) {
      await db.query("select pg_create_logical_replication_slot($1, 'pgoutput')", [slotName]);
      this.o.logger.info('created replication slot', { slot: slotName });
    }
    const state = await this.o.storage.checkpoint();
    const rulesHash = (await import('node:crypto')).createHash('sha256').update(this.o.rules.yaml).digest('hex');
    const storedHash = (await db.query<{ rules_hash: string | null }>('select rules_hash from powersync_state where id = 1')).rows[0]?.rules_hash;
    if (!state.snapshotDone || storedHash !== rulesHash) {
      await this.snapshot();
      await db.query('update powersync_state set rules_hash = $1 where id = 1', [rulesHash]);
    }
    this.appliedLsn = (await this.o.storage.checkpoint()).lsn;
    await this.subscribe();
  }

  /** Copies every row of the synced tables (rows replayed later from the slot are deduplicated by checksum). */
  private async snapshot() {
    const started = Date.now();
    let rows = 0;
    const client = await this.o.db.connect();
    try {
      await client.query('begin isolation level repeatable read read only');
      for (const table of this.o.rules.tables) {
        const cursorName = `ps_snap_${table.replace(/\W/g, '_')}`;
        await client.query(`declare ${cursorName} cursor for select * from ${client.escapeIdentifier(table)}`);
        for (;;) {
          const res = await client.query(`fetch 10000 from ${cursorName}`);
          if (!res.rows.length) break;
          const types = new Map(res.fields.map((f) => [f.name, f.dataTypeID]));
          const changes: RowChange[] = res.rows.map((r) => ({ table, key: String(r.id), row: this.convert(r, (c) => types.get(c) ?? 25) }));
          const applied = await this.o.storage.applyTransaction(changes, null);
          rows += changes.length;
          if (applied.buckets.size) this.emit('checkpoint', applied.buckets);
        }
        await client.query(`close ${cursorName}`);
      }
      await client.query('commit');
    } finally {
      client.release();
    }
    await this.o.storage.applyTransaction([], null, { snapshotDone: true });
    this.o.logger.info('initial snapshot replicated', { rows, ms: Date.now() - started });
  }

  private convert(row: Record<string, unknown>, typeOf: (column: string) => number) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) out[k] = toSqliteValue(v, typeOf(k));
    return out;
  }

  private async subscribe() {
    if (this.stopped) return;
    this.failed = false;
    this.tx = null;
    const service = new LogicalReplicationService(
      { connectionString: this.o.databaseUrl },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
    );
    this.service = service;
    service.on('data', async (_lsn: string, msg: Pgoutput.Message) => {
      if (this.failed || this.stopped) return;
      try {
        await this.handle(msg);
      } catch (err) {
        this.fail(err);
      }
    });
    service.on('heartbeat', (_lsn: string, _ts: number, shouldRespond: boolean) => {
      if (shouldRespond) void service.acknowledge(this.appliedLsn).catch(() => {});
    });
    service.on('error', (err: Error) => this.fail(err));
    const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [this.o.publication], messages: true });
    let started!: () => void;
    this.ready = new Promise<void>((r) => (started = r));
    service.once('start', () => started());
    service.subscribe(plugin, this.o.slotName).catch((err) => this.fail(err));
    await Promise.race([this.ready, new Promise((r) => setTimeout(r, 5000))]);
  }

  private fail(err: unknown) {
    if (this.stopped || this.failed) return;
    this.failed = true;
    this.o.logger.warn('replication stopped; restarting from the slot', { error: err });
    const s = this.service;
    this.service = undefined;
    void s?.destroy().catch(() => {});
    this.restartTimer = setTimeout(() => void this.subscribe().catch((e) => this.fail(e)), 1000);
  }

  private async handle(msg: Pgoutput.Message) {
    switch (msg.tag) {
      case 'begin':
        this.tx = [];
        return;
      case 'insert':
      case 'update':
        if (!this.tx || msg.relation.schema !== 'public' || !this.o.rules.syncsTable(msg.relation.name)) return;
        this.pushRow(msg.relation, msg.new, msg.tag === 'update' ? (msg.key ?? msg.old) : null);
        return;
      case 'delete': {
        if (!this.tx || msg.relation.schema !== 'public' || !this.o.rules.syncsTable(msg.relation.name)) return;
        const key = msg.key ?? msg.old;
        if (key?.id != null) this.tx.push({ table: msg.relation.name, key: String(key.id) });
        return;
      }
      case 'truncate':
        if (!this.tx) return;
        for (const rel of msg.relations) {
          if (rel.schema !== 'public' || !this.o.rules.syncsTable(rel.name)) continue;
          const keys = await this.o.db.query<{ source_key: string }>('select distinct source_key from powersync_current where source_table = $1', [rel.name]);
          for (const k of keys.rows) this.tx.push({ table: rel.name, key: k.source_key });
        }
        return;
      case 'commit': {
        const lsn = msg.commitEndLsn ?? msg.commitLsn;
        const changes = this.tx ?? [];
        this.tx = null;
        if (!lsn) return;
        if (compareLsn(lsn, this.appliedLsn) <= 0) {
          // Already applied before a restart: only the acknowledgement was lost.
          await this.service?.acknowledge(this.appliedLsn);
          return;
        }
        if (changes.length) {
          const applied = await this.o.storage.applyTransaction(changes, lsn);
          this.appliedLsn = lsn;
          this.emit('checkpoint', applied.buckets);
        } else {
          await this.o.storage.advanceLsn(lsn);
          this.appliedLsn = lsn;
          this.emit('checkpoint', new Set<string>());
        }
        await this.service?.acknowledge(lsn);
        return;
      }
      default:
        return;
    }
  }

  private pushRow(relation: Pgoutput.MessageRelation, row: Record<string, unknown>, oldKey: Record<string, unknown> | null) {
    const types = new Map(relation.columns.map((c) => [c.name, c.typeOid]));
    const converted = this.convert(row, (c) => types.get(c) ?? 25);
    // A primary-key change is a delete of the old key plus an insert of the new one.
    if (oldKey?.id != null && String(oldKey.id) !== String(row.id)) this.tx!.push({ table: relation.name, key: String(oldKey.id) });
    this.tx!.push({ table: relation.name, key: String(row.id), row: converted });
  }

  /** The replicated position, for readiness checks and tests. */
  get lsn() {
    return this.appliedLsn;
  }

  async stop() {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const s = this.service;
    this.service = undefined;
    await s?.destroy().catch(() => {});
  }
}

export function compareLsn(a: string, b: string): number {
  const [ah, al] = a.split('/').map((x) => parseInt(x, 16));
  const [bh, bl] = b.split('/').map((x) => parseInt(x, 16));
  return ah! !== bh! ? ah! - bh! : al! - bl!;
}
