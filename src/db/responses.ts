/**
 * Stored responses of POST /v1/responses (table `responses`, migration 050). Every
 * function takes the owner (the API key's owner) and filters by it: another owner's id
 * is indistinguishable from an unknown one.
 */
import type pg from 'pg';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export interface StoredResponse {
  id: string;
  owner: string;
  resource: string;
  agent: string;
  threadId: string | null;
  previousResponseId: string | null;
  status: string;
  createdAt: Date;
  completedAt: Date | null;
  request: Record<string, unknown>;
  inputItems: unknown[];
  output: unknown[];
  usage: unknown;
  incompleteDetails: unknown;
  store: boolean;
  error: unknown;
}

interface Row {
  id: string;
  owner: string;
  resource: string;
  agent: string;
  thread_id: string | null;
  previous_response_id: string | null;
  status: string;
  created_at: Date;
  completed_at: Date | null;
  request: Record<string, unknown>;
  input_items: unknown[];
  output: unknown[];
  usage: unknown;
  incomplete_details: unknown;
  store: boolean;
  error: unknown;
}

const fromRow = (r: Row): StoredResponse => ({
  id: r.id,
  owner: r.owner,
  resource: r.resource,
  agent: r.agent,
  threadId: r.thread_id,
  previousResponseId: r.previous_response_id,
  status: r.status,
  createdAt: r.created_at,
  completedAt: r.completed_at,
  request: r.request,
  inputItems: r.input_items,
  output: r.output,
  usage: r.usage,
  incompleteDetails: r.incomplete_details,
  store: r.store,
  error: r.error,
});

/**
 * A value as jsonb text. jsonb holds neither U+0000 (not even escaped) nor a lone UTF-16
 * surrogate: both become U+FFFD, in keys and values, as in every other text column.
 * Done on the JSON text (JSON.stringify escapes exactly those as \u0000 and \udXXX), so
 * no recursion over the value: an escape counts only after an even run of backslashes.
 */
const json = (v: unknown) => JSON.stringify(v ?? null).replace(/(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/gi, '$1\\ufffd');

/** Inserts the row of a response that has started (status `in_progress`). */
export async function insertResponse(db: Queryable, r: Omit<StoredResponse, 'completedAt' | 'output' | 'usage' | 'incompleteDetails' | 'error'>): Promise<void> {
  await db.query(
    `insert into responses (id, owner, resource, agent, thread_id, previous_response_id, status, created_at, request, input_items, store)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11)`,
    [r.id, r.owner, r.resource, r.agent, r.threadId, r.previousResponseId, r.status, r.createdAt, json(r.request), json(r.inputItems), r.store],
  );
}

/** Records how a response ended (completed, incomplete, failed, cancelled). */
export async function finishResponse(
  db: Queryable,
  id: string,
  owner: string,
  end: { status: string; output: unknown[]; usage: unknown; incompleteDetails: unknown; error: unknown; completedAt: Date | null },
): Promise<void> {
  const orNull = (v: unknown) => (v == null ? null : json(v));
  await db.query(
    'update responses set status = $3, output = $4::jsonb, usage = $5::jsonb, incomplete_details = $6::jsonb, error = $7::jsonb, completed_at = $8 where id = $1 and owner = $2',
    [id, owner, end.status, json(end.output), orNull(end.usage), orNull(end.incompleteDetails), orNull(end.error), end.completedAt],
  );
}

export async function getResponse(db: Queryable, id: string, owner: string): Promise<StoredResponse | undefined> {
  const r = await db.query<Row>('select * from responses where id = $1 and owner = $2', [id, owner]);
  return r.rows[0] ? fromRow(r.rows[0]) : undefined;
}

/** True when a row was deleted. */
export async function deleteResponse(db: Queryable, id: string, owner: string): Promise<boolean> {
  const r = await db.query('delete from responses where id = $1 and owner = $2', [id, owner]);
  return (r.rowCount ?? 0) > 0;
}

