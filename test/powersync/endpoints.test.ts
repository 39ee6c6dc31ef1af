/**
 * The PowerSync backend endpoints and the sync service's edges, over the real system:
 * sync rules validated against the live Postgres schema, the client schema checked
 * against what the rules generate, credentials + JWKS, token refusal (forged,
 * expired, wrong audience) and expiry of an open stream, upload validation and
 * atomicity, and the sync tools scoped to the conversation's user.
 */
import { SignJWT, generateKeyPair, jwtVerify, createRemoteJWKSet } from 'jose';
import { SchemaGenerator, SqlSyncRules, type SourceSchema, type SyncConfig } from '@powersync/service-sync-rules';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSourceSchema, readSyncRulesYaml, validateSyncRules, SyncRules } from '../../services/powersync/embedded/rules';
import { powerSyncClients } from '../../src/features/powersync';
import { AppSchema } from '../../src/clients/powersync/client-schema';
import { pendingToolResult, lastUserText, type Script } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

const ALICE_KEY = 'sk-alice-endpoint-01';
const BOB_KEY = 'sk-bob-endpoint-0001';

/** "tool <name> <json args>" calls that tool; otherwise the model reports the tool result or echoes. */
const script: Script = (req) => {
  const tool = pendingToolResult(req);
  if (tool) return { text: `RESULT ${tool.content}` };
  const m = /^tool (\S+) (.+)$/.exec(lastUserText(req));
  if (m) return { toolCalls: [{ name: m[1]!, arguments: JSON.parse(m[2]!) }] };
  return { text: 'ok' };
};

let ts: TestSystem;
const url = () => ts.system.url;
const psUrl = () => ts.system.ctx.urls.powersyncUrl!;
const db = () => ts.system.ctx.db;

async function credentials(key: string, user?: string) {
  const res = await fetch(`${url()}/powersync/credentials${user ? `?user=${user}` : ''}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as { endpoint: string; token: string; user_id: string; expires_at: string } };
}

async function upload(key: string, batch: unknown) {
  const res = await fetch(`${url()}/powersync/upload`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
  return { status: res.status, body: (await res.json()) as { applied?: number; error?: { code: string; message: string; op_index?: number; retryable: boolean } } };
}

function openStream(token: string, body: unknown = { buckets: [], include_checksum: true, raw_data: true, client_id: 'raw' }) {
  return fetch(`${psUrl()}/sync/stream`, { method: 'POST', headers: { authorization: `Token ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function readLines(res: Response, until: (line: Record<string, unknown>) => boolean): Promise<Array<Record<string, unknown>>> {
  const lines: Array<Record<string, unknown>> = [];
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return lines;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
      buf = buf.slice(i + 1);
      lines.push(line);
      if (until(line)) {
        await reader.cancel();
        return lines;
      }
    }
  }
}

beforeAll(async () => {
  ts = await startTestSystem({ script, env: { API_KEYS: `${ALICE_KEY}:alice,${BOB_KEY}:bob`, POWERSYNC_KEEPALIVE_S: '1' } });
});
afterAll(async () => {
  await ts?.stop();
});

