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
