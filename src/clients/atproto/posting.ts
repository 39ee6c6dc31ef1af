/**
 * Building and writing app.bsky.feed.post records for an agent: rich-text facets with
 * UTF-8 byte offsets (mentions resolved to DIDs, links, hashtags), languages, an image
 * with alt text and aspect ratio, quote and link-card embeds, reply refs, the `bot`
 * self-label on every post, the 300-grapheme limit (refuse or split into a self-reply
 * thread), dry-run, and bookkeeping in Postgres. Tools and workflows both write here.
 */
import { RichText, type AtpAgent } from '@atproto/api';
import { TID } from '@atproto/common-web';
import { isValidTid } from '@atproto/syntax';
import type { AtprotoClients } from './clients';
import { parseAtUri } from './clients';
import { assertNoSecret } from '../../util/secrets';
import { AtprotoError, toAtprotoError } from './errors';
import { decodeImage, imageSize, type ImageInput } from './images';
import type { AtprotoStore } from '../../stores/atproto/store';

export const MAX_GRAPHEMES = 300;
export { MAX_IMAGE_BYTES, type ImageInput } from './images';
export const AUTOMATED_LABELS = { $type: 'com.atproto.label.defs#selfLabels', values: [{ val: 'bot' }] } as const;

export interface StrongRef {
  uri: string;
  cid: string;
}

export interface PostInput {
  text: string;
  langs?: string[];
  image?: ImageInput;
  quoteUri?: string;
  link?: { uri: string; title: string; description?: string };
  /** The post this one answers (the root is taken from it). */
  replyTo?: string;
  /** split (default from config) or refuse text over 300 graphemes. */
  longText?: 'split' | 'refuse';
  /** Fixed record key of the first post (idempotent writes); the parts of a split thread follow it (tidAfter). */
  rkey?: string;
  /** With `rkey`: parts already on the PDS (an earlier attempt) are kept, only missing ones are written. */
  resume?: boolean;
  dryRun?: boolean;
}

export interface PostResult {
  uri: string | null;
  cid: string | null;
  posts: Array<{ uri: string | null; cid: string | null; text: string }>;
  split: boolean;
  dryRun: boolean;
  dryRunIds?: number[];
}

export interface PostingDeps {
  clients: AtprotoClients;
  store: AtprotoStore;
  longText: 'split' | 'refuse';
  dryRun: boolean;
  onBookkeepingError?: (err: unknown) => void;
}

/** A fresh TID record key, as the PDS makes them (@atproto/common-web). */
export function nextTid(): string {
  return TID.nextStr();
}

/** The TID `n` microseconds after `tid` (same clock id): the record keys of a split thread's later parts. */
export function tidAfter(tid: string, n: number): string {
  const t = TID.fromStr(tid);
  return TID.fromTime(t.timestamp() + n, t.clockid()).toString();
}

/**
 * Refuses key material in any text a post would publish: the text, the image's alt text
 * and the link card (SECRET_DETECTED; what matched is named by kind, never echoed).
 */
export function refuseSecrets(input: Pick<PostInput, 'text' | 'image' | 'link'>): void {
  try {
    assertNoSecret('post text', input.text);
    assertNoSecret('image alt text', input.image?.alt);
    assertNoSecret('link card', input.link?.uri, input.link?.title, input.link?.description);
  } catch (err) {
    throw toAtprotoError(err, 'post');
  }
}

export function graphemeLength(text: string): number {
  return new RichText({ text }).graphemeLength;
}

/** Splits text into parts of at most `max` graphemes, at paragraph, sentence or word boundaries. */
export function splitText(text: string, max = MAX_GRAPHEMES): string[] {
  const seg = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  const parts: string[] = [];
  let rest = text.trim();
  while (graphemeLength(rest) > max) {
    const graphemes = [...seg.segment(rest)].map((g) => g.segment);
    const window = graphemes.slice(0, max).join('');
    let cut = -1;
    for (const re of [/\n\s*\n(?![\s\S]*\n\s*\n)/, /[.!?…](\s)(?![\s\S]*[.!?…]\s)/, /\s(?![\s\S]*\s)/]) {
      const m = re.exec(window);
      if (m && m.index > window.length / 3) {
        cut = m.index + (m[0].trimEnd().length || 0);
        break;
      }
    }
    if (cut <= 0) cut = window.length;
    parts.push(rest.slice(0, cut).trim());
    rest = rest.slice(cut).trim();
  }
  if (rest) parts.push(rest);
  return parts;
}

