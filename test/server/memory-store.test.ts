/**
 * The chat store's memory domain (src/mastra/memory-store.ts): a turn's messages are
 * saved in one statement, writing what stock @mastra/pg's saveMessages writes (the
 * oracle: MemoryPG itself, on the same Postgres), and a new conversation's history read
 * sends no query. Real Postgres, real @mastra/pg; /v1 turns go to THE SCRIPTED MODEL.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MastraDBMessage } from '@mastra/core/agent';
import type { MemoryStorage } from '@mastra/core/storage';
import { startTestSystem, type TestSystem } from '../../harness/system';
import { ChatMemory } from '../../src/db/memory/memory';
import { claimNewThread, saveTurnStatement } from '../../src/db/memory/memory-store';
import { claimThread, threadOwner } from '../../src/db/threads';

let t: TestSystem;
let ours: MemoryStorage;
let stock: MemoryStorage;

beforeAll(async () => {
  t = await startTestSystem({ env: { FEATURES: 'none', RATE_LIMIT_RPM: '0' } });
  ours = (await t.system.runtime.storage.getStore('memory'))!;
  stock = t.system.runtime.storage.stores!.memory!;
  expect(ours).not.toBe(stock);
});
afterAll(async () => {
  await t?.stop();
});

const db = () => t.system.ctx.db;

async function newThread(resourceId: string, id = `t-${randomUUID()}`) {
  const past = new Date(Date.now() - 60_000);
  await stock.saveThread({ thread: { id, resourceId, title: '', metadata: {}, createdAt: past, updatedAt: past } });
  return id;
}

/** A turn as Mastra saves it: a user message and an assistant reply with a tool call, plus a string-content message. */
function turn(threadId: string, resourceId: string, ids = [randomUUID(), randomUUID(), randomUUID()]): MastraDBMessage[] {
  const at = Date.now();
  return [
    { id: ids[0]!, threadId, resourceId, role: 'user', type: 'v2', createdAt: new Date(at), content: { format: 2, parts: [{ type: 'text', text: 'hé \u0000 "quoted" \\ 🎉' }] } },
    {
      id: ids[1]!,
      threadId,
      resourceId,
      role: 'assistant',
      createdAt: new Date(at + 1),
      content: { format: 2, parts: [{ type: 'tool-invocation', toolInvocation: { state: 'result', toolCallId: 'c1', toolName: 'now', args: { a: [1, 2] }, result: { ok: true } } }, { type: 'text', text: 'done' }] },
    },
    { id: ids[2]!, threadId, resourceId, role: 'assistant', type: 'v2', createdAt: new Date(at + 2), content: JSON.stringify({ format: 2, parts: [{ type: 'text', text: 'as a string' }] }) as never },
  ];
}

/** The rows as stored, without the ids and thread ids (which differ between the two threads). */
async function rowsOf(threadId: string) {
  const r = await db().query(
    `select content, role, type, "resourceId", "createdAt"::text as c, "createdAtZ" as cz from mastra_messages where thread_id = $1 order by "createdAt", id`,
    [threadId],
  );
  return r.rows;
}

const threadRow = async (id: string) =>
  (await db().query<{ updatedAt: Date; updatedAtZ: Date; createdAt: Date }>(`select "updatedAt", "updatedAtZ", "createdAt" from mastra_threads where id = $1`, [id])).rows[0]!;

