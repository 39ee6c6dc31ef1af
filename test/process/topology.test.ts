/**
 * The production topology without Docker (issue 12): every service the app talks to is a
 * separate OS process started the way its docker-compose.yml service starts it, with the
 * environment that file gives it.
 *
 * - PostgreSQL: Debian's `postgresql` server (not the embedded one), initdb'd as the
 *   `postgres` image does it (POSTGRES_USER as superuser, POSTGRES_PASSWORD, POSTGRES_DB),
 *   started with the compose `command` flags (wal_level=logical, …), then the compose
 *   file's /docker-entrypoint-initdb.d scripts run on POSTGRES_DB.
 * - PLC: the `CMD` of services/plc/Dockerfile (@did-plc/server's dist/bin.js) with the
 *   Dockerfile's ENV and the compose `plc` environment.
 * - PDS: services/atproto/pds-service.ts (what bluesky-social/pds service/index.js does)
 *   with the compose `pds` environment.
 * - The app: `npm start` (src/main.ts) with the compose `app` environment: DATABASE_URL,
 *   PDS_URL, PLC_URL, API_KEYS, and ATPROTO_IDENTIFIER_SOCIAL / ATPROTO_PASSWORD_SOCIAL
 *   holding an **app password** made on that PDS (com.atproto.server.createAppPassword),
 *   as a bsky.social user would. IPFS and PowerSync run embedded in the app process (the
 *   Helia-based Kubo-RPC stand-in and the PowerSync stand-in): no Kubo, IPFS Cluster or
 *   PowerSync Service binary can be installed here.
 *
 * The compose environment is read from docker-compose.yml (yaml), `${VAR:?…}` /
 * `${VAR:-default}` substituted from a .env made by scripts/gen-secrets.sh, plus only the
 * overrides listed in OVERRIDES (host names → localhost/127.0.0.1, ports → free ports, data
 * directories → temporary ones, what needs TLS or a container). An override of a variable
 * the compose file does not set, or a compose value not of the expected form, fails the
 * test, and so does a missing required variable.
 *
 * THE SCRIPTED MODEL (harness/scripted-model.ts) is the model upstream, configured the way
 * an operator configures a model (OPENAI_BASE_URL / OPENAI_API_KEY in .env).
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { AtpAgent, RichText } from '@atproto/api';
import { CarReader } from '@ipld/car';
import { create as kuboClient } from 'kubo-rpc-client';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { applyOverrides, composeEnv, dockerfile, parseDotEnv, type ComposeFile, type Env, type Override } from '../../harness/compose';
import { openDevice, waitForRows, type Device } from '../../harness/devices';
import { ROOT, run, stopGroup, type Running, killAll } from '../../harness/process';
import { lastUserText, startScriptedModel, type ScriptedModel } from '../../harness/scripted-model';
import { freePort } from '../../services/lib/net';

const exec = promisify(execFile);

// ---- processes -------------------------------------------------------------------------

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'one-agents-topology-'));
const procs: Array<{ name: string; p: Running; signal: NodeJS.Signals }> = [];
let model: ScriptedModel;

function pgBinDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a)) : [];
  if (!versions.length) throw new Error("Debian's postgresql server is not installed (/usr/lib/postgresql/<version>/bin/initdb): run scripts/test-prereqs.sh (apt-get install postgresql)");
  return path.join(base, versions[0]!, 'bin');
}

/** uid/gid of the `postgres` user when we are root (initdb and postgres refuse to run as root). */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, but there is no postgres user (apt-get install postgresql creates it)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

