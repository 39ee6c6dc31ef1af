/**
 * Chat through PowerSync under /v1's rules (issue 21 items 4 and 5), with the real
 * @powersync/node client against the real system (embedded Postgres, sync service,
 * Mastra workflow); only the language model is scripted.
 *   - a synced answer counts in usage_daily like a /v1 chat (GET /v1/usage shows it)
 *   - over the daily token budget, messages are not answered (the model is not called):
 *     each gets status 'refused' and a system notice, synced to the device
 *   - at most POWERSYNC_ANSWER_MAX_PER_USER answers run at once per user (Postgres slots);
 *     the rest stay pending and are answered when a slot frees
 *   - a conversation on a system thread id (`atproto:…`) is refused at upload (422 reserved_thread_id)
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastUserText, type Script } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';
import { deviceDir, openDevice, waitForRows, type Device } from '../../harness/devices';
import { refusalIdFor } from '../../src/workflows/powersync/answer-message';

const ALICE = 'sk-alice-budget-000001';
const BOB = 'sk-bob-budget-0000002';

/** Held replies: `hold:` messages wait until released; everything else is answered at once. */
let held: Array<() => void> = [];
let holding = 0;
let maxHolding = 0;
const script: Script = async (req) => {
  const text = lastUserText(req);
  if (text.startsWith('hold:')) {
    holding++;
    maxHolding = Math.max(maxHolding, holding);
    await new Promise<void>((resolve) => held.push(resolve));
    holding--;
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
  return d;
}

async function usageOf(key: string) {
  const r = await fetch(`${ts.system.url}/v1/usage`, { headers: { authorization: `Bearer ${key}` } });
  expect(r.status).toBe(200);
  const body = (await r.json()) as { days: Array<{ requests: number; total_tokens: number }> };
  return body.days.reduce((a, d) => ({ requests: a.requests + d.requests, tokens: a.tokens + d.total_tokens }), { requests: 0, tokens: 0 });
}

async function waitFor(check: () => Promise<boolean>, what: string) {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  ts = await startTestSystem({
    script,
    env: {
      FEATURES: 'sync',
      API_KEYS: `${ALICE}:alice,${BOB}:bob`,
      RATE_LIMIT_RPM: '0',
      BUDGET_TOKENS_PER_DAY_BOB: '1',
      POWERSYNC_ANSWER_MAX_PER_USER: '2',
    },
  });
});

afterAll(async () => {
  for (const r of held) r();
  for (const d of devices) await d.close().catch(() => {});
  await ts?.stop();
});

