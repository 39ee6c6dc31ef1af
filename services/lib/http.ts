/** What the stand-ins' HTTP servers share: the request URL parsed without throwing. */
import type http from 'node:http';

/** The request's URL, or undefined when the request line holds no parsable path (e.g. `GET //[`). */
export function requestUrl(req: http.IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}

/** The request's URL when its path is well-formed (parsable, valid percent-encoding), else undefined. */
export function wellFormedUrl(req: http.IncomingMessage): URL | undefined {
  const url = requestUrl(req);
  if (!url) return undefined;
  try {
    decodeURIComponent(url.pathname);
    return url;
  } catch {
    return undefined;
  }
}

/**
 * Puts a guard in front of a server's request handlers (e.g. an upstream app we host
 * in-process): a request whose URL is not well-formed gets `reject` instead of reaching
 * them, so no library below ever sees it.
 */
export function guardRequests(server: http.Server, reject: (req: http.IncomingMessage, res: http.ServerResponse) => void): void {
  const handlers = server.listeners('request') as Array<(req: http.IncomingMessage, res: http.ServerResponse) => void>;
  server.removeAllListeners('request');
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!wellFormedUrl(req)) return reject(req, res);
    for (const h of handlers) h(req, res);
  });
}
