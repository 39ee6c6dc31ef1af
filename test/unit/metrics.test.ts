/**
 * /metrics label sets stay bounded whatever unauthenticated callers send (issue 21 item 6):
 * the Metrics middleware in a real express app on an ephemeral port, real HTTP requests.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ROUTES, Metrics, OVERFLOW_ROUTE, UNMATCHED_ROUTE } from '../../src/server/metrics';

let metrics: Metrics;
let base: string;
let close: () => Promise<void>;

beforeAll(async () => {
  metrics = new Metrics();
  const app = express();
  app.use(metrics.middleware());
  const v1 = express.Router();
  v1.get('/items/:id', (req, res) => void res.json({ id: req.params.id }));
  app.use('/v1', v1);
  for (let i = 0; i < MAX_ROUTES + 10; i++) app.get(`/r${i}`, (_req, res) => void res.send('ok'));
  app.use((_req, res) => void res.status(404).send('no'));
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => new Promise<void>((r) => server.close(() => r()));
});
afterAll(async () => close?.());

const series = () => metrics.render().split('\n').filter((l) => l.startsWith('one_agents_http_requests_total{'));

describe('/metrics label sets', () => {
  it('unmatched paths share one label; routes are templates; unknown methods are OTHER; route labels are capped', async () => {
    for (let i = 0; i < 50; i++) {
      await fetch(`${base}/scan-${i}/x`);
      await fetch(`${base}/v1/nope-${i}`);
      await fetch(`${base}/v1/items/id-${i}`);
    }
    await fetch(`${base}/v1/items/1`, { method: 'PROPFIND' });
    const text = metrics.render();
    expect(text).not.toMatch(/scan-|nope-|id-\d/);
    expect(text).toContain(`route="${UNMATCHED_ROUTE}",status="404"`);
    expect(text).toContain('method="GET",route="/v1/items/:id",status="200"');
    expect(text).toContain('method="OTHER"');
    const before = series().length;
    expect(before).toBeLessThanOrEqual(5);
    for (let i = 0; i < MAX_ROUTES + 10; i++) await fetch(`${base}/r${i}`);
    expect(metrics.render()).toContain(`route="${OVERFLOW_ROUTE}"`);
    expect(new Set(series().map((l) => /route="([^"]*)"/.exec(l)![1])).size).toBeLessThanOrEqual(MAX_ROUTES + 2);
  });
});
