/**
 * The embedded node's HTTP servers under hostile input: raw bytes on a socket
 * (malformed request lines, bad headers, huge headers, bad percent-encoding, NUL
 * bytes) get a 4xx in the server's error format and the node keeps answering; Kubo's
 * Origin/Referer rules and the Host check (DNS rebinding) on the RPC API; gateway
 * content cannot script the API origin.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { create, type KuboRPCClient } from 'kubo-rpc-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedIpfs, type EmbeddedIpfs } from '../../services/ipfs/embedded';

let dir: string;
let node: EmbeddedIpfs;
let ipfs: KuboRPCClient;
let apiPort: number;
let clusterPort: number;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ipfs-hardening-'));
  node = await startEmbeddedIpfs({ dir: path.join(dir, 'repo') });
  ipfs = create({ url: node.apiUrl });
  apiPort = Number(new URL(node.apiUrl).port);
  clusterPort = Number(new URL(node.clusterUrl).port);
});

afterAll(async () => {
  await node?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

/** Sends raw bytes, returns everything the server answers until it closes (or 3 s). */
function raw(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => sock.destroy(), 3000);
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    sock.write(bytes);
    // Half-close after sending so a server waiting for more bytes answers or closes.
    setTimeout(() => sock.end(), 200);
  });
}

const statusOf = (reply: string) => Number(/^HTTP\/1\.[01] (\d{3})/.exec(reply)?.[1] ?? 0);
const bodyOf = (reply: string) => reply.slice(reply.indexOf('\r\n\r\n') + 4);

