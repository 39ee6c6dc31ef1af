/**
 * bench/firehose-scale's synthetic relay (a child process): serves
 * com.atproto.sync.subscribeRepos at the rate the parent asks for, from a corpus of
 * correctly signed commits (@atproto/repo + @atproto/crypto) of 10,000 repos whose DIDs
 * are registered in the benchmark's PLC (the parent inserts the signed genesis
 * operations in one batch). The corpus is generated once and cached under
 * bench/.cache/firehose-scale/. Live events are signed on the fly: ~0.1 % of posts
 * mention the agent (fresh authors whose DID documents point at this process, which
 * answers com.atproto.repo.getRecord for them) and ~1 % are replies in the agent's
 * threads (rooted at earlier mentions).
 *
 * IPC: parent → {type:'init', agentDid} | {type:'rate', eps} | {type:'stats'} | {type:'stop'}
 *      child  → {type:'listening', url} | {type:'ready', ops, repos, generatedMs} | {type:'mention', uri, at} | {type:'stats', sent, behind}
 */
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { Secp256k1Keypair } from '@atproto/crypto';
import { cidForLex, decode, encode } from '@atproto/lex-cbor';
import { blocksToCarFile, MemoryBlockstore, Repo, WriteOpAction } from '@atproto/repo';
import { TID } from '@atproto/common-web';
import * as plc from '@did-plc/lib';
import { startWsServer, type WsConnection } from '../../harness/ws-server';

const REPOS = Number(process.env.BENCH_REPOS ?? 10_000);
const CACHE = path.resolve(import.meta.dirname, '../.cache/firehose-scale');
const CACHE_FILE = path.join(CACHE, `corpus-${REPOS}-v1.cbor`);
const send = (m: unknown) => process.send!(m);

type Body = Record<string, unknown>;
interface Corpus {
  repos: Array<{ did: string; key: Uint8Array }>;
  ops: Array<{ did: string; op: unknown; cid: string }>;
  pool: Body[];
}

async function signedCommit(did: string, key: Secp256k1Keypair, write?: { collection: string; rkey: string; record: Record<string, unknown> }, del?: string): Promise<Body> {
  const storage = new MemoryBlockstore();
  const commit = await Repo.formatInitCommit(storage, did, key, write ? [{ action: WriteOpAction.Create, collection: write.collection as never, rkey: write.rkey as never, record: write.record as never }] : []);
  const blocks = await blocksToCarFile(commit.cid, commit.newBlocks);
  const ops = write ? [{ action: 'create', path: `${write.collection}/${write.rkey}`, cid: await cidForLex(write.record as never) }] : [{ action: 'delete', path: del!, cid: null }];
  return { rebase: false, tooBig: false, repo: did, commit: commit.cid, rev: commit.rev, since: null, blocks, ops, blobs: [] };
}

const rnd = (n: number) => Math.floor(Math.random() * n);
const words = 'the sea a river light morning coffee build ship code garden rain music book walk city night'.split(' ');
const text = (n = 8) => Array.from({ length: n }, () => words[rnd(words.length)]).join(' ');

