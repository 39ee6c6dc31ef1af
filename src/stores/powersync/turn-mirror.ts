/**
 * The /v1 turn mirror (migrations/030_turn_mirror_queue.sql): a completed chat turn is
 * queued in Postgres before its response is sent and copied into the synced
 * conversations + messages tables by a background drainer in any app process.
 */
import type pg from 'pg';
import { inTransaction } from '../../db/transaction';
import { pgText } from '../../util/text';
import { newId, stableId } from './ids';

/** The conversation row of a memory thread, created on first use. */
export async function ensureConversation(db: pg.Pool | pg.PoolClient, a: { ownerId: string; agent: string; threadId: string; title?: string }): Promise<{ id: string; ownerId: string }> {
  const id = stableId('conversation', a.threadId);
  await db.query(
    `insert into conversations (id, owner_id, agent, thread_id, title) values ($1, $2, $3, $4, $5)
     on conflict (thread_id) do update set updated_at = now() where conversations.owner_id = excluded.owner_id`,
    [id, a.ownerId, a.agent, a.threadId, a.title === undefined ? null : pgText(a.title)],
  );
  const r = await db.query<{ id: string; owner_id: string }>('select id, owner_id from conversations where thread_id = $1', [a.threadId]);
  return { id: r.rows[0]!.id, ownerId: r.rows[0]!.owner_id };
}

export interface TurnToMirror {
  agent: string;
  resourceId: string;
  threadId: string;
  userMessages: string[];
  reply: string;
}

/**
 * Writes one /v1 chat turn into conversations + messages, in the caller's transaction:
 * two statements. Message ids derive from `key` (the queue row), so a repeated copy
 * changes nothing. createdAt is 0, 1, 2… ms after `at` (when the turn was queued), so
 * a turn keeps its order on devices (they see milliseconds) and comes after the
 * thread's earlier turns, whichever process copies it and when (a retried turn too), as
 * long as a thread's turns are queued further apart than a turn has messages (ms),
 * which the model call between them guarantees.
 */
export async function writeTurn(db: pg.Pool | pg.PoolClient, t: TurnToMirror, key: string, at: Date | string): Promise<void> {
  const conv = stableId('conversation', t.threadId);
  const roles = [...t.userMessages.map(() => 'user'), 'assistant'];
  // U+0000 stored as U+FFFD: Postgres text cannot hold it.
  const contents = [...t.userMessages, t.reply].map(pgText);
  const ids = roles.map((_, i) => stableId('turn-mirror', key, String(i)));
  // The conversation is created on first use (or touched); rows go in only if it is the caller's.
  const r = await db.query(
    `with conv as (
       insert into conversations (id, owner_id, agent, thread_id, title) values ($1, $2, $3, $4, $5)
       on conflict (thread_id) do update set updated_at = now() where conversations.owner_id = excluded.owner_id
       returning id
     )
     insert into messages (id, owner_id, conversation_id, role, content, created_at)
     select m.id, $2, conv.id, m.role, m.content, $9::timestamptz + (m.ord - 1) * interval '1 millisecond'
       from conv, unnest($6::text[], $7::text[], $8::text[]) with ordinality as m(id, role, content, ord)
     on conflict (id) do nothing`,
    [conv, t.resourceId, t.agent, t.threadId, t.userMessages[0]?.slice(0, 80) ?? null, ids, roles, contents, at],
  );
  if (r.rowCount === 0) {
    const owner = await db.query<{ owner_id: string }>('select owner_id from conversations where thread_id = $1', [t.threadId]);
    if (owner.rows[0] && owner.rows[0].owner_id !== t.resourceId) throw new ForeignThreadError();
  }
}

/** Mirrors one /v1 chat turn into conversations + messages now, in one transaction. */
export async function mirrorTurn(db: pg.Pool, t: TurnToMirror): Promise<void> {
  await inTransaction(db, (client) => writeTurn(client, t, newId(), new Date()));
}

/**
 * Queues a turn for the mirror: one insert, durable once it returns (the /v1 response
 * is sent after it). drainTurnMirrors copies it into the synced tables.
 */
export async function enqueueTurnMirror(db: pg.Pool, t: TurnToMirror): Promise<void> {
  // jsonb cannot hold U+0000 either: the queued copy is already what devices will see.
  const turn: TurnToMirror = { ...t, userMessages: t.userMessages.map(pgText), reply: pgText(t.reply) };
  await db.query('insert into turn_mirror_queue (turn) values ($1)', [JSON.stringify(turn)]);
}

/** A turn on another user's thread: never mirrored (as before the queue), so dropped from it. */
export class ForeignThreadError extends Error {
  constructor() {
    super('thread belongs to another user');
  }
}

/**
 * Copies up to `limit` queued turns into the synced tables and deletes them, in one
 * transaction; rows another process holds are skipped (FOR UPDATE SKIP LOCKED), so
 * several processes can drain at once and each turn lands exactly once. A turn on
 * another user's thread is reported and dropped; a turn that fails otherwise (e.g. two
 * drainers creating the same conversation at once) stays queued for the next drain,
 * where its createdAt (from queued_at) still puts it in place. Returns how many rows
 * were deleted.
 */
export async function drainTurnMirrors(db: pg.Pool, limit = 100, onError?: (turn: TurnToMirror, err: unknown, dropped: boolean) => void): Promise<number> {
  return inTransaction(db, async (client) => {
    const rows = await client.query<{ id: string; turn: TurnToMirror; queued_at: string }>(
      'select id, turn, queued_at::text as queued_at from turn_mirror_queue order by id limit $1 for update skip locked',
      [limit],
    );
    const done: string[] = [];
    for (const row of rows.rows) {
      await client.query('savepoint turn');
      try {
        await writeTurn(client, row.turn, `queue:${row.id}`, row.queued_at);
        await client.query('release savepoint turn');
        done.push(row.id);
      } catch (err) {
        await client.query('rollback to savepoint turn');
        const drop = err instanceof ForeignThreadError;
        if (drop) done.push(row.id);
        onError?.(row.turn, err, drop);
      }
    }
    if (done.length) await client.query('delete from turn_mirror_queue where id = any($1::bigint[])', [done]);
    return done.length;
  });
}

/**
 * Drains the turn-mirror queue in the background: at once when this process queues a
 * turn (trigger), and every `sweepMs` for what a stopped process left behind. stop()
 * drains what is left before it returns.
 */
export class TurnMirrorDrainer {
  private running?: Promise<void>;
  private again = false;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private db: pg.Pool,
    private log: { warn(msg: string, meta?: Record<string, unknown>): void },
    private sweepMs = 2000,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.trigger(), this.sweepMs);
    this.timer.unref();
    this.trigger();
  }

  trigger(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.trigger();
      }
    });
  }

  private async loop(): Promise<void> {
    try {
      const onError = (turn: TurnToMirror, err: unknown, dropped: boolean) => this.log.warn(dropped ? 'turn mirror dropped' : 'turn mirror failed; retried on the next drain', { thread: turn.threadId, error: err });
      while ((await drainTurnMirrors(this.db, 100, onError)) === 100);
    } catch (err) {
      this.log.warn('turn mirror drain failed; retried on the next sweep', { error: err });
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    this.stopped = true;
    await this.loop();
  }
}
