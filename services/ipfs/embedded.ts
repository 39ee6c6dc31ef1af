/**
 * Starts the embedded IPFS node for one machine: the Helia node (node.ts) with its
 * repo under `dataDir`, the Kubo RPC API and path gateway on one port, and the
 * single-peer IPFS Cluster REST API on another. Ports are free ones unless given.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger, type Logger } from './logger';
import { createClusterApi } from './cluster-api';
import { clusterErrorBody, guardedServer, kuboErrorBody, RequestPolicy } from './guard';
import { createGateway, createKuboApi } from './kubo-api';
import { IpfsNode } from './node';

export interface EmbeddedIpfs {
  node: IpfsNode;
  /** Base URL of the Kubo RPC API (…/api/v0 is below it), also serving /ipfs/ paths. */
  apiUrl: string;
  /** Base URL of the path gateway (ends in /ipfs/). */
  gatewayUrl: string;
  /** Base URL of the Cluster REST API. */
  clusterUrl: string;
  stop(): Promise<void>;
}

export interface EmbeddedIpfsOptions {
  /** The repo directory (blocks, datastore, identity). */
  dir: string;
  logger?: Logger;
  host?: string;
  apiPort?: number;
  clusterPort?: number;
  /** Largest `add` upload in bytes (0 = no limit). */
  maxAddBytes?: number;
  /**
   * Origins allowed to call the APIs from a browser (Kubo's API.HTTPHeaders
   * Access-Control-Allow-Origin; `<port>` is replaced by the port). Default: Kubo's,
   * http(s)://{127.0.0.1,[::1],localhost}:<port>.
   */
  allowedOrigins?: string[];
  /** Host names accepted in the Host header besides loopback ones and `host` (DNS rebinding protection). */
  allowedHosts?: string[];
}

async function listen(server: http.Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 1000).unref();
  });
}

export async function startEmbeddedIpfs(opts: EmbeddedIpfsOptions): Promise<EmbeddedIpfs> {
  const host = opts.host ?? '127.0.0.1';
  const logger = opts.logger ?? silentLogger;
  const node = await IpfsNode.open(opts.dir);
  const kubo = createKuboApi({ node, logger, maxAddBytes: opts.maxAddBytes });
  const gateway = createGateway(node);
  const cluster = createClusterApi({ node, logger });

  const apiPolicy = new RequestPolicy(host, { allowedOrigins: opts.allowedOrigins, allowedHosts: opts.allowedHosts });
  const clusterPolicy = new RequestPolicy(host, { allowedOrigins: opts.allowedOrigins, allowedHosts: opts.allowedHosts });
  const api = guardedServer({
    name: 'ipfs api',
    logger,
    errorBody: kuboErrorBody,
    policy: apiPolicy,
    handler: (req, res, url) => {
      if (url.pathname.startsWith('/api/v0/')) return kubo(req, res, url);
      if (url.pathname.startsWith('/ipfs/')) return gateway(req, res, url);
      req.resume();
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
    },
  });
  api.keepAliveTimeout = 30_000;
  const clusterServer = guardedServer({ name: 'ipfs cluster api', logger, errorBody: clusterErrorBody, policy: clusterPolicy, handler: (req, res, url) => cluster(req, res, url) });

  let apiUrl: string;
  let clusterUrl: string;
  try {
    apiUrl = await listen(api, opts.apiPort ?? 0, host);
    clusterUrl = await listen(clusterServer, opts.clusterPort ?? 0, host);
    apiPolicy.setPort((api.address() as AddressInfo).port);
    clusterPolicy.setPort((clusterServer.address() as AddressInfo).port);
  } catch (err) {
    await Promise.all([closeServer(api), closeServer(clusterServer)]);
    await node.close();
    throw err;
  }
  logger.info('embedded IPFS node ready', { peerId: node.identity.peerId, apiUrl, clusterUrl, dir: opts.dir });
  return {
    node,
    apiUrl,
    gatewayUrl: `${apiUrl}/ipfs/`,
    clusterUrl,
    async stop() {
      await Promise.all([closeServer(api), closeServer(clusterServer)]);
      await node.close();
    },
  };
}
