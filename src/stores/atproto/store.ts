/**
 * What the AT feature keeps in Postgres (migrations/010_atproto.sql and after):
 * firehose cursors, the agents' own posts, dry-run records and the per-mention
 * idempotency rows of the reply-to-mention workflow.
 */
import type pg from 'pg';

export interface MentionRow {
  mention_uri: string;
  agent: string;
  agent_did: string;
  author_did: string;
  mention_cid: string;
  root_uri: string;
  root_cid: string;
  text: string;
  status: 'pending' | 'running' | 'awaiting_approval' | 'posted' | 'skipped' | 'dry_run' | 'failed';
  reason: string | null;
  draft: string | null;
  reply_rkey: string | null;
  reply_uri: string | null;
  run_id: string | null;
  attempts: number;
  /** When the mentioning post was made (firehose/Jetstream event time); null when unknown. */
  event_time: Date | null;
  created_at: Date;
  updated_at: Date;
}

export type NewMention = Pick<MentionRow, 'mention_uri' | 'agent' | 'agent_did' | 'author_did' | 'mention_cid' | 'root_uri' | 'root_cid' | 'text'>;

/** Writes of the agents' own posts still in flight, per pool (reads of atproto_posts wait for them). */
const inFlight = new WeakMap<pg.Pool, Set<Promise<unknown>>>();

export class AtprotoStore {
  constructor(private db: pg.Pool) {}

  private get pending(): Set<Promise<unknown>> {
    let s = inFlight.get(this.db);
    if (!s) inFlight.set(this.db, (s = new Set()));
    return s;
  }

