/**
 * The abuse suite: the running system (every feature, API keys for alice, bob and an
 * admin) against malformed input.
 *  - Raw bytes (broken request lines, NUL bytes, huge headers, smuggling, TLS) on every
 *    TCP port the system listens on, read from /proc (not from its config): each answers
 *    with a 4xx or closes the connection, and every port still serves afterwards.
 *  - Over a hundred malformed requests across /v1, /mcp, /a2a, /api, /powersync, /xrpc and /metrics,
 *    each answered with its protocol's 4xx error body while /health keeps answering.
 */
import fs from 'node:fs';
import net from 'node:net';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from '../../harness/system';

const ALICE = 'sk-abuse-alice-0000000001';
const BOB = 'sk-abuse-bob-00000000000002';
const ADMIN = 'sk-abuse-admin-0000000003';
let ts: TestSystem;

beforeAll(async () => {
  ts = await startTestSystem({ env: { API_KEYS: `${ALICE}:alice,${BOB}:bob,${ADMIN}:ops`, ADMIN_USERS: 'ops', RATE_LIMIT_RPM: '0', BODY_LIMIT: '64kb', ATPROTO_AUTOREPLY: '0' } });
});
afterAll(async () => {
  await ts?.stop();
});

/** TCP ports this process listens on (/proc/net/tcp{,6} LISTEN sockets whose inode is one of our fds). */
export function listeningPorts(pid: number | 'self' = 'self'): number[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // fd closed meanwhile
    }
  }
  const ports = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && inodes.has(f[9]!)) ports.add(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/** Sends raw bytes; resolves with what came back before the server closed (or 3 s passed). */
function raw(port: number, payload: Buffer | string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, 3000);
    s.on('data', (d) => {
      out += d.toString('latin1');
      // One complete response is enough.
      if (/\r\n\r\n/.test(out) && !/^HTTP\/1\.1 1\d\d/.test(out)) setTimeout(done, 50);
    });
    s.on('error', done);
    s.on('close', done);
    s.on('connect', () => s.write(payload));
  });
}

