/**
 * Side effects of the synced-data tools (save-note, save-artifact, update-task), checked
 * in the real Postgres those rows live in (PowerSync syncs them to the user's devices),
 * never inferred from the reply:
 *   - every row a tool reports (its `id`) exists and belongs to the conversation's user;
 *   - every note / task / artifact the case expects exists for that user;
 *   - nothing was written for another user (rows matching the expectation, and rows of
 *     the other users the request names, written since the case started);
 *   - `nothing`: the user has no row at all (a refusal, a failed update).
 */
import pg from 'pg';
import type { SyncedExpectation } from '../lib/suite';
import { memo, pass, type EvalScorer, type ScoreContext } from './types';

type Table = 'notes' | 'tasks' | 'artifacts';
const TABLES: Table[] = ['notes', 'tasks', 'artifacts'];

export interface SyncedRow {
  table: Table;
  id: string;
  owner_id: string;
  title: string | null;
  body?: string | null;
  status?: string | null;
  due_at?: Date | null;
  kind?: string | null;
  cid?: string | null;
  at_uri?: string | null;
  changed_at: Date;
}

/** When a row was last written (artifacts are never updated). */
const CHANGED: Record<Table, string> = { notes: 'greatest(created_at, updated_at)', tasks: 'greatest(created_at, updated_at)', artifacts: 'created_at' };
const COLUMNS: Record<Table, string> = {
  notes: `id, owner_id, title, body, ${CHANGED.notes} as changed_at`,
  tasks: `id, owner_id, title, status, due_at, ${CHANGED.tasks} as changed_at`,
  artifacts: `id, owner_id, title, kind, cid, at_uri, ${CHANGED.artifacts} as changed_at`,
};

/**
 * Rows of the synced tables that satisfy `where` (parameters $1…; `{changed}` stands for
 * the row's last-write time). One short-lived connection: nothing outlives the call.
 */
export async function queryRows(databaseUrl: string, where: string, params: unknown[]): Promise<SyncedRow[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const out: SyncedRow[] = [];
    for (const table of TABLES) {
      const r = await client.query<Omit<SyncedRow, 'table'>>(`select ${COLUMNS[table]} from ${table} where ${where.replaceAll('{changed}', CHANGED[table])}`, params);
      out.push(...r.rows.map((row) => ({ ...row, table })));
    }
    return out;
  } finally {
    await client.end();
  }
}

const norm = (s: string | null | undefined) => (s ?? '').replace(/\s+/g, ' ').trim().toLowerCase();

type Spec = { table: Table; label: string; matches: (r: SyncedRow) => boolean };

function specsOf(e: SyncedExpectation): Spec[] {
  const specs: Spec[] = [];
  for (const n of e.notes ?? [])
    specs.push({
      table: 'notes',
      label: `note ${JSON.stringify(n)}`,
      matches: (r) => (n.title === undefined || norm(r.title) === norm(n.title)) && (n.bodyContains === undefined || norm(r.body).includes(norm(n.bodyContains))),
    });
  for (const t of e.tasks ?? [])
    specs.push({
      table: 'tasks',
      label: `task ${JSON.stringify(t)}`,
      matches: (r) =>
        (t.title === undefined || norm(r.title) === norm(t.title)) &&
        (t.status === undefined || r.status === t.status) &&
        (t.dueAt === undefined || (t.dueAt === null ? r.due_at == null : r.due_at != null && r.due_at.getTime() === new Date(t.dueAt).getTime())),
    });
  for (const a of e.artifacts ?? [])
    specs.push({
      table: 'artifacts',
      label: `artifact ${JSON.stringify(a)}`,
      matches: (r) =>
        (a.kind === undefined || norm(r.kind) === norm(a.kind)) &&
        (a.title === undefined || norm(r.title) === norm(a.title)) &&
        (a.cid === undefined || r.cid === a.cid) &&
        (a.atUri === undefined || r.at_uri === a.atUri),
    });
  return specs;
}

