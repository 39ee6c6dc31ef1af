/**
 * The SQL of a device's CRUD batch (src/clients/powersync/upload.ts validates it): one
 * transaction per batch; every op locks its row, and writes only rows of the uploading
 * user. Table and column names come from the upload's allow-list and are quoted here.
 */
import type pg from 'pg';

/** The owner of a row (locked until the transaction ends), or undefined when there is none. */
export async function lockRowOwner(c: pg.PoolClient, table: string, id: string): Promise<string | undefined> {
  const existing = await c.query<{ owner_id: string }>(`select owner_id from ${c.escapeIdentifier(table)} where id = $1 for update`, [id]);
  return existing.rows[0]?.owner_id;
}

export async function deleteOwnedRow(c: pg.PoolClient, table: string, id: string, ownerId: string): Promise<void> {
  await c.query(`delete from ${c.escapeIdentifier(table)} where id = $1 and owner_id = $2`, [id, ownerId]);
}

/** A conversation's owner and agent, if it exists. */
export async function conversationOwner(c: pg.PoolClient, id: unknown): Promise<{ owner_id: string; agent: string } | undefined> {
  const conv = await c.query<{ owner_id: string; agent: string }>('select owner_id, agent from conversations where id = $1', [id]);
  return conv.rows[0];
}

/**
 * Inserts the row (`exists` false: with the owner) or updates the owner's row with the
 * given columns, inside a savepoint; a database error (unique violation, bad value) is
 * thrown as it is, for the caller to translate.
 */
export async function writeOwnedRow(c: pg.PoolClient, table: string, id: string, ownerId: string, values: Record<string, unknown>, exists: boolean): Promise<void> {
  const t = c.escapeIdentifier(table);
  const cols = Object.keys(values).filter((k) => values[k] !== undefined);
  await c.query('savepoint op');
  if (!exists) {
    const all = ['id', 'owner_id', ...cols];
    await c.query(`insert into ${t} (${all.map((k) => c.escapeIdentifier(k)).join(', ')}) values (${all.map((_, i) => `$${i + 1}`).join(', ')})`, [id, ownerId, ...cols.map((k) => values[k])]);
  } else if (cols.length) {
    await c.query(`update ${t} set ${cols.map((k, i) => `${c.escapeIdentifier(k)} = $${i + 3}`).join(', ')} where id = $1 and owner_id = $2`, [id, ownerId, ...cols.map((k) => values[k])]);
  }
  await c.query('release savepoint op');
}

/** A message's role and status with its conversation's agent (null when the conversation is gone). */
export async function messageState(c: pg.PoolClient, id: string): Promise<{ role: string; status: string | null; agent: string | null } | undefined> {
  const m = await c.query<{ role: string; status: string | null; agent: string | null }>(
    'select m.role, m.status, c.agent from messages m left join conversations c on c.id = m.conversation_id where m.id = $1',
    [id],
  );
  return m.rows[0];
}
