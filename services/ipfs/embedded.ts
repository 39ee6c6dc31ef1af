/**
 * Starts the embedded IPFS node for one machine: the Helia node (node.ts) with its
 * repo under `dataDir`, the Kubo RPC API and path gateway on one port, and the
 * single-peer IPFS Cluster REST API on another. Ports are free ones unless given.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger, type Logger } from './logger';
import { createClusterApi } from './cluster-api';
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

  const api = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://ipfs.local');
    const route = url.pathname.startsWith('/api/v0/') ? kubo(req, res, url) : url.pathname.startsWith('/ipfs/') ? gateway(req, res, url) : undefined;
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    route.catch((err) => {
      logger.error('ipfs api crashed on a request', { error: err });
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  api.keepAliveTimeout = 30_000;
  const clusterServer = http.createServer((req, res) => {
    cluster(req, res).catch((err) => {
      logger.error('ipfs cluster api crashed on a request', { error: err });
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });

  let apiUrl: string;
  let clusterUrl: string;
  try {
    apiUrl = await listen(api, opts.apiPort ?? 0, host);
    clusterUrl = await listen(clusterServer, opts.clusterPort ?? 0, host);
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