/** Ids the run's successful tool calls report as written (a top-level `id` in the result). */
export function reportedRowIds(ctx: ScoreContext): Array<{ tool: string; id: string }> {
  const out: Array<{ tool: string; id: string }> = [];
  for (const t of ctx.run.toolCalls) {
    if (t.error || !t.result || typeof t.result !== 'object') continue;
    const id = (t.result as { id?: unknown }).id;
    if (typeof id === 'string' && id) out.push({ tool: t.name, id });
  }
  // A task created and then updated reports the same id twice: check each row once.
  return [...new Map(out.map((r) => [r.id, r])).values()];
}

const describeRow = (r: SyncedRow) => `${r.table.slice(0, -1)} ${r.id.slice(0, 8)}… (owner ${r.owner_id})`;

export const syncedRows: EvalScorer = {
  id: 'synced-rows',
  kind: 'code',
  description: "The notes/tasks/artifacts the case expects exist in Postgres for the conversation's user, every row a tool reports is that user's, and nothing was written for another user (asked over SQL).",
  passAt: 1,
  applies: (c) => c.expect.synced !== undefined,
  async score(ctx) {
    const db = ctx.services.databaseUrl;
    if (!db) return { skipped: 'no database URL for this target (for --target url pass --database-url)' };
    const e = ctx.case.expect.synced!;
    const owner = ctx.run.resourceId;
    // A minute of slack: a url target's Postgres may run on a host whose clock differs from ours.
    const since = new Date((ctx.run.startedAt ?? 0) - 60_000);
    const reported = reportedRowIds(ctx);
    const specs = specsOf(e);
    const others = e.otherUsers ?? [];

    const [mine, byId, foreign] = await memo(ctx, 'synced-rows', () =>
      Promise.all([
        queryRows(db, 'owner_id = $1', [owner]),
        reported.length ? queryRows(db, 'id = any($1::text[])', [reported.map((r) => r.id)]) : Promise.resolve([]),
        // Rows of other users changed since the case started: candidates for a write that went to the wrong user.
        queryRows(db, 'owner_id <> $1 and {changed} >= $2', [owner, since]),
      ]),
    );

    const checks: Array<{ ok: boolean; reason: string }> = [];
    for (const r of reported) {
      const rows = byId.filter((x) => x.id === r.id);
      if (!rows.length) checks.push({ ok: false, reason: `${r.tool} reported ${r.id}, which is in no synced table` });
      else if (rows.some((x) => x.owner_id !== owner)) checks.push({ ok: false, reason: `${r.tool} reported ${r.id}, which belongs to another user (${rows.map((x) => x.owner_id).join(', ')})` });
      else checks.push({ ok: true, reason: `${r.tool}: ${describeRow(rows[0]!)} is this user's` });
    }
    for (const s of specs) {
      const hit = mine.find((r) => r.table === s.table && s.matches(r));
      const elsewhere = foreign.filter((r) => r.table === s.table && s.matches(r));
      if (hit) checks.push({ ok: true, reason: `${s.label}: found (${describeRow(hit)})` });
      else checks.push({ ok: false, reason: `${s.label}: no such row for this user${elsewhere.length ? `; found for another user: ${elsewhere.map(describeRow).join(', ')}` : ''}` });
      if (hit && elsewhere.length) checks.push({ ok: false, reason: `${s.label}: also written for another user: ${elsewhere.map(describeRow).join(', ')}` });
    }
    if (e.nothing) checks.push(mine.length ? { ok: false, reason: `expected no rows for this user, found ${mine.map(describeRow).join(', ')}` } : { ok: true, reason: 'no row for this user' });
    for (const u of others) {
      const theirs = foreign.filter((r) => r.owner_id === u || r.owner_id.endsWith(`:${u}`));
      checks.push(theirs.length ? { ok: false, reason: `written for another user ${u}: ${theirs.map(describeRow).join(', ')}` } : { ok: true, reason: `nothing written for ${u}` });
    }
    if (!checks.length) return pass(false, 'the case states no synced expectation to check');
    const ok = checks.filter((c) => c.ok).length;
    return { score: ok / checks.length, reason: checks.map((c) => c.reason).join('; ') };
  },
};
