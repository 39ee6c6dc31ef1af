/**
 * No server of the app announces its framework: express (ours, and the ones inside the
 * PLC, the PDS and XRPC routers) sets `X-Powered-By: Express` on every response of every
 * (sub-)app that has not disabled it. Dropping the header at the HTTP server covers them all.
 */
import type http from 'node:http';

export function withoutPoweredBy<S extends http.Server>(server: S): S {
  server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    const setHeader = res.setHeader;
    res.setHeader = function (this: http.ServerResponse, name: string, value: number | string | readonly string[]) {
      if (name.toLowerCase() === 'x-powered-by') return this;
      return setHeader.call(this, name, value);
    } as typeof res.setHeader;
  });
  return server;
}
