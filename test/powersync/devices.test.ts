/**
 * Devices against the embedded sync service: the real @powersync/node client (SQLite
 * on disk), the real system (embedded Postgres, logical replication, the /powersync
 * endpoints, Mastra agents and workflows). Only the language model is scripted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedPowerSync } from '../../src/features/powersync';
import { replyIdFor } from '../../src/workflows/powersync/answer-message';
import { lastUserText, pendingToolResult, type Script } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';
import { deviceDir, openDevice, replicationCaughtUp, waitForRows, type Device } from '../../harness/devices';

const ALICE_KEY = 'sk-alice-device-0001';
const BOB_KEY = 'sk-bob-device-00001';

/** "note: <title> | <body>" makes the organizer call save-note; anything else is echoed. */
const script: Script = (req) => {
  const tool = pendingToolResult(req);
  if (tool) return { text: `Saved (${tool.name}).` };
  const text = lastUserText(req);
  const m = /^note: (.+?) \| (.+)$/.exec(text);
  if (m && req.tools?.some((t) => t.function.name === 'save-note')) return { toolCalls: [{ name: 'save-note', arguments: { title: m[1], body: m[2] } }] };
  return { text: `Answer to: ${text}` };
};

let ts: TestSystem;
const devices: Device[] = [];
const db = () => ts.system.ctx.db;

async function device(name: string, apiKey: string): Promise<Device> {
  const d = await openDevice({ backendUrl: () => ts.system.url, apiKey, dir: deviceDir(ts.dataDir, name), name });
  devices.push(d);
  return d;
}

beforeAll(async () => {
  ts = await startTestSystem({ script, env: { API_KEYS: `${ALICE_KEY}:alice,${BOB_KEY}:bob` } });
  // Rows that exist before any device connects (initial snapshot + replication).
  for (let i = 0; i < 30; i++) {
    await db().query('insert into notes (id, owner_id, title, body) values ($1, $2, $3, $4)', [`seed-a-${i}`, 'alice', `alice note ${i}`, 'x']);
  }
  await db().query("insert into notes (id, owner_id, title, body) values ('seed-b-0', 'bob', 'bob secret', 'only bob')");
  await db().query("insert into tasks (id, owner_id, title) values ('task-b-1', 'bob', 'bob task')");
  // A device's first checkpoint is what replication has reached: wait until it has the seeds
  // (on a loaded machine replication can trail the inserts).
  await replicationCaughtUp(db());
});

afterAll(async () => {
  for (const d of devices) await d.close().catch(() => {});
  await ts?.stop();
});