async function waitHttp(what: string, url: string, p: Running, timeoutMs = 60_000, init?: RequestInit): Promise<void> {
  const end = Date.now() + timeoutMs;
  let exited = false;
  void p.exited.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`${what} exited:\n${p.output().slice(-3000)}`);
    try {
      const r = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
    } catch {}
    if (Date.now() > end) throw new Error(`${what} not healthy at ${url} within ${timeoutMs} ms:\n${p.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const PDS_HOSTNAME = 'pds.example.test';
/** The TLS proxy in front of the PDS, for the test's own clients: https://PDS_HOSTNAME → the PDS process. */
const viaTlsProxy: typeof fetch = async (input, init) => {
  const req = input instanceof Request ? input : new Request(input, init);
  const u = new URL(req.url);
  if (u.host !== PDS_HOSTNAME) return fetch(req);
  const body = req.body ? await req.arrayBuffer() : undefined;
  return fetch(`${t.pdsUrl}${u.pathname}${u.search}`, { method: req.method, headers: req.headers, body, redirect: req.redirect });
};
const pdsClient = () => new AtpAgent({ service: t.pdsUrl, fetch: viaTlsProxy });

const t = {
  env: {} as Env, // the .env
  pgPort: 0,
  plcPort: 0,
  pdsPort: 0,
  appPort: 0,
  apiKey: '',
  pdsUrl: '',
  appUrl: '',
  databaseUrl: '',
  app: undefined as Running | undefined,
  appEnv: {} as Env,
  socialPassword: '',
  socialAppPassword: '',
  powersyncEnv: {} as Env,
};

beforeAll(async () => {
  const bin = pgBinDir();
  const pgUser = postgresUser();
  await fsp.chmod(tmpRoot, 0o755);
  model = await startScriptedModel({
    // The reply workflow's draft and every chat: echo the last user line.
    script: (req) => ({ text: `Echo: ${lastUserText(req).slice(0, 200)}` }),
  });

  // ---- .env from scripts/gen-secrets.sh, plus what an operator adds -----------------
  const envFile = path.join(tmpRoot, '.env');
  // A non-local public name (.test never resolves, RFC 6761): the PDS's DID documents say
  // https://pds.example.test, which nothing here can reach, as a TLS proxy's name may not be
  // reachable from inside the compose network. Only the test's own clients reach it, through
  // viaTlsProxy (the proxy's stand-in); the app must manage with PDS_URL.
  await exec('bash', [path.join(ROOT, 'scripts', 'gen-secrets.sh'), '--pds-hostname', PDS_HOSTNAME, envFile]);
  // The model (THE SCRIPTED MODEL), as an operator configures one.
  await fsp.appendFile(envFile, `OPENAI_BASE_URL=${model.url}\nOPENAI_API_KEY=sk-scripted-upstream\n`);
  t.env = parseDotEnv(await fsp.readFile(envFile, 'utf8'));
  const compose = YAML.parse(await fsp.readFile(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as ComposeFile;

  [t.pgPort, t.plcPort, t.pdsPort, t.appPort] = [await freePort(), await freePort(), await freePort(), await freePort()];

  // ---- PostgreSQL (compose `postgres`) ----------------------------------------------
  const pgEnv = composeEnv(compose, 'postgres', t.env);
  for (const k of ['POSTGRES_USER', 'POSTGRES_PASSWORD', 'POSTGRES_DB']) expect(pgEnv[k], `postgres.${k}`).toBeTruthy();
  const pgData = path.join(tmpRoot, 'pgdata');
  const pgSock = path.join(tmpRoot, 'pgsock');
  const pwFile = path.join(tmpRoot, 'pgpass');
  await fsp.mkdir(pgData, { mode: 0o700 });
  await fsp.mkdir(pgSock);
  await fsp.writeFile(pwFile, pgEnv.POSTGRES_PASSWORD!, { mode: 0o600 });
  if (pgUser) for (const p of [pgData, pgSock, pwFile]) await fsp.chown(p, pgUser.uid, pgUser.gid);
  // As docker-entrypoint.sh does: POSTGRES_USER is the superuser, password auth over TCP.
  await exec(path.join(bin, 'initdb'), ['-D', pgData, '-U', pgEnv.POSTGRES_USER!, `--pwfile=${pwFile}`, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-instructions'], {
    ...(pgUser ?? {}),
    cwd: tmpRoot,
    env: { PATH: process.env.PATH, LANG: 'C.UTF-8' },
  });
  // The compose `command` is ["postgres", "-c", …]: its flags, plus where to listen here.
  const pgCommand = compose.services.postgres!.command!;
  expect(pgCommand[0]).toBe('postgres');
  expect(pgCommand.join(' ')).toContain('wal_level=logical');
  const pgProc = run(path.join(bin, 'postgres'), ['-D', pgData, ...pgCommand.slice(1), '-c', `port=${t.pgPort}`, '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${pgSock}`], { LANG: 'C.UTF-8' }, 'ready to accept connections', {
    group: true,
    // The checkout may be under /root, which the postgres user cannot enter.
    cwd: tmpRoot,
    ...(pgUser ? { uid: pgUser.uid, gid: pgUser.gid } : {}),
  });
  procs.push({ name: 'postgres', p: pgProc, signal: 'SIGINT' });
  await pgProc.up;
  const admin = new pg.Client({ host: '127.0.0.1', port: t.pgPort, user: pgEnv.POSTGRES_USER, password: pgEnv.POSTGRES_PASSWORD, database: 'postgres' });
  await admin.connect();
  await admin.query(`create database ${pgEnv.POSTGRES_DB}`);
  await admin.end();
  // The compose file's init scripts (mounted into /docker-entrypoint-initdb.d), in name order, on POSTGRES_DB.
  const inits = compose.services.postgres!.volumes!.filter((v) => v.includes(':/docker-entrypoint-initdb.d/')).map((v) => {
    const [src, dst] = v.split(':');
    return { src: path.resolve(ROOT, src!), dst: dst! };
  });
  expect(inits.length).toBeGreaterThan(0);
  // As docker-entrypoint.sh's docker_process_init_files: *.sh run with the container's
  // environment (psql on the local socket), *.sql through psql on POSTGRES_DB.
  const initEnv = { ...pgEnv, PATH: `${bin}:${process.env.PATH}`, PGHOST: pgSock, PGPORT: String(t.pgPort), LANG: 'C.UTF-8' };
  for (const s of inits.sort((a, b) => a.dst.localeCompare(b.dst))) {
    if (s.dst.endsWith('.sh')) execFileSync('bash', [s.src], { env: initEnv, stdio: 'pipe' });
    else execFileSync(path.join(bin, 'psql'), ['-v', 'ON_ERROR_STOP=1', '--no-psqlrc', '--username', pgEnv.POSTGRES_USER!, '--dbname', pgEnv.POSTGRES_DB!, '-f', s.src], { env: initEnv, stdio: 'pipe' });
  }

  const pgHost = `127.0.0.1:${t.pgPort}`;
  const OVERRIDES: Record<string, Record<string, Override>> = {
    plc: {
      PORT: { set: String(t.plcPort) },
      DATABASE_URL: { swap: ['@postgres:5432/', `@${pgHost}/`] },
    },
    pds: {
      // PDS_HOSTNAME stays the .env's non-local name. Dev mode lets the PDS fetch from
      // loopback services (the PLC at http://localhost:<port>).
      PDS_DEV_MODE: { add: 'true' },
      PDS_PORT: { set: String(t.pdsPort) },
      PDS_DATA_DIRECTORY: { set: path.join(tmpRoot, 'pds') },
      PDS_BLOBSTORE_DISK_LOCATION: { set: path.join(tmpRoot, 'pds', 'blocks') },
      // By name: the PDS refuses IP hosts in its own fetches.
      PDS_DID_PLC_URL: { swap: ['http://plc:2582', `http://localhost:${t.plcPort}`] },
    },
    app: {
      HOST: { set: '127.0.0.1' },
      PORT: { set: String(t.appPort) },
      DATA_DIR: { set: path.join(tmpRoot, 'app') },
      DATABASE_URL: { swap: ['@postgres:5432/', `@${pgHost}/`] },
      PDS_URL: { swap: ['http://pds:3000', `http://localhost:${t.pdsPort}`] },
      PLC_URL: { swap: ['http://plc:2582', `http://localhost:${t.plcPort}`] },
      // No Kubo, IPFS Cluster or PowerSync Service here: the app embeds its stand-ins.
      IPFS_API_URL: { drop: true },
      IPFS_CLUSTER_URL: { drop: true },
      IPFS_GATEWAY_URL: { drop: true },
      POWERSYNC_URL: { drop: true },
      POWERSYNC_PUBLIC_URL: { drop: true },
    },
  };
  // PowerSync itself cannot run here; its compose connection strings are checked against this Postgres.
  t.powersyncEnv = Object.fromEntries(Object.entries(composeEnv(compose, 'powersync', t.env)).map(([k, v]) => [k, v.replace('@postgres:5432/', `@${pgHost}/`)]));
  t.databaseUrl = applyOverrides('app', composeEnv(compose, 'app', t.env), { DATABASE_URL: OVERRIDES.app!.DATABASE_URL! }).DATABASE_URL!;

  // ---- PLC (compose `plc`, services/plc/Dockerfile) ------------------------------------
  const plcImage = dockerfile(await fsp.readFile(path.join(ROOT, 'services', 'plc', 'Dockerfile'), 'utf8'));
  expect(plcImage.cmd[0]).toBe('node');
  const plcEnv = { ...plcImage.env, ...applyOverrides('plc', composeEnv(compose, 'plc', t.env), OVERRIDES.plc!) };
  const plcProc = run(process.execPath, plcImage.cmd.slice(1), plcEnv, 'PLC server is running', { group: true });
  procs.push({ name: 'plc', p: plcProc, signal: 'SIGTERM' });
  await waitHttp('plc', `http://127.0.0.1:${t.plcPort}/_health`, plcProc);

  // ---- PDS (compose `pds`, bluesky-social/pds service/index.js) -------------------------
  const pdsEnv = applyOverrides('pds', composeEnv(compose, 'pds', t.env), OVERRIDES.pds!);
  await fsp.mkdir(pdsEnv.PDS_BLOBSTORE_DISK_LOCATION!, { recursive: true });
  const pdsProc = run(process.execPath, ['--import', 'tsx', 'services/atproto/pds-service.ts'], pdsEnv, 'pds has started', { group: true });
  procs.push({ name: 'pds', p: pdsProc, signal: 'SIGTERM' });
  t.pdsUrl = `http://localhost:${t.pdsPort}`;
  await waitHttp('pds', `${t.pdsUrl}/xrpc/_health`, pdsProc);

  // ---- The social agent's account (scripts/create-pds-account.sh) and an app password ---
  await exec('bash', [path.join(ROOT, 'scripts', 'create-pds-account.sh'), envFile], { env: { PATH: process.env.PATH, PDS_URL: t.pdsUrl } });
  const domain = t.env.ATPROTO_HANDLE_DOMAIN || 'agents.test';
  const owner = pdsClient();
  t.socialPassword = t.env.ATPROTO_PASSWORD_SOCIAL!;
  await owner.login({ identifier: `social.${domain}`, password: t.socialPassword });
  t.socialAppPassword = (await owner.com.atproto.server.createAppPassword({ name: 'one-agents' })).data.password;
  // The operator puts the app password (not the account password) into the app's .env.
  const envText = (await fsp.readFile(envFile, 'utf8')).replace(/^ATPROTO_PASSWORD_SOCIAL=.*$/m, `ATPROTO_PASSWORD_SOCIAL=${t.socialAppPassword}`) + `ATPROTO_IDENTIFIER_SOCIAL=social.${domain}\n`;
  await fsp.writeFile(envFile, envText);
  t.env = parseDotEnv(envText);

  // ---- The app (compose `app`, `npm start`) ---------------------------------------------
  t.appEnv = applyOverrides('app', composeEnv(compose, 'app', t.env), OVERRIDES.app!);
  t.apiKey = t.appEnv.API_KEYS!.split(',')[0]!.split(':')[0]!;
  t.app = run(process.execPath, ['--import', 'tsx', 'src/main.ts'], t.appEnv, 'ONE Agents is up', { group: true });
  procs.push({ name: 'app', p: t.app, signal: 'SIGTERM' });
  t.appUrl = `http://127.0.0.1:${t.appPort}`;
  await t.app.up;
  // The compose healthcheck: /ready answers 200.
  await waitHttp('app', `${t.appUrl}/ready`, t.app, 60_000);
}, 180_000);