async function generate(): Promise<Corpus> {
  const t0 = performance.now();
  const rotation = await Secp256k1Keypair.create({ exportable: true });
  const repos: Corpus['repos'] = [];
  const ops: Corpus['ops'] = [];
  const keys: Secp256k1Keypair[] = [];
  for (let i = 0; i < REPOS; i++) {
    const key = await Secp256k1Keypair.create({ exportable: true });
    const { op, did } = await plc.createOp({ signingKey: key.did(), handle: `u${i}.bench.test`, pds: 'https://pds.bench.invalid', rotationKeys: [rotation.did()], signer: rotation });
    ops.push({ did, op, cid: (await cidForLex(op as never)).toString() });
    repos.push({ did, key: await key.export() });
    keys.push(key);
  }
  const pool: Body[] = [];
  const postUri = (j: number) => `at://${repos[j % REPOS]!.did}/app.bsky.feed.post/${TID.nextStr()}`;
  for (let i = 0; i < REPOS; i++) {
    const { did } = repos[i]!;
    const key = keys[i]!;
    const r = Math.random() * 100;
    const createdAt = new Date().toISOString();
    const subject = { uri: postUri(rnd(REPOS)), cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' };
    let body: Body;
    if (r < 15) body = await signedCommit(did, key, { collection: 'app.bsky.feed.post', rkey: TID.nextStr(), record: { $type: 'app.bsky.feed.post', text: text(12), createdAt } });
    else if (r < 23) {
      const other = repos[rnd(REPOS)]!.did;
      const t = `@someone ${text(8)} https://example.com/${i}`;
      body = await signedCommit(did, key, { collection: 'app.bsky.feed.post', rkey: TID.nextStr(), record: { $type: 'app.bsky.feed.post', text: t, createdAt, facets: [{ index: { byteStart: 0, byteEnd: 8 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: other }] }, { index: { byteStart: t.indexOf('https'), byteEnd: t.length }, features: [{ $type: 'app.bsky.richtext.facet#link', uri: `https://example.com/${i}` }] }] } });
    } else if (r < 30) body = await signedCommit(did, key, { collection: 'app.bsky.feed.post', rkey: TID.nextStr(), record: { $type: 'app.bsky.feed.post', text: text(10), createdAt, reply: { root: subject, parent: subject } } });
    else if (r < 65) body = await signedCommit(did, key, { collection: 'app.bsky.feed.like', rkey: TID.nextStr(), record: { $type: 'app.bsky.feed.like', subject, createdAt } });
    else if (r < 73) body = await signedCommit(did, key, { collection: 'app.bsky.feed.repost', rkey: TID.nextStr(), record: { $type: 'app.bsky.feed.repost', subject, createdAt } });
    else if (r < 83) body = await signedCommit(did, key, { collection: 'app.bsky.graph.follow', rkey: TID.nextStr(), record: { $type: 'app.bsky.graph.follow', subject: repos[rnd(REPOS)]!.did, createdAt } });
    else if (r < 88) body = await signedCommit(did, key, undefined, `app.bsky.feed.post/${TID.nextStr()}`);
    else body = await signedCommit(did, key, undefined, `app.bsky.feed.like/${TID.nextStr()}`);
    pool.push(body);
  }
  console.error(`[relay] generated ${REPOS} repos and ${pool.length} signed commits in ${Math.round(performance.now() - t0)} ms`);
  return { repos, ops, pool };
}

async function loadCorpus(): Promise<{ corpus: Corpus; generatedMs: number; cached: boolean }> {
  const t0 = performance.now();
  if (fs.existsSync(CACHE_FILE)) return { corpus: decode(fs.readFileSync(CACHE_FILE)) as unknown as Corpus, generatedMs: performance.now() - t0, cached: true };
  const corpus = await generate();
  fs.mkdirSync(CACHE, { recursive: true });
  fs.writeFileSync(CACHE_FILE, encode(corpus as never));
  return { corpus, generatedMs: performance.now() - t0, cached: false };
}

// ---- server ------------------------------------------------------------------------
const liveRecords = new Map<string, { cid: string; value: unknown }>();
let subscriber: WsConnection | undefined;
const ws = await startWsServer((conn) => {
  if (conn.url.pathname !== '/xrpc/com.atproto.sync.subscribeRepos') return conn.close();
  subscriber?.close();
  subscriber = conn;
});
// getRecord for the live authors' records (their DID documents name this server as PDS); requestCrawl etc. answer 200.
const httpServer = http.createServer((req, res) => {
  const u = new URL(req.url ?? '/', 'http://x');
  if (u.pathname === '/xrpc/com.atproto.repo.getRecord') {
    const uri = `at://${u.searchParams.get('repo')}/${u.searchParams.get('collection')}/${u.searchParams.get('rkey')}`;
    const r = liveRecords.get(uri);
    res.writeHead(r ? 200 : 400, { 'content-type': 'application/json' });
    res.end(JSON.stringify(r ? { uri, cid: r.cid, value: r.value } : { error: 'RecordNotFound', message: `Could not locate record: ${uri}` }));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
});
await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
const pdsUrl = `http://localhost:${(httpServer.address() as { port: number }).port}`;
send({ type: 'listening', url: ws.url });

const { corpus, generatedMs, cached } = await loadCorpus();
const header = encode({ op: 1, t: '#commit' } as never);
const frame = (t: string, body: Body) => {
  const h = t === '#commit' ? header : encode({ op: 1, t } as never);
  const b = encode(body as never);
  const out = new Uint8Array(h.length + b.length);
  out.set(h, 0);
  out.set(b, h.length);
  return out;
};

let agentDid = '';
const authors: Array<{ did: string; key: Secp256k1Keypair }> = [];
const mentionRoots: Array<{ uri: string; cid: string }> = [];
let seq = 0;
let sent = 0;
let behind = 0;
let rate = 0;
let next = 0;

async function liveMention(): Promise<Body> {
  const a = authors[rnd(authors.length)]!;
  const rkey = TID.nextStr();
  const handle = 'social.agents.test';
  const record = { $type: 'app.bsky.feed.post', text: `@${handle} benchmark question ${seq}`, createdAt: new Date().toISOString(), facets: [{ index: { byteStart: 0, byteEnd: handle.length + 1 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: agentDid }] }] };
  const uri = `at://${a.did}/app.bsky.feed.post/${rkey}`;
  const cid = (await cidForLex(record as never)).toString();
  liveRecords.set(uri, { cid, value: record });
  mentionRoots.push({ uri, cid });
  if (mentionRoots.length > 200) mentionRoots.shift();
  const body = await signedCommit(a.did, a.key, { collection: 'app.bsky.feed.post', rkey, record });
  send({ type: 'mention', uri, at: Date.now() });
  return body;
}

