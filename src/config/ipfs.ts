/** IPFS settings (README "IPFS"; src/features/ipfs): unset IPFS_API_URL = the embedded node (services/ipfs). */
import path from 'node:path';
import { z } from 'zod';
import { intFrom, optionalString, optionalUrl } from './fields';

export const ipfsEnv = {
  IPFS_API_URL: optionalUrl,
  IPFS_CLUSTER_URL: optionalUrl,
  IPFS_CLUSTER_BASIC_AUTH: optionalString.pipe(z.string().regex(/^[^:]+:.+$/, 'must be user:password').optional()),
  IPFS_GATEWAY_URL: optionalUrl,
  IPFS_EMBEDDED_PORT: intFrom(0, 0, 65535),
  IPFS_EMBEDDED_CLUSTER_PORT: intFrom(0, 0, 65535),
  IPFS_MAX_PIN_BYTES: intFrom(100 * 1024 * 1024, 1),
  IPFS_MAX_READ_BYTES: intFrom(1024 * 1024, 1),
  IPFS_TIMEOUT_MS: intFrom(30_000, 100),
  IPFS_REPLICATION_MIN: intFrom(0, 0, 1000),
  IPFS_REPLICATION_MAX: intFrom(0, 0, 1000),
  IPFS_FILES_DIR: optionalString,
};
/** The IPFS variables plus DATA_DIR (the default files directory lives under it). */
type IpfsEnv = z.output<z.ZodObject<typeof ipfsEnv>> & { DATA_DIR: string };

/** IPFS settings (src/features/ipfs). */
export interface IpfsConfig {
  /** External Kubo RPC API; undefined = the embedded node. */
  apiUrl?: string;
  /** External IPFS Cluster REST API; when set, pins go through the cluster. */
  clusterUrl?: string;
  /** `user:password` for the cluster's basic auth (a secret). */
  clusterBasicAuth?: string;
  /** Public gateway base for links; undefined = the node's own /ipfs/ (embedded) or https://ipfs.io/ipfs/. */
  gatewayUrl?: string;
  embeddedPort: number;
  embeddedClusterPort: number;
  /** Largest content a tool pins, in bytes. */
  maxPinBytes: number;
  /** Largest content a tool reads back by CID, in bytes. */
  maxReadBytes: number;
  /** Upper bound on one IPFS call from a tool. */
  timeoutMs: number;
  /** Cluster replication factors (0 = the cluster's own default). */
  replicationMin: number;
  replicationMax: number;
  /** The only directory the pin-a-local-file tool may read from. */
  filesDir: string;
}

export function ipfsConfig(c: IpfsEnv): IpfsConfig {
  return {
    apiUrl: c.IPFS_API_URL,
    clusterUrl: c.IPFS_CLUSTER_URL,
    clusterBasicAuth: c.IPFS_CLUSTER_BASIC_AUTH,
    gatewayUrl: c.IPFS_GATEWAY_URL,
    embeddedPort: c.IPFS_EMBEDDED_PORT,
    embeddedClusterPort: c.IPFS_EMBEDDED_CLUSTER_PORT,
    maxPinBytes: c.IPFS_MAX_PIN_BYTES,
    maxReadBytes: c.IPFS_MAX_READ_BYTES,
    timeoutMs: c.IPFS_TIMEOUT_MS,
    replicationMin: c.IPFS_REPLICATION_MIN,
    replicationMax: c.IPFS_REPLICATION_MAX,
    filesDir: path.resolve(c.IPFS_FILES_DIR ?? path.join(c.DATA_DIR, 'files')),
  };
}