describe('chat through sync under the budgets and limits of /v1', () => {
  it('a synced answer is counted in usage like a /v1 chat', async () => {
    const before = await usageOf(ALICE);
    const a = await device('alice-usage', ALICE);
    await a.db.writeTransaction(async (tx) => {
      await tx.execute("insert into conversations (id, owner_id, agent, thread_id, title) values ('conv-u', 'alice', 'assistant', 'thread-u', 'usage')");
      await tx.execute("insert into messages (id, owner_id, conversation_id, role, content, status, created_at) values ('msg-u-1', 'alice', 'conv-u', 'user', 'count me', 'pending', '2026-01-01T00:00:00.000Z')");
    });
    await waitForRows(a.db, "select status from messages where id = 'msg-u-1'", [], (r: Array<{ status: string }>) => r[0]?.status === 'answered');
    const after = await usageOf(ALICE);
    expect(after.requests).toBe(before.requests + 1);
    expect(after.tokens).toBeGreaterThan(before.tokens);
  });

  it('over the daily budget: /v1 answers 429 and every synced message is refused with a synced status and notice, the model never called', async () => {
    // Bob's first /v1 chat spends his 1-token budget; the next is refused.
    const bob = ts.client(BOB);
    await bob.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'spend it' }] });
    const refused = await bob.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'more' }] }).catch((e: InstanceType<typeof OpenAI.APIError>) => e);
    expect((refused as InstanceType<typeof OpenAI.APIError>).code).toBe('budget_exceeded');
    const usageBefore = await usageOf(BOB);

    const b = await device('bob-budget', BOB);
    const n = 20;
    await b.db.writeTransaction(async (tx) => {
      await tx.execute("insert into conversations (id, owner_id, agent, thread_id, title) values ('conv-b', 'bob', 'assistant', 'thread-b', 'over budget')");
      for (let i = 0; i < n; i++) {
        await tx.execute("insert into messages (id, owner_id, conversation_id, role, content, status, created_at) values (?, 'bob', 'conv-b', 'user', ?, 'pending', ?)", [
          `msg-b-${i}`,
          `free ride ${i}`,
          new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
        ]);
      }
    });
    const q = "select id, role, status, content from messages where conversation_id = 'conv-b' order by created_at";
    type Row = { id: string; role: string; status: string; content: string };
    const rows = await waitForRows<Row>(b.db, q, [], (r) => r.length === 2 * n && r.every((m) => m.status === 'refused'));
    const users = rows.filter((r) => r.role === 'user');
    const notices = rows.filter((r) => r.role === 'system');
    expect(users).toHaveLength(n);
    expect(notices.map((r) => r.id).sort()).toEqual(Array.from({ length: n }, (_, i) => refusalIdFor(`msg-b-${i}`)).sort());
    expect(notices[0]!.content).toMatch(/Daily token budget reached/);
    expect(ts.model.requests.filter((r) => lastUserText(r).startsWith('free ride'))).toHaveLength(0);
    // Nothing was answered, so nothing more was counted; no answer slot is left behind.
    expect(await usageOf(BOB)).toEqual(usageBefore);
    expect((await db().query("select 1 from sync_answer_slots where owner_id = 'bob'")).rowCount).toBe(0);
    // A refused message is final: the sweep does not pick it up again.
    await ts.system.runtime.mastra.getWorkflow('answer-synced-message').createRun().then((run) => run.start({ inputData: { messageId: 'msg-b-0', reclaim: true } }));
    expect(ts.model.requests.filter((r) => lastUserText(r).startsWith('free ride'))).toHaveLength(0);
  });

  it('at most POWERSYNC_ANSWER_MAX_PER_USER (2) answers per user run at once; the rest wait pending and are answered after', async () => {
    const a = await device('alice-many', ALICE);
    const n = 6;
    // One conversation per message: no thread lease serializes them, only the per-user limit.
    await a.db.writeTransaction(async (tx) => {
      for (let i = 0; i < n; i++) {
        await tx.execute("insert into conversations (id, owner_id, agent, thread_id, title) values (?, 'alice', 'assistant', ?, 'many')", [`conv-m-${i}`, `thread-m-${i}`]);
        await tx.execute("insert into messages (id, owner_id, conversation_id, role, content, status, created_at) values (?, 'alice', ?, 'user', ?, 'pending', '2026-01-02T00:00:00.000Z')", [
          `msg-m-${i}`,
          `conv-m-${i}`,
          `hold: ${i}`,
        ]);
      }
    });
    await waitFor(async () => holding === 2, 'two answers at the model');
    const ids = Array.from({ length: n }, (_, i) => `msg-m-${i}`);
    const statuses = async () => (await db().query<{ status: string }>('select status from messages where id = any($1)', [ids])).rows.map((r) => r.status).sort();
    // Two hold a slot; a third message, tried now, is 'busy' and stays pending.
    expect((await db().query("select count(*)::int as n from sync_answer_slots where owner_id = 'alice' and expires_at > now()")).rows[0].n).toBe(2);
    const answering = new Set((await db().query<{ id: string }>("select id from messages where id = any($1) and status = 'answering'", [ids])).rows.map((r) => r.id));
    const waiting = ids.find((id) => !answering.has(id))!;
    const run = await ts.system.runtime.mastra.getWorkflow('answer-synced-message').createRun();
    const tried = await run.start({ inputData: { messageId: waiting, reclaim: false } });
    expect((tried as { result?: { outcome: string } }).result?.outcome).toBe('busy');
    expect(await statuses()).toEqual(['answering', 'answering', 'pending', 'pending', 'pending', 'pending']);
    // Release one at a time as they come: every message is answered, never more than 2 at once.
    while ((await statuses()).some((s) => s !== 'answered')) {
      const r = held.shift();
      if (r) r();
      else await new Promise((res) => setTimeout(res, 20));
    }
    expect(maxHolding).toBe(2);
    await waitForRows(a.db, "select status from messages where id like 'msg-m-%'", [], (r: Array<{ status: string }>) => r.length === n && r.every((m) => m.status === 'answered'));
    expect((await db().query("select 1 from sync_answer_slots where owner_id = 'alice'")).rowCount).toBe(0);
  });

  it('a synced conversation on a system thread id is refused at upload: 422 reserved_thread_id', async () => {
    const b = await device('bob-squat', BOB);
    await b.db.execute("insert into conversations (id, owner_id, agent, thread_id, title) values ('conv-squat', 'bob', 'assistant', 'atproto:social:scheduled', 'squat')");
    await b.db.execute("insert into conversations (id, owner_id, agent, title) values ('system:conv', 'bob', 'assistant', 'squat by id')");
    await waitFor(async () => b.rejected.length === 2, 'both uploads refused');
    expect(b.rejected.map((r) => r.status)).toEqual([422, 422]);
    expect(b.rejected.map((r) => (r.body as { error: { code: string } }).error.code)).toEqual(['reserved_thread_id', 'reserved_thread_id']);
    expect((await db().query("select 1 from thread_owners where thread_id in ('atproto:social:scheduled', 'system:conv')")).rowCount).toBe(0);
  });
});
