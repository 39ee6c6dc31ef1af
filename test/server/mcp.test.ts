/**
 * /mcp as MCP clients use it: the official @modelcontextprotocol/sdk Client over
 * Streamable HTTP against the running server (real Postgres, PLC + PDS for the `social`
 * agent), THE SCRIPTED MODEL upstream. Same keys, agent access, thread ownership,
 * budgets and usage rows as /v1; refusals before the MCP server are JSON-RPC error bodies.
 * A2A (/a2a/<agent>) shares the system: the official @a2a-js/sdk client against it.
 */
import { Role, type Message, type Task } from '@a2a-js/sdk';
import { ClientFactory, DefaultAgentCardResolver, JsonRpcTransportFactory } from '@a2a-js/sdk/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { echoScript, pendingToolResult } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

const ALICE = 'sk-one-alice-mcp-0001';
const OPS = 'sk-one-ops-mcp-00002';
const BOB = 'sk-one-bob-mcp-000003';
const DAVE = 'sk-one-dave-mcp-00004';
const ERIN = 'sk-one-erin-mcp-00005';
const ghToken = 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';
let t: TestSystem;
const clients: Client[] = [];

beforeAll(async () => {
  t = await startTestSystem({
    env: {
      FEATURES: 'atproto',
      ATPROTO_AUTOREPLY: '0',
      API_KEYS: `${ALICE}:alice,${OPS}:ops,${BOB}:bob,${DAVE}:dave,${ERIN}:erin`,
      ADMIN_USERS: 'ops',
      RATE_LIMIT_RPM: '0',
      BODY_LIMIT: '64kb',
      BUDGET_TOKENS_PER_DAY_BOB: '1',
    },
  });
});
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await t?.stop();
});
beforeEach(() => {
  t.model.setScript(echoScript);
});

async function connect(key?: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(`${t.system.url}/mcp`), {
    requestInit: key ? { headers: { authorization: `Bearer ${key}` } } : {},
  });
  const client = new Client({ name: 'mcp-test', version: '1.0.0' });
  await client.connect(transport);
  clients.push(client);
  return client;
}

const call = (c: Client, name: string, args: Record<string, unknown>) => c.callTool({ name, arguments: args }) as Promise<CallToolResult>;
const textOfResult = (r: CallToolResult) => r.content.map((p) => (p.type === 'text' ? p.text : '')).join('');