const hostile: Array<[string, string | Buffer]> = [
  ['a // target that a base URL reads as a host', 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a protocol-relative target with a bad host', 'POST //[::1/api/v0/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
  ['a request line that is not HTTP', 'HELLO\r\n\r\n'],
  ['a bad method and version', 'G\tET / HTTP/9.9\r\n\r\n'],
  ['a NUL byte in the request line', Buffer.from('GET /api/v0/ver\0sion HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 'latin1')],
  ['a NUL byte in a header', Buffer.from('POST /api/v0/version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: b\0c\r\n\r\n', 'latin1')],
  ['a header without a colon', 'POST /api/v0/version HTTP/1.1\r\nHost: 127.0.0.1\r\nnocolon\r\n\r\n'],
  ['a header name with spaces', 'POST /api/v0/version HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Name: x\r\n\r\n'],
  ['huge headers', `POST /api/v0/version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`],
  ['a huge request line', `POST /api/v0/cat?arg=${'Q'.repeat(64 * 1024)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`],
  ['a missing Host on HTTP/1.1', 'POST /api/v0/version HTTP/1.1\r\n\r\n'],
  ['a bad content-length', 'POST /api/v0/version HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n'],
  ['two content-lengths', 'POST /api/v0/block/put HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
  ['bad chunked encoding', 'POST /api/v0/block/put HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
  ['bad percent-encoding in the gateway path', 'GET /ipfs/%E0%A4%A HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
  ['bad percent-encoding in a query', 'POST /api/v0/cat?arg=%ZZ%E0 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n'],
  ['a non-latin1 gateway path', 'GET /ipfs/%F0%9F%92%A9%0A HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
  ['an absolute-form target', 'POST http://127.0.0.1/api/v0/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
  ['an asterisk target', 'OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
  ['a multipart body without a boundary', 'POST /api/v0/add HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data\r\nContent-Length: 3\r\n\r\nabc'],
];

describe.each([
  ['Kubo RPC port', () => apiPort, (body: unknown) => expect(body).toMatchObject({ Code: 1, Type: 'error', Message: expect.any(String) })],
  ['Cluster port', () => clusterPort, (body: unknown) => expect(body).toMatchObject({ code: expect.any(Number), message: expect.any(String) })],
])('hostile bytes on the %s', (_name, port, errorShape) => {
  it.each(hostile)('%s: a 4xx, and the node still answers', async (_what, bytes) => {
    const reply = await raw(port(), bytes);
    const status = statusOf(reply);
    expect(status, reply.slice(0, 300)).toBeGreaterThanOrEqual(400);
    expect(status, reply.slice(0, 300)).toBeLessThan(500);
    const body = bodyOf(reply).trim();
    if (body.startsWith('{')) errorShape(JSON.parse(body.split('\n')[0]!));
    expect((await ipfs.version()).version).toMatch(/^\d+\./);
  });

  it('the exact finding: GET //[ answers 400 in the error format', async () => {
    const reply = await raw(port(), 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n');
    // Host "x" is refused or the target is: either way a 4xx with the error body.
    expect([400, 403, 404]).toContain(statusOf(reply));
    expect((await ipfs.version()).version).toMatch(/^\d+\./);
  });
});

describe('malformed request lines get Kubo`s error body', () => {
  it('GET //[ with a loopback Host: 400 {Message, Code: 1, Type: "error"}', async () => {
    const reply = await raw(apiPort, 'GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(statusOf(reply)).toBe(400);
    expect(JSON.parse(bodyOf(reply))).toEqual({ Message: expect.any(String), Code: 1, Type: 'error' });
  });
  it('a parser error: 400 with Kubo`s body', async () => {
    const reply = await raw(apiPort, 'HELLO\r\n\r\n');
    expect(statusOf(reply)).toBe(400);
    expect(JSON.parse(bodyOf(reply))).toEqual({ Message: expect.any(String), Code: 1, Type: 'error' });
  });
  it('huge headers: 431', async () => {
    const reply = await raw(apiPort, `POST /api/v0/version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    expect(statusOf(reply)).toBe(431);
  });
});

async function post(pathname: string, headers: Record<string, string>, base = node.apiUrl) {
  const res = await fetch(new URL(pathname, base), { method: 'POST', headers });
  return { status: res.status, text: await res.text() };
}

describe('Origin, Referer and Host on the RPC API (Kubo`s rules, plus DNS rebinding)', () => {
  it('no Origin (kubo-rpc-client from Node): allowed', async () => {
    expect((await post('/api/v0/version', {})).status).toBe(200);
  });
  it('a foreign Origin: 403', async () => {
    expect((await post('/api/v0/version', { origin: 'https://evil.example' })).status).toBe(403);
    expect((await post('/api/v0/version', { origin: 'null' })).status).toBe(403);
  });
  it('the API`s own origin (Kubo`s localhost defaults): allowed, with CORS headers', async () => {
    const res = await fetch(new URL('/api/v0/version', node.apiUrl), { method: 'POST', headers: { origin: `http://127.0.0.1:${apiPort}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(`http://127.0.0.1:${apiPort}`);
    expect((await post('/api/v0/version', { origin: `http://localhost:${apiPort}` })).status).toBe(200);
    // Another port on localhost is another origin.
    expect((await post('/api/v0/version', { origin: `http://localhost:${apiPort + 1}` })).status).toBe(403);
  });
  it('a foreign Referer: 403; a local one: allowed; a garbage one: 403', async () => {
    expect((await post('/api/v0/version', { referer: 'https://evil.example/page' })).status).toBe(403);
    expect((await post('/api/v0/version', { referer: `http://127.0.0.1:${apiPort}/ipfs/x` })).status).toBe(200);
    expect((await post('/api/v0/version', { referer: 'not a url' })).status).toBe(403);
  });
  it('a browser POST with neither Origin nor Referer: 403', async () => {
    expect((await post('/api/v0/version', { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0' })).status).toBe(403);
  });
  it('a Host that is not loopback or the configured host (DNS rebinding): 403', async () => {
    const reply = await raw(apiPort, 'POST /api/v0/version HTTP/1.1\r\nHost: attacker.example:80\r\nContent-Length: 0\r\n\r\n');
    expect(statusOf(reply)).toBe(403);
    expect(JSON.parse(bodyOf(reply))).toMatchObject({ Type: 'error' });
    for (const host of [`127.0.0.1:${apiPort}`, `localhost:${apiPort}`, `[::1]:${apiPort}`]) {
      const ok = await raw(apiPort, `POST /api/v0/version HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      expect(statusOf(ok), host).toBe(200);
    }
  });
  it('the Cluster API applies the same Host and Origin rules in its own error format', async () => {
    const reply = await raw(clusterPort, 'GET /id HTTP/1.1\r\nHost: attacker.example\r\n\r\n');
    expect(statusOf(reply)).toBe(403);
    expect(JSON.parse(bodyOf(reply))).toMatchObject({ code: 403 });
    const res = await fetch(new URL('/id', node.clusterUrl), { headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(403);
  });
  it('allowedOrigins and allowedHosts extend the rules (Kubo`s API.HTTPHeaders)', async () => {
    const other = await startEmbeddedIpfs({ dir: path.join(dir, 'repo2'), allowedOrigins: ['https://app.example'], allowedHosts: ['ipfs.internal'] });
    try {
      expect((await post('/api/v0/version', { origin: 'https://app.example' }, other.apiUrl)).status).toBe(200);
      // A configured list replaces the defaults, as in Kubo.
      expect((await post('/api/v0/version', { origin: other.apiUrl }, other.apiUrl)).status).toBe(403);
      const port = Number(new URL(other.apiUrl).port);
      const reply = await raw(port, 'POST /api/v0/version HTTP/1.1\r\nHost: ipfs.internal\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      expect(statusOf(reply)).toBe(200);
    } finally {
      await other.stop();
    }
  });
});

describe('gateway content cannot script the API origin', () => {
  it('HTML and SVG are served sandboxed, nosniff', async () => {
    const html = '<html><script>fetch("/api/v0/repo/gc",{method:"POST"})</script></html>';
    const { cid } = await ipfs.add({ path: 'site/index.html', content: new TextEncoder().encode(html) }, { wrapWithDirectory: true });
    for (const p of [`/ipfs/${cid}/site/index.html`, `/ipfs/${cid}/site/`, `/ipfs/${cid}/site/nope.svg`]) {
      const res = await fetch(new URL(p, node.apiUrl));
      await res.arrayBuffer();
      expect(res.headers.get('content-security-policy'), p).toMatch(/^sandbox/);
      expect(res.headers.get('x-content-type-options'), p).toBe('nosniff');
    }
  });
  it('a sandboxed page`s request carries Origin: null, which the API refuses', async () => {
    expect((await post('/api/v0/repo/gc', { origin: 'null' })).status).toBe(403);
  });
});

describe('inputs whose cost grows with their size are bounded', () => {
  it('a deeply nested dag-json node is refused with a 400, and gc still runs', async () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    await expect(ipfs.dag.put(new TextEncoder().encode(deep), { inputCodec: 'dag-json', storeCodec: 'dag-cbor' } as never)).rejects.toThrow(/nested too deeply|decode/);
    for await (const _ of ipfs.repo.gc()) void _;
    expect((await ipfs.version()).version).toMatch(/^\d+\./);
  });
  it('a moderately nested node round-trips', async () => {
    const value = JSON.parse('['.repeat(500) + '1' + ']'.repeat(500));
    const cid = await ipfs.dag.put(value, { storeCodec: 'dag-cbor' });
    const back = await ipfs.dag.get(cid);
    expect(JSON.stringify(back.value)).toBe(JSON.stringify(value));
  });
  it('an arg list longer than the request-head limit is refused (431), not parsed', async () => {
    const args = Array.from({ length: 2000 }, () => 'arg=QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn').join('&');
    const reply = await raw(apiPort, `POST /api/v0/pin/ls?${args} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`);
    expect(statusOf(reply)).toBe(431);
  });
});
