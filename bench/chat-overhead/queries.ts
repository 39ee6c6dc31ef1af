/**
 * bench/chat-overhead/queries.ts: how many SQL statements one chat turn sends to Postgres.
 * Wraps pg.Client#query (the Mastra store and the app pool both use `pg`) and counts
 * what runs during a /v1 turn on a new thread, on an existing thread, and during the
 * turn mirror (FEATURES=powersync; QUERIES_FEATURES overrides). `before_response`: the
 * statements sent before the response arrived (the request path; a background drain
 * may overlap it). `npx tsx bench/chat-overhead/queries.ts [--sql]`.
 */
import pg from 'pg';
import { startTestSystem } from '../../harness/system';

const showSql = process.argv.includes('--sql');
/** QUERIES_STACK=<regex>: print who sends the matching statements. */
const stackFor = process.env.QUERIES_STACK;
let log: string[] | undefined;
const orig = pg.Client.prototype.query as (...a: unknown[]) => unknown;
(pg.Client.prototype as unknown as { query: unknown }).query = function (this: pg.Client, ...args: unknown[]) {
  const q = args[0];
  const text = typeof q === 'string' ? q : ((q as { text?: string })?.text ?? '?');
  log?.push(text.replace(/\s+/g, ' ').trim().slice(0, 160));
  if (log && stackFor && new RegExp(stackFor).test(text)) console.error(new Error(text.slice(0, 60)).stack?.split('\n').filter((l) => !l.includes('node:internal')).slice(2, 14).join('\n'));
  return orig.apply(this, args);
};

const t = await startTestSystem({ env: { FEATURES: process.env.QUERIES_FEATURES ?? 'powersync', RATE_LIMIT_RPM: '0' } });
const base = t.system.url;
const settle = () => new Promise((r) => setTimeout(r, 300));

async function turn(threadId?: string) {
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(threadId ? { 'x-thread-id': threadId } : {}) },
    body: JSON.stringify({ model: 'assistant', user: 'q', messages: [{ role: 'user', content: 'hello' }] }),
  });
  await r.json();
  answeredAt = log?.length;
  return r.headers.get('x-thread-id')!;
}

let answeredAt: number | undefined;
const out: Record<string, { queries: number; transactions: number; before_response: number; sql?: string[] }> = {};
const measure = async (name: string, fn: () => Promise<unknown>) => {
  await settle();
  log = [];
  await fn();
  await settle(); // background work the turn started (e.g. a queued mirror) counts too
  const l = log;
  log = undefined;
  // Replication / leadership polling of the embedded PowerSync stand-in is not the turn's.
  const mine = l.filter((s) => !/pg_logical|powersync_|pg_try_advisory|pg_advisory_unlock|^select 1$/i.test(s));
  const early = l.slice(0, answeredAt).filter((s) => !/pg_logical|powersync_|pg_try_advisory|pg_advisory_unlock|^select 1$/i.test(s)).length;
  out[name] = { queries: mine.length, transactions: mine.filter((s) => /^begin/i.test(s)).length, before_response: early, ...(showSql ? { sql: mine } : {}) };
};

await turn(); // warm-up (lazy init of stores, prepared statements)
let thread = '';
await measure('new thread', async () => (thread = await turn()));
await measure('existing thread', () => turn(thread));
console.log(JSON.stringify(out, null, 2));
await t.stop();
process.exit(0);