describe('sync to devices', () => {
  let a1: Device;
  let a2: Device;
  let b1: Device;

  it('first sync: a device gets its user rows and the agent directory, never another user rows', async () => {
    a1 = await device('alice-1', ALICE_KEY);
    await a1.connect();
    await a1.db.waitForFirstSync();
    const notes = await a1.db.getAll<{ id: string; owner_id: string }>('select id, owner_id from notes order by id');
    expect(notes).toHaveLength(30);
    expect(notes.every((n) => n.owner_id === 'alice')).toBe(true);
    const agents = await a1.db.getAll<{ name: string }>('select name from agents order by name');
    expect(agents.map((a) => a.name)).toEqual(expect.arrayContaining(['assistant', 'organizer']));
    expect(await a1.db.getAll('select * from tasks')).toHaveLength(0);
  });

  it("an agent's tool write reaches the device (organizer → save-note → notes)", async () => {
    const res = await ts.client(ALICE_KEY).chat.completions.create({ model: 'organizer', messages: [{ role: 'user', content: 'note: groceries | milk, eggs' }] });
    expect(res.choices[0]!.message.content).toBe('Saved (save-note).');
    const rows = await waitForRows<{ title: string; body: string; owner_id: string }>(a1.db, "select title, body, owner_id from notes where title = 'groceries'", [], (r) => r.length === 1);
    expect(rows[0]).toMatchObject({ body: 'milk, eggs', owner_id: 'alice' });
    // The turn itself is mirrored into the synced conversation tables.
    const msgs = await waitForRows<{ role: string; content: string }>(
      a1.db,
      'select m.role, m.content from messages m join conversations c on c.id = m.conversation_id where c.agent = ? order by m.created_at',
      ['organizer'],
      (r) => r.length === 2,
    );
    expect(msgs).toEqual([
      { role: 'user', content: 'note: groceries | milk, eggs' },
      { role: 'assistant', content: 'Saved (save-note).' },
    ]);
  });

  it('an offline write uploads on reconnect and comes back through a write checkpoint', async () => {
    await a1.disconnect();
    await a1.db.execute("insert into tasks (id, owner_id, title, status, created_at) values ('task-a-1', 'alice', 'written offline', 'open', '2026-01-01T00:00:00.000Z')");
    await a1.db.execute("update notes set title = 'renamed offline' where id = 'seed-a-0'");
    expect((await db().query("select 1 from tasks where id = 'task-a-1'")).rowCount).toBe(0);
    await a1.connect();
    // The CRUD queue drains only after the upload was applied; the local rows then come
    // from the server's checkpoint (the client holds downloads back until its write checkpoint).
    await waitForRows(a1.db, 'select count(*) as n from ps_crud', [], (r: Array<{ n: number }>) => r[0]!.n === 0);
    await a1.db.waitForStatus((s) => s.dataFlowStatus.uploading === false && !!s.lastSyncedAt);
    const server = await db().query("select owner_id, title, status from tasks where id = 'task-a-1'");
    expect(server.rows[0]).toEqual({ owner_id: 'alice', title: 'written offline', status: 'open' });
    expect((await db().query("select title from notes where id = 'seed-a-0'")).rows[0]!.title).toBe('renamed offline');
    // The server's copy (with its updated_at set by the backend) is what the device holds now.
    await waitForRows(a1.db, "select updated_at from tasks where id = 'task-a-1'", [], (r: Array<{ updated_at: string | null }>) => !!r[0]?.updated_at);
  });

  it('two devices of one user converge', async () => {
    a2 = await device('alice-2', ALICE_KEY);
    await a2.connect();
    await a2.db.waitForFirstSync();
    await a2.db.execute("insert into notes (id, owner_id, title, body) values ('from-a2', 'alice', 'second device', 'hi')");
    await a1.db.execute("update tasks set status = 'done' where id = 'task-a-1'");
    await waitForRows(a1.db, "select id from notes where id = 'from-a2'", [], (r) => r.length === 1);
    await waitForRows(a2.db, "select status from tasks where id = 'task-a-1'", [], (r: Array<{ status: string }>) => r[0]?.status === 'done');
    const q = 'select id, title, body from notes order by id';
    await waitForRows(a2.db, q, [], (r) => r.length === 32);
    expect(await a1.db.getAll(q)).toEqual(await a2.db.getAll(q));
  });

  it("another user's rows never arrive; a row moved to another owner leaves the first device", async () => {
    b1 = await device('bob-1', BOB_KEY);
    await b1.connect();
    await b1.db.waitForFirstSync();
    const bobNotes = await b1.db.getAll<{ owner_id: string }>('select owner_id from notes');
    expect(bobNotes).toEqual([{ owner_id: 'bob' }]);
    expect(await a1.db.getAll("select id from notes where owner_id != 'alice'")).toEqual([]);
    expect(await a1.db.getAll("select id from tasks where id = 'task-b-1'")).toEqual([]);

    await db().query("update notes set owner_id = 'bob' where id = 'seed-a-1'");
    await waitForRows(a1.db, "select id from notes where id = 'seed-a-1'", [], (r) => r.length === 0);
    await waitForRows(a2.db, "select id from notes where id = 'seed-a-1'", [], (r) => r.length === 0);
    await waitForRows(b1.db, "select owner_id from notes where id = 'seed-a-1'", [], (r) => r.length === 1);
  });

  it("a device cannot write another user's row: the upload is refused (403) and dropped, nothing applied", async () => {
    await b1.db.writeTransaction(async (tx) => {
      await tx.execute("insert into notes (id, owner_id, title) values ('bob-ok', 'bob', 'fine')");
      await tx.execute("insert into notes (id, owner_id, title) values ('seed-a-2', 'bob', 'hijack')");
    });
    await waitForRows(b1.db, 'select count(*) as n from ps_crud', [], (r: Array<{ n: number }>) => r[0]!.n === 0);
    expect(b1.rejected).toHaveLength(1);
    expect(b1.rejected[0]).toMatchObject({ status: 403, body: { error: { code: 'not_owner', op_index: 1, retryable: false } } });
    // The whole transaction was refused: the valid op in it was not applied either.
    expect((await db().query("select id from notes where id in ('bob-ok', 'seed-a-2') and owner_id = 'bob'")).rowCount).toBe(0);
    expect((await db().query("select title from notes where id = 'seed-a-2'")).rows[0]!.title).toBe('alice note 2');
  });

  it('a checksum mismatch on the device is detected and repaired by a fresh download of the bucket', async () => {
    const ps = embeddedPowerSync(ts.system.ctx)!;
    await a2.disconnect();
    // Corrupt the device's local bucket state so its checksum no longer matches the server's.
    await a2.db.execute("update ps_buckets set add_checksum = add_checksum + 12345 where name like 'user_data%'");
    const before = ps.stats().requests.length;
    await db().query("insert into notes (id, owner_id, title, body) values ('after-corruption', 'alice', 'new', 'n')");
    await a2.connect();
    await waitForRows(a2.db, "select id from notes where id = 'after-corruption'", [], (r) => r.length === 1);
    // The client threw its copy of the bucket away and asked for it again from the start.
    const later = ps.stats().requests.slice(before).filter((r) => r.user === 'alice');
    expect(later.some((r) => !r.after['user_data["alice"]'] || r.after['user_data["alice"]'] === '0')).toBe(true);
    const q = 'select id, title from notes order by id';
    await waitForRows(a1.db, "select id from notes where id = 'after-corruption'", [], (r) => r.length === 1);
    expect(await a2.db.getAll(q)).toEqual(await a1.db.getAll(q));
  });

  it('a message written offline is answered once, after reconnect, and the reply reaches every device', async () => {
    await a1.disconnect();
    await a1.db.writeTransaction(async (tx) => {
      await tx.execute("insert into conversations (id, owner_id, agent, thread_id, title) values ('conv-offline', 'alice', 'assistant', 'thread-offline-1', 'on the train')");
      await tx.execute(
        "insert into messages (id, owner_id, conversation_id, role, content, status, created_at) values ('msg-offline-1', 'alice', 'conv-offline', 'user', 'what is offline-first?', 'pending', '2026-01-01T00:00:00.000Z')",
      );
    });
    const modelCallsBefore = ts.model.requests.filter((r) => lastUserText(r) === 'what is offline-first?').length;
    expect(modelCallsBefore).toBe(0);
    await a1.connect();
    const q = "select role, content, status from messages where conversation_id = 'conv-offline' order by created_at";
    for (const d of [a1, a2]) {
      await waitForRows(d.db, q, [], (r: Array<{ role: string; status: string | null }>) => r.length === 2 && r[0]!.status === 'answered');
      expect(await d.db.getAll(q)).toEqual([
        { role: 'user', content: 'what is offline-first?', status: 'answered' },
        { role: 'assistant', content: 'Answer to: what is offline-first?', status: 'done' },
      ]);
    }
    expect(ts.model.requests.filter((r) => lastUserText(r) === 'what is offline-first?')).toHaveLength(1);
    // Retries of the workflow (a redelivered upload, a sweep after restart) never answer twice.
    const run = await ts.system.runtime.mastra.getWorkflow('answer-synced-message').createRun();
    const again = await run.start({ inputData: { messageId: 'msg-offline-1', reclaim: true } });
    expect(again.status).toBe('success');
    expect((again as { result?: { outcome: string } }).result?.outcome).toBe('already-answered');
    const replies = await db().query("select id from messages where conversation_id = 'conv-offline' and role = 'assistant'");
    expect(replies.rows).toEqual([{ id: replyIdFor('msg-offline-1') }]);
    // The conversation is a real memory thread of alice's.
    const thread = await ts.system.runtime.memory.getThreadById({ threadId: 'thread-offline-1' });
    expect(thread?.resourceId).toBe('alice');
  });

  it('a restart of the sync service resumes from its stored position without a full resync', async () => {
    await replicationCaughtUp(db());
    // (Only the user buckets: other features may legitimately touch the agent directory at start-up.)
    const userOps = async () => Number((await db().query("select count(*) from powersync_oplog where bucket like 'user_data%'")).rows[0]!.count);
    const oplogBefore = await userOps();
    const notesOnDevice = (await a1.db.getAll('select id from notes')).length;
    for (const d of devices) await d.disconnect();
    await ts.restart();
    const ps = embeddedPowerSync(ts.system.ctx)!;
    // No re-snapshot: the bucket log did not grow by the existing rows.
    await replicationCaughtUp(db());
    expect(await userOps()).toBe(oplogBefore);
    await db().query("insert into notes (id, owner_id, title, body) values ('after-restart', 'alice', 'post restart', '')");
    await a1.connect();
    await waitForRows(a1.db, "select id from notes where id = 'after-restart'", [], (r) => r.length === 1);
    expect((await a1.db.getAll('select id from notes')).length).toBe(notesOnDevice + 1);
    // The device asked from where it was, and was sent only what it lacked.
    const req = ps.stats().requests.find((r) => r.user === 'alice')!;
    expect(BigInt(req.after['user_data["alice"]']!)).toBeGreaterThan(0n);
    expect(ps.stats().opsSent).toBeLessThan(notesOnDevice);
  });
});
