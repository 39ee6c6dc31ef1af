/**
 * The embedded AT network for one machine: a real PLC directory (@did-plc/server, its
 * operations kept in the project's Postgres under the `plc` schema) and a real PDS
 * (@atproto/pds in-process, SQLite repos and blobs under DATA_DIR/pds).
 *
 * The PDS names itself `http://localhost:<port>` and every DID document in the PLC
 * points there, so its port is chosen once (EMBEDDED_PDS_PORT, else a free port) and
 * kept in DATA_DIR/pds/state.json with the PDS's secrets (mode 600). The PLC port
 * can change freely between runs: nothing stores it.
 *
 * What it does not do: no AppView (app.bsky.* reads on the PDS answer 400; the tools
 * read records from the repos instead), no relay (the firehose is the PDS's own
 * subscribeRepos), no email, plain http on loopback only.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import type http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import type { Logger, SecretSink } from '../lib/logger';
import { guardRequests } from '../lib/http';
import { freePort } from '../lib/net';
import { withoutPoweredBy } from '../lib/powered-by';
import { DataFileError, parseDataFile } from '../lib/data-file';

export interface EmbeddedAtprotoOptions {
  dataDir: string;
  databaseUrl: string;
  /** 0 = the port kept in DATA_DIR, else a free one chosen now and kept. */
  pdsPort?: number;
  /** Handles are `<name>.<domain>`; the PDS serves `.<domain>`. */
  handleDomain: string;
  /** Relays the PDS asks to crawl it (com.atproto.sync.requestCrawl). */
  crawlers?: string[];
  appViewUrl?: string;
  appViewDid?: string;
  host?: string;
  logger?: Logger;
  /** Told the generated secrets (admin password, JWT secret, rotation key) to keep them out of logs. */
  onSecret?: SecretSink;
}

export interface EmbeddedAtproto {
  pdsUrl: string;
  plcUrl: string;
  pdsPort: number;
  /** Admin basic-auth password of the PDS (kept server-side; registered as a secret). */
  adminPassword: string;
  stop(): Promise<void>;
}

interface PdsState {
  port: number;
  jwtSecret: string;
  adminPassword: string;
  dpopSecret: string;
  plcRotationKeyHex: string;
}

async function loadOrCreateState(file: string, wantedPort: number): Promise<PdsState> {
  let state: PdsState | undefined;
  let text: string | undefined;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new DataFileError(file, (err as NodeJS.ErrnoException).code ?? 'unreadable');
  }
  if (text !== undefined) {
    state = parseDataFile<PdsState>(file, text, (v) =>
      typeof v.port === 'number' && ['jwtSecret', 'adminPassword', 'dpopSecret', 'plcRotationKeyHex'].every((k) => typeof v[k] === 'string') ? undefined : 'missing port or secrets',
    );
  }
  if (!state) {
    const { Secp256k1Keypair } = await import('@atproto/crypto');
    const key = await Secp256k1Keypair.create({ exportable: true });
    state = {
      port: wantedPort || (await freePort()),
      jwtSecret: randomBytes(32).toString('hex'),
      adminPassword: randomBytes(24).toString('base64url'),
      dpopSecret: randomBytes(32).toString('hex'),
      plcRotationKeyHex: Buffer.from(await key.export()).toString('hex'),
    };
  } else if (wantedPort && wantedPort !== state.port) {
    // An explicit port wins; DID documents already published keep pointing at the old one.
    state.port = wantedPort;
  } else {
    return state;
  }
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  return state;
}

const PLC_APP_NAME = 'one-agents-plc';

/**
 * pg-pool's end() resolves before its clients' sockets close; if Postgres stops in that
 * window the PLC's (bundled, listener-less) clients raise an unhandled error. Wait until
 * the server has no backend left for the PLC.
 */
async function waitForBackendsGone(databaseUrl: string, appName: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => {});
  try {
    await client.connect();
    for (let i = 0; i < 100; i++) {
      const r = await client.query<{ n: string }>('select count(*) as n from pg_stat_activity where application_name = $1', [appName]);
      if (Number(r.rows[0]!.n) === 0) return;
      await new Promise((res) => setTimeout(res, 20));
    }
  } finally {
    await client.end().catch(() => {});
  }
}

const sockets = new WeakMap<http.Server, Set<Socket>>();

