/** AT Protocol helpers for tests and benchmarks: other people's accounts on the embedded PDS, record reads, a tiny PNG. */
import { deflateSync } from 'node:zlib';
import { AtpAgent, lexicons } from '@atproto/api';
import type { System } from '../src/system';
import { atprotoClients } from '../src/features/atproto';

export async function createPerson(system: System, name: string, opts: { automated?: boolean } = {}): Promise<AtpAgent & { did: string; handle: string }> {
  const pdsUrl = system.ctx.urls.pdsUrl!;
  const domain = system.ctx.config.atproto.handleDomain;
  const agent = new AtpAgent({ service: pdsUrl });
  const handle = `${name}.${domain}`;
  await agent.createAccount({ handle, password: `pw-${name}-0123456789`, email: `${name}@${domain}` });
  if (opts.automated) {
    await agent.com.atproto.repo.putRecord({
      repo: agent.session!.did,
      collection: 'app.bsky.actor.profile',
      rkey: 'self',
      record: { $type: 'app.bsky.actor.profile', displayName: name, labels: { $type: 'com.atproto.label.defs#selfLabels', values: [{ val: 'bot' }] } },
    });
  }
  return Object.assign(agent, { handle }) as AtpAgent & { did: string; handle: string };
}

export async function postAs(person: AtpAgent & { did: string }, text: string, reply?: { root: { uri: string; cid: string }; parent: { uri: string; cid: string } }, facets?: unknown[]) {
  const res = await person.com.atproto.repo.createRecord({
    repo: person.did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString(), ...(reply ? { reply } : {}), ...(facets ? { facets } : {}) },
  });
  return { uri: res.data.uri, cid: res.data.cid };
}

/** A post with a proper mention facet for `@handle` (byte offsets). */
export async function mention(person: AtpAgent & { did: string }, target: { did: string; handle: string }, text: string, reply?: Parameters<typeof postAs>[2]) {
  const full = `@${target.handle} ${text}`;
  const byteEnd = Buffer.byteLength(`@${target.handle}`);
  return postAs(person, full, reply, [{ index: { byteStart: 0, byteEnd }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: target.did }] }]);
}

export async function listPosts(system: System, did: string) {
  const pds = new AtpAgent({ service: system.ctx.urls.pdsUrl! });
  const out: Array<{ uri: string; cid: string; value: Record<string, any> }> = [];
  let cursor: string | undefined;
  do {
    const res = await pds.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post', limit: 100, cursor });
    out.push(...(res.data.records as never[]));
    cursor = res.data.records.length ? res.data.cursor : undefined;
  } while (cursor);
  return out;
}

export async function getPost(system: System, uri: string) {
  const [, , did, collection, rkey] = uri.split('/');
  const pds = new AtpAgent({ service: system.ctx.urls.pdsUrl! });
  const res = await pds.com.atproto.repo.getRecord({ repo: did!, collection: collection!, rkey: rkey! });
  return res.data.value as Record<string, any>;
}

/** Throws if the record does not validate against the app.bsky lexicons. */
export function assertValidPost(value: unknown) {
  lexicons.assertValidRecord('app.bsky.feed.post', value);
}

export function account(system: System, name = 'social') {
  return atprotoClients(system.ctx).account(name);
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A valid RGB PNG of the given size (for image posts). */
export function png(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const raw = Buffer.alloc((width * 3 + 1) * height, 0x7f);
  for (let y = 0; y < height; y++) raw[y * (width * 3 + 1)] = 0;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
