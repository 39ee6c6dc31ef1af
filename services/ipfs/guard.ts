/**
 * What stands between the network and the handlers of the embedded node's HTTP
 * servers (Kubo RPC + gateway, Cluster REST):
 *
 * - The request target is parsed in one place (`requestUrl`), never with a base that
 *   lets `//host` or `//[` reinterpret the path, and never throwing.
 * - Every request runs inside a try/catch (sync and async); a handler that fails
 *   answers 500 or cuts its stream, it never takes the process down.
 * - Bytes the HTTP parser rejects (bad request line, bad header characters, NUL
 *   bytes, oversized headers) get a 4xx in the server's own error format from the
 *   `clientError` handler, and the socket is closed.
 * - The request policy (`RequestPolicy`): Kubo's Origin and Referer rules
 *   (go-ipfs-cmds' allowOrigin/allowReferer: absent → allowed, else it must be one of
 *   the allowed origins, by default http(s)://{127.0.0.1,[::1],localhost}:<port>),
 *   go-ipfs-cmds' refusal of a browser POST that carries neither (Firefox sends
 *   none on some form posts), and, stricter than Kubo, a Host check against DNS
 *   rebinding: the Host header must name a loopback address, `localhost`, the
 *   configured host, or a host listed in `allowedHosts`.
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from './logger';

/** Largest request head (request line + headers) accepted, in bytes (Node's default, made explicit). */
export const MAX_HEADER_BYTES = 16 * 1024;

export type ErrorBody = (status: number, message: string) => unknown;

/** Kubo's error shape (go-ipfs-cmds): code 1 for a client error. */
export const kuboErrorBody: ErrorBody = (status, message) => ({ Message: message, Code: status >= 500 ? 0 : 1, Type: 'error' });
/** IPFS Cluster's error shape. */
export const clusterErrorBody: ErrorBody = (status, message) => ({ code: status, message });

/** RFC 3986 path characters (pchar, '/', '%'): anything else in a path is refused. */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
/** A '%' not followed by two hex digits (Go's url.ParseQuery fails on it: "invalid URL escape"). */
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;

/**
 * The request target as a URL, or undefined when it is not a well-formed origin-form
 * target (`/path?query`): characters a path may not hold (`[`, `]`, `\`, `<` …), a bad
 * `%` escape anywhere. Never throws.
 */
export function requestUrl(req: http.IncomingMessage): URL | undefined {
  const target = req.url ?? '';
  if (!target.startsWith('/') || target.length > MAX_HEADER_BYTES) return undefined;
  const q = target.indexOf('?');
  const pathPart = q === -1 ? target : target.slice(0, q);
  if (!PATH_CHARS.test(pathPart) || BAD_ESCAPE.test(target)) return undefined;
  try {
    // Prefixing (not a base URL) keeps `//x/…` a path instead of a host.
    return new URL(`http://embedded.invalid${target}`);
  } catch {
    return undefined;
  }
}

/** decodeURIComponent that reports bad percent-encoding instead of throwing URIError. */
export function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

export function sendError(res: http.ServerResponse, status: number, message: string, body: ErrorBody) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body(status, message)) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-content-type-options': 'nosniff' });
  res.end(text);
}

export interface PolicyOptions {
  /** Origins allowed to call (Kubo's API.HTTPHeaders Access-Control-Allow-Origin); `<port>` is replaced by the listening port. "*" allows any. */
  allowedOrigins?: string[];
  /** Host names (without port) accepted in the Host header besides loopback ones and the configured host. */
  allowedHosts?: string[];
}

/** Kubo's default allowed origins (core/corehttp/commands.go). */
export const DEFAULT_ALLOWED_ORIGINS = ['http://127.0.0.1:<port>', 'https://127.0.0.1:<port>', 'http://[::1]:<port>', 'https://[::1]:<port>', 'http://localhost:<port>', 'https://localhost:<port>'];

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

function isLoopbackName(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

/** The host part of a Host header (`[::1]:5001` → `::1`), lower-cased; undefined when malformed. */
export function hostOf(header: string): string | undefined {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end === -1) return undefined;
    const rest = h.slice(end + 1);
    if (rest && !/^:\d{1,5}$/.test(rest)) return undefined;
    return h.slice(1, end);
  }
  const m = /^([a-z0-9._-]+)(?::\d{1,5})?$/.exec(h);
  return m ? m[1] : undefined;
}

export class RequestPolicy {
  private origins: string[] = [];
  private readonly hosts: Set<string>;
  private readonly anyIp: boolean;

  constructor(
    private readonly bindHost: string,
    private readonly opts: PolicyOptions = {},
  ) {
    const bind = bindHost.replace(/^\[|\]$/g, '').toLowerCase();
    this.hosts = new Set([bind, ...(opts.allowedHosts ?? []).map((h) => h.toLowerCase())]);
    // Bound to every interface: clients reach it by any of the machine's addresses. An
    // IP literal cannot be rebound by DNS, so any IP literal is fine; names still are not.
    this.anyIp = WILDCARD_HOSTS.has(bind);
  }

