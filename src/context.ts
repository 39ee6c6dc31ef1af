/**
 * What tools, workflows and agents are built from: the validated config, a logger,
 * the URL of every backing service (configured or embedded), and one client per
 * service, built once (each connects lazily). Features add their own clients under
 * `clients` (see src/features).
 */
import type pg from 'pg';
import type { Config } from './config';
import type { Logger } from './logger';

export interface ServiceUrls {
  databaseUrl: string;
  [service: string]: string | undefined;
}

export interface AppContext {
  config: Config;
  logger: Logger;
  urls: ServiceUrls;
  db: pg.Pool;
  /** Feature clients by feature name, e.g. clients.atproto, clients.ipfs. */
  clients: Record<string, unknown>;
}