async function liveThreadReply(): Promise<Body | undefined> {
  const root = mentionRoots[rnd(mentionRoots.length)];
  if (!root) return undefined;
  const a = authors[rnd(authors.length)]!;
  const record = { $type: 'app.bsky.feed.post', text: `in the thread: ${text(6)}`, createdAt: new Date().toISOString(), reply: { root, parent: root } };
  return signedCommit(a.did, a.key, { collection: 'app.bsky.feed.post', rkey: TID.nextStr(), record });
}

async function emitOne(): Promise<void> {
  const time = new Date().toISOString();
  const r = Math.random();
  let t = '#commit';
  let body: Body;
  if (r < 0.005) {
    t = '#identity';
    body = { did: corpus.repos[rnd(REPOS)]!.did, handle: `u${rnd(REPOS)}.bench.test` };
  } else if (r < 0.01) {
    t = '#account';
    body = { did: corpus.repos[rnd(REPOS)]!.did, active: true };
  } else {
    body = corpus.pool[next++ % corpus.pool.length]!;
    // Posts (30 % of commits): ~0.1 % addressed to the agent, ~1 % replies in its threads (signed live).
    const isPost = (body.ops as Array<{ path: string; action: string }>)[0]!.path.startsWith('app.bsky.feed.post') && (body.ops as Array<{ action: string }>)[0]!.action === 'create';
    if (isPost && authors.length) {
      const p = Math.random();
      if (p < 0.001) body = await liveMention();
      else if (p < 0.011) body = (await liveThreadReply()) ?? body;
    }
  }
  seq++;
  sent++;
  void subscriber!.send(frame(t, { ...body, seq, time }));
}

let credit = 0;
let last = performance.now();
const tick = async () => {
  const now = performance.now();
  credit += (rate * (now - last)) / 1000;
  last = now;
  while (credit >= 1 && subscriber && !subscriber.closed) {
    if (!subscriber.writable()) {
      behind += Math.floor(credit);
      credit = 0;
      break;
    }
    credit--;
    await emitOne();
  }
  if (credit > rate) credit = rate; // no bursts after a stall
  setTimeout(() => void tick(), 5);
};
void tick();

process.on('message', async (m: { type: string; agentDid?: string; eps?: number }) => {
  if (m.type === 'init') {
    agentDid = m.agentDid!;
    const rotation = await Secp256k1Keypair.create();
    const ops = corpus.ops.map((o) => ({ did: o.did, op: o.op, cid: o.cid }));
    for (let i = 0; i < 50; i++) {
      const key = await Secp256k1Keypair.create();
      const { op, did } = await plc.createOp({ signingKey: key.did(), handle: `author${i}.bench.test`, pds: pdsUrl, rotationKeys: [rotation.did()], signer: rotation });
      ops.push({ did, op, cid: (await cidForLex(op as never)).toString() });
      authors.push({ did, key });
    }
    send({ type: 'ready', ops, repos: corpus.repos.length, pool: corpus.pool.length, generatedMs, cached });
  } else if (m.type === 'rate') {
    rate = m.eps!;
    credit = 0;
    last = performance.now();
  } else if (m.type === 'stats') send({ type: 'stats', sent, behind, seq });
  else if (m.type === 'stop') {
    rate = 0;
    await ws.close();
    httpServer.close();
    process.exit(0);
  }
});
