/**
 * A device for the sync tests and benchmarks: the real @powersync/node client (its own SQLite file)
 * with a backend connector that uses our /powersync endpoints exactly as the README's
 * client script does: credentials for the token, upload for the CRUD queue
 * (4xx = permanent rejection → the transaction is dropped and recorded; else retry).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PowerSyncDatabase, type AbstractPowerSyncDatabase, type PowerSyncBackendConnector, type PowerSyncCredentials } from '@powersync/node';
import { AppSchema } from '../src/clients/powersync/client-schema';

export interface DeviceOptions {
  /** A function when the backend moves (restart on a new port). */
  backendUrl: string | (() => string);
  apiKey?: string;
  user?: string;
  dir: string;
  name: string;
  /** Replaces the credentials (forged/expired token tests). */
  credentials?: () => Promise<PowerSyncCredentials | null>;
}

export interface Device {
  db: PowerSyncDatabase;
  rejected: Array<{ status: number; body: unknown }>;
  credentialFetches: number;
  connect(opts?: { crudUploadThrottleMs?: number }): Promise<void>;
  disconnect(): Promise<void>;
  close(): Promise<void>;
}

export async function openDevice(o: DeviceOptions): Promise<Device> {
  await fs.mkdir(o.dir, { recursive: true });
  const db = new PowerSyncDatabase({ schema: AppSchema, database: { dbFilename: `${o.name}.sqlite`, dbLocation: o.dir } });
  await db.init();
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
  const base = () => (typeof o.backendUrl === 'function' ? o.backendUrl() : o.backendUrl);
  const q = o.user ? `?user=${encodeURIComponent(o.user)}` : '';
  const device: Device = {
    db,
    rejected: [],
    credentialFetches: 0,
    async connect(opts = {}) {
      await db.connect(connector, { crudUploadThrottleMs: opts.crudUploadThrottleMs ?? 10, retryDelayMs: 200 });
    },
    disconnect: () => db.disconnect(),
    close: () => db.close(),
  };
  const connector: PowerSyncBackendConnector = {
    async fetchCredentials() {
      device.credentialFetches++;
      if (o.credentials) return o.credentials();
      const res = await fetch(`${base()}/powersync/credentials${q}`, { headers });
      if (!res.ok) throw new Error(`credentials: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { endpoint: string; token: string; expires_at: string };
      return { endpoint: body.endpoint, token: body.token, expiresAt: new Date(body.expires_at) };
    },
    async uploadData(database: AbstractPowerSyncDatabase) {
      const tx = await database.getNextCrudTransaction();
      if (!tx) return;
      const batch = tx.crud.map((e) => ({ op: e.op, table: e.table, id: e.id, data: e.opData }));
      const res = await fetch(`${base()}/powersync/upload${q}`, { method: 'POST', headers, body: JSON.stringify({ batch }) });
      if (res.ok) return void (await tx.complete());
      const body = await res.json().catch(() => null);
      if (res.status >= 400 && res.status < 500 && res.status !== 401 && res.status !== 429) {
        device.rejected.push({ status: res.status, body });
        await tx.complete(); // a permanent rejection: drop it, retrying cannot succeed
        return;
      }
      throw new Error(`upload failed with ${res.status}; will retry`);
    },
  };
  return device;
}

/** Resolves when `query` returns rows satisfying `done` (watch-based; no sleeps, no timing thresholds). */
export async function waitForRows<T>(db: AbstractPowerSyncDatabase, sql: string, params: unknown[], done: (rows: T[]) => boolean, timeoutMs = 30_000): Promise<T[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  let last: T[] = [];
  try {
    for await (const r of db.watch(sql, params, { signal: ac.signal })) {
      last = (r.rows?._array ?? []) as T[];
      if (done(last)) return last;
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  throw new Error(`timed out waiting for ${sql}; last rows: ${JSON.stringify(last).slice(0, 500)}`);
}

export const deviceDir = (base: string, name: string) => path.join(base, 'devices', name);

/** Resolves once replication has passed everything committed so far (a logical message marks the point). */
export async function replicationCaughtUp(pool: import('pg').Pool): Promise<void> {
  const mark = (await pool.query<{ lsn: string }>("select pg_logical_emit_message(true, 'powersync', 'test-sync-point')::text as lsn")).rows[0]!.lsn;
  for (;;) {
    const r = await pool.query<{ ok: boolean }>('select lsn >= $1::pg_lsn as ok from powersync_state where id = 1', [mark]);
    if (r.rows[0]?.ok) return;
    await new Promise((res) => setTimeout(res, 20));
  }
}
