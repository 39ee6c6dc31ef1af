/**
 * The observability settings (src/config/observability.ts) and Studio's CORS
 * rule (src/server/studio.ts), without services.
 */
import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseOtlpHeaders } from '../../src/config';
import { studioCors } from '../../src/server/studio';
import { otlpTracesUrl } from '../../src/system/observability';

describe('observability config', () => {
  it('defaults: tracing on, no OTLP export', () => {
    const c = loadConfig({}).observability;
    expect(c).toMatchObject({ enabled: true, serviceName: 'one-agents', flushMs: 2000, studioOrigins: [] });
    expect(c.otlp).toBeUndefined();
  });

  it('reads the OTEL_* variables the way the OpenTelemetry spec names them', () => {
    const c = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-team=ops',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    }).observability;
    expect(c.otlp).toEqual({ endpoint: 'http://collector:4318', protocol: 'http/json', headers: { authorization: 'Bearer abc', 'x-team': 'ops' } });
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }).observability.otlp).toBeUndefined();
    expect(otlpTracesUrl('http://c:4318/')).toBe('http://c:4318/v1/traces');
    expect(otlpTracesUrl('http://c:4318/v1/traces')).toBe('http://c:4318/v1/traces');
    expect(parseOtlpHeaders('novalue')).toBeUndefined();
  });

  it('names the variable of a bad value', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(ConfigError);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_HEADERS: 'broken' })).toThrow(/OTEL_EXPORTER_OTLP_HEADERS/);
    expect(() => loadConfig({ STUDIO_ORIGINS: 'https://studio.example.com/path' })).toThrow(/STUDIO_ORIGINS/);
  });
});

async function withApp(opts: { keyless: boolean; origins: string[] }, fn: (url: string) => Promise<void>) {
  const app = express();
  app.use(studioCors(opts));
  app.use((_req, res) => void res.json({ ok: true }));
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

const preflight = (url: string, origin: string) =>
  fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });

describe("Studio's CORS", () => {
  it('keyless: loopback origins only, on / and /api', async () => {
    await withApp({ keyless: true, origins: [] }, async (url) => {
      const ok = await preflight(`${url}/api/agents`, 'http://localhost:3000');
      expect(ok.status).toBe(204);
      expect(ok.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
      expect(ok.headers.get('access-control-allow-headers')).toBe('authorization');
      expect((await preflight(`${url}/api/agents`, 'https://evil.example')).status).toBe(403);
      const other = await fetch(`${url}/v1/models`, { headers: { origin: 'http://localhost:3000' } });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  it('with API keys: only STUDIO_ORIGINS', async () => {
    await withApp({ keyless: false, origins: ['https://studio.example.com'] }, async (url) => {
      expect((await preflight(`${url}/api/agents`, 'http://localhost:3000')).status).toBe(403);
      const r = await fetch(`${url}/`, { headers: { origin: 'https://studio.example.com' } });
      expect(r.headers.get('access-control-allow-origin')).toBe('https://studio.example.com');
    });
  });
});