  /** Called once the port is known (Kubo's patchCORSVars). */
  setPort(port: number) {
    this.origins = (this.opts.allowedOrigins ?? DEFAULT_ALLOWED_ORIGINS).map((o) => o.replaceAll('<port>', String(port)));
    if (!this.opts.allowedOrigins && !WILDCARD_HOSTS.has(this.bindHost) && !isLoopbackName(this.bindHost)) {
      const h = net.isIPv6(this.bindHost) ? `[${this.bindHost}]` : this.bindHost;
      this.origins.push(`http://${h}:${port}`, `https://${h}:${port}`);
    }
  }

  allowedOrigin(origin: string): boolean {
    return this.origins.includes('*') || this.origins.includes(origin);
  }

  /** Undefined when the request may go on; else the status and message to refuse it with. */
  check(req: http.IncomingMessage): { status: number; message: string } | undefined {
    const hostHeader = req.headers.host;
    if (hostHeader !== undefined) {
      const host = hostOf(hostHeader);
      const ok = host !== undefined && (isLoopbackName(host) || this.hosts.has(host) || (this.anyIp && net.isIP(host) !== 0));
      if (!ok) return { status: 403, message: `403 - Forbidden: host "${hostHeader.slice(0, 100)}" is not allowed (DNS rebinding protection)` };
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.allowedOrigin(origin)) return { status: 403, message: '403 - Forbidden' };
    const referer = req.headers.referer;
    if (referer !== undefined && referer !== '') {
      let refOrigin: string | undefined;
      try {
        const u = new URL(referer);
        refOrigin = `${u.protocol}//${u.host}`;
      } catch {
        refOrigin = undefined;
      }
      if (refOrigin === undefined || !this.allowedOrigin(refOrigin)) return { status: 403, message: '403 - Forbidden' };
    }
    // A browser never POSTs to the API without Origin or Referer unless something odd
    // is going on (go-ipfs-cmds' allowUserAgent).
    if (req.method === 'POST' && origin === undefined && !referer && /^Mozilla\//.test(req.headers['user-agent'] ?? '')) {
      return { status: 403, message: '403 - Forbidden' };
    }
    return undefined;
  }

  /** CORS headers for an allowed Origin (none when there is no Origin). */
  corsHeaders(req: http.IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    if (!origin || !this.allowedOrigin(origin)) return {};
    return {
      'access-control-allow-origin': origin,
      vary: 'Origin',
      'access-control-expose-headers': 'X-Stream-Output, X-Chunked-Output, X-Content-Length, X-Stream-Error',
    };
  }
}

export type GuardedHandler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void> | void;

/**
 * An HTTP server whose handler can neither crash the process nor be reached by a
 * request that fails the policy or whose target does not parse.
 */
export function guardedServer(opts: { name: string; logger: Logger; errorBody: ErrorBody; policy: RequestPolicy; handler: GuardedHandler }): http.Server {
  const { logger, errorBody, policy } = opts;
  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, requireHostHeader: true }, (req, res) => {
    const fail = (err: unknown) => {
      logger.error(`${opts.name} failed on a request`, { error: err });
      try {
        if (!res.headersSent) sendError(res, 500, 'internal error', errorBody);
        else res.destroy();
      } catch {
        res.destroy();
      }
    };
    try {
      const url = requestUrl(req);
      if (!url) {
        req.resume();
        sendError(res, 400, `malformed request target`, errorBody);
        return;
      }
      const refused = policy.check(req);
      if (refused) {
        logger.warn(`${opts.name} refused a request (possible CSRF or DNS rebinding)`, { path: url.pathname.slice(0, 200) });
        req.resume();
        sendError(res, refused.status, refused.message, errorBody);
        return;
      }
      for (const [k, v] of Object.entries(policy.corsHeaders(req))) res.setHeader(k, v);
      if (req.method === 'OPTIONS' && req.headers.origin) {
        // A CORS preflight from an allowed origin.
        res.writeHead(200, {
          'access-control-allow-methods': 'POST, GET',
          'access-control-allow-headers': String(req.headers['access-control-request-headers'] ?? '').slice(0, 1000),
          'content-length': '0',
        });
        res.end();
        return;
      }
      const out = opts.handler(req, res, url);
      if (out) out.catch(fail);
    } catch (err) {
      fail(err);
    }
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const tooBig = err.code === 'HPE_HEADER_OVERFLOW';
    const status = tooBig ? 431 : 400;
    const text = JSON.stringify(errorBody(status, tooBig ? 'request header fields too large' : `malformed request: ${err.code ?? 'bad request'}`)) + '\n';
    socket.end(
      `HTTP/1.1 ${status} ${tooBig ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
  });
  return server;
}
