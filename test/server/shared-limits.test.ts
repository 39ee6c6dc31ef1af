/**
 * RATE_LIMIT_RPM across replicas: two app servers on one Postgres count a key's requests
 * together (rate_limits), over /v1 and /powersync alike; another key has its own bucket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from '../../harness/system';

const ALICE = 'sk-one-alice-limits-0001';
const BOB = 'sk-one-bob-limits-00002';
let a: TestSystem;
let b: TestSystem;

beforeAll(async () => {
  const env = { FEATURES: 'powersync', API_KEYS: `${ALICE}:alice,${BOB}:bob`, RATE_LIMIT_RPM: '6' };
  a = await startTestSystem({ env });
  b = await startTestSystem({ env: { ...env, DATABASE_URL: a.system.ctx.urls.databaseUrl, POWERSYNC_URL: a.system.ctx.urls.powersyncUrl! } });
});
afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

const get = (t: TestSystem, path: string, key: string) => fetch(`${t.system.url}${path}`, { headers: { authorization: `Bearer ${key}` } });

describe('rate limits shared through Postgres', () => {
  it("a key's requests on two replicas count against one limit; the 429 says when to retry; other keys are untouched", async () => {
    // Stay clear of a minute boundary so the six requests fall in one window.
    const s = new Date().getSeconds();
    if (s > 50) await new Promise((r) => setTimeout(r, (61 - s) * 1000));
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await get(a, '/v1/models', ALICE)).status);
    for (let i = 0; i < 2; i++) statuses.push((await get(b, '/v1/models', ALICE)).status);
    statuses.push((await get(b, '/powersync/credentials', ALICE)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    const over = await get(a, '/v1/models', ALICE);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await over.json()).error.code).toBe('rate_limit_exceeded');
    const overB = await get(b, '/powersync/credentials', ALICE);
    expect(overB.status).toBe(429);
    expect((await get(b, '/v1/models', BOB)).status).toBe(200);
  });
});
