/**
 * `synced-rows` asks the real Postgres, so it fails when the row a case expects is
 * missing or belongs to another user, whatever the reply and the tool results claim.
 * Real system (startSystem: embedded Postgres with the synced schema migrated); rows are
 * written by the real sync tools (src/tools/powersync) acting for a given user, exactly as
 * the organizer's tool calls do. No model is involved: each scorer call gets a turn whose
 * tool results claim a row.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncedRows } from '../../evals/scorers/sync';
import type { ScoreContext } from '../../evals/scorers/types';
import type { Expectation } from '../../evals/lib/suite';
import type { ToolCallRecord } from '../../evals/lib/target';
import type { System } from '../../src/system';
import { createPowerSyncTools } from '../../src/tools/powersync';
import { startBareSystem, type BareSystem } from '../../harness/system';
import { scoreContext, scoreWith } from './support';

let bare: BareSystem;
let system: System;
let tools: ReturnType<typeof createPowerSyncTools>;

beforeAll(async () => {
  bare = await startBareSystem({ prefix: 'one-agents-evals-synced-rows-', env: { FEATURES: 'none' } });
  system = bare.system;
  tools = createPowerSyncTools(system.ctx.db);
});

afterAll(async () => {
  await bare?.stop();
});

/** A user id of its own for every test: rows never leak between tests. */
const user = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

/** Runs a real sync tool for `owner`, as the organizer's tool call does in a conversation of that user. */
async function asUser<T>(owner: string, tool: keyof typeof tools, input: Record<string, unknown>): Promise<ToolCallRecord & { result: T }> {
  const t = tools[tool] as unknown as { execute: (input: unknown, ctx: unknown) => Promise<T> };
  const result = await t.execute(input, { agent: { resourceId: owner, agentId: 'organizer' } });
  return { name: tool, args: input, result };
}

function ctxFor(owner: string, expect: Expectation, toolCalls: ToolCallRecord[], startedAt: number, services: ScoreContext['services'] = { databaseUrl: system.ctx.urls.databaseUrl }): ScoreContext {
  return scoreContext({ suite: { name: 'synced', agent: 'organizer' }, expect, toolCalls, text: 'Saved it for you.', services, run: { startedAt, resourceId: owner } });
}

const score = (ctx: ScoreContext) => scoreWith(syncedRows, ctx);

describe('synced-rows asks Postgres', () => {
  it('passes when the note the tool reports exists for the conversation user', async () => {
    const me = user('me');
    const started = Date.now();
    const call = await asUser<{ id: string }>(me, 'save-note', { title: 'Groceries', body: 'milk, eggs, bread' });
    const r = await score(ctxFor(me, { synced: { notes: [{ title: 'groceries', bodyContains: 'EGGS' }] } }, [call], started));
    expect(r.score).toBe(1);
    expect(r.reason).toContain(`owner ${me}`);
  });

  it('fails when the reported row is missing, whatever the tool result and the reply claim', async () => {
    const me = user('me');
    const claimed: ToolCallRecord = { name: 'save-note', args: { title: 'Groceries', body: 'milk' }, result: { id: randomUUID(), title: 'Groceries' } };
    const r = await score(ctxFor(me, { synced: { notes: [{ title: 'Groceries' }] } }, [claimed], Date.now()));
    expect(r.score).toBe(0);
    expect(r.reason).toContain('in no synced table');
    expect(r.reason).toContain('no such row for this user');
  });

  it('fails when no tool wrote anything, even though the case expects a task', async () => {
    const r = await score(ctxFor(user('me'), { synced: { tasks: [{ title: 'Renew my passport' }] } }, [], Date.now()));
    expect(r.score).toBe(0);
    expect(r.reason).toContain('no such row for this user');
  });

  it('fails when the row belongs to another user', async () => {
    const me = user('me');
    const other = user('alice');
    const started = Date.now();
    const theirs = await asUser<{ id: string }>(other, 'save-note', { title: 'Meeting cancelled', body: 'see you next week' });
    const r = await score(ctxFor(me, { synced: { notes: [{ title: 'Meeting cancelled' }] } }, [theirs], started));
    expect(r.score).toBe(0);
    expect(r.reason).toContain(`belongs to another user (${other})`);
    expect(r.reason).toContain(`found for another user`);
  });

  it('fails when the expected row exists for this user but was also written for another user', async () => {
    const me = user('me');
    const other = user('bob');
    const started = Date.now();
    const mine = await asUser<{ id: string }>(me, 'save-artifact', { kind: 'link', title: 'Shared link twice' });
    await asUser(other, 'save-artifact', { kind: 'link', title: 'Shared link twice' });
    const r = await score(ctxFor(me, { synced: { artifacts: [{ kind: 'link', title: 'Shared link twice' }] } }, [mine], started));
    expect(r.score).toBeLessThan(1);
    expect(r.reason).toContain('also written for another user');
  });

  it('checks the row itself: a task that is still open does not pass for "done"', async () => {
    const me = user('me');
    const started = Date.now();
    const created = await asUser<{ id: string }>(me, 'update-task', { title: 'Call the plumber' });
    const ctx = () => ctxFor(me, { synced: { tasks: [{ title: 'Call the plumber', status: 'done' }] } }, [created], started);
    expect((await score(ctx())).score).toBeLessThan(1);
    await asUser(me, 'update-task', { id: created.result.id, status: 'done' });
    expect((await score(ctx())).score).toBe(1);
  });

  it('`nothing` fails once the user has a row; `otherUsers` fails once a named user got one during the case', async () => {
    const me = user('me');
    const alice = user('alice');
    const started = Date.now();
    const expectation: Expectation = { synced: { nothing: true, otherUsers: [alice] } };
    expect((await score(ctxFor(me, expectation, [], started))).score).toBe(1);
    await asUser(alice, 'save-note', { title: 'Written for alice', body: 'x' });
    const r1 = await score(ctxFor(me, expectation, [], started));
    expect(r1.score).toBeLessThan(1);
    expect(r1.reason).toContain(`written for another user ${alice}`);
    await asUser(me, 'update-task', { title: 'A task after all' });
    const r2 = await score(ctxFor(me, expectation, [], started));
    expect(r2.score).toBe(0);
    expect(r2.reason).toContain('expected no rows for this user');
  });

  it('is SKIPPED, not passed, without a database URL', async () => {
    const r = await syncedRows.score(ctxFor(user('me'), { synced: { nothing: true } }, [], Date.now(), {}));
    expect(r).toHaveProperty('skipped');
  });
});
