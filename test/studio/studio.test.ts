/**
 * Mastra Studio against the running server, in a real browser: the system (keyless,
 * scripted model) answers a chat turn with a tool call through /v1; `mastra studio`
 * serves the Studio UI pointed at our /api; headless Debian Chromium (playwright-core)
 * opens every Studio page and fails on any failed request or page error. The chat
 * turn's trace is listed through the API Studio uses, with its spans.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoScript, lastUserText, pendingToolResult, type Script } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const STUDIO_DIST = path.join(ROOT, 'node_modules/mastra/dist/studio');

const script: Script = (req) => {
  if (!pendingToolResult(req) && lastUserText(req).startsWith('calc')) return { toolCalls: [{ name: 'calculate', arguments: { expression: '(17 + 4) * 2' } }] };
  return echoScript(req);
};

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

let t: TestSystem;
let studio: ChildProcess | undefined;
let studioUrl: string;
let browser: Browser | undefined;
let threadId: string;
let traceId: string;

beforeAll(async () => {
  expect(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/test-prereqs.sh (apt-get install chromium)`).toBe(true);
  t = await startTestSystem({ script, env: { FEATURES: 'none', TRACING_FLUSH_MS: '200' } });
  const api = new URL(t.system.url);

  const { data, response } = await t.client().chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'calc (17 + 4) * 2' }] }).withResponse();
  expect(data.choices[0]!.message.content).toContain('42');
  threadId = response.headers.get('x-thread-id')!;

  const port = await freePort();
  studioUrl = `http://127.0.0.1:${port}`;
  studio = spawn(process.execPath, [path.join(ROOT, 'node_modules/mastra/dist/index.js'), 'studio', '-p', String(port), '-h', api.hostname, '-s', api.port], {
    cwd: ROOT,
    env: { ...process.env, MASTRA_TELEMETRY_DISABLED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  studio.stdout!.resume();
  studio.stderr!.resume();
  await until('mastra studio', async () => (await fetch(studioUrl).then((r) => r.ok).catch(() => false)) || undefined, 30_000);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close().catch(() => {});
  if (studio?.pid && studio.exitCode === null) {
    const exited = new Promise((r) => studio!.once('exit', r));
    process.kill(-studio.pid, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  }
  await t?.stop();
});

interface SpanRow {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  spanType: string;
  entityName?: string | null;
  threadId?: string | null;
  resourceId?: string | null;
}

describe('traces', () => {
  it("lists the chat turn's trace through Studio's API, with the agent run, model call and tool call", async () => {
    const api = `${t.system.url}/api/observability`;
    const root = await until('the trace of the chat turn', async () => {
      const r = await fetch(`${api}/traces?perPage=50`);
      expect(r.status).toBe(200);
      const body = (await r.json()) as { spans: SpanRow[] };
      return body.spans.find((s) => s.threadId === threadId);
    });
    expect(root).toMatchObject({ spanType: 'agent_run', entityName: 'assistant', resourceId: 'anonymous', parentSpanId: null });
    traceId = root.traceId;

    const trace = await until('every span of the turn', async () => {
      const r = await fetch(`${api}/traces/${traceId}`);
      const body = (await r.json()) as { spans: SpanRow[] };
      return body.spans?.some((s) => s.spanType === 'tool_call') && body.spans.some((s) => s.spanType === 'model_generation') ? body : undefined;
    });
    const tool = trace.spans.find((s) => s.spanType === 'tool_call')!;
    expect(tool.name).toContain('calculate');
    // Every span hangs off the agent run.
    const ids = new Set(trace.spans.map((s) => s.spanId));
    for (const s of trace.spans) if (s.spanId !== root.spanId) expect(ids.has(s.parentSpanId ?? '')).toBe(true);
  });
});

describe('Studio in a browser', () => {
  it('opens every page without a failed request or a page error', async () => {
    expect(traceId, 'the traces test runs first').toBeTruthy();
    const manifest = JSON.parse(fs.readFileSync(path.join(STUDIO_DIST, 'routes-manifest.json'), 'utf8')) as string[];
    const pages = [
      ...manifest.map((r) => `/${r}`),
      '/agents/assistant',
      // A fresh chat (Studio's own threads are under the resource = the agent's id; a /v1
      // thread belongs to its caller, and Studio's chat answers 403 for it, by design).
      '/agents/assistant/chat',
      '/agents/assistant/traces',
      '/agents/assistant/tools/calculate',
      '/tools/calculate',
      `/traces/${traceId}`,
      '/experiments/review-queue',
      '/workflows/schedules',
    ];
    const context = await browser!.newContext();
    // Off this machine (models.dev provider logos, fonts…): not ours, and no network in CI.
    const external = new Set<string>();
    await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/]|localhost[:/])/, (route) => {
      external.add(new URL(route.request().url()).host);
      return route.fulfill({ status: 204, body: '' });
    });
    const failures: string[] = [];
    const page = await context.newPage();
    let current = '';
    page.on('pageerror', (err) => failures.push(`${current}: page error: ${err.message}`));
    page.on('requestfailed', (req) => {
      // A navigation cancels the previous page's in-flight requests: not a failure.
      if (req.failure()?.errorText === 'net::ERR_ABORTED' || req.failure()?.errorText === 'net::ERR_BLOCKED_BY_CLIENT') return;
      failures.push(`${current}: ${req.method()} ${req.url()} failed: ${req.failure()?.errorText}`);
    });
    page.on('response', (res) => {
      const url = new URL(res.url());
      // A new chat: Studio asks whether the thread id it just made up exists yet.
      const freshThread = res.status() === 404 && /^\/api\/memory\/threads\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.endsWith(threadId);
      if (res.status() >= 400 && !freshThread) failures.push(`${current}: ${res.request().method()} ${res.url()} → ${res.status()}`);
    });
    const seen: string[] = [];
    for (const p of pages) {
      current = p;
      await page.goto(`${studioUrl}${p}`, { waitUntil: 'load', timeout: 30_000 });
      // Agent pages keep a stream open, so "idle" may never come: give every page up to 8 s.
      await page.waitForLoadState('networkidle', { timeout: 8000 }).catch(() => {});
      // Studio reloads itself once after the first load, so "network idle" can come
      // before its API calls: on the two pages whose content is checked, wait (up to
      // 20 s) for that content to render before reading the page.
      const expected = p === '/traces' ? 'assistant' : p === `/traces/${traceId}` ? 'calculate' : undefined;
      if (expected) await page.getByText(expected).first().waitFor({ timeout: 20_000 }).catch(() => {});
      const text = await page.locator('body').innerText();
      if (/Failed to load|Failed to fetch|could not reach|Something went wrong|is not supported/i.test(text)) failures.push(`${p}: page says: ${text.match(/.*(Failed to load|Failed to fetch|could not reach|Something went wrong|is not supported).*/i)?.[0]}`);
      // The traces list shows the chat turn; its detail page shows the tool call.
      if (p === '/traces' && !text.includes('assistant')) failures.push(`${p}: the chat turn's trace is not listed`);
      if (p === `/traces/${traceId}` && !text.includes('calculate')) failures.push(`${p}: the tool call span is not shown`);
      seen.push(p);
    }
    await context.close();
    expect(failures).toEqual([]);
    expect(seen.length).toBe(pages.length);
    expect([...external].every((h) => !/^(127\.0\.0\.1|localhost)(:|$)/.test(h))).toBe(true);
  }, 300_000);
});
