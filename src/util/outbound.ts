/**
 * The one outbound-request guard: a `fetch` for requests whose URL a model or a remote
 * document can steer (DID resolution incl. did:web, handle resolution over HTTPS, the PDS
 * a DID document names, and any other model- or document-chosen URL).
 *
 *   - only http: and https:;
 *   - the host is resolved once (dns.lookup, all answers) and refused when ANY answer is
 *     loopback, private (RFC 1918, ULA fc00::/7), link-local (169.254/16 incl. cloud
 *     metadata, fe80::/10), CGNAT 100.64/10, 0.0.0.0/8, multicast, reserved or
 *     documentation ranges, or an IPv6 form embedding one of those (IPv4-mapped,
 *     -compatible, NAT64, 6to4); the connection then goes to the checked address itself
 *     (the socket's lookup answers with it), so DNS rebinding cannot swap it;
 *   - unless host:port is one of the configured services (the allow list: PDS, PLC,
 *     relay, AppView, IPFS API/gateway URLs, OUTBOUND_ALLOW_HOSTS), which skip the
 *     address check (they are what the operator configured; often on loopback);
 *   - redirects are followed by hand, each hop checked again, at most 3;
 *   - a total time limit over all hops and a limit on the body's size.
 *
 * A refusal is an OutboundError FETCH_REFUSED, any other failure FETCH_FAILED; their
 * messages are ours, never the remote's text. Nothing is sent anywhere before the check.
 */
import dns from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { AppError } from '../errors';

export type OutboundErrorCode = 'FETCH_REFUSED' | 'FETCH_FAILED';
export class OutboundError extends AppError<OutboundErrorCode> {}

// ---------------------------------------------------------------------------------------
// Address classification

/** The 4 bytes of a dotted IPv4 address, or undefined. */
export function parseIPv4(text: string): number[] | undefined {
  if (net.isIPv4(text)) return text.split('.').map(Number);
  return undefined;
}

