/**
 * The AT Protocol clients, built once per process and kept in `ctx.clients.atproto`:
 * one logged-in session per agent account (refreshed on expiry, re-logged-in when the
 * refresh token is gone, without dropping the call), identity resolution (handle → DID
 * → PDS) and record reads that go straight to the author's PDS, so no AppView is needed.
 *
 * Every request whose target a DID document or a model chooses (DID resolution incl.
 * did:web, handle resolution over HTTPS, record reads from the PDS a DID document names)
 * goes through the outbound guard (src/util/outbound.ts): internal addresses are refused
 * unless they are the configured services, and a remote's error text is never passed on.
 *
 * Other features use `AtprotoClients`: e.g. fetch an agent's repo CAR with
 * `${clients.pdsUrl}/xrpc/com.atproto.sync.getRepo?did=${clients.account('social').did}`.
 */
import { AtpAgent, AtUri } from '@atproto/api';
import { IdResolver, MemoryCache } from '@atproto/identity';
import { ensureValidAtUri, isValidDid, isValidHandle } from '@atproto/syntax';
import type pg from 'pg';
import type { AtprotoConfig } from '../../config';
import { registerSecret, type Logger } from '../../logger';
import { createOutboundFetch, outboundErrorIn, type OutboundFetch } from '../../util/outbound';
import { AtprotoError, toAtprotoError } from './errors';
import { AtprotoStore } from '../../stores/atproto/store';
import { WriteBudgetStore } from '../../stores/atproto/write-budget';
import { pacedFetch } from './pacing';

export interface AgentAccount {
  /** Agent name (the Mastra agent id). */
  name: string;
  handle: string;
  did: string;
}

export interface RecordView<T = Record<string, unknown>> {
  uri: string;
  cid: string;
  value: T;
}

export interface AtprotoClients {
  /** The PDS the agents' accounts live on. */
  pdsUrl: string;
  plcUrl: string;
  appViewUrl?: string;
  /** Where the firehose is read: the relay, else the PDS itself (ws:// or wss://). */
  firehoseUrl: string;
  embedded: boolean;
  idResolver: IdResolver;
  /** What the AT feature keeps in Postgres (cursors, posts, mentions): one per process. */
  store: AtprotoStore;
  /** The agents that have an account, with their DIDs. */
  accounts(): AgentAccount[];
  /** Throws UNKNOWN_AGENT when the agent has no AT account. */
  account(name: string): AgentAccount;
  accountByDid(did: string): AgentAccount | undefined;
  /** A logged-in client for the agent. */
  session(name: string): Promise<AtpAgent>;
  /** Runs `fn` with the agent's session; on an auth failure logs in again and retries once. */
  withSession<T>(name: string, fn: (agent: AtpAgent) => Promise<T>): Promise<T>;
  /** Handle or DID → DID (HANDLE_NOT_FOUND when nothing resolves it). */
  resolveDid(actor: string): Promise<string>;
  /** DID → the URL of the PDS that hosts it (from the DID document). */
  resolvePds(did: string): Promise<string>;
  /** DID → handle, from the DID document (undefined if it has none). */
  resolveHandleOf(did: string): Promise<string | undefined>;
  /** Reads a record from its author's PDS (no AppView, no auth). */
  getRecord<T = Record<string, unknown>>(uri: string): Promise<RecordView<T>>;
  /** Null when the record does not exist. */
  findRecord<T = Record<string, unknown>>(uri: string): Promise<RecordView<T> | null>;
  listRecords<T = Record<string, unknown>>(actor: string, collection: string, limit: number, cursor?: string): Promise<{ records: RecordView<T>[]; cursor?: string }>;
  /** An unauthenticated client for the AppView, when APPVIEW_URL is set. */
  appView?: AtpAgent;
  /** Resolves the DIDs of the configured accounts (logs in where needed). */
  refreshAccounts(): Promise<AgentAccount[]>;
}

const AUTH_ERRORS = new Set(['AuthenticationRequired', 'InvalidToken', 'ExpiredToken', 'AuthMissing']);

export function parseAtUri(uri: string, expectCollection?: string): AtUri {
  try {
    ensureValidAtUri(uri);
  } catch (err) {
    throw new AtprotoError('BAD_URI', `not a valid at:// URI: ${JSON.stringify(uri.slice(0, 200))} (${(err as Error).message})`);
  }
  const parsed = new AtUri(uri);
  if (!parsed.rkey || !parsed.collection) throw new AtprotoError('BAD_URI', `the URI must name a record (at://did/collection/rkey): ${uri}`);
  if (expectCollection && parsed.collection !== expectCollection)
    throw new AtprotoError('BAD_URI', `expected a ${expectCollection} record, got ${parsed.collection}: ${uri}`);
  return parsed;
}