afterAll(async () => {
  // Reverse start order; each by its process group.
  for (const { name, p, signal } of procs.reverse()) {
    const code = await stopGroup(p, signal, 15_000);
    if (code !== 0 && name === 'app') console.error(`app exited with ${code} (${p.child.signalCode}):\n${p.output().slice(-2000)}`);
  }
  procs.length = 0;
  killAll();
  await model?.close();
  await fsp.rm(tmpRoot, { recursive: true, force: true });
}, 60_000);

const api = (p: string, body: unknown) =>
  fetch(`${t.appUrl}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.apiKey}` }, body: JSON.stringify(body) });

/** A single-use invite code from the admin API (basic auth admin:PDS_ADMIN_PASSWORD), as scripts/create-pds-account.sh makes one. */
async function createInvite(): Promise<string> {
  const r = await fetch(`${t.pdsUrl}/xrpc/com.atproto.server.createInviteCode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`admin:${t.env.PDS_ADMIN_PASSWORD}`).toString('base64')}` },
    body: JSON.stringify({ useCount: 1 }),
  });
  expect(r.status).toBe(200);
  return ((await r.json()) as { code: string }).code;
}

async function repliesTo(did: string): Promise<Map<string, number>> {
  const pds = pdsClient();
  const out = new Map<string, number>();
  let cursor: string | undefined;
  do {
    const page = await pds.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post', limit: 100, cursor });
    for (const r of page.data.records) {
      const parent = (r.value as { reply?: { parent?: { uri?: string } } }).reply?.parent?.uri;
      if (parent) out.set(parent, (out.get(parent) ?? 0) + 1);
    }
    cursor = page.data.records.length ? page.data.cursor : undefined;
  } while (cursor);
  return out;
}

