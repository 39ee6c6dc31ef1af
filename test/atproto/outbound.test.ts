/**
 * SSRF through the AT read tools, in the running system (embedded PLC + PDS; scripted
 * model): a did:web (or a DID document's PDS endpoint) that points at an internal
 * address is refused by the outbound guard (src/util/outbound.ts) BEFORE any connection,
 * and a remote's error text never reaches the tool result. Only loopback is used: the
 * servers here listen on 127.0.0.1; 169.254.169.254 and 10.0.0.1 are refused by address
 * and never connected to.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Secp256k1Keypair } from '@atproto/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atprotoToolDeps } from '../../src/features/atproto';
import { createAtprotoTools } from '../../src/tools/atproto';
import { pendingToolResult } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';
import { account } from '../../harness/atproto';

interface Local {
  port: number;
  hits: string[];
  close(): Promise<void>;
}

async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<Local> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const INTERNAL_TEXT = 'internal-db-10.9.8.7 password=hunter2hunter2';
let ts: TestSystem;
let victim: Local; // an internal service nobody allowed: must never receive a request
let internalPds: Local; // an allowed host that answers errors with internal text
const docs: Record<string, Local> = {};
let signingKey = '';
type Tools = ReturnType<typeof createAtprotoTools>;
let tools: Tools;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const call = async (name: keyof Tools, input: Record<string, unknown>): Promise<any> => (tools[name] as any).execute(input, {});
const didWeb = (l: Local) => `did:web:localhost%3A${l.port}`;

/** A did:web document server naming `pds` as the account's PDS. */
async function didServer(pds: () => string): Promise<Local> {
  let self: Local;
  self = await serve((req, res) => {
    if (req.url !== '/.well-known/did.json') return void res.writeHead(404).end();
    const id = didWeb(self);
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        '@context': ['https://www.w3.org/ns/did/v1'],
        id,
        alsoKnownAs: ['at://someone.example'],
        verificationMethod: [{ id: `${id}#atproto`, type: 'Multikey', controller: id, publicKeyMultibase: signingKey }],
        service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: pds() }],
      }),
    );
  });
  return self;
}

beforeAll(async () => {
  signingKey = (await Secp256k1Keypair.create()).did().slice('did:key:'.length);
  victim = await serve((_req, res) => res.writeHead(500).end(INTERNAL_TEXT));
  internalPds = await serve((_req, res) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'InternalServerError', message: INTERNAL_TEXT }));
  });
  docs.metadata = await didServer(() => 'http://169.254.169.254');
  docs.private = await didServer(() => 'http://10.0.0.1:2583');
  docs.victim = await didServer(() => `http://127.0.0.1:${victim.port}`);
  docs.internal = await didServer(() => `http://127.0.0.1:${internalPds.port}`);
  // The DID document servers and the erroring PDS are allowed (as an operator would list
  // a known internal service); the victim is not.
  const allow = [...Object.values(docs).map((d) => `localhost:${d.port}`), `127.0.0.1:${internalPds.port}`].join(',');
  ts = await startTestSystem({ env: { ATPROTO_AUTOREPLY: '0', OUTBOUND_ALLOW_HOSTS: allow } });
  tools = createAtprotoTools(atprotoToolDeps(ts.system.ctx));
});
afterAll(async () => {
  await ts?.stop();
  for (const l of [victim, internalPds, ...Object.values(docs)]) await l?.close();
});

describe('the AT read tools refuse internal targets (SSRF)', () => {
  it('did:web pointing at a loopback service: refused, and the service never receives a request', async () => {
    const did = `did:web:localhost%3A${victim.port}`;
    const thread = await call('atproto-read-thread', { uri: `at://${did}/app.bsky.feed.post/3kabcdefghij2` });
    expect(thread).toMatchObject({ ok: false, error: { code: 'FETCH_REFUSED' } });
    const profile = await call('atproto-read-profile', { actor: did });
    expect(profile).toMatchObject({ ok: false, error: { code: 'FETCH_REFUSED' } });
    expect(JSON.stringify([thread, profile])).not.toContain('hunter2');
    expect(victim.hits).toEqual([]);
  });

  it('a DID document naming 169.254.169.254 or 10.0.0.1 as its PDS: refused by address, before any connection', async () => {
    for (const d of [docs.metadata!, docs.private!]) {
      const r = await call('atproto-read-thread', { uri: `at://${didWeb(d)}/app.bsky.feed.post/3kabcdefghij2` });
      expect(r).toMatchObject({ ok: false, error: { code: 'FETCH_REFUSED' } });
      expect(r.error.message).not.toMatch(/169\.254|10\.0\.0\.1/);
      const p = await call('atproto-read-profile', { actor: didWeb(d) });
      expect(p).toMatchObject({ ok: false, error: { code: 'FETCH_REFUSED' } });
      expect(d.hits).toEqual(['GET /.well-known/did.json']); // resolved once (cached), the PDS never asked
    }
  });

  it('a DID document naming a loopback service as its PDS: refused, the service never asked', async () => {
    const r = await call('atproto-read-profile', { actor: didWeb(docs.victim!) });
    expect(r).toMatchObject({ ok: false, error: { code: 'FETCH_REFUSED' } });
    expect(victim.hits).toEqual([]);
  });

  it('an allowed PDS that fails: a stable code and a generic message, never its error text', async () => {
    const r = await call('atproto-read-thread', { uri: `at://${didWeb(docs.internal!)}/app.bsky.feed.post/3kabcdefghij2` });
    expect(r).toMatchObject({ ok: false, error: { code: 'PDS_ERROR' } });
    expect(internalPds.hits.length).toBeGreaterThan(0);
    expect(JSON.stringify(r)).not.toMatch(/hunter2|internal-db|InternalServerError/);
  });

  it('the embedded PLC and PDS still resolve and read', async () => {
    const social = account(ts.system);
    const posted = await call('atproto-post', { text: 'still readable through the guard' });
    expect(posted.ok).toBe(true);
    expect(await call('atproto-read-thread', { uri: posted.uri })).toMatchObject({ ok: true, post: { text: 'still readable through the guard' } });
    expect(await call('atproto-read-profile', { actor: social.did, limit: 1 })).toMatchObject({ ok: true, did: social.did });
  });

  it('on /v1: the social agent’s read-thread of a did:web loopback URI gets FETCH_REFUSED, nothing is fetched', async () => {
    const uri = `at://did:web:localhost%3A${victim.port}/app.bsky.feed.post/3kabcdefghij2`;
    ts.model.setScript((req) => {
      const done = pendingToolResult(req);
      if (done) return { text: `result: ${done.content}` };
      return { toolCalls: [{ name: 'atproto-read-thread', arguments: { uri } }] };
    });
    const reply = await ts.client().chat.completions.create({ model: 'social', messages: [{ role: 'user', content: `read ${uri}` }] });
    const text = reply.choices[0]!.message.content!;
    expect(text).toContain('FETCH_REFUSED');
    expect(text).not.toContain('hunter2');
    expect(victim.hits).toEqual([]);
  });
});