describe('sync rules and client schema', () => {
  it('the sync rules validate against the live Postgres schema; a rule naming a missing column does not', async () => {
    const yaml = readSyncRulesYaml();
    const rules = new SyncRules(yaml);
    const schema = await readSourceSchema(db(), rules.tables);
    expect(validateSyncRules(yaml, schema)).toEqual([]);
    const broken = yaml.replace('SELECT * FROM agents', 'SELECT id, nickname FROM agents');
    expect(validateSyncRules(broken, schema).join('\n')).toMatch(/nickname/);
  });

  it('the client Schema is exactly what the sync rules produce from the live schema', async () => {
    const yaml = readSyncRulesYaml();
    const rules = new SyncRules(yaml);
    const schema = await readSourceSchema(db(), rules.tables);
    const { config } = SqlSyncRules.fromYaml(yaml, { defaultSchema: 'public', schema });
    // The generator the PowerSync dashboard uses, asked for its table list instead of source text.
    class Tables extends SchemaGenerator {
      key = 'tables';
      label = 'tables';
      mediaType = 'application/json';
      fileName = 'tables.json';
      generate(source: SyncConfig, s: SourceSchema) {
        return JSON.stringify(this.getAllTables(source, s).map((t) => ({ name: t.name, columns: t.columns.filter((c) => c.name !== 'id').map((c) => [c.name, this.columnType(c)]) })));
      }
    }
    const generated = (JSON.parse(new Tables().generate(config, schema)) as Array<{ name: string; columns: Array<[string, string]> }>).sort((a, b) => a.name.localeCompare(b.name));
    const ours = AppSchema.tables
      .map((t) => ({ name: t.name, columns: t.columns.map((c) => [c.name, String(c.type).toLowerCase()] as [string, string]) }))
      .sort((a, b) => a.name.localeCompare(b.name));
    expect(ours).toEqual(generated);
  });
});