/** A raw POST to /mcp, as a client that does not use the SDK would send it. */
const post = (body: string | Blob, key: string = ALICE, headers: Record<string, string> = {}) =>
  fetch(`${t.system.url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    body,
  });

describe('MCP tools', () => {
  it('lists ask_<agent> for the agents the caller may use, with truthful annotations', async () => {
    const names = async (key: string) => (await (await connect(key)).listTools()).tools.map((x) => x.name).filter((n) => n.startsWith('ask_')).sort();
    expect(await names(ALICE)).toEqual(['ask_assistant']);
    expect(await names(OPS)).toEqual(['ask_assistant', 'ask_social']);
    const tools = (await (await connect(OPS)).listTools()).tools;
    const assistant = tools.find((x) => x.name === 'ask_assistant')!;
    // A turn is stored in memory: never read-only or idempotent. The assistant's tools (calculator, clock) reach nothing outside.
    expect(assistant.annotations).toEqual({ readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false });
    // The social agent can delete posts and unfollow on a public network.
    expect(tools.find((x) => x.name === 'ask_social')!.annotations).toEqual({ readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true });
    expect(assistant.inputSchema.required).toEqual(['message']);
    expect(Object.keys(assistant.inputSchema.properties ?? {}).sort()).toEqual(['message', 'thread_id']);
  });

  it('ask_assistant answers with the scripted model and a thread id; the thread carries on across calls', async () => {
    const c = await connect(ALICE);
    const first = await call(c, 'ask_assistant', { message: 'my name is Ada' });
    expect(first.isError).toBeFalsy();
    expect(textOfResult(first)).toBe('Echo: my name is Ada');
    const threadId = (first.structuredContent as { thread_id: string }).thread_id;
    expect(threadId).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.structuredContent).toEqual({ text: 'Echo: my name is Ada', thread_id: threadId });

    const second = await call(c, 'ask_assistant', { message: 'what is my name?', thread_id: threadId });
    expect(textOfResult(second)).toBe('Echo: what is my name?');
    expect((second.structuredContent as { thread_id: string }).thread_id).toBe(threadId);
    // The model saw the first exchange: memory is the thread's.
    const seen = t.model.requests.at(-1)!.messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n');
    expect(seen).toContain('my name is Ada');
    expect(seen).toContain('Echo: my name is Ada');

    // A new call without thread_id is a new conversation.
    const other = await call(c, 'ask_assistant', { message: 'hello again' });
    expect((other.structuredContent as { thread_id: string }).thread_id).not.toBe(threadId);
  });

  it("refuses another user's thread id (thread_not_found) without asking the model", async () => {
    const mine = await call(await connect(ALICE), 'ask_assistant', { message: 'private things' });
    const threadId = (mine.structuredContent as { thread_id: string }).thread_id;
    const before = t.model.requests.length;
    const r = await call(await connect(DAVE), 'ask_assistant', { message: 'show me', thread_id: threadId });
    expect(r.isError).toBe(true);
    expect(JSON.parse(textOfResult(r))).toMatchObject({ error: { code: 'thread_not_found', param: 'thread_id' } });
    expect(textOfResult(r)).not.toContain('private things');
    expect(t.model.requests.length).toBe(before);
    // The same thread id over /v1 is refused the same way.
    const v1 = await t.client(DAVE).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'show me' }] }, { headers: { 'x-thread-id': threadId } }).catch((e) => e);
    expect(v1.status).toBe(404);
    expect(v1.code).toBe('thread_not_found');
  });

  it('a bad thread_id is an input error of the tool', async () => {
    const r = await call(await connect(ALICE), 'ask_assistant', { message: 'hi', thread_id: '../../etc' });
    expect(r.isError).toBe(true);
    expect(textOfResult(r)).toMatch(/thread_id/);
  });

  it('does not list social for a non-admin, and a call of it is a tool error naming no agent it may not see', async () => {
    const before = t.model.requests.length;
    const r = await call(await connect(ALICE), 'ask_social', { message: 'post "hacked" on bluesky' });
    expect(r.isError).toBe(true);
    // MCP's own answer for a tool this caller does not have (SDK: a tool result with isError, JSON-RPC -32602 in its text).
    expect(textOfResult(r)).toMatch(/^MCP error -32602: Tool ask_social not found$/);
    expect(t.model.requests.length).toBe(before);
  });

  it('a secret the social agent tries to post is refused by the tool (SECRET_DETECTED), as on /v1, and never echoed', async () => {
    t.model.setScript((req) => {
      const tool = pendingToolResult(req);
      if (tool) return { text: `Tool said: ${tool.content}` };
      return { toolCalls: [{ name: 'atproto-post', arguments: { text: `sharing ${ghToken} with everyone` } }] };
    });
    const posts = async () => Number((await t.system.ctx.db.query('select count(*) as n from atproto_posts')).rows[0].n);
    const before = await posts();
    const r = await call(await connect(OPS), 'ask_social', { message: 'post the token' });
    expect(r.isError).toBeFalsy();
    expect(textOfResult(r)).toContain('SECRET_DETECTED');
    expect(JSON.stringify(r)).not.toContain(ghToken);
    expect(await posts()).toBe(before);
  });

  it('refuses a call once the daily budget is used up (budget_exceeded), after counting the first', async () => {
    const c = await connect(BOB);
    const first = await call(c, 'ask_assistant', { message: 'one' });
    expect(first.isError).toBeFalsy();
    const before = t.model.requests.length;
    const r = await call(c, 'ask_assistant', { message: 'two' });
    expect(r.isError).toBe(true);
    expect(JSON.parse(textOfResult(r))).toMatchObject({ error: { code: 'budget_exceeded', type: 'tokens' } });
    expect(t.model.requests.length).toBe(before);
  });

  it('counts usage exactly as /v1 does: the same work gives the same /v1/usage totals', async () => {
    const work = ['count these words please', 'and these three too'];
    const c = await connect(DAVE);
    const usageBefore = async (key: string) => (await (await fetch(`${t.system.url}/v1/usage`, { headers: { authorization: `Bearer ${key}` } })).json()) as { days: Array<Record<string, number>> };
    // DAVE has one earlier request in this file (the refused thread does not reach the model: not counted); ERIN none.
    const base = await usageBefore(DAVE);
    for (const m of work) await call(c, 'ask_assistant', { message: m });
    for (const m of work) await t.client(ERIN).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: m }] });
    const sum = (u: { days: Array<Record<string, number>> }) => {
      const out = { requests: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
      for (const d of u.days) for (const k of Object.keys(out) as Array<keyof typeof out>) out[k] += d[k] ?? 0;
      return out;
    };
    const b = sum(base);
    const mcp = sum(await usageBefore(DAVE));
    const v1 = sum(await usageBefore(ERIN));
    const delta = { requests: mcp.requests - b.requests, prompt_tokens: mcp.prompt_tokens - b.prompt_tokens, completion_tokens: mcp.completion_tokens - b.completion_tokens, total_tokens: mcp.total_tokens - b.total_tokens };
    expect(v1.requests).toBe(2);
    expect(v1.total_tokens).toBeGreaterThan(0);
    expect(delta).toEqual(v1);
  });
});

describe("the agents' own tools over MCP", () => {
  it("lists the permitted agents' tools with truthful annotations; social's only for an admin", async () => {
    const list = async (key: string) => (await (await connect(key)).listTools()).tools;
    const alice = await list(ALICE);
    expect(alice.map((x) => x.name).sort()).toEqual(['ask_assistant', 'calculate', 'current-time']);
    expect(alice.find((x) => x.name === 'calculate')!.annotations).toEqual({ readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false });
    expect(alice.find((x) => x.name === 'calculate')!.inputSchema.required).toEqual(['expression']);
    const ops = await list(OPS);
    expect(ops.map((x) => x.name)).toEqual(expect.arrayContaining(['atproto-post', 'atproto-delete-post', 'atproto-read-profile']));
    expect(ops.find((x) => x.name === 'atproto-delete-post')!.annotations).toEqual({ readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true });
    expect(ops.find((x) => x.name === 'atproto-post')!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: false, openWorldHint: true });
  });

  it('runs a tool without a model (no usage counted); bad input and tool failures are isError', async () => {
    const c = await connect(ERIN);
    const before = t.model.requests.length;
    const ok = await call(c, 'calculate', { expression: '(17 + 4) * 3' });
    expect(ok.isError).toBeFalsy();
    expect(ok.structuredContent).toEqual({ ok: true, expression: '(17 + 4) * 3', result: 63 });
    const bad = await call(c, 'calculate', { expression: '1 / 0' });
    expect(bad.isError).toBe(true);
    expect(bad.structuredContent).toMatchObject({ ok: false, error: { code: 'BAD_EXPRESSION' } });
    const wrong = await call(c, 'calculate', { expr: 1 });
    expect(wrong.isError).toBe(true);
    expect(t.model.requests.length).toBe(before);
  });

  it("refuses a secret in a direct atproto-post (SECRET_DETECTED, never echoed, nothing posted); a non-admin has no such tool", async () => {
    const posts = async () => Number((await t.system.ctx.db.query('select count(*) as n from atproto_posts')).rows[0].n);
    const before = await posts();
    const r = await call(await connect(OPS), 'atproto-post', { text: `my token is ${ghToken}` });
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toMatchObject({ ok: false, error: { code: 'SECRET_DETECTED' } });
    expect(JSON.stringify(r)).not.toContain(ghToken);
    expect(await posts()).toBe(before);
    const alice = await call(await connect(ALICE), 'atproto-post', { text: 'hello world' });
    expect(alice.isError).toBe(true);
    expect(textOfResult(alice)).toMatch(/Tool atproto-post not found/);
    expect(await posts()).toBe(before);
  });
});

describe('MCP errors before the server', () => {
  it('401 with a JSON-RPC error body and WWW-Authenticate without a key or with a wrong one', async () => {
    for (const key of ['', 'sk-not-a-key-000000000']) {
      const res = await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), key);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      const body = await res.json();
      expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000, data: { status: 401, code: key ? 'invalid_api_key' : 'missing_api_key' } } });
    }
    // The SDK client fails to connect.
    await expect(connect()).rejects.toThrow(/401|Unauthorized/i);
  });

  it('malformed JSON is -32700 (400); a non-JSON-RPC body -32600 or -32700; never a 5xx', async () => {
    const bad = await post(new Blob([new Uint8Array([0x7b, 0xff, 0xfe, 0x22, 0x00])]));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
    for (const body of ['[]', '{"hello":"world"}', '{"jsonrpc":"2.0","id":1}', '"x"']) {
      const res = await post(body);
      expect(res.status, body).toBeGreaterThanOrEqual(400);
      expect(res.status, body).toBeLessThan(500);
      expect((await res.json()).error.code, body).toBeLessThan(-32000);
    }
  });

  it('a body over BODY_LIMIT is 413 with a JSON-RPC error', async () => {
    const huge = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'ask_assistant', arguments: { message: 'x'.repeat(200_000) } } });
    const before = t.model.requests.length;
    const res = await post(huge);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600, data: { code: 'request_too_large' } } });
    expect(t.model.requests.length).toBe(before);
  });

  it('an unknown method is JSON-RPC -32601 Method not found', async () => {
    const res = await post(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'no/such/method', params: {} }));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', id: 7, error: { code: -32601 } });
  });

  it('GET and DELETE answer 405 (stateless server: no stream, no session)', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(`${t.system.url}/mcp`, { method, headers: { authorization: `Bearer ${ALICE}`, accept: 'text/event-stream' } });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32600, data: { code: 'method_not_allowed' } } });
    }
  });
});

// ---- A2A: the official @a2a-js/sdk client ------------------------------------------------

const withKey = (key: string): typeof fetch => (input, init) => {
  const headers = new Headers(init?.headers);
  headers.set('authorization', `Bearer ${key}`);
  return fetch(input, { ...init, headers });
};

async function a2a(key: string, agent: string) {
  const fetchImpl = withKey(key);
  const factory = new ClientFactory({ transports: [new JsonRpcTransportFactory({ fetchImpl })], cardResolver: new DefaultAgentCardResolver({ fetchImpl }) });
  return factory.createFromUrl(`${t.system.url}/a2a/${agent}/.well-known/agent-card.json`, '');
}

const userMessage = (text: string, contextId = ''): Message => ({
  messageId: crypto.randomUUID(),
  contextId,
  taskId: '',
  role: Role.ROLE_USER,
  parts: [{ content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: 'text/plain' }],
  metadata: undefined,
  extensions: [],
  referenceTaskIds: [],
});
const send = (c: Awaited<ReturnType<typeof a2a>>, text: string, contextId?: string) => c.sendMessage({ tenant: '', message: userMessage(text, contextId), configuration: undefined, metadata: undefined });
const replyText = (m: Message | Task) => ('role' in m ? m.parts : (m.status?.message?.parts ?? [])).map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('');

describe('A2A', () => {
  it('serves an agent card per permitted agent, with the JSON-RPC interface and Bearer auth', async () => {
    const res = await fetch(`${t.system.url}/a2a/assistant/.well-known/agent-card.json`, { headers: { authorization: `Bearer ${ALICE}` } });
    expect(res.status).toBe(200);
    const card = await res.json();
    expect(card).toMatchObject({ name: 'assistant', capabilities: { streaming: true }, supportedInterfaces: [{ url: `${t.system.url}/a2a/assistant`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' }] });
    // social is ADMIN_USERS-only: as unknown for alice, there for ops.
    const hidden = await fetch(`${t.system.url}/a2a/social/.well-known/agent-card.json`, { headers: { authorization: `Bearer ${ALICE}` } });
    expect(hidden.status).toBe(404);
    expect((await hidden.json()).error.data.code).toBe('model_not_found');
    expect((await fetch(`${t.system.url}/a2a/social/.well-known/agent-card.json`, { headers: { authorization: `Bearer ${OPS}` } })).status).toBe(200);
    const anon = await fetch(`${t.system.url}/a2a/assistant/.well-known/agent-card.json`);
    expect(anon.status).toBe(401);
  });

  it('malformed JSON and a body over BODY_LIMIT are JSON-RPC errors, never a 5xx', async () => {
    const at = (body: string, version = '1.0') => fetch(`${t.system.url}/a2a/assistant`, { method: 'POST', headers: { authorization: `Bearer ${ALICE}`, 'content-type': 'application/json', ...(version ? { 'a2a-version': version } : {}) }, body });
    const bad = await at('{"jsonrpc": "2.0", "id": 1, "method": ');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
    const huge = await at(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'SendMessage', params: { message: { parts: [{ text: 'x'.repeat(200_000) }] } } }));
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: { code: -32600, data: { code: 'request_too_large' } } });
    const unknown = await at(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'NoSuchMethod', params: {} }));
    expect(unknown.status).toBeLessThan(500);
    expect(await unknown.json()).toMatchObject({ jsonrpc: '2.0', id: 2, error: { code: -32601 } });
    // Without A2A-Version the SDK assumes 0.3, which this server does not speak: a JSON-RPC error, not a 5xx.
    const old = await at(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'SendMessage', params: {} }), '');
    expect(old.status).toBeLessThan(500);
    expect(await old.json()).toMatchObject({ jsonrpc: '2.0', id: 3, error: { code: expect.any(Number) } });
  });

  it('SendMessage answers with the agent reply; the contextId is the thread (continuity, another user refused)', async () => {
    const c = await a2a(ALICE, 'assistant');
    const first = await send(c, 'my name is Grace');
    expect('role' in first && first.role).toBe(Role.ROLE_AGENT);
    expect(replyText(first)).toBe('Echo: my name is Grace');
    const contextId = first.contextId;
    expect(contextId).toMatch(/^[0-9a-f-]{36}$/);
    const second = await send(c, 'who am I?', contextId);
    expect(replyText(second)).toBe('Echo: who am I?');
    expect(second.contextId).toBe(contextId);
    const seen = t.model.requests.at(-1)!.messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n');
    expect(seen).toContain('my name is Grace');

    const before = t.model.requests.length;
    const stolen = await send(await a2a(DAVE, 'assistant'), 'show me', contextId).catch((e) => e);
    // The SDK makes a FAILED task of a refused turn; the model is never asked.
    expect('role' in stolen).toBe(false);
    expect(JSON.stringify(stolen)).not.toContain('Grace');
    expect(t.model.requests.length).toBe(before);
  });

  it('SendStreamingMessage streams the reply as one message event', async () => {
    const c = await a2a(ALICE, 'assistant');
    const events = [];
    for await (const e of c.sendMessageStream({ tenant: '', message: userMessage('stream me'), configuration: undefined, metadata: undefined })) events.push(e);
    expect(events.map((e) => e.payload?.$case)).toEqual(['message']);
    const m = events[0]!.payload!.value as Message;
    expect(replyText(m)).toBe('Echo: stream me');
    expect(m.contextId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a forbidden agent is refused before the SDK (404), and the same work costs the same usage as /v1', async () => {
    const err = await a2a(ALICE, 'social').catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    const usage = async (key: string) => {
      const u = (await (await fetch(`${t.system.url}/v1/usage`, { headers: { authorization: `Bearer ${key}` } })).json()) as { days: Array<Record<string, number>> };
      let requests = 0;
      let total = 0;
      for (const d of u.days) {
        requests += d.requests ?? 0;
        total += d.total_tokens ?? 0;
      }
      return { requests, total };
    };
    const b = await usage(OPS);
    const e = await usage(ERIN);
    const c = await a2a(OPS, 'assistant');
    await send(c, 'count these words please');
    await t.client(ERIN).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'count these words please' }] });
    const a = await usage(OPS);
    const v = await usage(ERIN);
    expect(a.requests - b.requests).toBe(1);
    expect(a.total - b.total).toBe(v.total - e.total);
    expect(a.total - b.total).toBeGreaterThan(0);
  });
});
