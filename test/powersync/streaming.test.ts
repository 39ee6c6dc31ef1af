/**
 * Streamed replies and runs you can stop, with real @powersync/node devices against the
 * real system (embedded Postgres, logical replication, the embedded sync service, the
 * /powersync endpoints, the answer-synced-message workflow). Only the language model is
 * THE SCRIPTED MODEL: a reply can be held mid-stream (`hold`), so a device sees it
 * partial without any timing in the test.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replyIdFor } from '../../src/workflows/powersync/answer-message';
import { flushReply, toolCallStarted } from '../../src/stores/powersync/agent-runs';
import { lastUserText, pendingToolResult, type Script } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';
import { deviceDir, openDevice, waitForRows, type Device } from '../../harness/devices';

const ALICE_KEY = 'sk-alice-stream-0001';
const BOB_KEY = 'sk-bob-stream-000001';

const WORDS = Array.from({ length: 40 }, (_, i) => `word${i}`);
const FULL = WORDS.join(' ');
const HELD_AFTER = 5;
/** What a held reply's devices see before the hold is released: the first HELD_AFTER pieces ("word0 … word4 "). */
const PARTIAL = WORDS.slice(0, HELD_AFTER).map((w) => `${w} `).join('');

/** Releasable holds, one per prompt ("hold <name>"); "fail once <name>" fails the first time. */
const holds = new Map<string, { promise: Promise<void>; release: () => void }>();
const hold = (name: string) => {
  let h = holds.get(name);
  if (!h) {
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    holds.set(name, (h = { promise, release }));
  }
  return h;
};
const failed = new Set<string>();
const script: Script = (req) => {
  const tool = pendingToolResult(req);
  if (tool) return { text: `Saved (${tool.name}).` };
  const text = lastUserText(req);
  const note = /^note: (.+?) \| (.+)$/.exec(text);
  if (note && req.tools?.some((t) => t.function.name === 'save-note')) return { toolCalls: [{ name: 'save-note', arguments: { title: note[1], body: note[2] } }] };
  const held = /^hold (\S+)$/.exec(text);
  if (held) return { text: FULL, holdAfter: HELD_AFTER, hold: hold(held[1]!).promise };
  const fail = /^fail once (\S+)$/.exec(text);
  if (fail && !failed.has(fail[1]!)) {
    failed.add(fail[1]!);
    return { error: { status: 500, message: 'scripted upstream failure' } };
  }
  return { text: `Answer to: ${text}` };
};

let ts: TestSystem;
const devices: Device[] = [];
const db = () => ts.system.ctx.db;

async function device(name: string, apiKey: string): Promise<Device> {
  const d = await openDevice({ backendUrl: () => ts.system.url, apiKey, dir: deviceDir(ts.dataDir, name), name });
  devices.push(d);
  await d.connect();
  await d.db.waitForFirstSync();
  return d;
}