  /** Waits for this process's post bookkeeping to land (called by every read of atproto_posts). */
  async settled(): Promise<void> {
    if (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  async getCursor(name: string): Promise<number | undefined> {
    const r = await this.db.query<{ seq: string }>('select seq from atproto_cursors where name = $1', [name]);
    return r.rows[0] ? Number(r.rows[0].seq) : undefined;
  }

  async setCursor(name: string, seq: number): Promise<void> {
    await this.db.query(
      `insert into atproto_cursors(name, seq) values ($1, $2)
       on conflict (name) do update set seq = greatest(atproto_cursors.seq, excluded.seq), updated_at = now()`,
      [name, seq],
    );
  }

  /**
   * Records one of the agents' posts. The insert runs in the background (off the post's
   * critical path); every read of atproto_posts in this process waits for it first.
   */
  recordPost(p: { uri: string; agent: string; did: string; cid: string; text: string; rootUri?: string; parentUri?: string; createdAt?: string }, onError?: (err: unknown) => void): Promise<void> {
    const q = this.db
      .query(
      `insert into atproto_posts(uri, agent, did, cid, text, root_uri, parent_uri, created_at)
       values ($1,$2,$3,$4,$5,$6,$7,coalesce($8::timestamptz, now())) on conflict (uri) do nothing`,
        [p.uri, p.agent, p.did, p.cid, p.text, p.rootUri ?? null, p.parentUri ?? null, p.createdAt ?? null],
      )
      .then(
        () => undefined,
        (err) => onError?.(err),
      );
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
    return q;
  }

  /** Known direct replies to a post: the agents' own and other accounts' seen on the firehose, oldest first. */
  async repliesTo(parentUri: string): Promise<Array<{ uri: string; text: string; author: string; automated: boolean }>> {
    await this.settled();
    const r = await this.db.query<{ uri: string; text: string; did: string; automated: boolean }>(
      `select uri, text, did, automated from (
         select uri, text, did, true as automated, created_at from atproto_posts where parent_uri = $1
         union all
         select uri, text, did, automated, created_at from atproto_thread_replies where parent_uri = $1
       ) x order by created_at, uri`,
      [parentUri],
    );
    return r.rows.map((row) => ({ uri: row.uri, text: row.text, author: row.did, automated: row.automated }));
  }

  /** The latest known posts under a thread root (agents' and others'), oldest first. */
  async threadPosts(rootUri: string, limit: number): Promise<Array<{ uri: string; text: string; did: string; parentUri: string | null; automated: boolean }>> {
    await this.settled();
    const r = await this.db.query<{ uri: string; text: string; did: string; parent_uri: string | null; automated: boolean }>(
      `select * from (
         select uri, text, did, parent_uri, automated, created_at from (
           select uri, text, did, parent_uri, true as automated, created_at from atproto_posts where root_uri = $1
           union all
           select uri, text, did, parent_uri, automated, created_at from atproto_thread_replies where root_uri = $1
         ) x order by created_at desc, uri desc limit $2
       ) y order by created_at, uri`,
      [rootUri, limit],
    );
    return r.rows.map((row) => ({ uri: row.uri, text: row.text, did: row.did, parentUri: row.parent_uri, automated: row.automated }));
  }

  /**
   * Keeps another account's reply when its thread is one the agents take part in (the
   * root or parent is an agent's post, an agent posted under the root, or an agent was
   * mentioned under it). Returns whether it was kept.
   */
  async indexThreadReply(p: { uri: string; did: string; cid: string; text: string; rootUri: string; parentUri: string; automated: boolean }): Promise<boolean> {
    await this.settled();
    // created_at is when it was seen (a stranger's createdAt is not trusted for ordering).
    const r = await this.db.query(
      `insert into atproto_thread_replies(uri, did, cid, text, root_uri, parent_uri, automated, created_at)
       select $1, $2, $3, $4, $5, $6, $7, now()
       where exists (select 1 from atproto_posts where uri = $5 or uri = $6 or root_uri = $5)
          or exists (select 1 from atproto_mentions where root_uri = $5)
       on conflict (uri) do nothing`,
      [p.uri, p.did, p.cid, p.text, p.rootUri, p.parentUri, p.automated],
    );
    return (r.rowCount ?? 0) > 0;
  }

  /** A deleted post leaves the reply index. */
  async forgetThreadReply(uri: string): Promise<void> {
    await this.db.query('delete from atproto_thread_replies where uri = $1', [uri]);
  }

  async forgetPost(uri: string): Promise<void> {
    await this.settled();
    await this.db.query('delete from atproto_posts where uri = $1', [uri]);
  }

  async postsInLastHour(agent: string): Promise<number> {
    await this.settled();
    const r = await this.db.query<{ n: string }>(`select count(*) as n from atproto_posts where agent = $1 and created_at > now() - interval '1 hour'`, [agent]);
    return Number(r.rows[0]!.n);
  }

  async repliesInThread(agent: string, rootUri: string): Promise<number> {
    await this.settled();
    const r = await this.db.query<{ n: string }>('select count(*) as n from atproto_posts where agent = $1 and root_uri = $2', [agent, rootUri]);
    return Number(r.rows[0]!.n);
  }

  /** Replies this agent already made in a thread to posts by `authorDid` (loop guard for automated accounts). */
  async repliesToAuthorInThread(agent: string, rootUri: string, authorDid: string): Promise<number> {
    const r = await this.db.query<{ n: string }>(
      `select count(*) as n from atproto_mentions where agent = $1 and root_uri = $2 and author_did = $3 and status = 'posted'`,
      [agent, rootUri, authorDid],
    );
    return Number(r.rows[0]!.n);
  }

  async feed(opts: { limit: number; before?: { createdAt: string; uri: string }; agents?: string[] }): Promise<Array<{ uri: string; created_at: Date }>> {
    await this.settled();
    const params: unknown[] = [opts.limit];
    let where = 'true';
    if (opts.before) {
      params.push(opts.before.createdAt, opts.before.uri);
      where += ` and (created_at, uri) < ($${params.length - 1}::timestamptz, $${params.length})`;
    }
    if (opts.agents) {
      params.push(opts.agents);
      where += ` and agent = any($${params.length})`;
    }
    const r = await this.db.query<{ uri: string; created_at: Date }>(
      `select uri, created_at from atproto_posts where ${where} order by created_at desc, uri desc limit $1`,
      params,
    );
    return r.rows;
  }

  async recordDryRun(d: { agent: string; kind: string; mentionUri?: string; text: string; record: unknown }): Promise<number> {
    const r = await this.db.query<{ id: string }>(
      'insert into atproto_dry_runs(agent, kind, mention_uri, text, record) values ($1,$2,$3,$4,$5) returning id',
      [d.agent, d.kind, d.mentionUri ?? null, d.text, JSON.stringify(d.record)],
    );
    return Number(r.rows[0]!.id);
  }

  async dryRuns(agent?: string): Promise<Array<{ id: number; agent: string; kind: string; mention_uri: string | null; text: string; record: unknown; created_at: Date }>> {
    const r = await this.db.query(`select * from atproto_dry_runs ${agent ? 'where agent = $1' : ''} order by id`, agent ? [agent] : []);
    return r.rows.map((row) => ({ ...row, id: Number(row.id) }));
  }

  // ---- mentions (idempotency of reply-to-mention) -------------------------------------

  /**
   * Inserts the mention once; returns false when it was already known. A decision made
   * before any run (too old, reply mode) is recorded directly as `skipped` with its reason.
   */
  async addMention(m: NewMention, o: { eventTime?: Date; skipped?: string } = {}): Promise<boolean> {
    const r = await this.db.query(
      `insert into atproto_mentions(mention_uri, agent, agent_did, author_did, mention_cid, root_uri, root_cid, text, event_time, status, reason)
       values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) on conflict do nothing`,
      [m.mention_uri, m.agent, m.agent_did, m.author_did, m.mention_cid, m.root_uri, m.root_cid, m.text, o.eventTime ?? null, o.skipped ? 'skipped' : 'pending', o.skipped ?? null],
    );
    return (r.rowCount ?? 0) > 0;
  }

  // ---- autonomy (pause/resume, decisions) ---------------------------------------------

  /** The agents whose autonomy is paused (every replica reads the same rows). */
  async pausedAgents(): Promise<Set<string>> {
    const r = await this.db.query<{ agent: string }>('select agent from atproto_agent_state where paused');
    return new Set(r.rows.map((x) => x.agent));
  }

  async isPaused(agent: string): Promise<boolean> {
    const r = await this.db.query<{ paused: boolean }>('select paused from atproto_agent_state where agent = $1', [agent]);
    return !!r.rows[0]?.paused;
  }

  async setPaused(agent: string, paused: boolean, by?: string, reason?: string): Promise<{ agent: string; paused: boolean; reason: string | null; updated_by: string | null; updated_at: Date }> {
    const r = await this.db.query(
      `insert into atproto_agent_state(agent, paused, reason, updated_by) values ($1,$2,$3,$4)
       on conflict (agent) do update set paused = excluded.paused, reason = excluded.reason, updated_by = excluded.updated_by, updated_at = now()
       returning agent, paused, reason, updated_by, updated_at`,
      [agent, paused, reason ?? null, by ?? null],
    );
    return r.rows[0];
  }

  async agentState(agent: string): Promise<{ paused: boolean; reason: string | null; updated_by: string | null; updated_at: Date | null }> {
    const r = await this.db.query('select paused, reason, updated_by, updated_at from atproto_agent_state where agent = $1', [agent]);
    return r.rows[0] ?? { paused: false, reason: null, updated_by: null, updated_at: null };
  }

  /** Every decision about this agent's mentions, newest first: answered, skipped and why, pending. */
  async decisions(agent: string, limit: number, status?: string): Promise<MentionRow[]> {
    const r = await this.db.query<MentionRow>(
      `select * from atproto_mentions where agent = $1 ${status ? 'and status = $3' : ''} order by updated_at desc, mention_uri limit $2`,
      status ? [agent, limit, status] : [agent, limit],
    );
    return r.rows;
  }

  async decisionCounts(agent: string): Promise<Record<string, number>> {
    const r = await this.db.query<{ status: string; n: string }>('select status, count(*) as n from atproto_mentions where agent = $1 group by status', [agent]);
    return Object.fromEntries(r.rows.map((x) => [x.status, Number(x.n)]));
  }

  /** Thread roots the agents take part in, newest first (warms the trigger's relevance cache). */
  async knownThreadRoots(limit: number): Promise<string[]> {
    await this.settled();
    const r = await this.db.query<{ uri: string }>(
      `select uri from (
         select coalesce(root_uri, uri) as uri, created_at from atproto_posts
         union all select root_uri as uri, created_at from atproto_mentions
       ) x group by uri order by max(created_at) desc limit $1`,
      [limit],
    );
    return r.rows.map((x) => x.uri);
  }

  /** Other accounts' replies already indexed, newest first (their deletions are relevant). */
  async indexedReplyUris(limit: number): Promise<string[]> {
    const r = await this.db.query<{ uri: string }>('select uri from atproto_thread_replies order by indexed_at desc limit $1', [limit]);
    return r.rows.map((x) => x.uri);
  }

  async getMention(uri: string, agent: string): Promise<MentionRow | undefined> {
    const r = await this.db.query<MentionRow>('select * from atproto_mentions where mention_uri = $1 and agent = $2', [uri, agent]);
    return r.rows[0];
  }

  /**
   * Takes the mention for one run: only a pending row, or a running row whose lease ran
   * out (its process died). Returns the row, or undefined when someone else has it or
   * it is finished.
   */
  async claimMention(uri: string, agent: string, runId: string, leaseMs: number): Promise<MentionRow | undefined> {
    const r = await this.db.query<MentionRow>(
      `update atproto_mentions set status = 'running', run_id = $3, attempts = attempts + 1,
         lease_until = now() + ($4::int * interval '1 millisecond'), updated_at = now()
       where mention_uri = $1 and agent = $2
         and (status = 'pending' or (status = 'running' and (lease_until is null or lease_until < now())) or (status = 'running' and run_id = $3))
       returning *`,
      [uri, agent, runId, leaseMs],
    );
    return r.rows[0];
  }

  async saveDraft(uri: string, agent: string, draft: string): Promise<void> {
    await this.db.query(`update atproto_mentions set draft = coalesce(draft, $3), updated_at = now() where mention_uri = $1 and agent = $2`, [uri, agent, draft]);
  }

  /** Fixes the reply's record key once; every later attempt reuses it. */
  async fixReplyKey(uri: string, agent: string, rkey: string): Promise<string> {
    const r = await this.db.query<{ reply_rkey: string }>(
      `update atproto_mentions set reply_rkey = coalesce(reply_rkey, $3), updated_at = now() where mention_uri = $1 and agent = $2 returning reply_rkey`,
      [uri, agent, rkey],
    );
    return r.rows[0]!.reply_rkey;
  }

  async finishMention(uri: string, agent: string, status: MentionRow['status'], fields: { reason?: string; replyUri?: string; draft?: string } = {}): Promise<void> {
    await this.db.query(
      `update atproto_mentions set status = $3, reason = coalesce($4, reason), reply_uri = coalesce($5, reply_uri),
         draft = coalesce($6, draft), lease_until = null, updated_at = now()
       where mention_uri = $1 and agent = $2`,
      [uri, agent, status, fields.reason ?? null, fields.replyUri ?? null, fields.draft ?? null],
    );
  }

  /**
   * The reply could not be written because of the PDS's rate limit (RATE_LIMITED): the row
   * is pending again with reason `rate`, this attempt is not counted, and the recovery
   * sweep leaves it alone until `retryAt` (kept in lease_until).
   */
  async holdForRate(uri: string, agent: string, retryAt: Date): Promise<void> {
    await this.db.query(
      `update atproto_mentions set status = 'pending', reason = 'rate', attempts = greatest(attempts - 1, 0), lease_until = $3, updated_at = now()
       where mention_uri = $1 and agent = $2`,
      [uri, agent, retryAt],
    );
  }

  /** Extends the leases of runs still in flight (the recovery sweep, while they run). */
  async renewMentionLeases(runIds: string[], leaseMs: number): Promise<void> {
    await this.db.query(
      `update atproto_mentions set lease_until = now() + ($2::int * interval '1 millisecond') where status = 'running' and run_id = any($1)`,
      [runIds, leaseMs],
    );
  }

  /** Hands the leases of runs in flight back (a clean shutdown): their rows are pending again. */
  async releaseMentionLeases(runIds: string[]): Promise<void> {
    await this.db.query(`update atproto_mentions set status = 'pending', lease_until = null where status = 'running' and run_id = any($1)`, [runIds]);
  }

  /** Mentions left unfinished (a crash, a restart): pending, or running with an expired lease. */
  async unfinishedMentions(limit = 50): Promise<MentionRow[]> {
    const r = await this.db.query<MentionRow>(
      `select * from atproto_mentions where ((status = 'pending' and (lease_until is null or lease_until <= now())) or (status = 'running' and (lease_until is null or lease_until < now())))
         and agent not in (select agent from atproto_agent_state where paused)
       order by created_at limit $1`,
      [limit],
    );
    return r.rows;
  }

  async mentions(agent?: string): Promise<MentionRow[]> {
    const r = await this.db.query<MentionRow>(`select * from atproto_mentions ${agent ? 'where agent = $1' : ''} order by created_at`, agent ? [agent] : []);
    return r.rows;
  }
}