describe('memory store: one statement per saved turn', () => {
  it('writes the same rows as stock @mastra/pg saveMessages and returns the same messages', async () => {
    const a = await newThread('oracle');
    const b = await newThread('oracle');
    const before = Date.now() - 1000;
    const msgsA = turn(a, 'oracle');
    // The same messages for the other thread (new ids, same createdAt).
    const msgsB = msgsA.map((m) => ({ ...m, id: randomUUID(), threadId: b }));
    const gotStock = await stock.saveMessages({ messages: structuredClone(msgsA) });
    const gotOurs = await ours.saveMessages({ messages: structuredClone(msgsB) });
    expect(await rowsOf(b)).toEqual(await rowsOf(a));
    expect((await rowsOf(a)).length).toBe(3);
    const strip = (ms: MastraDBMessage[]) => ms.map(({ id: _id, threadId: _t, ...rest }) => rest);
    expect(strip(gotOurs.messages)).toEqual(strip(gotStock.messages));
    // Read back through stock listMessages: the same messages.
    const list = async (threadId: string) => strip((await stock.listMessages({ threadId, perPage: false, orderBy: { field: 'createdAt', direction: 'ASC' } })).messages);
    expect(await list(b)).toEqual(await list(a));
    // Both bumped the thread's updatedAt (and kept createdAt).
    for (const id of [a, b]) {
      const row = await threadRow(id);
      expect(row.updatedAtZ.getTime()).toBeGreaterThan(before);
      expect(row.updatedAtZ.getTime()).toBeGreaterThan(row.createdAt.getTime());
    }
  });

  it('upserts a message saved again (same id), as stock does: new content, the first createdAt; duplicates in one call are merged', async () => {
    for (const store of [stock, ours]) {
      const id = await newThread('upsert');
      const [first] = turn(id, 'upsert');
      await store.saveMessages({ messages: [first!] });
      const again = { ...first!, createdAt: new Date(Date.now() + 60_000), content: { format: 2 as const, parts: [{ type: 'text' as const, text: 'edited' }] } };
      const twice = { ...again, content: { format: 2 as const, parts: [{ type: 'text' as const, text: 'edited twice' }] } };
      await store.saveMessages({ messages: [again, twice] });
      const rows = await rowsOf(id);
      expect(rows).toHaveLength(1);
      expect(JSON.parse(rows[0].content).parts[0].text).toBe('edited twice');
      expect(new Date(rows[0].cz).getTime()).toBe(first!.createdAt.getTime());
    }
  });

  it('writes nothing and fails like stock when the thread does not exist', async () => {
    const missing = `missing-${randomUUID()}`;
    const stockError = await stock.saveMessages({ messages: turn(missing, 'nobody') }).catch((e: Error) => e);
    const ourError = await ours.saveMessages({ messages: turn(missing, 'nobody') }).catch((e: Error) => e);
    expect(ourError).toBeInstanceOf(Error);
    expect((ourError as Error).message).toBe((stockError as Error).message);
    expect((ourError as { id?: string }).id).toBe((stockError as { id?: string }).id);
    expect(await rowsOf(missing)).toEqual([]);
  });

  it("does not overwrite or move another user's message that shares an id (stock would)", async () => {
    const victim = await newThread('victim');
    const [theirs] = turn(victim, 'victim');
    await ours.saveMessages({ messages: [theirs!] });
    const attacker = await newThread('attacker');
    const [mine, reply] = turn(attacker, 'attacker');
    const forged = { ...mine!, id: theirs!.id, content: { format: 2 as const, parts: [{ type: 'text' as const, text: 'overwritten' }] } };
    await ours.saveMessages({ messages: [forged, reply!] });
    const victimRows = await rowsOf(victim);
    expect(victimRows).toHaveLength(1);
    expect(victimRows[0].content).toBe(JSON.stringify(theirs!.content));
    // The attacker's other message is saved; the forged one is not.
    expect((await rowsOf(attacker)).map((r) => r.role)).toEqual(['assistant']);
  });

  it('saves concurrent turns on one thread, and repeated saves of the same messages, without errors or losses', async () => {
    const id = await newThread('race');
    const turns = Array.from({ length: 12 }, () => turn(id, 'race'));
    await Promise.all(turns.flatMap((m) => [ours.saveMessages({ messages: m }), ours.saveMessages({ messages: structuredClone(m) })]));
    expect(await rowsOf(id)).toHaveLength(36);
  });

  it('saves a large turn (2 MB, 300 messages) in one call', async () => {
    const id = await newThread('large');
    const big = 'x'.repeat(2 * 1024 * 1024);
    const msgs: MastraDBMessage[] = Array.from({ length: 300 }, (_, i) => ({
      id: randomUUID(),
      threadId: id,
      resourceId: 'large',
      role: i % 2 ? 'assistant' : 'user',
      type: 'v2',
      createdAt: new Date(Date.now() + i),
      content: { format: 2, parts: [{ type: 'text', text: i === 0 ? big : `m${i}` }] },
    }));
    await ours.saveMessages({ messages: msgs });
    expect(await rowsOf(id)).toHaveLength(300);
    expect(saveTurnStatement('public', 300)).toContain('$2402::text');
  });

  it('hands messages of several threads to stock @mastra/pg (same result)', async () => {
    const a = await newThread('two');
    const b = await newThread('two');
    await ours.saveMessages({ messages: [...turn(a, 'two'), ...turn(b, 'two')] });
    expect(await rowsOf(a)).toHaveLength(3);
    expect(await rowsOf(b)).toHaveLength(3);
  });
});

