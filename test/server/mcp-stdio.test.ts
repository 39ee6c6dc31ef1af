/**
 * The MCP stdio bridge (src/mcp-stdio.ts, `npm run --silent mcp`) as a local MCP client
 * uses it: the official @modelcontextprotocol/sdk Client over StdioClientTransport spawns
 * `node --import tsx src/mcp-stdio.ts`, which forwards to the running server's /mcp (real
 * Postgres, THE SCRIPTED MODEL upstream). What the bridge lists is what the key may use
 * there; refusals and an unreachable server are clear MCP errors, not an exit; nothing but
 * JSON-RPC reaches stdout; the bridge exits when its stdin closes.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../services/lib/net';
import { alive, BASE_ENV, killAll, ROOT, run } from '../../harness/process';
import { echoScript } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

const ALICE = 'sk-one-alice-stdio-0001';
const BOB = 'sk-one-bob-stdio-00002';
const WRONG = 'sk-not-a-key-stdio-0003';
let t: TestSystem;

interface Bridge {
  client: Client;
  transport: StdioClientTransport;
  pid: number;
  /** The bridge's stderr (its JSON log lines). */
  stderr(): string;
  /** Errors the client saw on the stream (a line on stdout that is not JSON-RPC would be one). */
  streamErrors: Error[];
}
const bridges: Bridge[] = [];

beforeAll(async () => {
  t = await startTestSystem({
    env: { FEATURES: 'none', API_KEYS: `${ALICE}:alice,${BOB}:bob`, AGENT_USERS_ASSISTANT: 'alice', RATE_LIMIT_RPM: '0' },
  });
});
afterAll(async () => {
  for (const b of bridges) await b.client.close().catch(() => {});
  // Whatever the SDK's close left running (it escalates to SIGTERM / SIGKILL itself).
  for (const b of bridges) if (alive(b.pid)) process.kill(b.pid, 'SIGKILL');
  killAll();
  await t?.stop();
});
beforeEach(() => {
  t.model.setScript(echoScript);
});

/** Starts the bridge as a local MCP client does (command + env) and connects the SDK client over stdio. */
async function bridge(env: { ONE_AGENTS_URL?: string; ONE_AGENTS_API_KEY?: string }): Promise<Bridge> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', 'src/mcp-stdio.ts'],
    cwd: ROOT,
    env: { ...BASE_ENV, LOG_LEVEL: 'debug', ...env } as Record<string, string>,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr!.on('data', (d: Buffer) => (stderr += d));
  const client = new Client({ name: 'mcp-stdio-test', version: '1.0.0' });
  const streamErrors: Error[] = [];
  client.onerror = (e) => streamErrors.push(e);
  await client.connect(transport);
  const b: Bridge = { client, transport, pid: transport.pid!, stderr: () => stderr, streamErrors };
  bridges.push(b);
  return b;
}

const call = (c: Client, name: string, args: Record<string, unknown>) => c.callTool({ name, arguments: args }) as Promise<CallToolResult>;
const textOf = (r: CallToolResult) => r.content.map((p) => (p.type === 'text' ? p.text : '')).join('');

