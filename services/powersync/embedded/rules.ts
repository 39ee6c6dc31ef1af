/**
 * The sync rules (services/powersync/sync-rules.yaml) as the embedded service runs
 * them: parsed and hydrated with @powersync/service-sync-rules, the same library the
 * real PowerSync Service uses, so rows land in the same buckets under the same names.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as sqlite from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import {
  BaseJwtPayload,
  DEFAULT_HYDRATION_STATE,
  DEFAULT_TAG,
  RequestParameters,
  SqlSyncRules,
  StaticSchema,
  nodeSqlite,
  type HydratedSyncConfig,
  type SourceTableRef,
  type SqliteJsonValue,
  type SyncConfig,
} from '@powersync/service-sync-rules';
import type pg from 'pg';

export const SYNC_RULES_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'sync-rules.yaml');

export function readSyncRulesYaml(file = SYNC_RULES_PATH): string {
  return fs.readFileSync(file, 'utf8');
}

export interface EvaluatedBucketRow {
  bucket: string;
  table: string;
  id: string;
  data: Record<string, SqliteJsonValue>;
}

export class SyncRules {
  readonly config: SyncConfig;
  private hydrated: HydratedSyncConfig;
  readonly tables: Set<string>;

  constructor(readonly yaml: string) {
    const { config, errors } = SqlSyncRules.fromYaml(yaml, { defaultSchema: 'public' });
    const fatal = errors.filter((e) => e.type !== 'warning');
    if (fatal.length) throw new Error(`invalid sync rules: ${fatal.map((e) => e.message).join('; ')}`);
    this.config = config;
    this.hydrated = config.hydrate({ hydrationState: DEFAULT_HYDRATION_STATE, sqlite: nodeSqlite(sqlite) } as never);
    this.tables = new Set(config.getSourceTables().map((t) => t.tablePattern));
    if (config.bucketParameterLookupSources.length > 0) {
      // Parameter queries that read tables need a parameter index; the stand-in only
      // resolves buckets from the token (see services/powersync/README.md).
      throw new Error('the embedded sync service supports only parameter queries on the token (request.user_id(), request.jwt())');
    }
  }

  private ref(table: string): SourceTableRef {
    return { connectionTag: DEFAULT_TAG, schema: 'public', name: table } as SourceTableRef;
  }

  syncsTable(table: string): boolean {
    return this.hydrated.tableSyncsData(this.ref(table));
  }

  /** The bucket rows one source row produces (empty when no bucket wants it). */
  evaluate(table: string, row: Record<string, SqliteJsonValue | bigint | null>): EvaluatedBucketRow[] {
    const { results, errors } = this.hydrated.evaluateRowWithErrors({ sourceTable: this.ref(table), record: row as never });
    if (errors.length) throw new Error(`sync rules failed on ${table}: ${errors.map((e) => e.error).join('; ')}`);
    return results.map((r) => ({ bucket: r.bucket, table: r.table, id: r.id, data: r.data as Record<string, SqliteJsonValue> }));
  }

  /** The buckets a user's token gives access to, with their priorities. */
  bucketsFor(jwtPayload: Record<string, unknown>, clientParameters: Record<string, unknown> = {}): Array<{ bucket: string; priority: number }> {
    const { querier, errors } = this.hydrated.getBucketParameterQuerier({
      globalParameters: new RequestParameters(new BaseJwtPayload(jwtPayload as never), clientParameters as never),
      hasDefaultStreams: true,
      streams: {},
    });
    if (errors.length) throw new Error(`sync rules could not resolve buckets: ${errors.map((e) => e.message).join('; ')}`);
    return querier.staticBuckets.map((b) => ({ bucket: b.bucket, priority: b.priority }));
  }
}

/** The live Postgres schema of the tables the sync rules name, in the shape the sync-rules library validates against. */
export async function readSourceSchema(db: pg.Pool | pg.Client, tables: Iterable<string>): Promise<StaticSchema> {
  const names = [...tables];
  const res = await db.query<{ table_name: string; column_name: string; data_type: string; udt_name: string }>(
    `select table_name, column_name, data_type, udt_name from information_schema.columns
      where table_schema = 'public' and table_name = any($1) order by table_name, ordinal_position`,
    [names],
  );
  const byTable = new Map<string, Array<{ name: string; pg_type: string }>>();
  for (const r of res.rows) {
    const list = byTable.get(r.table_name) ?? [];
    list.push({ name: r.column_name, pg_type: r.udt_name });
    byTable.set(r.table_name, list);
  }
  return new StaticSchema([
    { tag: DEFAULT_TAG, schemas: [{ name: 'public', tables: [...byTable].map(([name, columns]) => ({ name, columns })) }] },
  ]);
}

/** Validation against a live schema: missing tables or columns become messages. */
export function validateSyncRules(yaml: string, schema: StaticSchema): string[] {
  return SqlSyncRules.validate(yaml, { defaultSchema: 'public', schema }).map((e) => `${e.type}: ${e.message}`);
}

// ---- Postgres values → SQLite values (what devices store) ---------------------------

const INT_OIDS = new Set([20, 21, 23, 26]);
const FLOAT_OIDS = new Set([700, 701, 1700]);
const BOOL_OID = 16;
const TIMESTAMP_OIDS = new Set([1114, 1184]);
const DATE_OID = 1082;

/** Converts one column as parsed by `pg` (or pgoutput) into the SQLite value PowerSync syncs. */
export function toSqliteValue(value: unknown, typeOid: number): SqliteJsonValue | bigint | null {
  if (value === null || value === undefined) return null;
  if (INT_OIDS.has(typeOid)) return BigInt(value as string | number);
  if (FLOAT_OIDS.has(typeOid)) return Number(value);
  if (typeOid === BOOL_OID) return value === true || value === 't' || value === 'true' ? 1n : 0n;
  if (value instanceof Date) {
    if (typeOid === DATE_OID) return value.toISOString().slice(0, 10);
    if (TIMESTAMP_OIDS.has(typeOid)) return value.toISOString();
    return value.toISOString();
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
