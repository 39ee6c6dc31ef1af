/**
 * Open WebUI against /v1/chat/completions: its background task requests (title, tags,
 * follow-ups, queries, autocomplete, emoji…) are answered by the agent's model without
 * tools or memory, and a chat continues its thread without x-thread-id (from the
 * transcript Open WebUI resends, or its X-OpenWebUI-Chat-Id), never another caller's.
 *
 * Request bodies are shaped as Open WebUI sends them: open-webui/open-webui
 * backend/open_webui/routers/tasks.py (commit 074d48839d00c84107a99e43e2d36a9413e027a5:
 * `{model, messages: [{role: 'user', content: <template>}], stream: false,
 * max_completion_tokens: 1000, metadata: {task, task_body, chat_id}}`), whose
 * routers/openai.py (generate_chat_completion) pops `metadata` before forwarding and, with
 * ENABLE_FORWARD_USER_INFO_HEADERS, sends X-OpenWebUI-User-* and X-OpenWebUI-Chat-Id
 * (= metadata.chat_id, so tasks carry the chat's id too; routers/openai.py at commit
 * 004a45f5824bd78635cdc39a071af98873fb50c2); the templates are shortened from
 * backend/open_webui/config.py DEFAULT_*_PROMPT_TEMPLATE (commit
 * 00b1c6bcaa3c473e7faeb8254751b9411f2c0b91) keeping every marker the detection reads,
 * with {{MESSAGES:END:n}} rendered by utils/task.py as `USER: …` / `ASSISTANT: …` lines. Upstream is THE SCRIPTED MODEL
 * (harness/scripted-model.ts); everything else is real (embedded Postgres, Mastra memory).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { echoScript, textOf, type ChatRequest } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';
import { openWebUITask } from '../../src/server/openai/openwebui';

const ALICE = 'sk-one-alice-owui-00001';
const BOB = 'sk-one-bob-owui-0000002';
let t: TestSystem;

beforeAll(async () => {
  // The powersync feature mirrors every /v1 turn into the synced tables: a task must leave no trace there either.
  t = await startTestSystem({ env: { FEATURES: 'powersync', RATE_LIMIT_RPM: '0', API_KEYS: `${ALICE}:alice,${BOB}:bob` } });
});
afterAll(async () => {
  await t?.stop();
});
beforeEach(() => t.model.setScript(echoScript));

const history = 'USER: How do cats purr?\nASSISTANT: Echo: How do cats purr?';
// Open WebUI's default templates (backend/open_webui/config.py), rendered.
const TEMPLATES = {
  title: `### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat history.\n### Guidelines:\n- The title should clearly represent the main theme or subject of the conversation.\n### Output:\nJSON format: { "title": "your concise title here" }\n### Examples:\n- { "title": "📉 Stock Market Trends" },\n### Chat History:\n<chat_history>\n${history}\n</chat_history>`,
  tags: `### Task:\nGenerate 1-3 broad tags categorizing the main themes of the chat history, along with 1-3 more specific subtopic tags.\n\n### Output:\nJSON format: { "tags": ["tag1", "tag2", "tag3"] }\n\n### Chat History:\n<chat_history>\n${history}\n</chat_history>`,
  follow_ups: `### Task:\nSuggest 3-5 relevant follow-up questions or prompts that the user might naturally ask next in this conversation as a **user**, based on the chat history, to help continue or deepen the discussion.\n### Output:\nJSON format: { "follow_ups": ["Question 1?", "Question 2?", "Question 3?"] }\n### Chat History:\n<chat_history>\n${history}\n</chat_history>`,
  queries: `### Task:\nAnalyze the chat history to determine the necessity of generating search queries, in the given language.\n### Guidelines:\n- When generating search queries, respond in the format: { "queries": ["query1", "query2"] }, ensuring each query is distinct, concise, and relevant to the topic.\n### Chat History:\n<chat_history>\n${history}\n</chat_history>`,
  autocomplete: `### Task:\nYou are an autocompletion system. Continue the text in \`<text>\` based on the **completion type** in \`<type>\` and the given language.  \n---\n### Context:\n<chat_history>\n${history}\n</chat_history>\n<type>General</type>  \n<text>Cats purr when</text>  \n#### Output:\n`,
  image_prompt: `### Task:\nGenerate a detailed prompt for am image generation task based on the given language and context.\n### Output:\nStrictly return in JSON format:\n{\n    "prompt": "Your detailed description here."\n}\n\n### Chat History:\n<chat_history>\n${history}\n</chat_history>`,
  emoji: "Your task is to reflect the speaker's likely facial expression through a fitting emoji. Interpret emotions from the message and reflect their facial expression using fitting, diverse emojis (e.g., 😊, 😢, 😡, 😱).\n\nMessage: ```I love cats```",
} as const;

async function chat(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return fetch(`${t.system.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

async function threadsOf(resourceId: string) {
  const store = (await t.system.runtime.storage.getStore('memory'))!;
  return (await store.listThreads({ filter: { resourceId }, perPage: false })).threads.map((th) => th.id).sort();
}

async function messagesOf(threadId: string) {
  const store = (await t.system.runtime.storage.getStore('memory'))!;
  const { messages } = await store.listMessages({ threadId, perPage: false, orderBy: { field: 'createdAt', direction: 'ASC' } });
  return messages.map((m) => `${m.role}: ${(m.content.parts ?? []).map((p) => ('text' in p ? p.text : '')).join('')}`);
}

const counts = async () => {
  const r = await t.system.ctx.db.query<{ owners: string; keys: string; conversations: string; messages: string; mirror: string }>(
    `select (select count(*) from thread_owners) as owners, (select count(*) from transcript_threads) as keys, (select count(*) from conversations) as conversations,
            (select count(*) from messages) as messages, (select count(*) from turn_mirror_queue) as mirror`,
  );
  return r.rows[0]!;
};

describe('Open WebUI background tasks', () => {
  it('every default task template is recognised; ordinary chats are not', () => {
    for (const [task, content] of Object.entries(TEMPLATES)) expect(openWebUITask([{ role: 'user', content }])).toBe(task);
    expect(openWebUITask([{ role: 'system', content: 'Available Tools: [{"name":"x"}]' }, { role: 'user', content: 'Query: History:\nUSER: hi\nQuery: hi' }])).toBe('tool_choice');
    expect(openWebUITask([{ role: 'user', content: 'How do cats purr?' }])).toBeUndefined();
    // Quoting a template inside a conversation is an ordinary turn.
    expect(openWebUITask([{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { role: 'user', content: TEMPLATES.title }])).toBeUndefined();
    expect(openWebUITask([{ role: 'user', content: `Please explain this: ${TEMPLATES.title}` }])).toBeUndefined();
  });

  it('a title request as Open WebUI sends it: answered by the model alone, no tools, no thread, no memory, nothing stored', async () => {
    const before = await counts();
    const threadsBefore = await threadsOf('alice');
    t.model.setScript(() => ({ text: '{ "title": "🐱 Cat Purring" }' }));
    const r = await chat(
      ALICE,
      { model: 'assistant', messages: [{ role: 'user', content: TEMPLATES.title }], stream: false, max_completion_tokens: 1000 },
      { 'X-OpenWebUI-User-Name': 'Alice', 'X-OpenWebUI-User-Id': 'u-1', 'X-OpenWebUI-User-Email': 'alice@example.com', 'X-OpenWebUI-User-Role': 'user', 'X-OpenWebUI-Chat-Id': '5a8f1b0e-0f5c-4d54-9a55-2c3d0c1e9f10' },
    );
    expect(r.status).toBe(200);
    expect(r.headers.get('x-thread-id')).toBeNull();
    expect(r.headers.get('x-openwebui-task')).toBe('title');
    const body = await r.json();
    expect(body.choices[0].message.content).toBe('{ "title": "🐱 Cat Purring" }');
    const sent = t.model.requests.at(-1)!;
    expect(sent.tools ?? []).toEqual([]);
    // Only the template reached the model: no agent instructions, no history from memory.
    expect(sent.messages.map((m) => m.role)).toEqual(['user']);
    expect(textOf(sent.messages[0]!.content)).toBe(TEMPLATES.title);
    expect(sent.max_completion_tokens ?? sent.max_tokens).toBe(1000);
    expect(await counts()).toEqual(before);
    expect(await threadsOf('alice')).toEqual(threadsBefore);
    // An ordinary turn does leave its trace (the check above can see one).
    await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: 'an ordinary turn' }] });
    let after = await counts();
    for (let i = 0; i < 200 && after.messages === before.messages; i++) {
      await new Promise((r) => setTimeout(r, 25));
      after = await counts();
    }
    expect(Number(after.owners)).toBe(Number(before.owners) + 1);
    expect(Number(after.messages)).toBeGreaterThan(Number(before.messages));
  });

  it('every task kind, JSON and streamed, goes without tools or memory', async () => {
    const threadsBefore = await threadsOf('alice');
    for (const [task, content] of Object.entries(TEMPLATES)) {
      for (const stream of [false, true]) {
        const r = await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content }], stream });
        expect(r.status, task).toBe(200);
        expect(r.headers.get('x-openwebui-task')).toBe(task);
        const text = await r.text();
        if (stream) expect(text.trim().endsWith('data: [DONE]')).toBe(true);
        expect(t.model.requests.at(-1)!.tools ?? []).toEqual([]);
      }
    }
    expect(await threadsOf('alice')).toEqual(threadsBefore);
  });

  it('a user message that quotes a template under an x-thread-id loses tools and memory for that request only; the thread is untouched', async () => {
    const client = t.client(ALICE);
    const threadId = `owui-spoof-${Date.now()}`;
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'remember me' }] }, { headers: { 'x-thread-id': threadId } });
    const before = await messagesOf(threadId);
    const r = await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: TEMPLATES.tags }] }, { 'x-thread-id': threadId });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-thread-id')).toBeNull();
    expect(await messagesOf(threadId)).toEqual(before);
    // Bob quoting a template with Alice's thread id reaches nothing of Alice's either.
    const rb = await chat(BOB, { model: 'assistant', messages: [{ role: 'user', content: TEMPLATES.tags }] }, { 'x-thread-id': threadId });
    expect(rb.status).toBe(200);
    expect(textOf(t.model.requests.at(-1)!.messages.at(-1)!.content)).toBe(TEMPLATES.tags);
    expect(t.model.requests.at(-1)!.messages.length).toBe(1);
    expect(await messagesOf(threadId)).toEqual(before);
  });
});

describe('threads continued without x-thread-id', () => {
  it('the resent transcript continues the thread of its first turn; only the new messages are added (JSON and streamed)', async () => {
    const client = t.client(ALICE);
    const first = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'Transcript opening one' }] }).withResponse();
    const threadId = first.response.headers.get('x-thread-id')!;
    expect(threadId).toBeTruthy();
    const reply1 = first.data.choices[0]!.message.content!;
    const turn2 = [{ role: 'user' as const, content: 'Transcript opening one' }, { role: 'assistant' as const, content: reply1 }, { role: 'user' as const, content: 'second' }];
    // Open WebUI streams the chat itself (with stream_options.include_usage added by its router).
    const stream = await chat(ALICE, { model: 'assistant', messages: turn2, stream: true, stream_options: { include_usage: true } });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('x-thread-id')).toBe(threadId);
    await stream.text();
    const seen = t.model.requests.at(-1)!.messages.filter((m) => m.role !== 'system').map((m) => `${m.role}: ${textOf(m.content)}`);
    expect(seen).toEqual(['user: Transcript opening one', `assistant: ${reply1}`, 'user: second']);
    const third = await client.chat.completions
      .create({ model: 'assistant', messages: [...turn2, { role: 'assistant', content: 'Echo: second' }, { role: 'user', content: 'third' }] })
      .withResponse();
    expect(third.response.headers.get('x-thread-id')).toBe(threadId);
    expect(await messagesOf(threadId)).toEqual(['user: Transcript opening one', `assistant: ${reply1}`, 'user: second', 'assistant: Echo: second', 'user: third', 'assistant: Echo: third']);
  });

  it('a first turn answered as a stream is found again too', async () => {
    const r = await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: 'streamed opening' }], stream: true });
    const threadId = r.headers.get('x-thread-id')!;
    await r.text();
    const next = await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: 'streamed opening' }, { role: 'assistant', content: 'Echo: streamed opening' }, { role: 'user', content: 'more' }] });
    expect(next.headers.get('x-thread-id')).toBe(threadId);
  });

  it("another caller resending the same transcript gets a thread of their own, never the first caller's", async () => {
    const a = await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: 'shared opening' }] });
    const aliceThread = a.headers.get('x-thread-id')!;
    const transcript = [{ role: 'user', content: 'shared opening' }, { role: 'assistant', content: 'Echo: shared opening' }, { role: 'user', content: 'bob here' }];
    const b = await chat(BOB, { model: 'assistant', messages: transcript });
    expect(b.status).toBe(200);
    const bobThread = b.headers.get('x-thread-id')!;
    expect(bobThread).not.toBe(aliceThread);
    // Bob's model call saw only what Bob sent, nothing from Alice's memory.
    expect(t.model.requests.at(-1)!.messages.filter((m) => m.role !== 'system').length).toBe(3);
    expect(await messagesOf(aliceThread)).toEqual(['user: shared opening', 'assistant: Echo: shared opening']);
    // The same transcript from Alice continues Alice's thread; Bob's name in `user` is a resource of its own.
    const again = await chat(ALICE, { model: 'assistant', messages: transcript });
    expect(again.headers.get('x-thread-id')).toBe(aliceThread);
    const asUser = await chat(ALICE, { model: 'assistant', user: 'someone', messages: transcript });
    expect(asUser.headers.get('x-thread-id')).not.toBe(aliceThread);
  });

  it('X-OpenWebUI-User-Id gives each Open WebUI user behind one key a memory of their own (as `user` does)', async () => {
    const opening = [{ role: 'user', content: 'per-user opening' }];
    const ann = await chat(ALICE, { model: 'assistant', messages: opening }, { 'x-openwebui-user-id': 'ann-0001' });
    expect(ann.status).toBe(200);
    const annThread = ann.headers.get('x-thread-id')!;
    expect(await threadsOf('alice:ann-0001')).toContain(annThread);
    // Another Open WebUI user resending the same transcript does not reach Ann's thread.
    const transcript = [...opening, { role: 'assistant', content: 'Echo: per-user opening' }, { role: 'user', content: 'ben here' }];
    const ben = await chat(ALICE, { model: 'assistant', messages: transcript }, { 'x-openwebui-user-id': 'ben-0002' });
    expect(ben.status).toBe(200);
    expect(ben.headers.get('x-thread-id')).not.toBe(annThread);
    expect(await threadsOf('alice:ben-0002')).toContain(ben.headers.get('x-thread-id'));
    // Ann herself continues; a name with characters outside the plain set is kept apart, hashed.
    const annAgain = await chat(ALICE, { model: 'assistant', messages: transcript }, { 'x-openwebui-user-id': 'ann-0001' });
    expect(annAgain.headers.get('x-thread-id')).toBe(annThread);
    const odd = await chat(ALICE, { model: 'assistant', messages: opening }, { 'x-openwebui-user-id': 'ann 0001/../bob' });
    expect(odd.status).toBe(200);
    expect(await threadsOf('alice:ann-0001')).not.toContain(odd.headers.get('x-thread-id'));
  });

  it('X-OpenWebUI-Chat-Id continues its chat per caller; malformed ids are refused', async () => {
    const chatId = `c-${Date.now()}`;
    const h = { 'X-OpenWebUI-Chat-Id': chatId };
    const one = await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: 'chat id opening' }] }, h);
    const thread = one.headers.get('x-thread-id')!;
    const two = await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: 'chat id opening' }, { role: 'assistant', content: 'an edited reply' }, { role: 'user', content: 'next' }] }, h);
    expect(two.headers.get('x-thread-id')).toBe(thread);
    const bob = await chat(BOB, { model: 'assistant', messages: [{ role: 'user', content: 'chat id opening' }] }, h);
    expect(bob.headers.get('x-thread-id')).not.toBe(thread);
    // Forwarded headers switched on mid-chat: the transcript finds the thread, and the chat id names it from then on.
    const plain = await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: 'headers later' }] });
    const plainThread = plain.headers.get('x-thread-id')!;
    const late = { 'X-OpenWebUI-Chat-Id': `late-${Date.now()}` };
    const withId = await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: 'headers later' }, { role: 'assistant', content: 'Echo: headers later' }, { role: 'user', content: 'now with id' }] }, late);
    expect(withId.headers.get('x-thread-id')).toBe(plainThread);
    const edited = await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: 'headers later, edited' }, { role: 'assistant', content: 'other' }, { role: 'user', content: 'still the chat' }] }, late);
    expect(edited.headers.get('x-thread-id')).toBe(plainThread);
    for (const bad of ['x'.repeat(257), 'has space']) {
      const r = await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: 'hi' }] }, { 'X-OpenWebUI-Chat-Id': bad });
      expect(r.status).toBe(400);
      const e = (await r.json()).error;
      expect(e.param).toBe('x-openwebui-chat-id');
      expect(e.type).toBe('invalid_request_error');
    }
  });

  it('two requests with the same transcript at once continue one thread, not two (transcript and chat id)', async () => {
    for (let round = 0; round < 5; round++) {
      const transcript = [{ role: 'user', content: `race opening ${round}` }, { role: 'assistant', content: `race reply ${round}` }, { role: 'user', content: 'go' }];
      const rs = await Promise.all([0, 1, 2].map(() => chat(ALICE, { model: 'assistant', messages: transcript })));
      expect(rs.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(new Set(rs.map((r) => r.headers.get('x-thread-id'))).size).toBe(1);
      const h = { 'X-OpenWebUI-Chat-Id': `race-${Date.now()}-${round}` };
      const cs = await Promise.all([0, 1].map(() => chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: 'hi' }] }, h)));
      expect(new Set(cs.map((r) => r.headers.get('x-thread-id'))).size).toBe(1);
    }
  });

  it('a resent transcript longer than 256 messages continues its thread; only the new messages count against the cap', async () => {
    const first = await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: 'long chat opening' }] });
    const threadId = first.headers.get('x-thread-id')!;
    const transcript: Array<{ role: string; content: string }> = [{ role: 'user', content: 'long chat opening' }, { role: 'assistant', content: 'Echo: long chat opening' }];
    for (let i = 1; transcript.length < 300; i++) transcript.push({ role: 'user', content: `q${i}` }, { role: 'assistant', content: `a${i}` });
    const r = await chat(ALICE, { model: 'assistant', messages: [...transcript, { role: 'user', content: 'the newest' }] });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-thread-id')).toBe(threadId);
    expect(textOf(t.model.requests.at(-1)!.messages.at(-1)!.content)).toBe('the newest');
    expect((await messagesOf(threadId)).slice(-2)).toEqual(['user: the newest', 'assistant: Echo: the newest']);
    // An unknown transcript of that length is all new: refused, as is a bad message deep inside, and over 2048 at once.
    const unknown = await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: 'never seen' }, ...transcript.slice(1), { role: 'user', content: 'x' }] });
    expect(unknown.status).toBe(400);
    expect((await unknown.json()).error).toMatchObject({ code: 'invalid_value', param: 'messages' });
    const bad = await chat(ALICE, { model: 'assistant', messages: [...transcript.slice(0, 280), { role: 'robot', content: 'x' }, { role: 'user', content: 'y' }] });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.param).toBe('messages[280].role');
    const huge = await chat(ALICE, { model: 'assistant', messages: Array.from({ length: 2049 }, () => ({ role: 'user', content: '' })) });
    expect(huge.status).toBe(400);
    expect((await huge.json()).error.param).toBe('messages');
    // Over 256 new messages after the last assistant message of a known thread: refused too.
    const manyNew = await chat(ALICE, { model: 'assistant', messages: [...transcript.slice(0, 2), ...Array.from({ length: 257 }, (_, i) => ({ role: 'user', content: `n${i}` }))] });
    expect(manyNew.status).toBe(400);
  });

  it("a new chat's transcript key, usage count and turn mirror are written together before the reply; one failing write stops none of the others", async () => {
    // src/server/openai/chat.ts sends these three writes to Postgres at once. Each is made
    // to fail in turn (its table renamed away for one request) and the others still land.
    const db = t.system.ctx.db;
    const requestsToday = async () => Number((await db.query("select coalesce(sum(requests), 0) as n from usage_daily where owner = 'alice'")).rows[0].n);
    const mirrored = async (threadId: string) => {
      for (let i = 0; i < 100; i++) {
        if ((await db.query('select 1 from conversations where thread_id = $1', [threadId])).rowCount) return true;
        await new Promise((r) => setTimeout(r, 50));
      }
      return false;
    };
    const opening = async (text: string) => {
      const r = await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: text }] });
      expect(r.status).toBe(200);
      const threadId = r.headers.get('x-thread-id')!;
      const reply = (await r.json()).choices[0].message.content as string;
      // The client's next request (the resent transcript) finds the thread when the key was stored.
      const found = async () => (await chat(ALICE, { model: 'assistant', messages: [{ role: 'user', content: text }, { role: 'assistant', content: reply }, { role: 'user', content: 'next' }] })).headers.get('x-thread-id') === threadId;
      return { threadId, found };
    };
    const without = async <T>(table: string, fn: () => Promise<T>) => {
      await db.query(`alter table ${table} rename to ${table}_off`);
      try {
        return await fn();
      } finally {
        await db.query(`alter table ${table}_off rename to ${table}`);
      }
    };

    // All three work: counted, key stored, mirrored.
    let before = await requestsToday();
    const ok = await opening('writes together: all');
    expect(await requestsToday()).toBe(before + 1);
    expect(await ok.found()).toBe(true);
    expect(await mirrored(ok.threadId)).toBe(true);

    // The usage counter fails: the reply still goes out, the key and the mirror land.
    before = await requestsToday();
    const noUsage = await without('usage_daily', () => opening('writes together: no usage'));
    expect(await requestsToday()).toBe(before);
    expect(await noUsage.found()).toBe(true);
    expect(await mirrored(noUsage.threadId)).toBe(true);

    // The transcript key fails: still counted and mirrored (the next resend starts a new thread).
    before = await requestsToday();
    const noKey = await without('transcript_threads', () => opening('writes together: no key'));
    expect(await requestsToday()).toBe(before + 1);
    expect(await mirrored(noKey.threadId)).toBe(true);
    expect(await noKey.found()).toBe(false);
  });
});

export type { ChatRequest };
