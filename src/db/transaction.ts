import type pg from 'pg';

/**
 * Runs `fn` in one transaction on one pooled connection: committed when it returns,
 * rolled back when it throws (the error is rethrown), the connection released either way.
 */
export async function inTransaction<T>(db: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query('begin');
    const out = await fn(client);
    await client.query('commit');
    return out;
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
