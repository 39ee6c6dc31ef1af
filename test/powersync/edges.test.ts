/**
 * Edges shared by /v1 and /powersync, over the real system: one rate-limit bucket per
 * key across both, the missing-key help text shown as written, and no server of the
 * app (ours, Mastra's /api, the embedded PLC, PDS and sync service) answering
 * X-Powered-By.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from '../../harness/system';

const ALICE = 'sk-alice-edges-000001';
const BOB = 'sk-bob-edges-00000002';
const OPS = 'sk-ops-edges-00000003';
let ts: TestSystem;

beforeAll(async () => {
  ts = await startTestSystem({ env: { FEATURES: 'sync,atproto', ATPROTO_AUTOREPLY: '0', API_KEYS: `${ALICE}:alice,${BOB}:bob,${OPS}:ops`, ADMIN_USERS: 'ops', RATE_LIMIT_RPM: '4' } });
});
afterAll(async () => {
  await ts?.stop();
});

const get = (path: string, key?: string) => fetch(`${ts.system.url}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

describe('edges', () => {
  it('counts /v1 and /powersync against one bucket per key', async () => {
    expect((await get('/v1/models', ALICE)).status).toBe(200);
    expect((await get('/v1/models', ALICE)).status).toBe(200);
    expect((await get('/powersync/credentials', ALICE)).status).toBe(200);
    expect((await get('/powersync/credentials', ALICE)).status).toBe(200);
    const sync = await get('/powersync/credentials', ALICE);
    expect(sync.status).toBe(429);
    expect((await sync.json()).error).toMatchObject({ code: 'rate_limit_exceeded', retryable: true });
    expect((await get('/v1/models', ALICE)).status).toBe(429);
    // Another key has its own bucket.
    expect((await get('/powersync/credentials', BOB)).status).toBe(200);
  });

  it('shows the missing-key help text as written (placeholders are not redacted)', async () => {
    for (const path of ['/v1/models', '/powersync/credentials']) {
      const r = await get(path);
      expect(r.status).toBe(401);
      expect((await r.json()).error.message).toContain("'Authorization: Bearer YOUR_KEY'");
    }
  });

  it('no server of the app answers X-Powered-By', async () => {
    const responses = [await get('/health'), await get('/v1/nope', OPS), await get('/api/agents', OPS), await get('/powersync/jwks.json'), await get('/nope')];
    const urls = Object.entries(ts.system.ctx.urls).filter(([k, v]) => k !== 'databaseUrl' && typeof v === 'string' && /^https?:/.test(v)).map(([, v]) => v!);
    expect(urls.length).toBeGreaterThanOrEqual(3); // PLC, PDS, sync service (+ our own public URL)
    for (const u of urls) for (const p of ['/', '/xrpc/_health', '/no-such-path']) responses.push(await fetch(new URL(p, u)));
    const powered = responses.filter((r) => r.headers.get('x-powered-by')).map((r) => `${r.url} → ${r.headers.get('x-powered-by')}`);
    expect(powered).toEqual([]);
  });
});