describe("memory store: a new conversation's history read", () => {
  /** Counts what reaches stock listMessages (i.e. Postgres). */
  function countingReads() {
    const reads: unknown[] = [];
    const orig = stock.listMessages.bind(stock);
    stock.listMessages = async (a) => (reads.push(a.threadId), orig(a));
    return { reads, restore: () => void (stock.listMessages = orig) };
  }

  it('answers "no messages" without a query once for an id from newThreadId, until something is saved; other ids are read', async () => {
    const memory = t.system.runtime.memory as ChatMemory;
    const { reads, restore } = countingReads();
    try {
      const id = memory.newThreadId();
      const empty = await ours.listMessages({ threadId: id, perPage: 40, page: 0, orderBy: { field: 'createdAt', direction: 'DESC' }, includeTotal: false });
      expect(empty).toEqual({ messages: [], total: 0, page: 0, perPage: 40, hasMore: false });
      expect(reads).toEqual([]);
      // Once only.
      await ours.listMessages({ threadId: id, perPage: 40 });
      expect(reads).toEqual([id]);

      // Saving drops it: the next read asks Postgres (and finds the message).
      const saved = memory.newThreadId();
      await newThread('fresh', saved);
      await ours.saveMessages({ messages: turn(saved, 'fresh').slice(0, 1) });
      reads.length = 0;
      expect((await ours.listMessages({ threadId: saved, perPage: 40 })).messages).toHaveLength(1);
      expect(reads).toEqual([saved]);

      // An id this process did not make is always read.
      const other = `other-${randomUUID()}`;
      reads.length = 0;
      await ours.listMessages({ threadId: other, perPage: 40 });
      expect(reads).toEqual([other]);
    } finally {
      restore();
    }
  });

  it('a new /v1 conversation reads no history from Postgres; its next turn does, and sees the first', async () => {
    const { reads, restore } = countingReads();
    let threadId: string;
    try {
      const r = await t.client().chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'first words' }] }).withResponse();
      expect(r.data.choices[0]!.message.content).toBe('Echo: first words');
      threadId = r.response.headers.get('x-thread-id')!;
      expect(reads.filter((id) => id === threadId)).toEqual([]);
      const next = await t.client().chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'second' }] }, { headers: { 'x-thread-id': threadId } });
      expect(next.choices[0]!.message.content).toBe('Echo: second');
      expect(reads.filter((id) => id === threadId)).toHaveLength(1);
    } finally {
      restore();
    }
    const seen = t.model.requests.at(-1)!.messages.filter((m) => m.role !== 'system').map((m) => m.content);
    expect(JSON.stringify(seen)).toContain('first words');
  });
});

describe("memory store: a new conversation's thread, claimed and created in one statement", () => {
  it('writes the row stock Memory.createThread writes, and the agent neither reads nor creates it again', async () => {
    const memory = t.system.runtime.memory as ChatMemory;
    const id = (await memory.startThread(db(), 'starter'))!;
    expect(await threadOwner(db(), id)).toBe('starter');
    const stockId = `stock-${randomUUID()}`;
    await memory.createThread({ threadId: stockId, resourceId: 'starter' });
    const row = async (threadId: string) => {
      const r = (await db().query(`select "resourceId", title, metadata, "createdAt" = "updatedAt" as same, "createdAtZ" = "updatedAtZ" as samez from mastra_threads where id = $1`, [threadId])).rows[0];
      const read = await stock.getThreadById({ threadId });
      return { r, read: { ...read, id: undefined, createdAt: undefined, updatedAt: undefined } };
    };
    expect(await row(id)).toEqual(await row(stockId));
    // The agent's reads are answered by the row written (no query), and it saves no thread.
    const reads: string[] = [];
    const saves: string[] = [];
    const origRead = stock.getThreadById.bind(stock);
    const origSave = stock.saveThread.bind(stock);
    stock.getThreadById = async (a) => (reads.push(a.threadId), origRead(a));
    stock.saveThread = async (a) => (saves.push(a.thread.id), origSave(a));
    try {
      const r = await t.system.runtime.mastra.getAgent('assistant').generate('hello there', { memory: { resource: 'starter', thread: id } });
      expect(r.text).toBe('Echo: hello there');
    } finally {
      stock.getThreadById = origRead;
      stock.saveThread = origSave;
    }
    expect(reads).toEqual([]);
    expect(saves).toEqual([]);
    expect((await rowsOf(id)).map((m) => m.role)).toEqual(['user', 'assistant']);
  });

  it("creates nothing for an id someone else has claimed; a thread row from before claims is kept as it is", async () => {
    const pool = t.system.runtime.storage.pool;
    const taken = `taken-${randomUUID()}`;
    expect(await claimThread(db(), taken, 'alice')).toBe(true);
    expect(await claimNewThread(pool, 'public', taken, 'mallory')).toBeUndefined();
    expect(await threadOwner(db(), taken)).toBe('alice');
    expect((await db().query('select 1 from mastra_threads where id = $1', [taken])).rowCount).toBe(0);

    const legacy = await newThread('legacy-owner');
    const got = await claimNewThread(pool, 'public', legacy, 'legacy-owner');
    expect(got?.created).toBe(false);
    expect((await stock.getThreadById({ threadId: legacy }))?.createdAt.getTime()).toBeLessThan(Date.now() - 30_000);
  });

  it('claims each of many ids started at once exactly once', async () => {
    const memory = t.system.runtime.memory as ChatMemory;
    const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => memory.startThread(db(), `many-${i % 4}`)));
    expect(new Set(ids).size).toBe(40);
    const owners = await db().query<{ n: number }>('select count(*)::int as n from thread_owners o join mastra_threads m on m.id = o.thread_id where o.thread_id = any($1)', [ids]);
    expect(owners.rows[0]!.n).toBe(40);
  });
});