/** The 8 hextets of an IPv6 address (zone id dropped, embedded dotted IPv4 allowed), or undefined. */
export function parseIPv6(text: string): number[] | undefined {
  const t = text.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (!net.isIPv6(t)) return undefined;
  let s = t;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const b = parseIPv4(dotted[1]!)!;
    s = `${s.slice(0, dotted.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const tl = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - tl.length;
  const parts = [...h, ...Array<string>(fill).fill('0'), ...tl];
  if (parts.length !== 8) return undefined;
  return parts.map((p) => parseInt(p, 16));
}

const V4_RANGES: Array<[base: string, bits: number, kind: string]> = [
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];
const v4num = (b: number[]) => ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!;
const V4 = V4_RANGES.map(([base, bits, kind]) => ({ base: v4num(parseIPv4(base)!), mask: bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0, kind }));

function v4Kind(b: number[]): string | undefined {
  const n = v4num(b);
  for (const r of V4) if (((n & r.mask) >>> 0) === r.base) return r.kind;
  return undefined;
}

function embeddedV4(h: number[], at: number): number[] {
  return [h[at]! >> 8, h[at]! & 0xff, h[at + 1]! >> 8, h[at + 1]! & 0xff];
}

function v6Kind(h: number[]): string | undefined {
  const zeros = (from: number, to: number) => h.slice(from, to).every((x) => x === 0);
  if (zeros(0, 8)) return 'unspecified';
  if (zeros(0, 7) && h[7] === 1) return 'loopback';
  // IPv4-mapped ::ffff:a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d, IPv4-compatible ::a.b.c.d
  if (zeros(0, 5) && h[5] === 0xffff) return v4Kind(embeddedV4(h, 6)) && `IPv4-mapped ${v4Kind(embeddedV4(h, 6))}`;
  if (zeros(0, 4) && h[4] === 0xffff && h[5] === 0) return v4Kind(embeddedV4(h, 6)) && `IPv4-translated ${v4Kind(embeddedV4(h, 6))}`;
  if (zeros(0, 6)) return v4Kind(embeddedV4(h, 6)) && `IPv4-compatible ${v4Kind(embeddedV4(h, 6))}`;
  // NAT64 64:ff9b::/96 embeds an IPv4 address; 64:ff9b:1::/48 is for local use.
  if (h[0] === 0x64 && h[1] === 0xff9b && zeros(2, 6)) return v4Kind(embeddedV4(h, 6)) && `NAT64 ${v4Kind(embeddedV4(h, 6))}`;
  if (h[0] === 0x64 && h[1] === 0xff9b && h[2] === 1) return 'NAT64 local-use';
  if (h[0] === 0x2002) return v4Kind(embeddedV4(h, 1)) && `6to4 ${v4Kind(embeddedV4(h, 1))}`;
  if (h[0] === 0x100 && zeros(1, 4)) return 'discard';
  if (h[0] === 0x2001 && h[1] === 0xdb8) return 'documentation';
  if (h[0] === 0x2001 && h[1] === 0) return 'Teredo';
  if ((h[0]! & 0xfe00) === 0xfc00) return 'unique local (private)';
  if ((h[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if ((h[0]! & 0xffc0) === 0xfec0) return 'site-local';
  if ((h[0]! & 0xff00) === 0xff00) return 'multicast';
  return undefined;
}

/**
 * Why an outbound request must not go to `ip` (loopback, private, link-local, …), or
 * undefined for a public address. Text that is not an IP address is refused too.
 */
export function forbiddenAddress(ip: string): string | undefined {
  const v4 = parseIPv4(ip);
  if (v4) return v4Kind(v4);
  const v6 = parseIPv6(ip);
  if (v6) return v6Kind(v6);
  return 'not an IP address';
}

// ---------------------------------------------------------------------------------------
// The guarded fetch

export interface LookupAddress {
  address: string;
  family: number;
}

export interface OutboundOptions {
  /** URLs (or host:port) of configured services: requests to their host:port skip the address check. */
  allow?: Iterable<string | undefined>;
  /** Total time for the request, redirects included (default 10 s). */
  timeoutMs?: number;
  /** Largest body read (default 5 MiB). */
  maxBytes?: number;
  /** Redirects followed, each re-checked (default 3). */
  maxRedirects?: number;
  /** Name resolution (default dns.lookup with all: true); tests inject their own. */
  lookup?: (hostname: string) => Promise<LookupAddress[]>;
}

export type OutboundFetch = typeof globalThis.fetch;

function defaultPort(protocol: string): string {
  return protocol === 'https:' ? '443' : '80';
}

/** `host:port` of a URL (or of a `host:port` text), lower case, default ports filled in; undefined when unparsable. */
export function hostPortOf(entry: string): string | undefined {
  const text = entry.trim();
  if (!text) return undefined;
  try {
    const u = new URL(text.includes('://') ? text : `http://${text}`);
    if (!text.includes('://') && !/:\d+$/.test(text)) return undefined;
    return `${u.hostname.toLowerCase()}:${u.port || defaultPort(u.protocol)}`;
  } catch {
    return undefined;
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The guard: a fetch that refuses forbidden targets (see the file comment). */
export function createOutboundFetch(opts: OutboundOptions = {}): OutboundFetch {
  const allow = new Set([...(opts.allow ?? [])].flatMap((e) => (e ? [hostPortOf(e)].filter((x): x is string => !!x) : [])));
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxBytes = opts.maxBytes ?? 5 * 1024 * 1024;
  const maxRedirects = opts.maxRedirects ?? 3;
  const lookup = opts.lookup ?? (async (host: string) => (await dns.lookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family })));

  /**
   * A host that does not resolve and a host on an internal network get the same error
   * (code and message): a caller must not learn which internal names exist.
   */
  const unreachable = (url: URL) => new OutboundError('FETCH_REFUSED', `refused: ${JSON.stringify(url.host.slice(0, 200))} does not resolve to a public address; the server fetches only from the public internet`);

  /** Checks one URL and resolves the addresses it may connect to (never connects). */
  async function check(url: URL): Promise<LookupAddress[]> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundError('FETCH_REFUSED', `refused: only http and https URLs are fetched (${url.protocol})`);
    if (url.username || url.password) throw new OutboundError('FETCH_REFUSED', 'refused: URLs with credentials are not fetched');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const allowed = allow.has(`${url.hostname.toLowerCase()}:${url.port || defaultPort(url.protocol)}`);
    let answers: LookupAddress[];
    if (net.isIP(host)) answers = [{ address: host, family: net.isIP(host) }];
    else {
      try {
        answers = await lookup(host);
      } catch {
        throw unreachable(url);
      }
      if (!answers.length) throw unreachable(url);
    }
    if (!allowed) {
      for (const a of answers) {
        if (forbiddenAddress(a.address)) throw unreachable(url);
      }
    }
    return answers;
  }

  /** One request to the checked addresses; the body read whole, up to maxBytes. */
  function send(url: URL, to: LookupAddress[], init: { method: string; headers: Record<string, string>; body?: Buffer }, signal: AbortSignal): Promise<{ status: number; statusText: string; headers: Headers; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const pinned = ((_h: string, o: { all?: boolean }, cb: (...args: unknown[]) => void) => {
        // Only the addresses checked above (all of them, for the socket's happy eyeballs).
        if (o?.all) cb(null, to.map((a) => ({ address: a.address, family: a.family })));
        else cb(null, to[0]!.address, to[0]!.family);
      }) as unknown as net.LookupFunction;
      const req = mod.request(
        {
          protocol: url.protocol,
          host,
          port: url.port || defaultPort(url.protocol),
          path: `${url.pathname}${url.search}`,
          method: init.method,
          headers: { ...init.headers, host: url.host, 'accept-encoding': 'identity' },
          lookup: pinned,
          servername: net.isIP(host) ? undefined : host,
          agent: false,
          signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let n = 0;
          let tooLarge = false;
          res.on('data', (c: Buffer) => {
            n += c.length;
            if (n > maxBytes) {
              tooLarge = true;
              reject(new OutboundError('FETCH_FAILED', `the response is larger than ${maxBytes} bytes`));
              req.destroy();
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            if (tooLarge) return;
            const headers = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
            resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers, body: Buffer.concat(chunks, n) });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (init.body) req.end(init.body);
      else req.end();
    });
  }

  const guarded = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const req = input instanceof Request ? input : undefined;
    let url: URL;
    try {
      url = new URL(req ? req.url : input.toString());
    } catch {
      throw new OutboundError('FETCH_REFUSED', 'refused: not a valid URL');
    }
    let method = (init.method ?? req?.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = {};
    new Headers(init.headers ?? req?.headers).forEach((v, k) => (headers[k] = v));
    const rawBody = init.body ?? (req && req.body ? await req.arrayBuffer() : undefined);
    let body = rawBody == null ? undefined : Buffer.from(await new Response(rawBody as BodyInit).arrayBuffer());
    const redirect = init.redirect ?? req?.redirect ?? 'follow';
    const signals = [AbortSignal.timeout(timeoutMs), init.signal ?? req?.signal].filter((s): s is AbortSignal => !!s);
    const signal = AbortSignal.any(signals);

    for (let hop = 0; ; hop++) {
      const to = await check(url);
      let res;
      try {
        res = await send(url, to, { method, headers, body }, signal);
      } catch (err) {
        if (err instanceof OutboundError) throw err;
        if (signal.aborted) throw new OutboundError('FETCH_FAILED', `no answer from ${JSON.stringify(url.host.slice(0, 200))} in time`);
        throw new OutboundError('FETCH_FAILED', `cannot reach ${JSON.stringify(url.host.slice(0, 200))}`);
      }
      const location = res.headers.get('location');
      if (REDIRECTS.has(res.status) && location && redirect !== 'manual') {
        if (redirect === 'error') throw new OutboundError('FETCH_FAILED', `${JSON.stringify(url.host.slice(0, 200))} answered with a redirect`);
        if (hop >= maxRedirects) throw new OutboundError('FETCH_REFUSED', `refused: more than ${maxRedirects} redirects`);
        try {
          url = new URL(location, url);
        } catch {
          throw new OutboundError('FETCH_FAILED', 'a redirect to an invalid URL');
        }
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
          delete headers['content-type'];
          delete headers['content-length'];
        }
        continue;
      }
      const noBody = method === 'HEAD' || res.status === 204 || res.status === 304;
      const status = res.status >= 200 && res.status <= 599 ? res.status : 502;
      const out = new Response(noBody ? null : new Uint8Array(res.body), { status, statusText: res.statusText, headers: res.headers });
      Object.defineProperty(out, 'url', { value: url.toString() });
      return out;
    }
  };
  return guarded as OutboundFetch;
}

/** The OutboundError a failure carries (itself, or in its cause chain), if any. */
export function outboundErrorIn(err: unknown): OutboundError | undefined {
  for (let e = err, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) if (e instanceof OutboundError) return e;
  return undefined;
}