describe('the MCP stdio bridge', () => {
  it("lists exactly the tools the key's user has on /mcp (per user)", async () => {
    const alice = await bridge({ ONE_AGENTS_URL: t.system.url, ONE_AGENTS_API_KEY: ALICE });
    expect(alice.client.getServerVersion()?.name).toBe('one-agents-stdio');
    const tools = (await alice.client.listTools()).tools;
    expect(tools.map((x) => x.name).sort()).toEqual(['ask_assistant', 'calculate', 'current-time']);
    // The same list, schemas and annotations as the server gives over HTTP.
    const http = new Client({ name: 'mcp-stdio-test-http', version: '1.0.0' });
    await http.connect(new StreamableHTTPClientTransport(new URL(`${t.system.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${ALICE}` } } }));
    expect(tools).toEqual((await http.listTools()).tools);
    await http.close();
    // bob may not use the assistant (AGENT_USERS_ASSISTANT=alice): nothing to list. A URL ending in /mcp works as well.
    const bob = await bridge({ ONE_AGENTS_URL: `${t.system.url}/mcp`, ONE_AGENTS_API_KEY: BOB });
    expect((await bob.client.listTools()).tools).toEqual([]);
    const refused = await call(bob.client, 'ask_assistant', { message: 'hi' });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/Tool ask_assistant not found/);
    // The server offers no resources or prompts yet: declared only when it does.
    expect(alice.client.getServerCapabilities()).toEqual({ tools: {} });
    expect(alice.streamErrors).toEqual([]);
    expect(alice.stderr()).not.toContain(ALICE);
  });

  it('ask_assistant answers with the scripted model through the bridge; the thread carries on', async () => {
    const { client, streamErrors, stderr } = await bridge({ ONE_AGENTS_URL: t.system.url, ONE_AGENTS_API_KEY: ALICE });
    const first = await call(client, 'ask_assistant', { message: 'my name is Ada' });
    expect(first.isError).toBeFalsy();
    expect(textOf(first)).toBe('Echo: my name is Ada');
    const threadId = (first.structuredContent as { thread_id: string }).thread_id;
    expect(threadId).toMatch(/^[0-9a-f-]{36}$/);
    const second = await call(client, 'ask_assistant', { message: 'what is my name?', thread_id: threadId });
    expect(second.structuredContent).toEqual({ text: 'Echo: what is my name?', thread_id: threadId });
    const seen = t.model.requests.at(-1)!.messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n');
    expect(seen).toContain('my name is Ada');
    // A tool error of the server stays a tool result.
    const bad = await call(client, 'calculate', { expression: '1 / 0' });
    expect(bad.isError).toBe(true);
    expect(bad.structuredContent).toMatchObject({ ok: false, error: { code: 'BAD_EXPRESSION' } });
    expect(streamErrors).toEqual([]);
    // The log is JSON lines on stderr, and never the key.
    const lines = stderr().trim().split('\n');
    for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
    expect(stderr()).not.toContain(ALICE);
  });

  it('a wrong key is a clear MCP error on each request, the bridge stays up, and the key is never logged', async () => {
    const b = await bridge({ ONE_AGENTS_URL: t.system.url, ONE_AGENTS_API_KEY: WRONG });
    const before = t.model.requests.length;
    for (const attempt of [() => b.client.listTools(), () => call(b.client, 'ask_assistant', { message: 'hi' })]) {
      const err = await attempt().catch((e) => e);
      expect(err).toBeInstanceOf(McpError);
      expect(err.code).toBe(-32000);
      expect(err.message).toMatch(/refused the API key \(HTTP 401 invalid_api_key\)\. Incorrect API key provided\. Set ONE_AGENTS_API_KEY/);
      expect(err.data).toEqual({ status: 401, code: 'invalid_api_key' });
      expect(err.message).not.toContain(WRONG);
    }
    expect(t.model.requests.length).toBe(before);
    expect(alive(b.pid)).toBe(true);
    // No key at all says so.
    const none = await bridge({ ONE_AGENTS_URL: t.system.url });
    const err = await none.client.listTools().catch((e) => e);
    expect(err.message).toMatch(/HTTP 401 missing_api_key.*ONE_AGENTS_API_KEY is not set/);
    expect(b.stderr()).not.toContain(WRONG);
    expect(b.stderr()).toContain('invalid_api_key');
    expect(b.streamErrors).toEqual([]);
  });

  it('an unreachable server is a clear MCP error, not an exit', async () => {
    const port = await freePort(); // nothing listens there
    const b = await bridge({ ONE_AGENTS_URL: `http://127.0.0.1:${port}`, ONE_AGENTS_API_KEY: ALICE });
    // Not known at start: tools, resources and prompts are declared, each says why it cannot answer.
    expect(b.client.getServerCapabilities()).toMatchObject({ tools: {}, resources: {}, prompts: {} });
    for (const attempt of [() => b.client.listTools(), () => b.client.listResources(), () => call(b.client, 'ask_assistant', { message: 'hi' })]) {
      const err = await attempt().catch((e) => e);
      expect(err).toBeInstanceOf(McpError);
      expect(err.message).toBe(`MCP error -32000: Cannot reach ONE Agents at http://127.0.0.1:${port}/mcp (ECONNREFUSED): is the server running? ONE_AGENTS_URL sets where the bridge looks.`);
      expect(err.data).toMatchObject({ code: 'unreachable' });
    }
    expect(alive(b.pid)).toBe(true);
    expect(b.streamErrors).toEqual([]);
  });

  it('malformed input on stdin is refused without ending the session', async () => {
    const b = await bridge({ ONE_AGENTS_URL: t.system.url, ONE_AGENTS_API_KEY: ALICE });
    const stdin = (b.transport as unknown as { _process: { stdin: NodeJS.WritableStream } })._process.stdin;
    stdin.write('this is not json\n{"jsonrpc":"2.0","id":"x","method":\n\u0000\u00ff\n{"hello":"world"}\n');
    expect((await b.client.listTools()).tools.map((x) => x.name)).toContain('ask_assistant');
    expect(alive(b.pid)).toBe(true);
  });

  it('exits when the client closes (stdin ends), and at once when started with no stdin', async () => {
    const b = await bridge({ ONE_AGENTS_URL: t.system.url, ONE_AGENTS_API_KEY: ALICE });
    await b.client.listTools();
    await b.client.close();
    expect(alive(b.pid)).toBe(false);
    expect(b.stderr()).toContain('"reason":"stdin closed"');
    // stdin is /dev/null: the session is over before it began; exit code 0.
    const r = run(process.execPath, ['--import', 'tsx', 'src/mcp-stdio.ts'], { ONE_AGENTS_URL: t.system.url, ONE_AGENTS_API_KEY: ALICE });
    expect(await r.exited).toBe(0);
    expect(r.output()).toContain('"reason":"stdin closed"');
    expect(r.output()).not.toContain(ALICE);
  });

  it('refuses a start-up setting it cannot use (exit 78), naming the setting, never the key', async () => {
    const badUrl = run(process.execPath, ['--import', 'tsx', 'src/mcp-stdio.ts'], { ONE_AGENTS_URL: 'ftp://example.com' });
    expect(await badUrl.exited).toBe(78);
    expect(badUrl.output()).toContain('ONE_AGENTS_URL must be an http:// or https:// URL');
    const badKey = run(process.execPath, ['--import', 'tsx', 'src/mcp-stdio.ts'], { ONE_AGENTS_API_KEY: 'sk-one two-secret-part' });
    expect(await badKey.exited).toBe(78);
    expect(badKey.output()).toContain('ONE_AGENTS_API_KEY holds characters');
    expect(badKey.output()).not.toContain('two-secret-part');
  });
});