const tlsHello = Buffer.from('16030100a5010000a10303' + '00'.repeat(32) + '000400ff01000100', 'hex');
const RAW_PAYLOADS: Array<[string, Buffer | string]> = [
  ['broken path', 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['broken absolute URL', 'GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['bad percent-encoding', 'GET /%ZZ%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['NUL and control bytes', 'GET /\x00\x01\x7f HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['binary garbage', Buffer.from([0, 1, 2, 3, 255, 254, 13, 10, 13, 10])],
  ['unknown HTTP version', 'GET / HTTP/9.9\r\nHost: x\r\n\r\n'],
  ['huge header', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`],
  ['header without colon', 'GET / HTTP/1.1\r\nHost x\r\nBroken\r\n\r\n'],
  ['content-length and chunked', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n'],
  ['invalid chunk size', 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nZZZZ\r\n{}\r\n0\r\n\r\n'],
  ['negative content-length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'],
  ['TLS client hello', tlsHello],
];

function statusOf(response: string): number | undefined {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(response);
  return m ? Number(m[1]) : undefined;
}

describe('raw bytes on every port', () => {
  it('every listening port answers malformed bytes with a 4xx or a closed connection, and still serves afterwards', async () => {
    const ports = listeningPorts();
    const pgPort = Number(new URL(ts.system.ctx.urls.databaseUrl).port);
    // The app, PDS, PLC, the IPFS RPC and cluster APIs, the PowerSync stand-in: at least six.
    expect(ports.length).toBeGreaterThanOrEqual(6);
    expect(ports).toContain(ts.system.port);
    const names = new Map<number, string>([[ts.system.port, 'app'], [pgPort, 'postgres']]);
    for (const [k, v] of Object.entries(ts.system.ctx.urls)) if (v && /^\w+:\/\//.test(v)) names.set(Number(new URL(v).port), k);
    const bad: string[] = [];
    for (const port of [...ports, pgPort]) {
      for (const [name, payload] of RAW_PAYLOADS) {
        const res = await raw(port, payload);
        const status = statusOf(res);
        if (status !== undefined && (status < 400 || status >= 500)) bad.push(`${names.get(port) ?? port} ${name}: ${res.split('\r\n')[0]}`);
      }
    }
    expect(bad).toEqual([]);
    // Nothing was taken down: each HTTP port still answers a well-formed request, Postgres a query.
    for (const port of ports) {
      const res = await raw(port, 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      expect(statusOf(res), `port ${port} after the abuse`).toBeDefined();
    }
    await ts.system.ctx.db.query('select 1');
    expect((await fetch(`${ts.system.url}/health`)).status).toBe(200);
  });
});

interface Case {
  name: string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Which protocol's error body to expect. */
  proto: 'openai' | 'powersync' | 'xrpc' | 'jsonrpc' | 'any';
  key?: string;
}

function cases(): Case[] {
  const out: Case[] = [];
  const json = { 'content-type': 'application/json' };
  const chat = (body: unknown) => JSON.stringify(body);
  const v1Bodies: Array<[string, string | Buffer, Record<string, string>?]> = [
    ['not JSON', '{"model": "assistant", "messages": ['],
    ['JSON array', '[]'],
    ['JSON string', '"hello"'],
    ['JSON null', 'null'],
    ['empty body', ''],
    ['no model', chat({ messages: [{ role: 'user', content: 'hi' }] })],
    ['model not a string', chat({ model: 42, messages: [{ role: 'user', content: 'hi' }] })],
    ['unknown model', chat({ model: 'nobody', messages: [{ role: 'user', content: 'hi' }] })],
    ['model __proto__', chat({ model: '__proto__', messages: [{ role: 'user', content: 'hi' }] })],
    ['model constructor', chat({ model: 'constructor', messages: [{ role: 'user', content: 'hi' }] })],
    ['model toString', chat({ model: 'toString', messages: [{ role: 'user', content: 'hi' }] })],
    ['no messages', chat({ model: 'assistant' })],
    ['empty messages', chat({ model: 'assistant', messages: [] })],
    ['messages not an array', chat({ model: 'assistant', messages: 'hi' })],
    ['unknown role', chat({ model: 'assistant', messages: [{ role: 'wizard', content: 'hi' }] })],
    ['content a number', chat({ model: 'assistant', messages: [{ role: 'user', content: 7 }] })],
    ['content part of unknown type', chat({ model: 'assistant', messages: [{ role: 'user', content: [{ type: 'hologram' }] }] })],
    ['temperature out of range', chat({ model: 'assistant', temperature: 9, messages: [{ role: 'user', content: 'hi' }] })],
    ['n = 3', chat({ model: 'assistant', n: 3, messages: [{ role: 'user', content: 'hi' }] })],
    ['max_tokens negative', chat({ model: 'assistant', max_tokens: -1, messages: [{ role: 'user', content: 'hi' }] })],
    ['stop of five strings', chat({ model: 'assistant', stop: ['a', 'b', 'c', 'd', 'e'], messages: [{ role: 'user', content: 'hi' }] })],
    ['stream not boolean', chat({ model: 'assistant', stream: 'yes', messages: [{ role: 'user', content: 'hi' }] })],
    ['deeply nested JSON', '{"a":'.repeat(5000) + '1' + '}'.repeat(5000)],
    ['over the body limit', chat({ model: 'assistant', messages: [{ role: 'user', content: 'x'.repeat(70_000) }] })],
    ['charset latin1', chat({ model: 'assistant', messages: [{ role: 'user', content: 'hi' }] }), { 'content-type': 'application/json; charset=latin1' }],
    ['unknown content-encoding', chat({ model: 'assistant', messages: [{ role: 'user', content: 'hi' }] }), { 'content-type': 'application/json', 'content-encoding': 'br-unknown' }],
    ['invalid gzip', Buffer.from('definitely not gzip'), { 'content-type': 'application/json', 'content-encoding': 'gzip' }],
    ['gzip bomb over the limit', zlib.gzipSync(Buffer.alloc(10_000_000, 32)), { 'content-type': 'application/json', 'content-encoding': 'gzip' }],
    ['tools not an array', chat({ model: 'assistant', tools: 'calculate', messages: [{ role: 'user', content: 'hi' }] })],
    ['tool named like the agent tool', chat({ model: 'assistant', tools: [{ type: 'function', function: { name: 'calculate' } }], messages: [{ role: 'user', content: 'hi' }] })],
    ['tool_choice garbage', chat({ model: 'assistant', tool_choice: { type: 'function' }, messages: [{ role: 'user', content: 'hi' }] })],
    ['orphan tool message', chat({ model: 'assistant', messages: [{ role: 'user', content: 'hi' }, { role: 'tool', tool_call_id: 'x', content: 'r' }] })],
    ['response_format schema not compiling', chat({ model: 'assistant', response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 7 } } }, messages: [{ role: 'user', content: 'hi' }] })],
    ['image URL to the metadata address', chat({ model: 'assistant', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://169.254.169.254/latest/meta-data/' } }] }] })],
    ['image data: URL not base64', chat({ model: 'assistant', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,%%%' } }] }] })],
    ['bad thread id', chat({ model: 'assistant', messages: [{ role: 'user', content: 'hi' }] }), { 'content-type': 'application/json', 'x-thread-id': '../../etc/passwd' }],
  ];
  for (const [name, body, headers] of v1Bodies) out.push({ name: `/v1 chat: ${name}`, path: '/v1/chat/completions', method: 'POST', headers: headers ?? json, body, proto: 'openai', key: ALICE });
  // The Responses API: the transport-level cases above, and its own malformed bodies.
  const responsesBodies: Array<[string, string | Buffer, Record<string, string>?]> = [
    ...v1Bodies.filter(([name]) => ['not JSON', 'JSON array', 'JSON null', 'empty body', 'deeply nested JSON', 'charset latin1', 'invalid gzip', 'gzip bomb over the limit'].includes(name)),
    ['no model', chat({ input: 'hi' })],
    ['model __proto__', chat({ model: '__proto__', input: 'hi' })],
    ['input a number', chat({ model: 'assistant', input: 7 })],
    ['input item of unknown type', chat({ model: 'assistant', input: [{ type: 'hologram' }] })],
    ['input over the body limit', chat({ model: 'assistant', input: 'x'.repeat(300_000) })],
    ['previous_response_id malformed', chat({ model: 'assistant', input: 'hi', previous_response_id: '../../etc' })],
    ['previous_response_id unknown', chat({ model: 'assistant', input: 'hi', previous_response_id: 'resp_doesnotexist' })],
    ['conversation object without id', chat({ model: 'assistant', input: 'hi', conversation: {} })],
    ['both previous_response_id and conversation', chat({ model: 'assistant', input: 'hi', previous_response_id: 'resp_x', conversation: 'c1' })],
    ['unknown parameter', chat({ model: 'assistant', input: 'hi', frobnicate: true })],
    ['built-in tool', chat({ model: 'assistant', input: 'hi', tools: [{ type: 'web_search' }] })],
    ['function tool with a non-object schema', chat({ model: 'assistant', input: 'hi', tools: [{ type: 'function', name: 'f', parameters: { type: 'string' } }] })],
    ['text.format schema not compiling', chat({ model: 'assistant', input: 'hi', text: { format: { type: 'json_schema', name: 'x', schema: { type: 7 } } } })],
    ['input_image to the metadata address', chat({ model: 'assistant', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'http://169.254.169.254/latest/meta-data/' }] }] })],
  ];
  for (const [name, body, headers] of responsesBodies) out.push({ name: `/v1 responses: ${name}`, path: '/v1/responses', method: 'POST', headers: headers ?? json, body, proto: 'openai', key: ALICE });
  for (const p of ['/v1/responses/%E0%A4%A', '/v1/responses/__proto__', '/v1/responses/resp_nope', '/v1/responses/resp_nope/input_items', '/v1/responses/resp_nope/input_items?limit=-5', '/v1/responses/x/y/z']) {
    out.push({ name: `/v1 GET ${p}`, path: p, proto: 'openai', key: ALICE });
  }
  out.push({ name: '/v1 DELETE an unknown response', path: '/v1/responses/resp_nope', method: 'DELETE', proto: 'openai', key: ALICE });
  for (const q of ['?start_date=yesterday', '?start_date=2026-13-45', '?end_date=1999-01-01&start_date=2026-01-01', '?start_date=1900-01-01', '?owner=alice%00', '?owner=' + 'x'.repeat(5000), '?user=someone']) {
    out.push({ name: `/v1 usage ${q.slice(0, 40)}`, path: `/v1/usage${q}`, proto: 'openai', key: BOB });
  }
  const authCases: Array<[string, Record<string, string>]> = [
    ['no key', {}],
    ['wrong key', { authorization: 'Bearer sk-not-a-key-000000000' }],
    ['key with junk after it', { authorization: `Bearer ${ALICE} junk` }],
    ['XBearer', { authorization: `XBearer ${ALICE}` }],
    ['basic auth', { authorization: 'Basic YWxpY2U6c2VjcmV0' }],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['NUL in key', { authorization: `Bearer ${ALICE.slice(0, 5)}%00` }],
  ];
  for (const [name, headers] of authCases) {
    out.push({ name: `/v1 models: ${name}`, path: '/v1/models', headers, proto: 'openai' });
    out.push({ name: `/v1 chat: ${name}`, path: '/v1/chat/completions', method: 'POST', headers: { ...json, ...headers }, body: chat({ model: 'assistant', messages: [{ role: 'user', content: 'hi' }] }), proto: 'openai' });
    out.push({ name: `/v1 responses: ${name}`, path: '/v1/responses', method: 'POST', headers: { ...json, ...headers }, body: chat({ model: 'assistant', input: 'hi' }), proto: 'openai' });
    out.push({ name: `/v1 usage: ${name}`, path: '/v1/usage', headers, proto: 'openai' });
    out.push({ name: `/powersync credentials: ${name}`, path: '/powersync/credentials', headers, proto: 'powersync' });
    out.push({ name: `/api agents: ${name}`, path: '/api/agents', headers, proto: 'openai' });
    out.push({ name: `/metrics: ${name}`, path: '/metrics', headers, proto: 'any' });
  }
  for (const p of ['/v1/models/%E0%A4%A', '/v1/models/constructor', '/v1/models/__proto__', '/v1/models/toString', '/v1/models/nobody', '/v1/nothing', '/v1/chat/completions/extra', '/v1/%ZZ']) {
    out.push({ name: `/v1 GET ${p}`, path: p, proto: 'openai', key: ALICE });
  }
  for (const m of ['PUT', 'DELETE', 'PATCH']) out.push({ name: `/v1 chat ${m}`, path: '/v1/chat/completions', method: m, proto: 'openai', key: ALICE });
  out.push({ name: '/api as a non-admin', path: '/api/agents', proto: 'openai', key: BOB });
  out.push({ name: '/api memory as a non-admin', path: '/api/memory/threads?resourceId=alice', proto: 'openai', key: BOB });
  const upload = (name: string, body: string | Buffer, headers: Record<string, string> = json) =>
    out.push({ name: `/powersync upload: ${name}`, path: '/powersync/upload', method: 'POST', headers, body, proto: 'powersync', key: ALICE });
  upload('not JSON', '{"batch": [');
  upload('no batch', '{}');
  upload('batch not an array', '{"batch": 5}');
  upload('op missing', JSON.stringify({ batch: [{ table: 'notes', id: 'a' }] }));
  upload('unknown op', JSON.stringify({ batch: [{ op: 'MERGE', table: 'notes', id: 'a', data: {} }] }));
  for (const table of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'pg_user', 'agents', 'archives', '']) {
    upload(`table ${JSON.stringify(table)}`, JSON.stringify({ batch: [{ op: 'PUT', table, id: 'abuse-1', data: { title: 't' } }] }));
  }
  upload('id with a slash', JSON.stringify({ batch: [{ op: 'PUT', table: 'notes', id: 'a/b', data: { title: 't', body: 'b' } }] }));
  upload('id too long', JSON.stringify({ batch: [{ op: 'PUT', table: 'notes', id: 'x'.repeat(500), data: { title: 't', body: 'b' } }] }));
  upload('owner is bob', JSON.stringify({ batch: [{ op: 'PUT', table: 'notes', id: 'abuse-2', data: { owner_id: 'bob', title: 't', body: 'b' } }] }));
  upload('unknown column', JSON.stringify({ batch: [{ op: 'PUT', table: 'notes', id: 'abuse-3', data: { title: 't', body: 'b', is_admin: true } }] }));
  upload('column __proto__', JSON.stringify({ batch: [{ op: 'PUT', table: 'notes', id: 'abuse-4', data: JSON.parse('{"__proto__": {"x": 1}, "title": "t", "body": "b"}') }] }));
  upload('title not a string', JSON.stringify({ batch: [{ op: 'PUT', table: 'notes', id: 'abuse-5', data: { title: 5, body: 'b' } }] }));
  upload('assistant message from a device', JSON.stringify({ batch: [{ op: 'PUT', table: 'messages', id: 'abuse-6', data: { role: 'assistant', content: 'x', conversation_id: 'c' } }] }));
  upload('charset latin1', '{"batch": []}', { 'content-type': 'application/json; charset=latin1' });
  upload('invalid gzip', Buffer.from('nope'), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
  upload('over the body limit', JSON.stringify({ batch: [{ op: 'PUT', table: 'notes', id: 'abuse-7', data: { title: 't', body: 'x'.repeat(70_000) } }] }));
  out.push({ name: '/powersync unknown route', path: '/powersync/nothing', proto: 'powersync', key: ALICE });
  out.push({ name: '/powersync credentials bad user', path: '/powersync/credentials?user=a%20b%2F..', proto: 'powersync', key: ALICE });
  // MCP and A2A: JSON-RPC error bodies for what is refused before their SDKs (and by the SDKs).
  const rpcHeaders = { ...json, accept: 'application/json, text/event-stream' };
  const rpc = (name: string, p: string, body: string | Buffer | undefined, headers: Record<string, string> = rpcHeaders, key: string | null = ALICE, method = 'POST') =>
    out.push({ name: `${p} ${name}`, path: p, method, headers, body, proto: 'jsonrpc', key: key ?? undefined });
  for (const p of ['/mcp', '/a2a/assistant']) {
    const ok = JSON.stringify({ jsonrpc: '2.0', id: 1, method: p === '/mcp' ? 'tools/list' : 'SendMessage', params: {} });
    rpc('not JSON', p, '{"jsonrpc": "2.0", "id": 1, "method": ');
    rpc('JSON null', p, 'null');
    rpc('NUL bytes', p, Buffer.from([0x7b, 0x00, 0xff, 0x7d]));
    // Valid JSON: A2A's SDK answers it with a JSON-RPC error at HTTP 200 (as JSON-RPC over HTTP does); MCP's with 400.
    if (p === '/mcp') rpc('deeply nested JSON', p, '{"a":'.repeat(5000) + '1' + '}'.repeat(5000));
    rpc('over the body limit', p, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'x', params: { s: 'x'.repeat(70_000) } }));
    rpc('charset latin1', p, ok, { ...rpcHeaders, 'content-type': 'application/json; charset=latin1' });
    rpc('invalid gzip', p, Buffer.from('nope'), { ...rpcHeaders, 'content-encoding': 'gzip' });
    rpc('gzip bomb over the limit', p, zlib.gzipSync(Buffer.alloc(10_000_000, 32)), { ...rpcHeaders, 'content-encoding': 'gzip' });
    rpc('no key', p, ok, rpcHeaders, null);
    rpc('wrong key', p, ok, { ...rpcHeaders, authorization: 'Bearer sk-not-a-key-000000000' }, null);
  }
  rpc('empty batch', '/mcp', '[]');
  rpc('not a JSON-RPC message', '/mcp', '{"hello": "world"}');
  rpc('without Accept', '/mcp', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), json);
  rpc('text/plain body', '/mcp', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), { 'content-type': 'text/plain', accept: 'application/json, text/event-stream' });
  rpc('GET', '/mcp', undefined, { accept: 'text/event-stream' }, ALICE, 'GET');
  rpc('PUT', '/mcp', undefined, {}, ALICE, 'PUT');
  rpc('unknown sub-path', '/mcp/x/y', undefined, {}, ALICE, 'GET');
  rpc('card of an unknown agent', '/a2a/nobody/.well-known/agent-card.json', undefined, {}, ALICE, 'GET');
  rpc('card of __proto__', '/a2a/__proto__/.well-known/agent-card.json', undefined, {}, ALICE, 'GET');
  rpc('social for a non-admin', '/a2a/social', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'SendMessage', params: {} }), rpcHeaders, BOB);
  rpc('GET the endpoint', '/a2a/assistant', undefined, {}, ALICE, 'GET');
  rpc('no agent', '/a2a', undefined, {}, ALICE, 'GET');
  const xrpc = (name: string, p: string, method = 'GET') => out.push({ name: `/xrpc ${name}`, path: p, method, proto: 'xrpc' });
  xrpc('skeleton without feed', '/xrpc/app.bsky.feed.getFeedSkeleton');
  xrpc('skeleton of an unknown feed', '/xrpc/app.bsky.feed.getFeedSkeleton?feed=at%3A%2F%2Fdid%3Aplc%3Axyz%2Fapp.bsky.feed.generator%2Fnope');
  xrpc('skeleton feed not a URI', '/xrpc/app.bsky.feed.getFeedSkeleton?feed=%00%01');
  xrpc('skeleton limit not a number', '/xrpc/app.bsky.feed.getFeedSkeleton?feed=at%3A%2F%2Fdid%3Aplc%3Axyz%2Fapp.bsky.feed.generator%2Fagents&limit=lots');
  xrpc('skeleton limit huge', '/xrpc/app.bsky.feed.getFeedSkeleton?feed=at%3A%2F%2Fdid%3Aplc%3Axyz%2Fapp.bsky.feed.generator%2Fagents&limit=100000');
  xrpc('skeleton bad cursor', '/xrpc/app.bsky.feed.getFeedSkeleton?feed=at%3A%2F%2Fdid%3Aplc%3Axyz%2Fapp.bsky.feed.generator%2Fagents&cursor=%E0%A4%A');
  xrpc('a method it does not serve', '/xrpc/com.atproto.server.createSession', 'POST');
  xrpc('an invalid NSID', '/xrpc/..%2F..%2Fetc');
  xrpc('describe with POST', '/xrpc/app.bsky.feed.describeFeedGenerator', 'POST');
  return out;
}

async function send(c: Case): Promise<{ status: number; body: string; headers: Headers }> {
  const headers: Record<string, string> = { ...(c.headers ?? {}) };
  if (c.key) headers.authorization = `Bearer ${c.key}`;
  // fetch refuses a NUL in a header value: send the raw form through the path of least surprise.
  for (const [k, v] of Object.entries(headers)) if (v.includes('%00')) headers[k] = v.replace('%00', '');
  const res = await fetch(`${ts.system.url}${c.path}`, { method: c.method ?? 'GET', headers, body: c.body as BodyInit | undefined, redirect: 'manual' });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

function protocolShapeOk(c: Case, body: string): boolean {
  if (c.proto === 'any') return true;
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(body);
  } catch {
    return false;
  }
  const e = j.error as Record<string, unknown> | string | undefined;
  if (c.proto === 'xrpc') return typeof j.error === 'string' && typeof j.message === 'string';
  if (c.proto === 'jsonrpc') return j.jsonrpc === '2.0' && !!e && typeof e === 'object' && typeof e.code === 'number' && typeof e.message === 'string';
  if (!e || typeof e !== 'object' || typeof e.message !== 'string' || typeof e.type !== 'string') return false;
  if (c.proto === 'powersync') return e.retryable === false;
  return 'code' in e && 'param' in e;
}

describe('malformed requests across the HTTP API', () => {
  it('over a hundred malformed requests: each a 4xx in its protocol, /health answering throughout, no secret echoed', async () => {
    const all = cases();
    expect(all.length).toBeGreaterThanOrEqual(100);
    let healthFailures = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const r = await fetch(`${ts.system.url}/health`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
        if (r?.status !== 200) healthFailures++;
        await new Promise((res) => setTimeout(res, 25));
      }
    })();
    const bad: string[] = [];
    for (const c of all) {
      const r = await send(c);
      if (r.status < 400 || r.status >= 500) bad.push(`${c.name}: ${r.status} ${r.body.slice(0, 160)}`);
      else if (!protocolShapeOk(c, r.body)) bad.push(`${c.name}: ${r.status} not a ${c.proto} error body: ${r.body.slice(0, 160)}`);
      for (const key of [ALICE, BOB, ADMIN]) if (r.body.includes(key)) bad.push(`${c.name}: echoes an API key`);
      if (r.headers.get('x-powered-by')) bad.push(`${c.name}: x-powered-by ${r.headers.get('x-powered-by')}`);
    }
    polling = false;
    await poller;
    expect(bad).toEqual([]);
    expect(healthFailures).toBe(0);
  });
});