/** Facets with byte offsets; every @mention must resolve (HANDLE_NOT_FOUND otherwise). */
export async function buildFacets(clients: AtprotoClients, text: string): Promise<RichText> {
  const rt = new RichText({ text });
  rt.detectFacetsWithoutResolution();
  for (const facet of rt.facets ?? []) {
    for (const feature of facet.features) {
      if (feature.$type === 'app.bsky.richtext.facet#mention') {
        const f = feature as { did: string };
        f.did = await clients.resolveDid(f.did);
      }
    }
  }
  return rt;
}

async function buildEmbed(deps: PostingDeps, agent: AtpAgent | undefined, input: PostInput, dryRun: boolean): Promise<Record<string, unknown> | undefined> {
  let media: Record<string, unknown> | undefined;
  if (input.image) {
    const { bytes, mimeType } = decodeImage(input.image);
    const ratio = input.image.aspectRatio ?? imageSize(bytes);
    if (!ratio || ratio.width < 1 || ratio.height < 1) throw new AtprotoError('BAD_IMAGE', 'cannot read the image size: give aspectRatio {width, height}');
    let blob: unknown;
    if (dryRun || !agent) {
      blob = { $type: 'blob', ref: { $link: '(not uploaded: dry run)' }, mimeType, size: bytes.length };
    } else {
      try {
        blob = (await agent.uploadBlob(bytes, { encoding: mimeType })).data.blob;
      } catch (err) {
        throw toAtprotoError(err, 'uploading the image');
      }
    }
    media = { $type: 'app.bsky.embed.images', images: [{ image: blob, alt: input.image.alt, aspectRatio: { width: ratio.width, height: ratio.height } }] };
  } else if (input.link) {
    let u: URL;
    try {
      u = new URL(input.link.uri);
    } catch {
      throw new AtprotoError('BAD_URI', `link card needs an http(s) URL: ${input.link.uri}`);
    }
    if (!/^https?:$/.test(u.protocol)) throw new AtprotoError('BAD_URI', `link card needs an http(s) URL: ${input.link.uri}`);
    media = { $type: 'app.bsky.embed.external', external: { uri: u.toString(), title: input.link.title, description: input.link.description ?? '' } };
  }
  if (input.quoteUri) {
    parseAtUri(input.quoteUri, 'app.bsky.feed.post');
    const quoted = await deps.clients.getRecord(input.quoteUri);
    const record = { uri: quoted.uri, cid: quoted.cid };
    if (media?.$type === 'app.bsky.embed.images') return { $type: 'app.bsky.embed.recordWithMedia', record: { $type: 'app.bsky.embed.record', record }, media };
    if (media) throw new AtprotoError('POLICY', 'a post can carry a quote and an image, but not a quote and a link card');
    return { $type: 'app.bsky.embed.record', record };
  }
  return media;
}

/** The reply refs for answering `parentUri`: parent as given, root from the parent's own reply refs. */
export async function replyRefs(clients: AtprotoClients, parentUri: string): Promise<{ root: StrongRef; parent: StrongRef }> {
  parseAtUri(parentUri, 'app.bsky.feed.post');
  const parent = await clients.getRecord<{ reply?: { root: StrongRef } }>(parentUri);
  const parentRef = { uri: parent.uri, cid: parent.cid };
  return { root: parent.value.reply?.root ? { uri: parent.value.reply.root.uri, cid: parent.value.reply.root.cid } : parentRef, parent: parentRef };
}

/**
 * True when `text` fits one post. A grapheme is at least one UTF-16 code unit, so text of
 * at most 300 code units (nearly every post) needs no segmentation at all.
 */
export function fitsOnePost(text: string): boolean {
  return text.length <= MAX_GRAPHEMES || graphemeLength(text) <= MAX_GRAPHEMES;
}

