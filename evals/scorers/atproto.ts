/**
 * Side effects on the AT Protocol, checked on the real PDS over XRPC
 * (com.atproto.repo.getRecord), never inferred from the reply: the record a tool says it
 * created exists with that CID; its text is within the grapheme budget; its facets are
 * valid for its text.
 */
import { graphemes } from './text';
import { memo, pass, type EvalScorer, type ScoreContext } from './types';

export interface CreatedRecord {
  tool: string;
  uri: string;
  cid?: string;
}
export interface FetchedRecord extends CreatedRecord {
  found: boolean;
  status: number;
  actualCid?: string;
  value?: { $type?: string; text?: string; facets?: Facet[]; [k: string]: unknown };
}
interface Facet {
  index?: { byteStart?: number; byteEnd?: number };
  features?: Array<{ $type?: string; uri?: string; did?: string; tag?: string }>;
}

const AT_URI = /^at:\/\/(did:[a-z]+:[A-Za-z0-9._:%-]+)\/([a-zA-Z0-9.-]+)\/([A-Za-z0-9._:~-]+)$/;

/** Records the run's tools report as created: a `uri` (at://…) in a successful result (top level, or each of `posts` of a split thread), with its `cid`. */
export function createdRecords(ctx: ScoreContext): CreatedRecord[] {
  const out: CreatedRecord[] = [];
  for (const t of ctx.run.toolCalls) {
    if (t.error || !t.result || typeof t.result !== 'object') continue;
    const r = t.result as Record<string, unknown>;
    const nested = (['post', 'record', 'reply'] as const).map((k) => r[k]).filter((x): x is Record<string, unknown> => Boolean(x) && typeof x === 'object');
    const posts = Array.isArray(r.posts) ? (r.posts as unknown[]).filter((x): x is Record<string, unknown> => Boolean(x) && typeof x === 'object') : [];
    const items = [r, ...nested, ...posts];
    for (const it of items) {
      if (typeof it.uri === 'string' && AT_URI.test(it.uri)) out.push({ tool: t.name, uri: it.uri, cid: typeof it.cid === 'string' ? it.cid : undefined });
    }
  }
  return [...new Map(out.map((r) => [r.uri, r])).values()];
}

export function fetchRecords(ctx: ScoreContext): Promise<FetchedRecord[]> {
  return memo(ctx, 'pds-records', async () => {
    const pds = ctx.services.pdsUrl!;
    return Promise.all(
      createdRecords(ctx).map(async (rec): Promise<FetchedRecord> => {
        const [, repo, collection, rkey] = AT_URI.exec(rec.uri)!;
        const url = `${pds.replace(/\/$/, '')}/xrpc/com.atproto.repo.getRecord?repo=${encodeURIComponent(repo!)}&collection=${encodeURIComponent(collection!)}&rkey=${encodeURIComponent(rkey!)}`;
        const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
        if (!res.ok) return { ...rec, found: false, status: res.status };
        const body = (await res.json()) as { cid?: string; value?: FetchedRecord['value'] };
        return { ...rec, found: true, status: res.status, actualCid: body.cid, value: body.value };
      }),
    );
  });
}

const NO_PDS = 'no PDS URL for this target (in-process targets know it; for --target url pass --pds-url)';

export const recordOnPds: EvalScorer = {
  id: 'record-on-pds',
  kind: 'code',
  description: 'Every record a tool reports as created exists on the PDS with the reported CID (asked over XRPC).',
  passAt: 1,
  applies: (c) => c.expect.postedOnPds === true,
  async score(ctx) {
    if (!ctx.services.pdsUrl) return { skipped: NO_PDS };
    const recs = await fetchRecords(ctx);
    if (!recs.length) return pass(false, 'no tool reported a created record: nothing was posted');
    const bad = recs.filter((r) => !r.found || (r.cid && r.actualCid !== r.cid));
    const reason = recs.map((r) => `${r.uri}: ${!r.found ? `not on the PDS (HTTP ${r.status})` : r.cid && r.actualCid !== r.cid ? `CID ${r.actualCid} ≠ reported ${r.cid}` : 'on the PDS'}`).join('; ');
    return { score: (recs.length - bad.length) / recs.length, reason };
  },
};