async function upload(key: string, batch: unknown) {
  const res = await fetch(`${ts.system.url}/powersync/upload`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
  return { status: res.status, body: (await res.json()) as { applied?: number; error?: { code: string; message: string; op_index?: number; retryable: boolean } } };
}

/** A device writes a conversation (once) and a pending user message into it. */
async function send(d: Device, conv: string, msg: string, content: string, agent = 'assistant') {
  await d.db.writeTransaction(async (tx) => {
    await tx.execute("insert or ignore into conversations (id, owner_id, agent, thread_id, title) values (?, 'alice', ?, ?, 'streaming')", [conv, agent, `thread-${conv}`]);
    await tx.execute("insert into messages (id, owner_id, conversation_id, role, content, status, created_at) values (?, 'alice', ?, 'user', ?, 'pending', ?)", [msg, conv, content, new Date().toISOString()]);
  });
}

type Reply = { content: string; status: string };
type Run = { id: string; status: string; stop_requested: number; model: string | null; started_at: string | null; ended_at: string | null; output_tokens: number | null; reply_id: string; message_id: string };
const replyQ = 'select content, status from messages where id = ?';
const runQ = 'select * from agent_runs where message_id = ? order by started_at';

beforeAll(async () => {
  ts = await startTestSystem({ script, env: { FEATURES: 'powersync', API_KEYS: `${ALICE_KEY}:alice,${BOB_KEY}:bob` } });
});

afterAll(async () => {
  for (const h of holds.values()) h.release();
  for (const d of devices) await d.close().catch(() => {});
  await ts?.stop();
});

describe('streamed replies and runs', () => {
  let a1: Device;
  let a2: Device;
  let b1: Device;

  it('a second device sees the reply while it is written (status streaming), then whole (done), with its run', async () => {
    a1 = await device('alice-1', ALICE_KEY);
    a2 = await device('alice-2', ALICE_KEY);
    await send(a1, 'conv-s', 'msg-s1', 'hold s1');
    const replyId = replyIdFor('msg-s1');
    // The model is held after 5 pieces: the other device has the partial text, status streaming, and a running run.
    const partial = await waitForRows<Reply>(a2.db, replyQ, [replyId], (r) => r[0]?.content === PARTIAL);
    expect(partial[0]!.status).toBe('streaming');
    const running = await waitForRows<Run>(a2.db, runQ, ['msg-s1'], (r) => r.length === 1);
    expect(running[0]).toMatchObject({ status: 'running', stop_requested: 0, reply_id: replyId, model: 'scripted-model', ended_at: null });
    expect(running[0]!.started_at).toBeTruthy();
    const user = await waitForRows<{ status: string }>(a2.db, "select status from messages where id = 'msg-s1'", [], (r) => r[0]?.status === 'answering');
    expect(user).toHaveLength(1);

    // Every state a device observes is a prefix of the final text (the row only grows).
    const seen: string[] = [];
    const watching = (async () => {
      for await (const r of a2.db.watch(replyQ, [replyId])) {
        const row = r.rows?._array[0] as Reply | undefined;
        if (row) seen.push(row.content);
        if (row?.status !== 'streaming') return;
      }
    })();
    hold('s1').release();
    const done = await waitForRows<Reply>(a2.db, replyQ, [replyId], (r) => r[0]?.status === 'done');
    expect(done[0]!.content).toBe(FULL);
    await watching;
    expect(seen.every((s) => FULL.startsWith(s))).toBe(true);
    const ended = await waitForRows<Run>(a2.db, runQ, ['msg-s1'], (r) => r[0]?.status === 'done');
    expect(ended[0]!.ended_at).toBeTruthy();
    expect(ended[0]!.output_tokens).toBe(WORDS.length);
    // Device 1 syncs on its own schedule: wait until it has the message's final status (a timeout fails the test).
    expect(await waitForRows<{ status: string }>(a1.db, "select status from messages where id = 'msg-s1'", [], (r) => r[0]?.status === 'answered')).toEqual([{ status: 'answered' }]);
    // Postgres holds the same; how many times the row was written is printed for the report.
    const pgReply = await db().query('select content, status from messages where id = $1', [replyId]);
    expect(pgReply.rows[0]).toEqual({ content: FULL, status: 'done' });
  });

  it('a device writing stop_requested ends the run: the partial text stays (stopped), the model request is aborted, nothing is written after', async () => {
    await send(a1, 'conv-s', 'msg-s2', 'hold s2');
    const replyId = replyIdFor('msg-s2');
    await waitForRows<Reply>(a2.db, replyQ, [replyId], (r) => r[0]?.content === PARTIAL && r[0].status === 'streaming');
    const [run] = await waitForRows<Run>(a2.db, runQ, ['msg-s2'], (r) => r[0]?.status === 'running');
    const abortedBefore = ts.model.aborted;

    const t0 = performance.now();
    await a2.db.execute('update agent_runs set stop_requested = 1 where id = ?', [run!.id]);
    const stopped = await waitForRows<Run>(a1.db, runQ, ['msg-s2'], (r) => r[0]?.status === 'stopped');
    const stopMs = performance.now() - t0;
    expect(stopped[0]).toMatchObject({ stop_requested: 1 });
    expect(stopped[0]!.ended_at).toBeTruthy();
    const reply = await waitForRows<Reply>(a1.db, replyQ, [replyId], (r) => r[0]?.status === 'stopped');
    expect(reply[0]!.content).toBe(PARTIAL);
    await waitForRows(a1.db, "select status from messages where id = 'msg-s2'", [], (r: Array<{ status: string }>) => r[0]?.status === 'answered');
    // The model's HTTP request was cut (AbortSignal), not left to finish.
    await expect.poll(() => ts.model.aborted, { timeout: 10_000 }).toBeGreaterThan(abortedBefore);
    // Releasing the model now writes nothing more: the reply and the run stay as they were at the stop.
    hold('s2').release();
    const after = await db().query('select m.content, m.status, r.status as run_status, r.ended_at from messages m join agent_runs r on r.reply_id = m.id where m.id = $1', [replyId]);
    expect(after.rows).toEqual([{ content: PARTIAL, status: 'stopped', run_status: 'stopped', ended_at: after.rows[0]!.ended_at }]);
    // The sweep never answers a stopped message again.
    const again = await (await ts.system.runtime.mastra.getWorkflow('answer-synced-message').createRun()).start({ inputData: { messageId: 'msg-s2', reclaim: true } });
    expect((again as { result?: { outcome: string } }).result?.outcome).toBe('already-answered');
    expect((await db().query('select content, status from messages where id = $1', [replyId])).rows[0]).toEqual({ content: PARTIAL, status: 'stopped' });
    // The guard every write of a run goes through: after a stop nothing of the run writes (reply text, tool-call rows).
    expect(await flushReply(db(), run!.id, replyId, `${PARTIAL}more`)).toBe(false);
    await toolCallStarted(db(), run!.id, { id: 'late-tool-call', name: 'save-note', arguments: '{}' });
    expect((await db().query("select 1 from agent_tool_calls where id = 'late-tool-call'")).rowCount).toBe(0);
    expect((await db().query('select content from messages where id = $1', [replyId])).rows[0]!.content).toBe(PARTIAL);
    console.log(`[streaming] stop_requested written on device → run 'stopped' on the other device: ${stopMs.toFixed(0)} ms`);
  });

  it("another user cannot stop someone else's run: refused (403 not_owner / read_only_table), the run goes on", async () => {
    b1 = await device('bob-1', BOB_KEY);
    await send(a1, 'conv-s', 'msg-s3', 'hold s3');
    const replyId = replyIdFor('msg-s3');
    const [run] = await waitForRows<Run>(a1.db, runQ, ['msg-s3'], (r) => r[0]?.status === 'running');
    // Bob's devices never receive Alice's runs.
    expect(await b1.db.getAll('select id from agent_runs')).toEqual([]);
    // Through the upload endpoint with Bob's key: the same answer as for any id Bob may not use.
    const direct = await upload(BOB_KEY, [{ op: 'PATCH', table: 'agent_runs', id: run!.id, data: { stop_requested: 1 } }]);
    expect(direct.status).toBe(403);
    expect(direct.body.error).toMatchObject({ code: 'not_owner', retryable: false, op_index: 0 });
    // Through Bob's real device: it can only write a local row with that id (a PUT), refused and dropped.
    await b1.db.execute("insert into agent_runs (id, owner_id, stop_requested, status) values (?, 'bob', 1, 'stopped')", [run!.id]);
    await waitForRows(b1.db, 'select count(*) as n from ps_crud', [], (r: Array<{ n: number }>) => r[0]!.n === 0);
    expect(b1.rejected.at(-1)).toMatchObject({ status: 403, body: { error: { code: 'read_only_table', retryable: false } } });
    expect((await db().query('select stop_requested, status, owner_id from agent_runs where id = $1', [run!.id])).rows[0]).toEqual({ stop_requested: 0, status: 'running', owner_id: 'alice' });
    hold('s3').release();
    const done = await waitForRows<Reply>(a1.db, replyQ, [replyId], (r) => r[0]?.status === 'done');
    expect(done[0]!.content).toBe(FULL);
  });

  it('malformed stop uploads are refused with the upload statuses and change nothing', async () => {
    await send(a1, 'conv-s', 'msg-s4', 'hold s4');
    const [run] = await waitForRows<Run>(a1.db, runQ, ['msg-s4'], (r) => r[0]?.status === 'running');
    const id = run!.id;
    const cases: Array<[unknown, number, string]> = [
      [{ op: 'PATCH', table: 'agent_runs', id, data: { stop_requested: 0 } }, 422, 'invalid_value'],
      [{ op: 'PATCH', table: 'agent_runs', id, data: { stop_requested: 'yes' } }, 422, 'invalid_value'],
      [{ op: 'PATCH', table: 'agent_runs', id, data: { stop_requested: 2 } }, 422, 'invalid_value'],
      [{ op: 'PATCH', table: 'agent_runs', id, data: {} }, 422, 'invalid_value'],
      [{ op: 'PATCH', table: 'agent_runs', id, data: { status: 'stopped' } }, 403, 'read_only_column'],
      [{ op: 'PATCH', table: 'agent_runs', id, data: { stop_requested: 1, output_tokens: 1 } }, 403, 'read_only_column'],
      [{ op: 'PATCH', table: 'agent_runs', id, data: { stop_requested: 1, owner_id: 'bob' } }, 403, 'not_owner'],
      [{ op: 'PATCH', table: 'agent_runs', id, data: { stop_requested: 1, ['__proto__']: { x: 1 } } }, 403, 'read_only_column'],
      [{ op: 'PUT', table: 'agent_runs', id, data: { stop_requested: 1 } }, 403, 'read_only_table'],
      [{ op: 'DELETE', table: 'agent_runs', id }, 403, 'read_only_table'],
      [{ op: 'PATCH', table: 'agent_runs', id: `${'x'.repeat(200)}`, data: { stop_requested: 1 } }, 422, 'invalid_id'],
      [{ op: 'PATCH', table: 'agent_runs', id: "1' or '1'='1", data: { stop_requested: 1 } }, 422, 'invalid_id'],
      // A bad op after a valid stop: the whole batch is refused, the stop included.
      [[{ op: 'PATCH', table: 'agent_runs', id, data: { stop_requested: 1 } }, { op: 'PATCH', table: 'agent_runs', id, data: { stop_requested: 0 } }], 422, 'invalid_value'],
    ];
    for (const [op, status, code] of cases) {
      const r = await upload(ALICE_KEY, Array.isArray(op) ? op : [op]);
      expect({ op, status: r.status, code: r.body.error?.code }).toEqual({ op, status, code });
      expect(r.body.error!.retryable).toBe(false);
    }
    // JSON that is not a batch at all.
    const raw = await fetch(`${ts.system.url}/powersync/upload`, { method: 'POST', headers: { authorization: `Bearer ${ALICE_KEY}`, 'content-type': 'application/json' }, body: '{"batch": [{"op": "PATCH", "table": "agent_runs", "id": ' });
    expect(raw.status).toBe(400);
    expect((await db().query('select stop_requested, status from agent_runs where id = $1', [id])).rows[0]).toEqual({ stop_requested: 0, status: 'running' });
    // A stop of a run that does not exist is accepted without effect (idempotent, like any PATCH of a gone row).
    expect((await upload(ALICE_KEY, [{ op: 'PATCH', table: 'agent_runs', id: 'no-such-run', data: { stop_requested: 1 } }])).status).toBe(200);
    // The well-formed stop through the endpoint (`true` is accepted as 1) ends it.
    expect((await upload(ALICE_KEY, [{ op: 'PATCH', table: 'agent_runs', id, data: { stop_requested: true } }])).status).toBe(200);
    await waitForRows<Run>(a1.db, runQ, ['msg-s4'], (r) => r[0]?.status === 'stopped');
    hold('s4').release();
  });

  it('a model failure ends the run failed (reply failed, message pending again); the retry takes the reply over and finishes it', async () => {
    await send(a1, 'conv-s', 'msg-s5', 'fail once s5');
    const replyId = replyIdFor('msg-s5');
    const failedRun = await waitForRows<Run>(a1.db, runQ, ['msg-s5'], (r) => r[0]?.status === 'failed');
    expect(failedRun[0]!.ended_at).toBeTruthy();
    // The reply row shows the failure until a retry takes it over.
    expect((await db().query('select status from messages where id = $1', [replyId])).rows[0]?.status).toMatch(/failed|streaming|done/);
    // The periodic sweep would retry it; run the workflow now instead (either way it is answered once).
    await (await ts.system.runtime.mastra.getWorkflow('answer-synced-message').createRun()).start({ inputData: { messageId: 'msg-s5', reclaim: false } });
    const done = await waitForRows<Reply>(a1.db, replyQ, [replyId], (r) => r[0]?.status === 'done');
    expect(done[0]!.content).toBe('Answer to: fail once s5');
    const runs = await waitForRows<Run>(a1.db, runQ, ['msg-s5'], (r) => r.length === 2 && r[1]!.status === 'done');
    expect(runs.map((r) => r.status)).toEqual(['failed', 'done']);
    expect((await db().query("select count(*)::int as n from messages where conversation_id = 'conv-s' and id = $1", [replyId])).rows[0]!.n).toBe(1);
  });

  it("a tool call of the run is a synced row (name, arguments, result, done); devices cannot write tool-call rows", async () => {
    await send(a1, 'conv-tools', 'msg-t1', 'note: shopping | bread', 'organizer');
    const replyId = replyIdFor('msg-t1');
    const done = await waitForRows<Reply>(a2.db, replyQ, [replyId], (r) => r[0]?.status === 'done');
    expect(done[0]!.content).toBe('Saved (save-note).');
    const [run] = await waitForRows<Run>(a2.db, runQ, ['msg-t1'], (r) => r[0]?.status === 'done');
    const calls = await waitForRows<{ name: string; arguments: string; result: string | null; status: string; run_id: string; reply_id: string; ended_at: string | null }>(
      a2.db,
      'select * from agent_tool_calls where run_id = ?',
      [run!.id],
      (r) => r.length === 1 && r[0]!.status === 'done',
    );
    expect(calls[0]).toMatchObject({ name: 'save-note', reply_id: replyId });
    expect(JSON.parse(calls[0]!.arguments)).toEqual({ title: 'shopping', body: 'bread' });
    expect(calls[0]!.result).toBeTruthy();
    expect(calls[0]!.ended_at).toBeTruthy();
    // The tool really ran: its note reached the device too.
    await waitForRows(a2.db, "select id from notes where title = 'shopping'", [], (r) => r.length === 1);
    const put = await upload(ALICE_KEY, [{ op: 'PATCH', table: 'agent_tool_calls', id: 'x', data: { status: 'failed' } }]);
    expect(put.status).toBe(403);
    expect(put.body.error?.code).toBe('read_only_table');
  });

  it('a stop uploaded to another replica ends the run on the replica running the model (the signal goes through Postgres)', async () => {
    // A second app server on the same Postgres and sync service, signing with the same key (as replicas do); it
    // answers no messages itself, so the run is on the first.
    const signingKey = await fs.readFile(path.join(ts.dataDir, 'powersync', 'jwt-key.json'), 'utf8');
    const other = await startTestSystem({
      script,
      env: { POWERSYNC_JWT_PRIVATE_KEY: signingKey, FEATURES: 'powersync', API_KEYS: `${ALICE_KEY}:alice,${BOB_KEY}:bob`, DATABASE_URL: ts.system.ctx.urls.databaseUrl, POWERSYNC_URL: ts.system.ctx.urls.powersyncUrl!, POWERSYNC_ANSWER_MESSAGES: '0' },
    });
    try {
      const viaOther = await openDevice({ backendUrl: () => other.system.url, apiKey: ALICE_KEY, dir: deviceDir(ts.dataDir, 'alice-other'), name: 'alice-other' });
      devices.push(viaOther);
      await viaOther.connect();
      await viaOther.db.waitForFirstSync();
      await send(a1, 'conv-s', 'msg-s6', 'hold s6');
      const replyId = replyIdFor('msg-s6');
      await waitForRows<Reply>(viaOther.db, replyQ, [replyId], (r) => r[0]?.content === PARTIAL && r[0].status === 'streaming');
      const [run] = await waitForRows<Run>(viaOther.db, runQ, ['msg-s6'], (r) => r[0]?.status === 'running');
      await viaOther.db.execute('update agent_runs set stop_requested = 1 where id = ?', [run!.id]);
      await waitForRows<Run>(a1.db, runQ, ['msg-s6'], (r) => r[0]?.status === 'stopped');
      const reply = await waitForRows<Reply>(viaOther.db, replyQ, [replyId], (r) => r[0]?.status === 'stopped');
      expect(reply[0]!.content).toBe(PARTIAL);
      expect(viaOther.rejected).toEqual([]);
      // The model of the other replica was never asked: the first replica ran (and stopped) it.
      expect(other.model.requests).toHaveLength(0);
      hold('s6').release();
      await viaOther.close();
    } finally {
      await other.stop();
    }
  });
});
