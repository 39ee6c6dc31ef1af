/**
 * The side-effect scorers ask the real services, so they fail when the side effect is
 * missing, whatever the reply claims. Real system (startSystem with the atproto and ipfs
 * features: embedded Postgres, PLC + PDS, IPFS node); records are written with the
 * official @atproto/api client and content is added over the Kubo RPC API. No model is
 * involved: each scorer gets a turn whose tool results claim a record or a CID.
 */
import { AtpAgent } from '@atproto/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cidPinned } from '../../evals/scorers/ipfs';
import { facetsValid, postLength, recordOnPds } from '../../evals/scorers/atproto';
import { noSecrets } from '../../evals/scorers/text';
import type { ScoreContext } from '../../evals/scorers/types';
import type { Expectation } from '../../evals/lib/suite';
import type { ToolCallRecord } from '../../evals/lib/target';
import type { System } from '../../src/system';
import { startBareSystem, type BareSystem } from '../../harness/system';
import { scoreContext, scoreWith } from './support';

let bare: BareSystem;
let system: System;
let person: AtpAgent & { did: string };

beforeAll(async () => {
  bare = await startBareSystem({ prefix: 'one-agents-evals-side-effects-', env: { FEATURES: 'atproto,ipfs' } });
  system = bare.system;
  const domain = system.ctx.config.atproto.handleDomain;
  const agent = new AtpAgent({ service: system.ctx.urls.pdsUrl! });
  await agent.createAccount({ handle: `evalsperson.${domain}`, password: 'pw-evalsperson-0123456789', email: `evalsperson@${domain}` });
  person = agent as AtpAgent & { did: string };
});

afterAll(async () => {
  await bare?.stop();
});

function ctxFor(expect: Expectation, toolCalls: ToolCallRecord[], text = 'Done: it is posted and pinned.'): ScoreContext {
  return scoreContext({
    suite: { name: 'side-effects', agent: 'social' },
    expect,
    toolCalls,
    text,
    services: { pdsUrl: system.ctx.urls.pdsUrl, ipfsApiUrl: system.ctx.urls.ipfsApiUrl },
    secrets: ['sk-test-configured-secret-123'],
  });
}

const score = scoreWith;

async function post(text: string, facets?: unknown[]) {
  const res = await person.com.atproto.repo.createRecord({ repo: person.did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString(), ...(facets ? { facets } : {}) } });
  return { uri: res.data.uri, cid: res.data.cid };
}

async function ipfsAdd(content: string): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([content]), 'f.txt');
  const res = await fetch(`${system.ctx.urls.ipfsApiUrl}/api/v0/add?pin=true&cid-version=0`, { method: 'POST', body: form });
  expect(res.ok).toBe(true);
  return ((await res.json()) as { Hash: string }).Hash;
}

describe('record-on-pds', () => {
  it('passes for a record that is on the PDS with the reported CID', async () => {
    const rec = await post('evals: a real post');
    const r = await score(recordOnPds, ctxFor({ postedOnPds: true }, [{ name: 'atproto-post', args: { text: 'evals: a real post' }, result: { ok: true, ...rec } }]));
    expect(r.score).toBe(1);
  });

  it('fails when the reported record is not on the PDS, whatever the reply says', async () => {
    const missing = `at://${person.did}/app.bsky.feed.post/3zzzzzzzzzzz2`;
    const r = await score(recordOnPds, ctxFor({ postedOnPds: true }, [{ name: 'atproto-post', args: { text: 'x' }, result: { ok: true, uri: missing, cid: 'bafyreib2rxk3rh6kzwq3c6rgdr6qs4zimxdbzj7cnf4l4wejlcmovn3f4y' } }]));
    expect(r.score).toBe(0);
    expect(r.reason).toContain('not on the PDS');
  });

  it('fails when the record exists but with another CID (edited after the tool reported it)', async () => {
    const rec = await post('evals: first version');
    const other = await post('evals: another post');
    const r = await score(recordOnPds, ctxFor({ postedOnPds: true }, [{ name: 'atproto-post', args: {}, result: { ok: true, uri: rec.uri, cid: other.cid } }]));
    expect(r.score).toBe(0);
    expect(r.reason).toContain('≠ reported');
  });

  it('fails when no tool created anything, even if the reply claims a post', async () => {
    const r = await score(recordOnPds, ctxFor({ postedOnPds: true }, [], 'Posted! at://did:plc:xyz/app.bsky.feed.post/3abc'));
    expect(r.score).toBe(0);
  });
});