function listen(app: { listen: (...args: unknown[]) => http.Server }, port: number, host: string): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const server = withoutPoweredBy(app.listen(port, host));
    // A malformed request URL gets an XRPC 400 here; the PDS and PLC apps would answer 500.
    guardRequests(server, (_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'InvalidRequest', message: 'malformed request URL' }));
    });
    // Upgraded (websocket) connections are not closed by closeAllConnections(): track them all.
    const set = new Set<Socket>();
    sockets.set(server, set);
    server.on('connection', (s: Socket) => {
      set.add(s);
      s.once('close', () => set.delete(s));
    });
    server.once('error', reject);
    server.once('listening', () => resolve(server));
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
    for (const s of sockets.get(server) ?? []) s.destroy();
  });
}

export async function startEmbeddedAtproto(opts: EmbeddedAtprotoOptions): Promise<EmbeddedAtproto> {
  const host = opts.host ?? '127.0.0.1';
  const pdsDir = path.join(opts.dataDir, 'pds');
  await fs.mkdir(path.join(pdsDir, 'blobs', 'tmp'), { recursive: true });
  const state = await loadOrCreateState(path.join(pdsDir, 'state.json'), opts.pdsPort ?? 0);
  for (const s of [state.adminPassword, state.jwtSecret, state.plcRotationKeyHex, state.dpopSecret]) opts.onSecret?.(s);

  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((err) => opts.logger?.warn('stopping the AT network', { error: err }));
    stops.length = 0;
  };

  try {
    // ---- PLC on Postgres (schema `plc`) ----------------------------------------------
    const plcMod = await import('@did-plc/server');
    const plcDbUrl = new URL(opts.databaseUrl);
    plcDbUrl.searchParams.set('application_name', PLC_APP_NAME);
    const plcDb = plcMod.Database.postgres({ url: plcDbUrl.toString(), schema: 'plc' });
    await plcDb.migrateToLatestOrThrow();
    const plc = plcMod.PlcServer.create({ db: plcDb });
    const plcPort = await freePort(host);
    const plcServer = await listen(plc.app as never, plcPort, host);
    stops.push(async () => {
      await closeServer(plcServer);
      await plcDb.close();
      await waitForBackendsGone(opts.databaseUrl, PLC_APP_NAME);
    });
    // By name, not IP: the PDS's own fetch (safeFetchWrap, allowIpHost: false) refuses IP
    // hosts, so with an IP here it could not resolve its own accounts' DIDs (describeRepo).
    const plcUrl = `http://${host === '127.0.0.1' ? 'localhost' : host}:${plcPort}`;

    // ---- PDS ------------------------------------------------------------------------
    const pdsMod = await import('@atproto/pds');
    const env: Parameters<typeof pdsMod.envToCfg>[0] = {
      port: state.port,
      hostname: 'localhost',
      devMode: true,
      version: '0.0.0-embedded',
      dataDirectory: pdsDir,
      blobstoreDiskLocation: path.join(pdsDir, 'blobs'),
      blobstoreDiskTmpLocation: path.join(pdsDir, 'blobs', 'tmp'),
      didPlcUrl: plcUrl,
      serviceHandleDomains: [`.${opts.handleDomain}`],
      inviteRequired: false,
      jwtSecret: state.jwtSecret,
      adminPassword: state.adminPassword,
      dpopSecret: state.dpopSecret,
      plcRotationKeyK256PrivateKeyHex: state.plcRotationKeyHex,
      crawlers: opts.crawlers ?? [],
      rateLimitsEnabled: false,
      ...(opts.appViewUrl && opts.appViewDid ? { bskyAppViewUrl: opts.appViewUrl, bskyAppViewDid: opts.appViewDid } : {}),
    };
    const pds = await pdsMod.PDS.create(pdsMod.envToCfg(env), pdsMod.envToSecrets(env));
    // PDS.start() listens on every interface; we listen on loopback ourselves. The app's
    // patched listen() still wires the subscribeRepos websocket upgrade.
    await pds.ctx.sequencer.start();
    const pdsServer = await listen(pds.app as never, state.port, host);
    pdsServer.keepAliveTimeout = 90_000;
    stops.push(async () => {
      await closeServer(pdsServer);
      await pds.destroy();
    });
    const pdsUrl = `http://localhost:${state.port}`;
    opts.logger?.info('embedded AT network ready', { pdsUrl, plcUrl, handleDomain: opts.handleDomain });
    return { pdsUrl, plcUrl, pdsPort: state.port, adminPassword: state.adminPassword, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