describe('credentials and tokens', () => {
  it('issues a short-lived token for the API key owner, verifiable with the served JWKS', async () => {
    const { status, body } = await credentials(ALICE_KEY);
    expect(status).toBe(200);
    expect(body.endpoint).toBe(psUrl());
    expect(body.user_id).toBe('alice');
    const jwks = createRemoteJWKSet(new URL(`${url()}/powersync/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(body.token, jwks, { audience: ts.system.ctx.config.powersync.audience });
    expect(payload.sub).toBe('alice');
    expect(protectedHeader.kid).toBe(powerSyncClients(ts.system.ctx).keys.kid);
    expect(payload.exp! - payload.iat!).toBe(ts.system.ctx.config.powersync.tokenTtlSeconds);
    // The JWKS holds only public parts.
    const served = (await (await fetch(`${url()}/powersync/jwks.json`)).json()) as { keys: Array<Record<string, unknown>> };
    expect(served.keys[0]).not.toHaveProperty('d');
    // owner:user, as on /v1
    expect((await credentials(ALICE_KEY, 'phone')).body.user_id).toBe('alice:phone');
  });

  it('refuses callers without a valid API key (OpenAI-style error)', async () => {
    const res = await fetch(`${url()}/powersync/credentials`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('missing_api_key');
    const bad = await fetch(`${url()}/powersync/upload`, { method: 'POST', headers: { authorization: 'Bearer sk-not-a-key-123' } });
    expect(bad.status).toBe(401);
  });

  it('the sync service refuses forged, expired and wrong-audience tokens, and accepts a valid one', async () => {
    const keys = powerSyncClients(ts.system.ctx).keys;
    const audience = ts.system.ctx.config.powersync.audience;
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: keys.kid }).setSubject('alice').setAudience(audience).setIssuedAt().setExpirationTime('5m').sign(privateKey);
    const now = Math.floor(Date.now() / 1000);
    const expired = (await keys.sign({ sub: 'alice', audience, ttlSeconds: 60, now: now - 3600 })).token;
    const wrongAudience = (await keys.sign({ sub: 'alice', audience: 'someone-else', ttlSeconds: 60 })).token;
    for (const [token, why] of [[forged, 'not valid'], [expired, 'expired'], [wrongAudience, 'not valid']] as const) {
      const res = await openStream(token);
      expect(res.status).toBe(401);
      const body = (await res.json()) as { error: { code: string; description: string } };
      expect(body.error.code).toBe('PSYNC_S2101');
      expect(body.error.description).toContain(why);
      expect(JSON.stringify(body)).not.toContain(token);
    }
    expect((await fetch(`${psUrl()}/write-checkpoint2.json?client_id=x`, { headers: { authorization: `Token ${forged}` } })).status).toBe(401);
    expect((await openStream('')).status).toBe(401);

    const ok = await openStream((await credentials(ALICE_KEY)).body.token);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = await readLines(ok, (l) => 'checkpoint_complete' in l);
    expect(lines[0]).toHaveProperty('token_expires_in');
    const cp = lines.find((l) => 'checkpoint' in l)!.checkpoint as { last_op_id: string; buckets: Array<{ bucket: string }> };
    expect(cp.buckets.map((b) => b.bucket).sort()).toEqual(['agent_directory[]', 'user_data["alice"]']);
    expect(typeof cp.last_op_id).toBe('string');
  });

  it('an open stream counts the token down (keepalive) and ends when the token expires', async () => {
    const keys = powerSyncClients(ts.system.ctx).keys;
    const { token } = await keys.sign({ sub: 'alice', audience: ts.system.ctx.config.powersync.audience, ttlSeconds: 2 });
    const res = await openStream(token);
    expect(res.status).toBe(200);
    const lines = await readLines(res, () => false); // until the server ends the stream
    const keepalives = lines.filter((l) => 'token_expires_in' in l).map((l) => l.token_expires_in as number);
    expect(keepalives.length).toBeGreaterThanOrEqual(2);
    expect(keepalives[keepalives.length - 1]).toBe(0);
  });

  it('write checkpoints: the legacy route and checkpoint requests are acknowledged in the stream', async () => {
    const { token } = (await credentials(BOB_KEY)).body;
    const wc = await fetch(`${psUrl()}/write-checkpoint2.json?client_id=dev-b`, { headers: { authorization: `Token ${token}` } });
    const id = ((await wc.json()) as { data: { write_checkpoint: string } }).data.write_checkpoint;
    expect(id).toMatch(/^\d+$/);
    const res = await openStream(token, { buckets: [], raw_data: true, client_id: 'dev-b' });
    const lines = await readLines(res, (l) => {
      const c = (l.checkpoint ?? l.checkpoint_diff) as { write_checkpoint?: string } | undefined;
      return !!c?.write_checkpoint && BigInt(c.write_checkpoint) >= BigInt(id);
    });
    expect(lines.length).toBeGreaterThan(0);
    const req = await fetch(`${psUrl()}/sync/checkpoint-request`, { method: 'POST', headers: { authorization: `Token ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ client_id: 'dev-c', checkpoint_request_id: '5' }) });
    expect(((await req.json()) as { data: { checkpoint_request_id: string } }).data.checkpoint_request_id).toBe('5');
    const stale = await fetch(`${psUrl()}/sync/checkpoint-request`, { method: 'POST', headers: { authorization: `Token ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ client_id: 'dev-c', checkpoint_request_id: '3' }) });
    expect(((await stale.json()) as { data: { checkpoint_request_id: string } }).data.checkpoint_request_id).toBe('5');
  });
});

describe('upload', () => {
  it('applies a batch of PUT/PATCH/DELETE in one transaction, with owner_id set from the caller', async () => {
    const r = await upload(ALICE_KEY, [
      { op: 'PUT', table: 'notes', id: 'up-1', data: { title: 't1', body: 'b1' } },
      { op: 'PUT', table: 'tasks', id: 'up-t', data: { title: 'task', status: 'open', due_at: '2026-02-01T10:00:00Z' } },
      { op: 'PATCH', table: 'notes', id: 'up-1', data: { body: 'b2' } },
      { op: 'PUT', table: 'notes', id: 'up-2', data: { title: 'gone soon' } },
      { op: 'DELETE', table: 'notes', id: 'up-2' },
      { op: 'DELETE', table: 'notes', id: 'never-existed' },
    ]);
    expect(r).toEqual({ status: 200, body: { applied: 6 } });
    expect((await db().query("select owner_id, title, body from notes where id like 'up-%' order by id")).rows).toEqual([{ owner_id: 'alice', title: 't1', body: 'b2' }]);
    expect((await db().query("select status from tasks where id = 'up-t'")).rows).toEqual([{ status: 'open' }]);
  });

  it('rejects bad ops with a clear, permanent error and applies nothing of the batch', async () => {
    const cases: Array<[unknown[], number, string]> = [
      [[{ op: 'PUT', table: 'notes', id: 'bad-1', data: { title: 'ok' } }, { op: 'PUT', table: 'tasks', id: 'bad-2', data: { title: 'x', status: 'someday' } }], 422, 'invalid_value'],
      [[{ op: 'PUT', table: 'notes', id: 'bad-3', data: { title: 'ok', colour: 'red' } }], 422, 'invalid_value'],
      [[{ op: 'PUT', table: 'secrets', id: 'bad-4', data: {} }], 422, 'unknown_table'],
      [[{ op: 'PUT', table: 'agents', id: 'bad-5', data: { name: 'evil' } }], 403, 'read_only_table'],
      [[{ op: 'PUT', table: 'notes', id: 'bad-6', data: { owner_id: 'bob', title: 'x' } }], 403, 'not_owner'],
      [[{ op: 'PATCH', table: 'notes', id: 'up-1', data: { title: 7 } }], 422, 'invalid_value'],
      [[{ op: 'PUT', table: 'notes', id: 'has space', data: {} }], 422, 'invalid_id'],
      [[{ op: 'PUT', table: 'messages', id: 'bad-7', data: { conversation_id: 'nope', role: 'user', content: 'hi' } }], 422, 'unknown_conversation'],
      [[{ op: 'PUT', table: 'messages', id: 'bad-8', data: { conversation_id: 'nope', role: 'assistant', content: 'I am the agent' } }], 422, 'invalid_value'],
      [[{ op: 'PUT', table: 'conversations', id: 'bad-9', data: { agent: 'no-such-agent' } }], 422, 'unknown_agent'],
      [[{ op: 'MERGE', table: 'notes', id: 'bad-10' }], 400, 'invalid_op'],
    ];
    for (const [batch, status, code] of cases) {
      const r = await upload(ALICE_KEY, batch);
      expect({ status: r.status, code: r.body.error?.code, retryable: r.body.error?.retryable }).toEqual({ status, code, retryable: false });
      expect(r.body.error!.message.length).toBeGreaterThan(10);
    }
    expect((await db().query("select id from notes where id like 'bad-%'")).rowCount).toBe(0);
    // Bob cannot touch alice's rows, not even to delete them.
    const del = await upload(BOB_KEY, [{ op: 'DELETE', table: 'notes', id: 'up-1' }]);
    expect(del.status).toBe(403);
    expect((await db().query("select 1 from notes where id = 'up-1'")).rowCount).toBe(1);
    // Table names that are properties of every object are just unknown tables: permanent 422, not 500.
    for (const table of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const r = await upload(ALICE_KEY, [{ op: 'PUT', table, id: 'proto-1', data: { title: 'x' } }]);
      expect({ table, status: r.status, code: r.body.error?.code, retryable: r.body.error?.retryable }).toEqual({ table, status: 422, code: 'unknown_table', retryable: false });
    }
    // A body the server cannot decode is the client's fault: 4xx, not retryable.
    const latin1 = await fetch(`${url()}/powersync/upload`, { method: 'POST', headers: { authorization: `Bearer ${ALICE_KEY}`, 'content-type': 'application/json; charset=latin1' }, body: '{"batch": []}' });
    expect(latin1.status).toBe(415);
    expect((await latin1.json()).error).toMatchObject({ code: 'unsupported_charset', retryable: false });
    const notJson = await fetch(`${url()}/powersync/upload`, { method: 'POST', headers: { authorization: `Bearer ${ALICE_KEY}`, 'content-type': 'application/json' }, body: '{"batch": [' });
    expect(notJson.status).toBe(400);
  });
});

describe('upload: U+0000 (issue 21 item 8)', () => {
  it('a task or note text holding U+0000 is stored with U+FFFD, as docs/security.md says (was a 422 invalid_value)', async () => {
    const r = await upload(ALICE_KEY, [
      { op: 'PUT', table: 'tasks', id: 'nul-t', data: { title: 'buy \u0000 milk', status: 'open' } },
      { op: 'PUT', table: 'notes', id: 'nul-n', data: { title: 'a\u0000b', body: '\u0000' } },
    ]);
    expect(r).toEqual({ status: 200, body: { applied: 2 } });
    expect((await db().query("select title from tasks where id = 'nul-t'")).rows).toEqual([{ title: 'buy \ufffd milk' }]);
    expect((await db().query("select title, body from notes where id = 'nul-n'")).rows).toEqual([{ title: 'a\ufffdb', body: '\ufffd' }]);
  });
});

describe('thread ids through sync', () => {
  it("answers a conversation with another user's thread_id exactly like another user's row id: 403 not_owner, never 'already exists'", async () => {
    const own = await upload(ALICE_KEY, [{ op: 'PUT', table: 'conversations', id: 'conv-alice-th', data: { agent: 'assistant', thread_id: 'thread-taken-by-alice' } }]);
    expect(own.status).toBe(200);
    const byThread = await upload(BOB_KEY, [{ op: 'PUT', table: 'conversations', id: 'conv-bob-th', data: { agent: 'assistant', thread_id: 'thread-taken-by-alice' } }]);
    const byRow = await upload(BOB_KEY, [{ op: 'PUT', table: 'conversations', id: 'conv-alice-th', data: { agent: 'assistant' } }]);
    const tail = (m?: string) => m?.replace(/^op \d+ \([^)]*\): /, '');
    expect({ status: byThread.status, code: byThread.body.error?.code }).toEqual({ status: 403, code: 'not_owner' });
    expect({ status: byRow.status, code: byRow.body.error?.code }).toEqual({ status: 403, code: 'not_owner' });
    expect(tail(byThread.body.error?.message)).toBe(tail(byRow.body.error?.message));
    expect(byThread.body.error?.message).not.toMatch(/exist/i);
    // The /v1 side sees the same claim: bob cannot chat in alice's synced thread.
    const err = await ts.client(BOB_KEY).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-thread-id': 'thread-taken-by-alice' } }).catch((e) => e);
    expect({ status: err.status, code: err.code }).toEqual({ status: 404, code: 'thread_not_found' });
  });
});

describe('agent access through sync', () => {
  it('refuses a conversation with, or a message to, an agent the caller may not use (social is ADMIN_USERS-only) with 403 agent_forbidden', async () => {
    const before = ts.model.requests.length;
    const conv = await upload(ALICE_KEY, [{ op: 'PUT', table: 'conversations', id: 'conv-social-1', data: { agent: 'social' } }]);
    expect({ status: conv.status, code: conv.body.error?.code, retryable: conv.body.error?.retryable }).toEqual({ status: 403, code: 'agent_forbidden', retryable: false });
    // A conversation that predates the rule: its new messages are refused too.
    await db().query("insert into conversations (id, owner_id, agent, thread_id) values ('conv-social-old', 'alice', 'social', 'thread-social-old')");
    const msg = await upload(ALICE_KEY, [{ op: 'PUT', table: 'messages', id: 'msg-social-1', data: { conversation_id: 'conv-social-old', role: 'user', content: 'post this', status: 'pending' } }]);
    expect({ status: msg.status, code: msg.body.error?.code }).toEqual({ status: 403, code: 'agent_forbidden' });
    expect((await db().query("select 1 from messages where id = 'msg-social-1'")).rowCount).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(ts.model.requests.length).toBe(before);
  });
});

describe('chat turns mirrored into the synced tables', () => {
  it('stores a turn holding U+0000 (NUL) as U+FFFD: the conversation and both messages reach Postgres, and memory keeps the turn', async () => {
    ts.model.setScript(() => ({ text: 'reply with a \u0000 NUL' }));
    try {
      const threadId = `nul-thread-${Date.now()}`;
      const r = await ts.client(ALICE_KEY).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'hello \u0000 world' }] }, { headers: { 'x-thread-id': threadId } });
      expect(r.choices[0]!.message.content).toBe('reply with a \u0000 NUL');
      // The mirror is queued off the request path: wait for it to land.
      let conv = await db().query<{ id: string; owner_id: string }>('select id, owner_id from conversations where thread_id = $1', [threadId]);
      for (let i = 0; i < 200 && (await db().query('select 1 from messages m join conversations c on c.id = m.conversation_id where c.thread_id = $1', [threadId])).rowCount! < 2; i++)
        await new Promise((res) => setTimeout(res, 50));
      conv = await db().query<{ id: string; owner_id: string }>('select id, owner_id from conversations where thread_id = $1', [threadId]);
      expect(conv.rows).toEqual([{ id: expect.any(String), owner_id: 'alice' }]);
      const msgs = await db().query('select role, content from messages where conversation_id = $1 order by created_at', [conv.rows[0]!.id]);
      expect(msgs.rows).toEqual([
        { role: 'user', content: 'hello \uFFFD world' },
        { role: 'assistant', content: 'reply with a \uFFFD NUL' },
      ]);
      // Mastra's memory took the turn too: the next request in the thread sees it.
      ts.model.setScript(() => ({ text: 'second' }));
      await ts.client(ALICE_KEY).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'again' }] }, { headers: { 'x-thread-id': threadId } });
      const seen = ts.model.requests.at(-1)!.messages.map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content)));
      expect(seen.some((c) => c.includes('hello \uFFFD world'))).toBe(true);
    } finally {
      ts.model.setScript(script);
    }
  });
});

describe('sync tools', () => {
  it("save-artifact / list-artifacts / update-task act only for the conversation's user", async () => {
    await db().query("insert into tasks (id, owner_id, title) values ('bob-task', 'bob', 'bob only')");
    await db().query("insert into artifacts (id, owner_id, kind, title) values ('bob-art', 'bob', 'post', 'bob post')");
    const alice = ts.client(ALICE_KEY);
    const say = async (content: string) => (await alice.chat.completions.create({ model: 'organizer', messages: [{ role: 'user', content }] })).choices[0]!.message.content!;
    expect(await say('tool save-artifact {"kind":"post","title":"hello","atUri":"at://did:plc:abc/app.bsky.feed.post/1","cid":"bafyreib2rxk3rybk3aobmv5msrxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}')).toMatch(/^RESULT \{"ok":true,"id":/);
    const listed = await say('tool list-artifacts {"limit":10}');
    expect(listed).toContain('hello');
    expect(listed).not.toContain('bob post');
    // The model names bob's task: it is not found for alice, and stays unchanged.
    expect(await say('tool update-task {"id":"bob-task","status":"done"}')).toMatch(/"ok":false,"error":\{"code":"NOT_FOUND","message":"no task bob-task/);
    expect((await db().query("select status from tasks where id = 'bob-task'")).rows[0]!.status).toBe('open');
    expect(await say('tool update-task {"title":"call mum"}')).toMatch(/"created":true/);
    expect((await db().query("select owner_id from tasks where title = 'call mum'")).rows).toEqual([{ owner_id: 'alice' }]);
    expect((await db().query("select owner_id from artifacts where title = 'hello'")).rows).toEqual([{ owner_id: 'alice' }]);
  });

  it('save-note refuses key material and stores nothing', async () => {
    const alice = ts.client(ALICE_KEY);
    const before = Number((await db().query("select count(*) from notes where owner_id = 'alice'")).rows[0]!.count);
    const r = await alice.chat.completions.create({
      model: 'organizer',
      messages: [{ role: 'user', content: 'tool save-note {"title":"keys","body":"openai sk-proj-abcdefghijklmnopqrstuvwxyz0123"}' }],
    });
    expect(r.choices[0]!.message.content).toMatch(/SECRET|looks like a secret/);
    expect(r.choices[0]!.message.content).not.toContain('sk-proj-abcdefghijklmnopqrstuvwxyz0123');
    expect(Number((await db().query("select count(*) from notes where owner_id = 'alice'")).rows[0]!.count)).toBe(before);
  });
});