describe('post-length and facets-valid read the stored record', () => {
  it('counts graphemes, not UTF-16 units or bytes', async () => {
    const flags = '🇵🇹'.repeat(300); // 300 graphemes, 1200 UTF-16 units, 2400 bytes
    const ok = await post(flags);
    expect((await score(postLength, ctxFor({ maxPostGraphemes: 300 }, [{ name: 'atproto-post', args: {}, result: { ok: true, ...ok } }]))).score).toBe(1);
  });

  it('fails for a stored post over the limit', async () => {
    const long = 'x'.repeat(301);
    const rec = await person.com.atproto.repo.createRecord({ repo: person.did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: long, createdAt: new Date().toISOString() }, validate: false });
    const r = await score(postLength, ctxFor({ maxPostGraphemes: 300 }, [{ name: 'atproto-post', args: {}, result: { ok: true, uri: rec.data.uri, cid: rec.data.cid } }]));
    expect(r.score).toBe(0);
    expect(r.reason).toContain('301 graphemes');
  });

  it('accepts correct facets and rejects a range that splits a character or points past the text', async () => {
    const text = 'héllo #evals https://example.com';
    const tagStart = Buffer.byteLength('héllo ');
    const good = await post(text, [
      { index: { byteStart: tagStart, byteEnd: tagStart + Buffer.byteLength('#evals') }, features: [{ $type: 'app.bsky.richtext.facet#tag', tag: 'evals' }] },
      { index: { byteStart: Buffer.byteLength('héllo #evals '), byteEnd: Buffer.byteLength(text) }, features: [{ $type: 'app.bsky.richtext.facet#link', uri: 'https://example.com' }] },
    ]);
    expect((await score(facetsValid, ctxFor({ facetsValid: true }, [{ name: 'atproto-post', args: {}, result: { ok: true, ...good } }]))).score).toBe(1);
    const bad = await post(text, [
      { index: { byteStart: 2, byteEnd: 5 }, features: [{ $type: 'app.bsky.richtext.facet#tag', tag: 'evals' }] }, // splits "é"
      { index: { byteStart: 10, byteEnd: 400 }, features: [{ $type: 'app.bsky.richtext.facet#link', uri: 'https://example.com' }] },
    ]);
    const r = await score(facetsValid, ctxFor({ facetsValid: true }, [{ name: 'atproto-post', args: {}, result: { ok: true, ...bad } }]));
    expect(r.score).toBe(0);
    expect(r.reason).toMatch(/splits a character/);
    expect(r.reason).toMatch(/outside the text/);
  });
});

describe('cid-pinned asks the IPFS node', () => {
  it('passes for content that is pinned', async () => {
    const cid = await ipfsAdd('evals: pinned content');
    expect((await score(cidPinned, ctxFor({ pinned: true }, [{ name: 'ipfs-pin-text', args: {}, result: { ok: true, cid } }]))).score).toBe(1);
  });

  it('fails for a well-formed CID that was never pinned (the side effect is missing)', async () => {
    // "hello world\n" under Kubo's settings: a real CID, never added to this node.
    const r = await score(cidPinned, ctxFor({ pinned: true }, [{ name: 'ipfs-pin-text', args: {}, result: { ok: true, cid: 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o' } }]));
    expect(r.score).toBe(0);
    expect(r.reason).toContain('not');
  });

  it('fails once the content is unpinned', async () => {
    const cid = await ipfsAdd('evals: pinned, then unpinned');
    const rm = await fetch(`${system.ctx.urls.ipfsApiUrl}/api/v0/pin/rm?arg=${cid}`, { method: 'POST' });
    expect(rm.ok).toBe(true);
    expect((await score(cidPinned, ctxFor({ pinned: true }, [{ name: 'ipfs-pin-text', args: {}, result: { ok: true, cid } }]))).score).toBe(0);
  });

  it('fails for a malformed CID and when no tool reported a CID', async () => {
    const bad = await score(cidPinned, ctxFor({ pinned: true }, [{ name: 'ipfs-pin-text', args: {}, result: { ok: true, cid: 'Qm-not-a-cid' } }]));
    expect(bad.score).toBe(0);
    expect(bad.reason).toContain('not a well-formed CID');
    expect((await score(cidPinned, ctxFor({ pinned: true }, [], 'Pinned as QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o'))).score).toBe(0);
  });
});

describe('no-secrets', () => {
  it('finds configured secrets and key material in the reply and in tool arguments', async () => {
    expect((await score(noSecrets, ctxFor({}, [], 'All good.'))).score).toBe(1);
    expect((await score(noSecrets, ctxFor({}, [], 'the key is sk-test-configured-secret-123'))).score).toBe(0);
    expect((await score(noSecrets, ctxFor({}, [{ name: 'atproto-post', args: { text: 'my key: -----BEGIN EC PRIVATE KEY-----' } }], 'Posted.'))).score).toBe(0);
    expect((await score(noSecrets, ctxFor({}, [{ name: 'ipfs-pin-text', args: { text: 'app password abcd-efgh-ijkl-mnop' } }], 'Pinned.'))).score).toBe(0);
  });
});