describe('production topology (separate PostgreSQL, PLC, PDS and app processes from docker-compose.yml)', () => {
  it('the app runs on the Debian PostgreSQL server with the compose databases, and is ready', async () => {
    const db = new pg.Client({ connectionString: t.databaseUrl });
    await db.connect();
    try {
      const v = await db.query<{ server_version_num: string; wal_level: string }>("select current_setting('server_version_num') as server_version_num, current_setting('wal_level') as wal_level");
      // Not the embedded PostgreSQL 18: the Debian server found under /usr/lib/postgresql.
      expect(Number(v.rows[0]!.server_version_num)).toBeLessThan(180000);
      expect(path.basename(path.dirname(pgBinDir()))).toBe(String(Math.floor(Number(v.rows[0]!.server_version_num) / 10000)));
      expect(v.rows[0]!.wal_level).toBe('logical');
      const dbs = (await db.query<{ datname: string }>('select datname from pg_database')).rows.map((r) => r.datname);
      expect(dbs).toEqual(expect.arrayContaining(['one_agents', 'plc', 'powersync_storage']));
      // The app migrated its schema there, and the PLC its own database.
      expect((await db.query("select count(*)::int as n from one_agents_migrations where name = '070_schedule_slots.sql'")).rows[0].n).toBe(1);
    } finally {
      await db.end();
    }
    const ready = await (await fetch(`${t.appUrl}/ready`)).json();
    expect(ready.ready).toBe(true);
  });

  it('the PLC runs as its own role `plc`, and the PowerSync role can replicate and read the synced tables but is no superuser', async () => {
    const db = new pg.Client({ connectionString: t.databaseUrl });
    await db.connect();
    try {
      const plcUsers = (await db.query<{ usename: string }>("select distinct usename from pg_stat_activity where datname = 'plc'")).rows.map((r) => r.usename);
      expect(plcUsers.filter((u) => u !== 'plc')).toEqual([]);
      const roles = (await db.query("select rolname, rolsuper, rolreplication, rolbypassrls from pg_roles where rolname in ('plc', 'powersync') order by rolname")).rows;
      expect(roles).toEqual([
        { rolname: 'plc', rolsuper: false, rolreplication: false, rolbypassrls: false },
        { rolname: 'powersync', rolsuper: false, rolreplication: true, rolbypassrls: true },
      ]);
    } finally {
      await db.end();
    }
    // The PLC's migrations made its tables as `plc`.
    const plcDb = new pg.Client({ connectionString: t.databaseUrl.replace(/\/one_agents$/, '/plc') });
    await plcDb.connect();
    try {
      const owners = (await plcDb.query<{ tableowner: string }>("select distinct tableowner from pg_tables where schemaname = 'public'")).rows.map((r) => r.tableowner);
      expect(owners).toEqual(['plc']);
    } finally {
      await plcDb.end();
    }
    // PS_DATA_SOURCE_URI: reads a synced table (created by the app after the init script) and
    // opens a logical replication slot with pgoutput, as the PowerSync Service does.
    const src = new pg.Client({ connectionString: t.powersyncEnv.PS_DATA_SOURCE_URI });
    await src.connect();
    try {
      expect(new URL(t.powersyncEnv.PS_DATA_SOURCE_URI!).username).toBe('powersync');
      await src.query('select count(*) from messages');
      await expect(src.query('delete from messages')).rejects.toThrow(/permission denied/);
    } finally {
      await src.end();
    }
    const repl = new pg.Client({ connectionString: t.powersyncEnv.PS_DATA_SOURCE_URI, replication: 'database' } as pg.ClientConfig);
    await repl.connect();
    try {
      const slot = await repl.query('CREATE_REPLICATION_SLOT one_agents_topology_check TEMPORARY LOGICAL pgoutput');
      expect(slot.rows[0].slot_name).toBe('one_agents_topology_check');
    } finally {
      await repl.end();
    }
    // PS_STORAGE_URI: its own database, where it may create its schema.
    const storage = new pg.Client({ connectionString: t.powersyncEnv.PS_STORAGE_URI });
    await storage.connect();
    try {
      await storage.query('create schema if not exists topology_check');
      await storage.query('drop schema topology_check');
    } finally {
      await storage.end();
    }
  });

  it('the PDS rate-limits (PDS_RATE_LIMITS_ENABLED)', async () => {
    const r = await fetch(`${t.pdsUrl}/xrpc/com.atproto.server.createSession`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ identifier: 'nobody.agents.test', password: 'wrong-password' }) });
    expect(r.status).toBe(401);
    expect(r.headers.get('ratelimit-limit')).toBeTruthy();
  });

  it('the app was given only an app password, and the agent account logs in with it', async () => {
    expect(t.appEnv.ATPROTO_PASSWORD_SOCIAL).toBe(t.socialAppPassword);
    expect(Object.values(t.appEnv)).not.toContain(t.socialPassword);
    expect(t.app!.output()).not.toContain(t.socialAppPassword);
    // An app-password session cannot manage app passwords: the PDS scoped it as such.
    const s = pdsClient();
    await s.login({ identifier: t.appEnv.ATPROTO_IDENTIFIER_SOCIAL!, password: t.socialAppPassword });
    await expect(s.com.atproto.server.createAppPassword({ name: 'another' })).rejects.toThrow();
    // The app's readiness check includes the agent's session on the PDS.
    const ready = await (await fetch(`${t.appUrl}/ready`)).json();
    expect(ready.services['atproto:social']).toMatchObject({ ok: true });
  });

  it("a stranger's mention (another account on the PDS, logged in with its own app password) gets exactly one reply", async () => {
    const stranger = pdsClient();
    const account = { handle: 'stranger.agents.test', password: 'stranger-main-password-1', email: 'stranger@agents.test' };
    // PDS_INVITE_REQUIRED=true: no account without a code from the admin API.
    await expect(stranger.createAccount(account)).rejects.toThrow(/invite/i);
    const inviteCode = await createInvite();
    await stranger.createAccount({ ...account, inviteCode });
    const app = (await stranger.com.atproto.server.createAppPassword({ name: 'client' })).data.password;
    const person = pdsClient();
    await person.login({ identifier: 'stranger.agents.test', password: app });
    const rt = new RichText({ text: '@social.agents.test what is the tide doing?' });
    await rt.detectFacets(person);
    const uri = (await person.post({ text: rt.text, facets: rt.facets })).uri;
    const socialDid = (await person.resolveHandle({ handle: 'social.agents.test' })).data.did;
    // The stranger's DID document names the PDS's public URL, which the app cannot reach:
    // the app reads the mention at PDS_URL.
    const doc = await (await fetch(`http://127.0.0.1:${t.plcPort}/${stranger.session!.did}`)).json();
    expect(doc.service[0].serviceEndpoint).toBe(`https://${PDS_HOSTNAME}`);
    const end = Date.now() + 45_000;
    let replies = await repliesTo(socialDid);
    while (!replies.get(uri) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 300));
      replies = await repliesTo(socialDid);
    }
    expect(replies.get(uri), t.app!.output().slice(-3000)).toBe(1);
    // Settled: nothing answers it a second time.
    await new Promise((r) => setTimeout(r, 2000));
    expect((await repliesTo(socialDid)).get(uri)).toBe(1);
  }, 90_000);

  it('archive-agent (through Mastra /api with an admin key) pins the agent repo (CAR from the separate PDS) and conversations, verified', async () => {
    const r = await api('/api/workflows/archive-agent/start-async', { inputData: { agent: 'social' } });
    const body = await r.json();
    expect(r.status, JSON.stringify(body).slice(0, 500)).toBe(200);
    expect(body.status).toBe('success');
    expect(body.result.did).toMatch(/^did:plc:/);
    expect(body.result.archives.map((a: { kind: string }) => a.kind)).toEqual(['at-repo', 'conversations']);
    expect(body.result.verification.map((v: { ok: boolean }) => v.ok)).toEqual([true, true]);
    // The pinned CAR is the agent's repo on the separate PDS: its root is the repo's current commit.
    const car = body.result.archives[0] as { cid: string };
    const ipfsApi = /"msg":"embedded IPFS node ready".*?"apiUrl":"([^"]+)"/.exec(t.app!.output())?.[1];
    expect(ipfsApi, 'the app logs its embedded IPFS node').toBeTruthy();
    const parts: Uint8Array[] = [];
    for await (const c of kuboClient({ url: ipfsApi! }).cat(car.cid, { timeout: 10_000 })) parts.push(c);
    const reader = await CarReader.fromBytes(Buffer.concat(parts));
    const latest = await (await fetch(`${t.pdsUrl}/xrpc/com.atproto.sync.getLatestCommit?did=${body.result.did}`)).json();
    expect((await reader.getRoots()).map(String)).toEqual([latest.cid]);
    const db = new pg.Client({ connectionString: t.databaseUrl });
    await db.connect();
    try {
      const rows = await db.query("select kind, verified_at from archives where agent = 'social' order by kind");
      expect(rows.rows.map((x) => x.kind)).toEqual(['at-repo', 'conversations']);
      expect(rows.rows.every((x) => x.verified_at !== null)).toBe(true);
    } finally {
      await db.end();
    }
  }, 60_000);

  it('publish-with-media pins the file, then posts it with its CID on the PDS', async () => {
    const r = await api('/api/workflows/publish-with-media/start-async', {
      inputData: { text: 'Tide tables, attached', media: { base64: Buffer.from('high water 06:12').toString('base64'), mimeType: 'text/plain', filename: 'tides.txt' }, agent: 'social' },
    });
    const body = await r.json();
    expect(r.status, JSON.stringify(body).slice(0, 500)).toBe(200);
    expect(body.status).toBe('success');
    expect(body.result.posted).toBe(true);
    const [, , did, , rkey] = String(body.result.post.uri).split('/');
    const rec = await (await fetch(`${t.pdsUrl}/xrpc/com.atproto.repo.getRecord?repo=${did}&collection=app.bsky.feed.post&rkey=${rkey}`)).json();
    expect(rec.value.text).toContain(`ipfs://${body.result.cid}`);
  }, 60_000);

  it('a device syncs: the real @powersync/node client receives the turn of a /v1 chat', async () => {
    const device: Device = await openDevice({ backendUrl: t.appUrl, apiKey: t.apiKey, dir: path.join(tmpRoot, 'devices'), name: 'phone' });
    try {
      await device.connect();
      const client = new OpenAI({ baseURL: `${t.appUrl}/v1`, apiKey: t.apiKey, maxRetries: 0 });
      const reply = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'sync me to my phone' }] });
      expect(reply.choices[0]!.message.content).toBe('Echo: sync me to my phone');
      const rows = await waitForRows<{ role: string; content: string }>(device.db, 'select role, content from messages order by created_at', [], (rs) => rs.some((m) => m.content === 'Echo: sync me to my phone'), 45_000);
      expect(rows.map((m) => m.content)).toEqual(expect.arrayContaining(['sync me to my phone', 'Echo: sync me to my phone']));
    } finally {
      await device.close();
    }
  }, 60_000);

  it('stops like `docker compose down`: the app on SIGTERM with exit 0, then PDS, PLC (SIGTERM) and PostgreSQL (SIGINT, its image STOPSIGNAL)', async () => {
    const results: Record<string, { code: number | null; signal: string | null }> = {};
    for (const { name, p, signal } of procs.splice(0).reverse()) {
      const code = await stopGroup(p, signal, 15_000);
      results[name] = { code, signal: p.child.signalCode };
    }
    expect(results.app, t.app!.output().slice(-2000)).toEqual({ code: 0, signal: null });
    // Each exited on its stop signal within the grace period (code null + signal: killed by
    // the signal itself, as the PLC's entry point has no handler; not SIGKILL).
    for (const [name, r] of Object.entries(results)) expect(r.signal, name).not.toBe('SIGKILL');
  }, 90_000);
});
