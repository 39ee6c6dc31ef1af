/**
 * bench/sync-latency: the embedded sync service with the real @powersync/node client.
 *  (a) commit → client: a row committed in Postgres until it is readable in the
 *      device's SQLite (logical replication → bucket log → stream → client), one change
 *      at a time, BENCH_SYNC_N (500) times; p50/p95.
 *  (b) device write round trip: a local write until the server's version of the row is
 *      back on the device (upload → Postgres → replication → write checkpoint), with
 *      the client's crudUploadThrottleMs at 0; BENCH_SYNC_RT (100) times.
 *  (c) initial sync of BENCH_SYNC_ROWS (100000) rows to a fresh device: replication time
 *      of the insert, then time to the device's first complete sync, and memory.
 * Targets: (a) p50 < 50 ms; (c) < 20 s.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { startTestSystem } from '../../harness/system';
import { deviceDir, openDevice, replicationCaughtUp } from '../../harness/devices';
import { percentile, table, writeResult } from '../lib';

const N = Number(process.env.BENCH_SYNC_N ?? 500);
const RT = Number(process.env.BENCH_SYNC_RT ?? 100);
const ROWS = Number(process.env.BENCH_SYNC_ROWS ?? 100_000);

const ts = await startTestSystem({ env: { FEATURES: 'powersync', RATE_LIMIT_RPM: '0', API_KEYS: 'sk-bench-sync-0001:bench,sk-bench-bulk-0001:bulk' } });
const db = ts.system.ctx.db;
const results: Record<string, unknown> = {};
try {
  // ---- (a) commit → client -------------------------------------------------------------
  const dev = await openDevice({ backendUrl: ts.system.url, apiKey: 'sk-bench-sync-0001', dir: deviceDir(ts.dataDir, 'bench'), name: 'bench' });
  await dev.connect({ crudUploadThrottleMs: 0 });
  await dev.db.waitForFirstSync();
  const seen = new Map<string, () => void>();
  const ac = new AbortController();
  dev.db.onChange(
    {
      onChange: async () => {
        if (!seen.size) return;
        const ids = [...seen.keys()];
        const rows = await dev.db.getAll<{ id: string }>(`select id from notes where id in (${ids.map(() => '?').join(',')})`, ids);
        for (const r of rows) {
          seen.get(r.id)?.();
          seen.delete(r.id);
        }
      },
    },
    { tables: ['notes'], throttleMs: 0, signal: ac.signal },
  );
  const commitToClient: number[] = [];
  for (let i = 0; i < N; i++) {
    const id = `lat-${i}`;
    const arrived = new Promise<void>((r) => seen.set(id, r));
    const t0 = performance.now();
    await db.query("insert into notes (id, owner_id, title, body) values ($1, 'bench', 'latency', '')", [id]);
    await arrived;
    commitToClient.push(performance.now() - t0);
  }
  results.commitToClient = { n: N, p50Ms: percentile(commitToClient, 50), p95Ms: percentile(commitToClient, 95), maxMs: Math.max(...commitToClient) };

  // ---- (b) device write round trip ---------------------------------------------------------
  const roundTrip: number[] = [];
  for (let i = 0; i < RT; i++) {
    const id = `rt-${i}`;
    const t0 = performance.now();
    await dev.db.execute("insert into notes (id, owner_id, title, body) values (?, 'bench', 'round trip', '')", [id]);
    // The backend stamps updated_at; its arrival means the server's row is back on the device.
    for await (const r of dev.db.watch('select updated_at from notes where id = ?', [id], { throttleMs: 0 })) {
      if (r.rows?._array[0]?.updated_at) break;
    }
    roundTrip.push(performance.now() - t0);
  }
  results.deviceRoundTrip = { n: RT, crudUploadThrottleMs: 0, p50Ms: percentile(roundTrip, 50), p95Ms: percentile(roundTrip, 95) };
  ac.abort();
  await dev.close();

  // ---- (c) initial sync of ROWS rows --------------------------------------------------------
  let t0 = performance.now();
  await db.query(`insert into notes (id, owner_id, title, body) select 'bulk-' || g, 'bulk', 'bulk note ' || g, repeat('x', 100) from generate_series(1, $1) g`, [ROWS]);
  const insertMs = performance.now() - t0;
  t0 = performance.now();
  await replicationCaughtUp(db);
  const replicationMs = performance.now() - t0;
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const bulk = await openDevice({ backendUrl: ts.system.url, apiKey: 'sk-bench-bulk-0001', dir: deviceDir(ts.dataDir, 'bulk'), name: 'bulk' });
  t0 = performance.now();
  await bulk.connect();
  await bulk.db.waitForFirstSync();
  const syncMs = performance.now() - t0;
  clearInterval(sampler);
  const count = (await bulk.db.get<{ n: number }>("select count(*) as n from notes where owner_id = 'bulk'")).n;
  const dbFile = (await fs.stat(path.join(deviceDir(ts.dataDir, 'bulk'), 'bulk.sqlite'))).size;
  await bulk.close();
  if (count !== ROWS) throw new Error(`initial sync delivered ${count} of ${ROWS} rows`);
  results.initialSync = {
    rows: ROWS,
    postgresInsertMs: insertMs,
    replicationMs,
    clientSyncMs: syncMs,
    rowsPerSecond: (ROWS / syncMs) * 1000,
    processPeakRssMb: peakRss / 1024 / 1024,
    rssGrowthMb: (peakRss - rssBefore) / 1024 / 1024,
    deviceDbMb: dbFile / 1024 / 1024,
  };
} finally {
  await ts.stop();
}

const a = results.commitToClient as { p50Ms: number; p95Ms: number };
const b = results.deviceRoundTrip as { p50Ms: number; p95Ms: number };
const c = results.initialSync as { clientSyncMs: number; replicationMs: number; processPeakRssMb: number; rssGrowthMb: number };
console.log(
  table([
    { measure: `commit → client (${N} changes)`, p50_ms: a.p50Ms, p95_ms: a.p95Ms, target: 'p50 < 50 ms', met: a.p50Ms < 50 ? 'yes' : 'NO' },
    { measure: `device write round trip (${RT}, throttle 0)`, p50_ms: b.p50Ms, p95_ms: b.p95Ms, target: '-', met: '-' },
    { measure: `initial sync ${ROWS} rows (client)`, p50_ms: c.clientSyncMs, p95_ms: undefined, target: '< 20000 ms', met: c.clientSyncMs < 20_000 ? 'yes' : 'NO' },
    { measure: `replication of the ${ROWS}-row insert`, p50_ms: c.replicationMs, p95_ms: undefined, target: '-', met: '-' },
  ]),
);
console.log(`initial sync memory: process peak RSS ${c.processPeakRssMb.toFixed(0)} MB (+${c.rssGrowthMb.toFixed(0)} MB during the sync; client and server share this process)`);
console.log('wrote', await writeResult('sync-latency', { targets: { commitToClientP50Ms: 50, initialSync100kMs: 20_000 }, ...results }));