export const postLength: EvalScorer = {
  id: 'post-length',
  kind: 'code',
  description: 'The text of every post on the PDS is within the grapheme limit (Bluesky: 300). No post created passes.',
  passAt: 1,
  applies: (c) => c.expect.maxPostGraphemes !== undefined,
  async score(ctx) {
    if (!ctx.services.pdsUrl) return { skipped: NO_PDS };
    const max = ctx.case.expect.maxPostGraphemes!;
    const posts = (await fetchRecords(ctx)).filter((r) => r.found && typeof r.value?.text === 'string');
    if (!posts.length) return pass(true, 'no post was created');
    const over = posts.filter((p) => graphemes(p.value!.text!) > max);
    return pass(!over.length, posts.map((p) => `${graphemes(p.value!.text!)} graphemes`).join(', ') + ` (max ${max})`);
  },
};

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Checks one facet against the post text: UTF-8 byte range on grapheme boundaries, known features, matching text. */
export function facetProblems(text: string, facets: Facet[]): string[] {
  const bytes = Buffer.from(text, 'utf8');
  const boundaries = new Set<number>([bytes.length]);
  for (const s of segmenter.segment(text)) boundaries.add(Buffer.byteLength(text.slice(0, s.index), 'utf8'));
  const problems: string[] = [];
  facets.forEach((f, i) => {
    const s = f.index?.byteStart;
    const e = f.index?.byteEnd;
    if (typeof s !== 'number' || typeof e !== 'number' || s < 0 || e <= s || e > bytes.length) {
      problems.push(`facet ${i}: byte range ${s}..${e} outside the text (${bytes.length} bytes)`);
      return;
    }
    if (!boundaries.has(s) || !boundaries.has(e)) problems.push(`facet ${i}: range ${s}..${e} splits a character`);
    const span = bytes.subarray(s, e).toString('utf8');
    if (!f.features?.length) problems.push(`facet ${i}: no features`);
    for (const feat of f.features ?? []) {
      switch (feat.$type) {
        case 'app.bsky.richtext.facet#link':
          if (!feat.uri || !/^https?:\/\/\S+$/.test(feat.uri)) problems.push(`facet ${i}: link uri ${JSON.stringify(feat.uri)} is not an http(s) URL`);
          break;
        case 'app.bsky.richtext.facet#mention':
          if (!feat.did?.startsWith('did:')) problems.push(`facet ${i}: mention without a DID`);
          if (!span.startsWith('@')) problems.push(`facet ${i}: mention covers "${span}", not an @handle`);
          break;
        case 'app.bsky.richtext.facet#tag':
          if (!feat.tag || feat.tag.startsWith('#') || /\s/.test(feat.tag)) problems.push(`facet ${i}: bad tag ${JSON.stringify(feat.tag)}`);
          if (!span.startsWith('#')) problems.push(`facet ${i}: tag covers "${span}", not a #tag`);
          break;
        default:
          problems.push(`facet ${i}: unknown feature ${feat.$type}`);
      }
    }
  });
  return problems;
}

export const facetsValid: EvalScorer = {
  id: 'facets-valid',
  kind: 'code',
  description: 'Facets of the created posts (as stored on the PDS) are valid for their text.',
  passAt: 1,
  applies: (c) => c.expect.facetsValid === true,
  async score(ctx) {
    if (!ctx.services.pdsUrl) return { skipped: NO_PDS };
    const posts = (await fetchRecords(ctx)).filter((r) => r.found && typeof r.value?.text === 'string');
    if (!posts.length) return pass(false, 'no post on the PDS to check');
    const problems = posts.flatMap((p) => facetProblems(p.value!.text!, p.value!.facets ?? []));
    const count = posts.reduce((n, p) => n + (p.value!.facets?.length ?? 0), 0);
    if (!count) return pass(false, 'the post has no facets (links, mentions or tags were expected)');
    return pass(!problems.length, problems.join('; ') || `${count} facet(s) valid`);
  },
};
