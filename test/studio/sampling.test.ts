/**
 * TRACING_SAMPLE_RATIO: traces outside the sample are not kept. Two systems, each
 * exporting over OTLP/HTTP to a tiny collector (stopping a system flushes its exporter):
 * with the ratio 0 nothing arrives from chat turns; with the default (1) the same turns
 * arrive (the control that the collector and the flush work). THE SCRIPTED MODEL answers.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem } from '../../harness/system';

let collector: http.Server;
let endpoint = '';
let bodies: number[] = [];

beforeAll(async () => {
  collector = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') bodies.push(n);
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => collector?.close(r));
});

/** Bytes of spans the collector got from three chat turns of a system with `env`, after the system stopped. */
async function exportedBy(env: Record<string, string>): Promise<number> {
  bodies = [];
  const t = await startTestSystem({ env: { FEATURES: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, ...env } });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await t.client().chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: `sampled ${i}` }] });
      expect(r.choices[0]!.message.content).toBe(`Echo: sampled ${i}`);
    }
  } finally {
    await t.stop();
  }
  return bodies.reduce((a, b) => a + b, 0);
}

describe('TRACING_SAMPLE_RATIO', () => {
  it('0 keeps no trace of chat turns; the default keeps them', async () => {
    expect(await exportedBy({ TRACING_SAMPLE_RATIO: '0' })).toBe(0);
    expect(await exportedBy({})).toBeGreaterThan(0);
  });
});
