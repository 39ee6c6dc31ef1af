/**
 * Per-agent allowlists (AGENT_USERS_<NAME>): the `social` agent drives the operator's
 * Bluesky account, so by default only ADMIN_USERS may use it; a refused caller gets
 * 403 agent_forbidden and the model is never asked. /v1/models lists only the agents
 * the caller may use.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from '../../harness/system';

const ALICE = 'sk-one-alice-access-01';
const OPS = 'sk-one-ops-access-0002';
const CAROL = 'sk-one-carol-access-03';
let t: TestSystem;

beforeAll(async () => {
  t = await startTestSystem({
    env: { FEATURES: 'atproto', ATPROTO_AUTOREPLY: '0', API_KEYS: `${ALICE}:alice,${OPS}:ops,${CAROL}:carol`, ADMIN_USERS: 'ops', AGENT_USERS_ASSISTANT: 'alice,ops', RATE_LIMIT_RPM: '0' },
  });
});
afterAll(async () => {
  await t?.stop();
});

describe('agent access', () => {
  it('refuses social to a key owner outside ADMIN_USERS with 403 agent_forbidden, without calling the model', async () => {
    const before = t.model.requests.length;
    for (const stream of [false, true]) {
      const err = await t.client(ALICE).chat.completions.create({ model: 'social', messages: [{ role: 'user', content: 'post "hacked" on bluesky' }], stream }).catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(err.error).toMatchObject({ code: 'agent_forbidden', param: 'model', type: 'permission_error' });
    }
    expect(t.model.requests.length).toBe(before);
    const ok = await t.client(OPS).chat.completions.create({ model: 'social', messages: [{ role: 'user', content: 'hello' }] });
    expect(ok.choices[0]!.message.content).toContain('hello');
    expect(t.model.requests.length).toBe(before + 1);
  });

  it('honours AGENT_USERS_<NAME> for other agents', async () => {
    const before = t.model.requests.length;
    const err = await t.client(CAROL).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
    expect(err.status).toBe(403);
    expect(err.code).toBe('agent_forbidden');
    expect(t.model.requests.length).toBe(before);
    await t.client(ALICE).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'hi' }] });
  });

  it('lists only the agents the caller may use; the others are 404 on /v1/models/<name>', async () => {
    const ids = async (key: string) => (await t.client(key).models.list()).data.map((m) => m.id).sort();
    expect(await ids(ALICE)).toEqual(['assistant']);
    expect(await ids(CAROL)).toEqual([]);
    expect(await ids(OPS)).toEqual(['assistant', 'social']);
    const err = await t.client(ALICE).models.retrieve('social').catch((e) => e);
    expect(err.status).toBe(404);
    expect(err.code).toBe('model_not_found');
    expect((await t.client(OPS).models.retrieve('social')).id).toBe('social');
  });
});
