/**
 * What tools, workflows and agents are built from: the validated config, a logger,
 * the URL of every backing service (configured or embedded), a Postgres pool, and one
 * client per backing service, built once by its feature (each connects lazily).
 */
import type pg from 'pg';
import type { Config } from '../config';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import type { AtprotoClients } from './atproto/clients';
import type { IpfsService } from './ipfs/service';
import type { PowerSyncClients } from './powersync/keys';

export interface ServiceUrls {
  databaseUrl: string;
  [service: string]: string | undefined;
}

/** One client per backing service; absent while its feature is off. */
export interface Clients {
  atproto?: AtprotoClients;
  ipfs?: IpfsService;
  powersync?: PowerSyncClients;
}

export interface AppContext {
  config: Config;
  logger: Logger;
  urls: ServiceUrls;
  db: pg.Pool;
  clients: Clients;
}

/** The client of a service whose feature is on; FEATURE_OFF otherwise. */
export function clientOf<K extends keyof Clients>(ctx: Pick<AppContext, 'clients'>, service: K): NonNullable<Clients[K]> {
  const c = ctx.clients[service];
  if (!c) throw new AppError('FEATURE_OFF', `the ${service} feature is not enabled (FEATURES) or has not created its clients`);
  return c as NonNullable<Clients[K]>;
}
