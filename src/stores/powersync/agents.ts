/**
 * The agent directory (the synced `agents` table, a global bucket every device gets): one
 * row per registered agent, with its AT account once the AT feature knows it.
 */
import type pg from 'pg';
import { retryUniqueRace } from '../../db/retry';
import { stableId } from './ids';

/** The agent directory (global bucket): one row per registered agent. */
export async function publishAgentDirectory(db: pg.Pool, agents: Array<{ name: string; description: string }>): Promise<void> {
  for (const a of agents) {
    // Several replicas publish at start-up at once (see retryUniqueRace).
    await retryUniqueRace(() =>
      db.query(
        `insert into agents (id, name, description) values ($1, $2, $3)
         on conflict (name) do update set description = excluded.description, updated_at = now()
         where agents.description is distinct from excluded.description`,
        [stableId('agent', a.name), a.name, a.description],
      ),
    );
  }
}

/** An agent's AT account (handle, DID) in its directory row, created if missing (the row id is the name). */
export async function publishAgentAccount(db: pg.Pool, a: { name: string; handle: string; did: string }): Promise<void> {
  // Several replicas start at once (see retryUniqueRace).
  await retryUniqueRace(() =>
    db.query(
      `insert into agents(id, name, handle, did) values ($1, $1, $2, $3)
       on conflict (name) do update set handle = excluded.handle, did = excluded.did, updated_at = now()`,
      [a.name, a.handle, a.did],
    ),
  );
}

/** The DID and handle recorded for an agent, if it has a directory row. */
export async function agentAccount(db: pg.Pool, name: string): Promise<{ did: string | null; handle: string | null } | undefined> {
  const row = await db.query<{ did: string | null; handle: string | null }>('select did, handle from agents where name = $1', [name]);
  return row.rows[0];
}
