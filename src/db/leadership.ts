/**
 * Work that must happen once among all app processes sharing one Postgres (the firehose
 * trigger, scheduled posts, sweeps, the synced-message answerer) runs on the holder of
 * a session-level advisory lock. Followers try to take the lock every `pollMs`; when the
 * leader's process dies (SIGKILL included) Postgres ends its session and frees the lock,
 * so another process leads within one poll interval (plus the time Postgres needs to
 * notice a vanished client on an open network: immediate for a closed socket).
 *
 * A leader checks its own connection at every poll; when it is gone (the database
 * restarted, the network broke) the work is stopped before anyone else can take over
 * for long. The work itself must stay idempotent (it is: claims and exactly-once rows
 * live in Postgres), because a leader cut off from the database may still be finishing
 * a step while another one starts.
 */
import pg from 'pg';
import type { Logger } from '../logger';

export type StopWork = () => Promise<void> | void;

export interface Leadership {
  isLeader(): boolean;
  /** Settles after the first attempt to lead (so a lone process has started its work). */
  firstAttempt: Promise<void>;
  /** Stops the work (when leading), releases the lock, closes the connection. */
  stop(): Promise<void>;
}

/** Namespace of the advisory locks taken here (the second key is the job's name hashed). */
const LOCK_SPACE = 7_240_100;

export function lead(opts: { databaseUrl: string; name: string; logger: Logger; pollMs?: number; start: () => Promise<StopWork> | StopWork }): Leadership {
  const pollMs = opts.pollMs ?? 2000;
  const log = opts.logger.child({ leadership: opts.name });
  let client: pg.Client | undefined;
  let stopWork: StopWork | undefined;
  let leading = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let busy: Promise<void> = Promise.resolve();

  const resign = async (why: string) => {
    if (leading && why !== 'stopping') log.warn('leadership lost: stopping the work', { why });
    leading = false;
    const s = stopWork;
    stopWork = undefined;
    if (s) await Promise.resolve(s()).catch((err) => log.error('stopping the work failed', { error: err }));
  };

  const dropClient = async () => {
    const c = client;
    client = undefined;
    await c?.end().catch(() => {});
  };

  const tick = async () => {
    if (stopped) return;
    try {
      if (!client) {
        const c = new pg.Client({ connectionString: opts.databaseUrl, application_name: `one-agents-leader:${opts.name}`, keepAlive: true });
        c.on('error', (err) => log.warn('leadership connection error', { error: err }));
        await c.connect();
        client = c;
      }
      if (leading) {
        // Still connected, still holding it: the session (and so the lock) is alive.
        await client.query({ text: 'select 1', query_timeout: Math.max(1000, pollMs) } as pg.QueryConfig);
        return;
      }
      const r = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as ok', [LOCK_SPACE, opts.name]);
      if (!r.rows[0]?.ok || stopped) return;
      leading = true;
      log.info('leading');
      stopWork = await opts.start();
    } catch (err) {
      await resign(err instanceof Error ? err.message : String(err));
      await dropClient();
    }
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      busy = tick().finally(schedule);
    }, pollMs);
    timer.unref();
  };
  busy = tick().finally(schedule);
  const firstAttempt = busy.catch(() => {});

  return {
    isLeader: () => leading,
    firstAttempt,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await busy.catch(() => {});
      await resign('stopping');
      if (client) await client.query('select pg_advisory_unlock($1, hashtext($2))', [LOCK_SPACE, opts.name]).catch(() => {});
      await dropClient();
    },
  };
}
