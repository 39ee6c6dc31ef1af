/**
 * The outbound-request guard (src/util/outbound.ts): the address classifier over IPv4,
 * IPv6 and the IPv6 forms that embed IPv4, and the guarded fetch against local servers
 * (loopback only: refusals never connect; injected name resolution, no real DNS).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutboundFetch, forbiddenAddress, hostPortOf, OutboundError, parseIPv6 } from '../../src/util/outbound';

describe('forbiddenAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'shared (CGNAT)'],
    ['100.127.255.255', 'shared (CGNAT)'],
    ['0.0.0.0', 'unspecified ("this network")'],
    ['0.1.2.3', 'unspecified ("this network")'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['198.18.0.1', 'benchmarking'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'unique local (private)'],
    ['fdff:ffff::1', 'unique local (private)'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback'],
    ['::ffff:169.254.169.254', 'IPv4-mapped link-local'],
    ['::ffff:a00:1', 'IPv4-mapped private'],
    ['0:0:0:0:0:ffff:c0a8:0101', 'IPv4-mapped private'],
    ['::ffff:0:10.0.0.1', 'IPv4-translated private'],
    ['::127.0.0.1', 'IPv4-compatible loopback'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 link-local'],
    ['2002:0a00:0001::1', '6to4 private'],
    ['2001:db8::1', 'documentation'],
    ['[::1]', 'loopback'],
    ['localhost', 'not an IP address'],
  ])('%s is %s', (ip, kind) => {
    expect(forbiddenAddress(ip)).toBe(kind);
  });

  it.each(['8.8.8.8', '1.1.1.1', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '169.253.255.255', '223.255.255.255', '11.0.0.0', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:0808:0808::1', 'fbff::1', 'fec0::1'.replace('fec0', '2a00')])(
    '%s is public',
    (ip) => {
      expect(forbiddenAddress(ip)).toBeUndefined();
    },
  );

  it('expands IPv6 text forms', () => {
    expect(parseIPv6('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6('1::')).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6('1:2:3:4:5:6:7:8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parseIPv6('::ffff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]);
    expect(parseIPv6('not:an:address')).toBeUndefined();
  });

  it('hostPortOf normalises allow-list entries', () => {
    expect(hostPortOf('http://LocalHost:2583/')).toBe('localhost:2583');
    expect(hostPortOf('https://plc.directory')).toBe('plc.directory:443');
    expect(hostPortOf('127.0.0.1:9000')).toBe('127.0.0.1:9000');
    expect(hostPortOf('http://[::1]:8080')).toBe('[::1]:8080');
    expect(hostPortOf('no-port-host')).toBeUndefined();
  });
});

describe('createOutboundFetch', () => {
  let server: http.Server;
  let port = 0;
  const hits: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits.push(`${req.headers.host} ${req.url}`);
      if (req.url === '/redirect-internal') return void res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      if (req.url?.startsWith('/loop') && Number(req.url.slice(5)) < 4) return void res.writeHead(302, { location: `/loop${Number(req.url.slice(5) || 0) + 1}` }).end();
      if (req.url === '/big') return void res.end(Buffer.alloc(10_000, 1));
      if (req.url === '/slow') return; // never answers
      if (req.url === '/post') {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => res.end(`got ${req.method} ${body}`));
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: true, path: req.url }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const code = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => (e instanceof OutboundError ? e.code : `other: ${e}`));

  it('refuses loopback, private and metadata addresses and other schemes without connecting', async () => {
    const before = hits.length;
    const f = createOutboundFetch({ lookup: async () => [{ address: '127.0.0.1', family: 4 }] });
    expect(await code(f(`http://127.0.0.1:${port}/`))).toBe('FETCH_REFUSED');
    expect(await code(f(`http://localhost:${port}/`))).toBe('FETCH_REFUSED');
    expect(await code(f(`http://[::ffff:127.0.0.1]:${port}/`))).toBe('FETCH_REFUSED');
    expect(await code(f('http://169.254.169.254/latest/meta-data/'))).toBe('FETCH_REFUSED');
    expect(await code(f('http://10.0.0.1/'))).toBe('FETCH_REFUSED');
    expect(await code(f('file:///etc/passwd'))).toBe('FETCH_REFUSED');
    expect(await code(f('ftp://example.com/'))).toBe('FETCH_REFUSED');
    expect(hits.length).toBe(before);
  });

  it('refuses a host when any of its answers is forbidden (one public answer does not help)', async () => {
    let lookups = 0;
    const f = createOutboundFetch({
      lookup: async () => {
        lookups++;
        return [
          { address: '93.184.216.34', family: 4 },
          { address: '10.1.2.3', family: 4 },
        ];
      },
    });
    const err = await f('https://mixed.example/').catch((e) => e);
    expect(err).toBeInstanceOf(OutboundError);
    expect(err.code).toBe('FETCH_REFUSED');
    expect(err.message).toMatch(/public address/);
    expect(lookups).toBe(1);
  });

  it('connects an allowed host to the one address it resolved (lookup once per hop), with the Host header kept', async () => {
    let lookups = 0;
    const f = createOutboundFetch({
      allow: [`http://pinned.test:${port}`],
      lookup: async () => {
        lookups++;
        return [{ address: '127.0.0.1', family: 4 }];
      },
    });
    const res = await f(`http://pinned.test:${port}/doc?x=1`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, path: '/doc?x=1' });
    expect(lookups).toBe(1);
    expect(hits.at(-1)).toBe(`pinned.test:${port} /doc?x=1`);
    const posted = await f(`http://pinned.test:${port}/post`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(await posted.text()).toBe('got POST hello');
  });

  it('re-checks every redirect hop, stops after 3, honours redirect: error, limits size and time', async () => {
    const f = createOutboundFetch({ allow: [`127.0.0.1:${port}`], maxBytes: 5000, timeoutMs: 500 });
    const before = hits.length;
    expect(await code(f(`http://127.0.0.1:${port}/redirect-internal`))).toBe('FETCH_REFUSED');
    expect(hits.length).toBe(before + 1); // the allowed first hop only; never the metadata address
    expect(await code(f(`http://127.0.0.1:${port}/loop0`))).toBe('FETCH_REFUSED');
    expect(await code(f(`http://127.0.0.1:${port}/loop0`, { redirect: 'error' }))).toBe('FETCH_FAILED');
    const manual = await f(`http://127.0.0.1:${port}/loop0`, { redirect: 'manual' });
    expect(manual.status).toBe(302);
    expect(await code(f(`http://127.0.0.1:${port}/big`))).toBe('FETCH_FAILED');
    const t0 = Date.now();
    expect(await code(f(`http://127.0.0.1:${port}/slow`))).toBe('FETCH_FAILED');
    expect(Date.now() - t0).toBeLessThan(3000);
    const ok = await f(`http://127.0.0.1:${port}/loop1`); // 3 redirects: allowed
    expect(ok.status).toBe(200);
  });

  it('never puts the remote’s text in its errors', async () => {
    const f = createOutboundFetch({ lookup: async () => { throw new Error('getaddrinfo ENOTFOUND internal-secret-name'); } });
    const err = await f('https://nowhere.invalid/').catch((e) => e);
    expect(err.code).toBe('FETCH_REFUSED');
    expect(err.message).not.toContain('internal-secret-name');
  });

  it('a host that does not resolve and a host on a private address get one message: no enumeration of internal names (issue 21 item 8)', async () => {
    const answers: Record<string, Array<{ address: string; family: number }>> = { 'db.internal': [{ address: '10.0.0.5', family: 4 }], 'empty.internal': [] };
    const f = createOutboundFetch({
      lookup: async (host) => {
        if (answers[host]) return answers[host]!;
        throw new Error('ENOTFOUND');
      },
    });
    const seen = await Promise.all(['db.internal', 'empty.internal', 'nothing.internal'].map((h) => f(`http://${h}/x.png`).then(() => ({ code: 'fetched', message: '' }), (e: OutboundError) => ({ code: e.code as string, message: e.message.replace(h, 'HOST') }))));
    expect(new Set(seen.map((s) => JSON.stringify(s))).size).toBe(1);
    expect(seen[0]!.code).toBe('FETCH_REFUSED');
  });
});
