/**
 * The chat path's memory (src/mastra/memory.ts): turns keep their order in a thread
 * without Mastra's fixed sleep after each write, chat turns leave no workflow
 * snapshots of the agent's internal loop behind, and a new conversation's thread row is
 * not read back from Postgres by the agent (ChatMemory.newThreadId, saveThread).
 * Upstream is THE SCRIPTED MODEL (harness/scripted-model.ts); Postgres and Mastra are real.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MastraDBMessage } from '@mastra/core/agent';
import { echoScript, textOf } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';
import { ChatMemory, stampMonotonic } from '../../src/db/memory/memory';

let t: TestSystem;

beforeAll(async () => {
  t = await startTestSystem({ env: { FEATURES: 'none', RATE_LIMIT_RPM: '0' } });
});
afterAll(async () => {
  await t?.stop();
});

const textOfDb = (m: MastraDBMessage) => (m.content.parts ?? []).map((p) => ('text' in p ? p.text : '')).join('');

describe('chat memory', () => {
  it("keeps a thread's messages in order under rapid successive turns", async () => {
    const client = t.client();
    const threadId = `order-${Date.now()}`;
    const n = 12;
    for (let i = 0; i < n; i++) {
      // Each turn is sent the moment the previous response arrives.
      const r = await client.chat.completions.create({ model: 'assistant', user: 'order', messages: [{ role: 'user', content: `turn ${i}` }] }, { headers: { 'x-thread-id': threadId } });
      expect(r.choices[0]!.message.content).toBe(`Echo: turn ${i}`);
    }
    // What the model saw on the last turn: the whole history, in order.
    const seen = t.model.requests.at(-1)!.messages.filter((m) => m.role === 'user' || m.role === 'assistant').map((m) => textOf(m.content));
    const expected = Array.from({ length: n }, (_, i) => [`turn ${i}`, `Echo: turn ${i}`]).flat();
    expect(seen).toEqual(expected.slice(0, -1));

    // What is stored: the same order, with strictly increasing createdAt.
    const store = (await t.system.runtime.storage.getStore('memory'))!;
    const { messages } = await store.listMessages({ threadId, perPage: false, orderBy: { field: 'createdAt', direction: 'ASC' } });
    expect(messages.map(textOfDb)).toEqual(expected);
    const times = messages.map((m) => new Date(m.createdAt).getTime());
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]!);
  });

  it('runs turns sent at once on one thread one after another (a lease in Postgres): each reply follows its own user message', async () => {
    const client = t.client();
    const threadId = `concurrent-${Date.now()}`;
    await client.chat.completions.create({ model: 'assistant', user: 'conc', messages: [{ role: 'user', content: 'first' }] }, { headers: { 'x-thread-id': threadId } });
    // THE SCRIPTED MODEL answers slowly, so the turns overlap unless the server serialises them.
    let running = 0;
    let most = 0;
    t.model.setScript(async (req) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 150));
      running--;
      return echoScript(req);
    });
    const words = ['alpha', 'beta', 'gamma', 'delta'];
    const replies = await Promise.all(
      words.map((w) => client.chat.completions.create({ model: 'assistant', user: 'conc', messages: [{ role: 'user', content: w }] }, { headers: { 'x-thread-id': threadId } })),
    );
    expect(replies.map((r) => r.choices[0]!.message.content)).toEqual(words.map((w) => `Echo: ${w}`));
    expect(most).toBe(1);
    // Stored: user, reply, user, reply … — never two user messages in a row, every reply after its own question.
    const store = (await t.system.runtime.storage.getStore('memory'))!;
    const { messages } = await store.listMessages({ threadId, perPage: false, orderBy: { field: 'createdAt', direction: 'ASC' } });
    const texts = messages.map(textOfDb);
    expect(texts).toHaveLength(10);
    for (let i = 0; i < texts.length; i += 2) expect(texts[i + 1]).toBe(`Echo: ${texts[i]}`);
    expect(new Set(texts.filter((_, i) => i % 2 === 0))).toEqual(new Set(['first', ...words]));
    t.model.setScript(echoScript);
  });

  it('stamps same-millisecond messages strictly after the thread history', () => {
    const at = new Date('2026-01-01T00:00:00.000Z');
    const msg = (id: string, createdAt: Date): MastraDBMessage => ({ id, role: 'user', threadId: 'th-stamp', createdAt, content: { format: 2, parts: [{ type: 'text', text: id }] } });
    const history = [msg('old', new Date(at.getTime() + 5))];
    const turn = [msg('u', at), msg('a', at)];
    const newest = stampMonotonic('th-stamp', turn, [...history, ...turn]);
    expect(turn.map((m) => new Date(m.createdAt).getTime() - at.getTime())).toEqual([6, 7]);
    expect(newest).toBe(at.getTime() + 7);
    // This process remembers the thread's clock for the next turn.
    const next = [msg('u2', at)];
    stampMonotonic('th-stamp', next, next);
    expect(new Date(next[0]!.createdAt).getTime() - at.getTime()).toBe(8);
  });

  it('writes no workflow snapshots for the agent loop of a chat turn', async () => {
    const raw = t.system.runtime.storage.stores!.workflows!;
    const calls: string[] = [];
    const persist = raw.persistWorkflowSnapshot.bind(raw);
    const del = raw.deleteWorkflowRunById.bind(raw);
    raw.persistWorkflowSnapshot = async (a) => (calls.push(`persist ${a.workflowName}`), persist(a));
    raw.deleteWorkflowRunById = async (a) => (calls.push(`delete ${a.workflowName}`), del(a));
    try {
      const r = await t.client().chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'no snapshots' }] });
      expect(r.choices[0]!.message.content).toBe('Echo: no snapshots');
    } finally {
      raw.persistWorkflowSnapshot = persist;
      raw.deleteWorkflowRunById = del;
    }
    expect(calls).toEqual([]);
  });

  /** Counts the memory store's thread reads by id (what Memory.getThreadById sends to Postgres). */
  async function countingThreadReads() {
    const store = (await t.system.runtime.storage.getStore('memory'))!;
    const reads: string[] = [];
    const orig = store.getThreadById.bind(store);
    store.getThreadById = async (a) => (reads.push(a.threadId), orig(a));
    return { reads, restore: () => void (store.getThreadById = orig) };
  }

  it("a new /v1 conversation's thread is created and used without the agent reading it back", async () => {
    const { reads, restore } = await countingThreadReads();
    let threadId: string;
    try {
      const r = await t.client().chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'fresh thread' }] }).withResponse();
      expect(r.data.choices[0]!.message.content).toBe('Echo: fresh thread');
      threadId = r.response.headers.get('x-thread-id')!;
    } finally {
      restore();
    }
    // Before: two reads (the agent's check before the run, its after-run step).
    expect(reads.filter((id) => id === threadId)).toEqual([]);
    // The thread and the turn are in Postgres, and the conversation continues.
    const thread = await t.system.runtime.memory.getThreadById({ threadId: threadId!, resourceId: 'anonymous' });
    expect(thread).toMatchObject({ id: threadId! });
    const next = await t.client().chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'second turn' }] }, { headers: { 'x-thread-id': threadId! } });
    expect(next.choices[0]!.message.content).toBe('Echo: second turn');
    expect(textOf(t.model.requests.at(-1)!.messages.filter((m) => m.role === 'user')[0]!.content)).toBe('fresh thread');
  });

  it('newThreadId reads as "none" once without a query; a saved thread answers from the row written; ids from elsewhere are always read', async () => {
    const memory = t.system.runtime.memory as ChatMemory;
    expect(memory).toBeInstanceOf(ChatMemory);
    const { reads, restore } = await countingThreadReads();
    try {
      const id = memory.newThreadId();
      expect(await memory.getThreadById({ threadId: id })).toBeNull();
      expect(reads).toEqual([]);
      // Only once: the next read asks Postgres.
      expect(await memory.getThreadById({ threadId: id })).toBeNull();
      expect(reads).toEqual([id]);

      const saved = memory.newThreadId();
      const now = new Date();
      await memory.saveThread({ thread: { id: saved, resourceId: 'fresh-owner', title: 't', metadata: { a: 1 }, createdAt: now, updatedAt: now } });
      reads.length = 0;
      const row = await memory.getThreadById({ threadId: saved });
      expect(row).toMatchObject({ id: saved, resourceId: 'fresh-owner', metadata: { a: 1 } });
      expect(reads).toEqual([]);
      // The copy handed out is not the remembered one.
      (row!.metadata as Record<string, unknown>).a = 2;
      expect((await memory.getThreadById({ threadId: saved }))!.metadata).toEqual({ a: 1 });

      // An id this process did not make (a client's x-thread-id) is read from Postgres.
      const other = `other-${Date.now()}`;
      reads.length = 0;
      expect(await memory.getThreadById({ threadId: other })).toBeNull();
      expect(reads).toEqual([other]);
      // A read that names the resource is never answered from memory.
      reads.length = 0;
      await memory.getThreadById({ threadId: saved, resourceId: 'fresh-owner' });
      expect(reads).toEqual([saved]);
    } finally {
      restore();
    }
  });
});