/** Writes a post (or a self-reply thread) as `agentName`. */
export async function publishPost(deps: PostingDeps, agentName: string, input: PostInput): Promise<PostResult> {
  const text = input.text.trim();
  // Before anything else: a secret is refused even in dry-run (which stores the text).
  refuseSecrets(input);
  if (!text && !input.image && !input.quoteUri) throw new AtprotoError('EMPTY_TEXT', 'the post has no text');
  const mode = input.longText ?? deps.longText;
  const long = !fitsOnePost(text);
  if (long && mode === 'refuse')
    throw new AtprotoError('TEXT_TOO_LONG', `the text is ${graphemeLength(text)} graphemes; the limit is ${MAX_GRAPHEMES} (long text is refused; shorten it)`);
  if (input.rkey && !isValidTid(input.rkey)) throw new AtprotoError('BAD_URI', `record key must be a TID: ${input.rkey}`);
  if (input.langs) for (const l of input.langs) if (!/^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$/.test(l)) throw new AtprotoError('POLICY', `not a BCP-47 language tag: ${l}`);
  const parts = long ? splitText(text) : [text];
  const dryRun = input.dryRun ?? deps.dryRun;
  const account = deps.clients.account(agentName);

  // A session is needed before the writes only to upload an image.
  const agent = dryRun || !input.image ? undefined : await deps.clients.session(agentName);
  // Resolve everything before the first write so a bad mention or URI writes nothing.
  const rts = parts.length === 1 ? [await buildFacets(deps.clients, parts[0]!)] : await Promise.all(parts.map((p) => buildFacets(deps.clients, p)));
  let refs = input.replyTo ? await replyRefs(deps.clients, input.replyTo) : undefined;
  const embed = input.image || input.link || input.quoteUri ? await buildEmbed(deps, agent, input, dryRun) : undefined;

  const result: PostResult = { uri: null, cid: null, posts: [], split: parts.length > 1, dryRun, dryRunIds: dryRun ? [] : undefined };
  for (let i = 0; i < rts.length; i++) {
    const rt = rts[i]!;
    const record: Record<string, unknown> = {
      $type: 'app.bsky.feed.post',
      text: rt.text,
      createdAt: new Date().toISOString(),
      labels: AUTOMATED_LABELS,
    };
    if (rt.facets?.length) record.facets = rt.facets;
    if (input.langs?.length) record.langs = input.langs;
    if (refs) record.reply = refs;
    if (i === 0 && embed) record.embed = embed;
    if (dryRun) {
      const id = await deps.store.recordDryRun({ agent: agentName, kind: refs ? 'reply' : 'post', text: rt.text, record });
      result.dryRunIds!.push(id);
      result.posts.push({ uri: null, cid: null, text: rt.text });
      continue;
    }
    // With a fixed first key, every part's key is fixed too, so a retry finds what it wrote.
    const rkey = input.rkey ? tidAfter(input.rkey, i) : nextTid();
    let res: { uri: string; cid: string } | undefined;
    if (input.resume && input.rkey) {
      const existing = await deps.clients.findRecord(`at://${account.did}/app.bsky.feed.post/${rkey}`);
      if (existing) res = { uri: existing.uri, cid: existing.cid };
    }
    if (!res) {
      try {
        res = await deps.clients.withSession(agentName, async (a) => (await a.com.atproto.repo.createRecord({ repo: account.did, collection: 'app.bsky.feed.post', rkey, record })).data);
      } catch (err) {
        throw toAtprotoError(err, i === 0 ? 'creating the post' : `creating part ${i + 1} of ${parts.length} (parts before it were posted)`);
      }
      void deps.store.recordPost({ uri: res.uri, agent: agentName, did: account.did, cid: res.cid, text: rt.text, rootUri: refs?.root.uri, parentUri: refs?.parent.uri, createdAt: record.createdAt as string }, deps.onBookkeepingError);
    }
    result.posts.push({ uri: res.uri, cid: res.cid, text: rt.text });
    const self = { uri: res.uri, cid: res.cid };
    refs = { root: refs?.root ?? self, parent: self };
  }
  result.uri = result.posts[0]!.uri;
  result.cid = result.posts[0]!.cid;
  return result;
}