describe('statements per /v1 turn', () => {
  /** Every statement any pg client in this process sends while `fn` runs, shortened to its first words. */
  async function statementsOf(fn: () => Promise<unknown>) {
    const seen: string[] = [];
    const orig = pg.Client.prototype.query as (...a: unknown[]) => unknown;
    (pg.Client.prototype as unknown as { query: unknown }).query = function (this: pg.Client, ...args: unknown[]) {
      const q = args[0];
      const text = typeof q === 'string' ? q : ((q as { text?: string })?.text ?? '?');
      seen.push(text.replace(/\s+/g, ' ').trim().split(' ').slice(0, 6).join(' ').replace(/"public"\./g, '').replace(/"/g, ''));
      return orig.apply(this, args);
    };
    try {
      await fn();
    } finally {
      (pg.Client.prototype as unknown as { query: unknown }).query = orig;
    }
    // Not the turn's: leadership pings and locks, the sync service's replication reads, and
    // the trace exporter's batched span writes (they land whenever a batch fills or its timer
    // fires, so under load one from an earlier request can fall into this window).
    return seen.filter((s) => !/^select 1$/i.test(s) && !/advisory|pg_logical|mastra_ai_spans/i.test(s)).sort();
  }

  it('a new conversation: the claim with the thread, the working memory, one write of the turn, the transcript key and the usage', async () => {
    const client = t.client();
    await client.chat.completions.create({ model: 'assistant', user: 'count', messages: [{ role: 'user', content: 'warm up' }] });
    let threadId = '';
    const sent = await statementsOf(async () => {
      const r = await client.chat.completions.create({ model: 'assistant', user: 'count', messages: [{ role: 'user', content: 'count me' }] }).withResponse();
      threadId = r.response.headers.get('x-thread-id')!;
    });
    expect(sent).toEqual(
      [
        'with claim as ( insert into',
        'SELECT * FROM mastra_resources WHERE id',
        'with thread as ( update mastra_threads',
        'insert into transcript_threads (key, thread_id, resource_id)',
        'with daily as ( insert into',
      ].sort(),
    );
    // The turn is stored: the next turn on the thread sees it.
    const sentNext = await statementsOf(() => client.chat.completions.create({ model: 'assistant', user: 'count', messages: [{ role: 'user', content: 'again' }] }, { headers: { 'x-thread-id': threadId } }));
    expect(sentNext).toEqual(
      [
        'with owner as (select resource_id from',
        'SELECT * FROM mastra_threads WHERE id',
        'SELECT * FROM mastra_resources WHERE id',
        'SELECT id, content, role, type, createdAt,',
        'with thread as ( update mastra_threads',
        'with daily as ( insert into',
        'delete from response_thread_runs where thread_id =',
      ].sort(),
    );
    expect(JSON.stringify(t.model.requests.at(-1)!.messages)).toContain('count me');
  });
});