export interface CreateClientsOptions {
  config: AtprotoConfig;
  dataDir: string;
  pdsUrl: string;
  plcUrl: string;
  relayUrl?: string;
  appViewUrl?: string;
  embedded: boolean;
  /** The accounts the embedded PDS's agents were given (DATA_DIR/atproto/accounts.json), passwords registered as secrets; passed by the manifest (services/atproto/accounts.ts readAccounts). */
  storedAccounts: () => Promise<Record<string, { handle: string; did: string; password: string }>>;
  logger: Logger;
  db: pg.Pool;
  /** More URLs / host:port the outbound guard lets through: the other configured services, OUTBOUND_ALLOW_HOSTS. */
  outboundAllow?: Array<string | undefined>;
  /** The guarded fetch to use (default: one built from the configured URLs and outboundAllow). */
  outboundFetch?: OutboundFetch;
}

export function createAtprotoClients(opts: CreateClientsOptions): AtprotoClients {
  const { config, logger } = opts;
  // DID documents are cached (stale after 5 min and refreshed in the background, dropped
  // after an hour): thread reads, reply refs and handle lookups of the same people no
  // longer ask the PLC every time.
  const outbound =
    opts.outboundFetch ?? createOutboundFetch({ allow: [opts.pdsUrl, opts.plcUrl, opts.relayUrl, opts.appViewUrl, ...(opts.outboundAllow ?? [])], timeoutMs: 10_000, maxBytes: 5 * 1024 * 1024 });
  const idResolver = new IdResolver({ plcUrl: opts.plcUrl, timeout: 5000, fetch: outbound, didCache: new MemoryCache(5 * 60_000, 60 * 60_000) });
  const known = new Map<string, AgentAccount>();
  const sessions = new Map<string, Promise<AtpAgent>>();
  const handleCache = new Map<string, { did: string; at: number }>();
  const pdsAgent = new AtpAgent({ service: opts.pdsUrl });

  // Our PDS's public URL (https://PDS_HOSTNAME): the DID documents of its accounts name it,
  // so record reads (resolvePds) went there, and so does every session call once a login
  // returns a DID document (@atproto/api CredentialSession _updateApiEndpoint; the PDS sends
  // one with PDS_ENABLE_DID_DOC_WITH_SESSION). From inside a private network it may be
  // unreachable (it is the TLS proxy's address), so both go to PDS_URL instead. Learned
  // from the agents' own logins on PDS_URL: their DID documents name our PDS by definition.
  const ownOrigin = new URL(opts.pdsUrl).origin;
  const ownPublicOrigins = new Set<string>();
  const isOwnPds = (url: string) => {
    const origin = URL.canParse(url) ? new URL(url).origin : undefined;
    return origin !== undefined && (origin === ownOrigin || ownPublicOrigins.has(origin));
  };
  /** Records the PDS endpoint of an account that logged in on PDS_URL (the session's DID document, else the PLC's). */
  async function learnOwnPublicUrl(did: string, fromSession?: URL): Promise<void> {
    let endpoint = fromSession?.href;
    if (!endpoint) endpoint = (await idResolver.did.resolveAtprotoData(did).catch(() => undefined))?.pds;
    if (endpoint && URL.canParse(endpoint) && new URL(endpoint).origin !== ownOrigin) ownPublicOrigins.add(new URL(endpoint).origin);
  }
  const viaPdsUrl: typeof fetch = async (input, init) => {
    const req = input instanceof Request ? input : new Request(input, init);
    const u = new URL(req.url);
    if (u.origin === ownOrigin || !ownPublicOrigins.has(u.origin)) return fetch(req);
    const body = req.body ? await req.arrayBuffer() : undefined;
    return fetch(new URL(u.pathname + u.search, opts.pdsUrl), { method: req.method, headers: req.headers, body, signal: req.signal, redirect: req.redirect });
  };

  // Every agent session's writes are paced to the PDS's rate limits (pacing.ts), the budget in Postgres.
  const writeBudget = new WriteBudgetStore(opts.db);
  const writeLimits = { perHour: config.writePointsPerHour, perDay: config.writePointsPerDay };

  async function credentialsFor(name: string): Promise<{ identifier: string; password: string }> {
    const fromEnv = Object.hasOwn(config.credentials, name) ? config.credentials[name] : undefined;
    if (fromEnv) {
      registerSecret(fromEnv.password);
      return { identifier: fromEnv.identifier ?? `${name}.${config.handleDomain}`, password: fromEnv.password };
    }
    const accounts = await opts.storedAccounts();
    const stored = Object.hasOwn(accounts, name) ? accounts[name] : undefined;
    if (stored) return { identifier: stored.did, password: stored.password };
    throw new AtprotoError('NO_ACCOUNT', `agent "${name}" has no AT account: set ATPROTO_PASSWORD_${name.toUpperCase().replace(/-/g, '_')} (and ATPROTO_IDENTIFIER_…) or use the embedded PDS`);
  }

  async function login(name: string): Promise<AtpAgent> {
    const { identifier, password } = await credentialsFor(name);
    const agent: AtpAgent = new AtpAgent({
      service: opts.pdsUrl,
      fetch: pacedFetch(viaPdsUrl, { budget: writeBudget, limits: writeLimits, didOf: () => agent.session?.did, logger }),
      persistSession: (evt) => {
        // The refresh token is gone too: the next call logs in again.
        if (evt === 'expired') sessions.delete(name);
      },
    });
    try {
      await agent.login({ identifier, password });
    } catch (err) {
      sessions.delete(name);
      throw new AtprotoError('AUTH_FAILED', `agent "${name}" could not log in to ${opts.pdsUrl}: ${(err as Error).message}`);
    }
    const s = agent.session!;
    await learnOwnPublicUrl(s.did, agent.pdsUrl);
    registerSecret(s.accessJwt);
    registerSecret(s.refreshJwt);
    known.set(name, { name, handle: s.handle, did: s.did });
    return agent;
  }

  function session(name: string): Promise<AtpAgent> {
    if (!config.agents.includes(name)) throw new AtprotoError('UNKNOWN_AGENT', `"${name}" is not an AT agent (ATPROTO_AGENTS=${config.agents.join(',')})`);
    let s = sessions.get(name);
    if (!s) {
      s = login(name);
      sessions.set(name, s);
      s.catch(() => sessions.delete(name));
    }
    return s;
  }

  async function resolveDid(actor: string): Promise<string> {
    const a = actor.trim().replace(/^@/, '').toLowerCase();
    if (a.startsWith('did:')) {
      if (!isValidDid(actor.trim())) throw new AtprotoError('DID_NOT_FOUND', `not a valid DID: ${actor}`);
      return actor.trim();
    }
    if (!isValidHandle(a)) throw new AtprotoError('HANDLE_NOT_FOUND', `not a valid handle: ${JSON.stringify(actor.slice(0, 100))}`);
    const hit = handleCache.get(a);
    if (hit && Date.now() - hit.at < 60_000) return hit.did;
    for (const acc of known.values()) if (acc.handle === a) return acc.did;
    let did: string | undefined;
    try {
      did = (await pdsAgent.com.atproto.identity.resolveHandle({ handle: a })).data.did;
    } catch {
      did = (await idResolver.handle.resolve(a).catch(() => undefined)) ?? undefined;
    }
    if (!did) throw new AtprotoError('HANDLE_NOT_FOUND', `no account has the handle @${a}`);
    handleCache.set(a, { did, at: Date.now() });
    return did;
  }

  async function resolvePds(did: string): Promise<string> {
    const local = [...known.values()].some((k) => k.did === did);
    if (local) return opts.pdsUrl;
    let data;
    try {
      data = await idResolver.did.resolveAtprotoData(did);
    } catch (err) {
      // Never the resolver's or the remote's text: a generic message with a stable code.
      if (outboundErrorIn(err)?.code === 'FETCH_REFUSED') throw new AtprotoError('FETCH_REFUSED', `cannot resolve ${did}: its DID document is on an address this server does not fetch from`);
      throw new AtprotoError('DID_NOT_FOUND', `cannot resolve ${did} to a PDS`);
    }
    // An account on our own PDS: read it at PDS_URL, not at the public URL its DID document names.
    return isOwnPds(data.pds) ? opts.pdsUrl : data.pds;
  }

  /** A failure of a read from `pds`: our own code and message, never the remote's text. */
  function readError(err: unknown, context: string, pds: string) {
    const o = outboundErrorIn(err);
    if (o?.code === 'FETCH_REFUSED') return new AtprotoError('FETCH_REFUSED', `${context}: the account's PDS is on an address this server does not fetch from`);
    if (o) return new AtprotoError('PDS_ERROR', `${context}: the account's PDS cannot be reached`);
    const e = toAtprotoError(err, context);
    if (e.code === 'PDS_ERROR' && pds !== opts.pdsUrl) return new AtprotoError('PDS_ERROR', `${context}: the account's PDS answered with an error`);
    return e;
  }

  const readers = new Map<string, AtpAgent>();
  const readerFor = (url: string) => {
    let r = readers.get(url);
    if (!r) readers.set(url, (r = new AtpAgent({ service: url, fetch: outbound })));
    return r;
  };

  async function findRecord<T>(uri: string): Promise<RecordView<T> | null> {
    const u = parseAtUri(uri);
    const did = await resolveDid(u.host);
    const pds = await resolvePds(did);
    try {
      const res = await readerFor(pds).com.atproto.repo.getRecord({ repo: did, collection: u.collection, rkey: u.rkey });
      return { uri: res.data.uri, cid: res.data.cid ?? '', value: res.data.value as T };
    } catch (err) {
      const e = readError(err, `reading ${uri}`, pds);
      if (e.code === 'RECORD_NOT_FOUND') return null;
      throw e;
    }
  }

  const clients: AtprotoClients = {
    pdsUrl: opts.pdsUrl,
    plcUrl: opts.plcUrl,
    appViewUrl: opts.appViewUrl,
    firehoseUrl: (opts.relayUrl ?? opts.pdsUrl).replace(/^http/, 'ws'),
    embedded: opts.embedded,
    idResolver,
    store: new AtprotoStore(opts.db),
    appView: opts.appViewUrl ? new AtpAgent({ service: opts.appViewUrl }) : undefined,
    accounts: () => config.agents.map((n) => known.get(n)).filter((a): a is AgentAccount => !!a),
    account(name) {
      const a = known.get(name);
      if (a) return a;
      if (!config.agents.includes(name)) throw new AtprotoError('UNKNOWN_AGENT', `"${name}" is not an AT agent (ATPROTO_AGENTS=${config.agents.join(',')})`);
      throw new AtprotoError('NO_ACCOUNT', `agent "${name}" has not logged in to its PDS yet`);
    },
    accountByDid: (did) => [...known.values()].find((a) => a.did === did),
    session,
    async withSession(name, fn) {
      const agent = await session(name);
      try {
        return await fn(agent);
      } catch (err) {
        const name2 = (err as { error?: string }).error;
        if (!name2 || !AUTH_ERRORS.has(name2)) throw err;
        logger.info('AT session rejected; logging in again', { agent: name });
        sessions.delete(name);
        return fn(await session(name));
      }
    },
    resolveDid,
    resolvePds,
    async resolveHandleOf(did) {
      const acc = [...known.values()].find((k) => k.did === did);
      if (acc) return acc.handle;
      const data = await idResolver.did.resolveAtprotoData(did).catch(() => undefined);
      return data?.handle;
    },
    async getRecord<T>(uri: string) {
      const r = await findRecord<T>(uri);
      if (!r) throw new AtprotoError('RECORD_NOT_FOUND', `no record at ${uri}`);
      return r;
    },
    findRecord,
    async listRecords<T>(actor: string, collection: string, limit: number, cursor?: string) {
      const did = await resolveDid(actor);
      const pds = await resolvePds(did);
      try {
        const res = await readerFor(pds).com.atproto.repo.listRecords({ repo: did, collection, limit, cursor });
        return { records: res.data.records.map((r) => ({ uri: r.uri, cid: r.cid, value: r.value as T })), cursor: res.data.cursor };
      } catch (err) {
        throw readError(err, `listing ${collection} of ${actor}`, pds);
      }
    },
    async refreshAccounts() {
      const stored = await opts.storedAccounts().catch(() => ({}) as Record<string, { handle: string; did: string }>);
      for (const name of config.agents) {
        const s = stored[name];
        if (s && !config.credentials[name]) {
          known.set(name, { name, handle: s.handle, did: s.did });
          continue;
        }
        try {
          await session(name);
        } catch (err) {
          logger.warn('AT agent account unavailable', { agent: name, error: err });
        }
      }
      return clients.accounts();
    },
  };
  return clients;
}
