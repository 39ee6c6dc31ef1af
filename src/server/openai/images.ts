/**
 * Images in user messages: `data:` URLs (base64) and http(s) URLs, resolved to bytes the
 * agent's model receives as an image part. Remote images are fetched here, through the
 * one outbound-request guard (src/util/outbound.ts: no private or loopback targets
 * unless allowed, redirects re-checked, time and size limits), never by the model
 * provider or the AI SDK. Only PNG, JPEG, GIF and WebP are accepted, recognised by their
 * first bytes (a declared type that does not match the bytes is refused).
 *
 * API-neutral: Chat Completions' `image_url` parts and the Responses API's `input_image`
 * both call resolveImage with their own param name.
 */
import { OpenAIError } from './errors';
import { outboundErrorIn, type OutboundFetch } from '../../util/outbound';

export const IMAGE_MEDIA_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const;
export type ImageMediaType = (typeof IMAGE_MEDIA_TYPES)[number];

export interface ResolvedImage {
  /** Base64 of the bytes. */
  data: string;
  mediaType: ImageMediaType;
  bytes: number;
}

export interface ImageOptions {
  /** Largest decoded image (IMAGE_MAX_BYTES). */
  maxBytes: number;
  /** The outbound guard's fetch, for http(s) URLs. */
  fetch: OutboundFetch;
  /** Most decoded image bytes in one request, all parts together (IMAGE_MAX_TOTAL_BYTES); unbounded when unset. */
  maxTotalBytes?: number;
  /** This process's image bytes in flight (IMAGE_MAX_INFLIGHT_BYTES); unbounded when unset. */
  gate?: ImageBytesGate;
}

/**
 * The image bytes this process holds for requests in flight (decoded, fetched, on their
 * way to the model), against IMAGE_MAX_INFLIGHT_BYTES. A request takes what it may need
 * before decoding or fetching anything (a data: URL's size follows from its length; an
 * image URL counts as IMAGE_MAX_BYTES until fetched) and gives it back when it ends
 * (ImageHold.release). Past the limit the request is refused (503 images_busy, retry-after
 * 1) instead of holding the memory. Process memory by design: it protects this process.
 */
export class ImageBytesGate {
  private used = 0;
  constructor(readonly maxBytes: number) {}
  get inFlight(): number {
    return this.used;
  }
  /** Takes `n` bytes; false (nothing taken) when that would pass the limit. */
  take(n: number): boolean {
    if (n <= 0) return true;
    if (this.used + n > this.maxBytes) return false;
    this.used += n;
    return true;
  }
  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}

/** What one request holds of the gate; release() when the request has ended (idempotent). */
export class ImageHold {
  private held = 0;
  constructor(private readonly gate?: ImageBytesGate) {}
  take(n: number): boolean {
    if (!this.gate) return true;
    if (!this.gate.take(n)) return false;
    this.held += n;
    return true;
  }
  /** Gives back `n` of what is held (an image URL that turned out smaller). */
  give(n: number): void {
    const k = Math.min(n, this.held);
    this.held -= k;
    this.gate?.give(k);
  }
  release(): void {
    this.give(this.held);
  }
}

/** Without image configuration (IMAGE_MAX_BYTES, the outbound guard): data: URLs up to 5 MiB, http(s) URLs refused. */
export const IMAGES_UNCONFIGURED: ImageOptions = {
  maxBytes: 5 * 1024 * 1024,
  fetch: (() => Promise.reject(new Error('image URLs are not enabled'))) as unknown as OutboundFetch,
};

export const invalidImage = (message: string, param: string) => new OpenAIError(400, message, 'invalid_request_error', 'invalid_image', param);
export const imagesTooLarge = (total: number, max: number, param: string) =>
  new OpenAIError(413, `Invalid value for '${param}': the images of this request hold ${total} bytes or more; at most ${max} in all (IMAGE_MAX_TOTAL_BYTES).`, 'invalid_request_error', 'images_too_large', param);
export const imagesBusy = () =>
  new OpenAIError(503, 'The server is handling too many image bytes right now (IMAGE_MAX_INFLIGHT_BYTES). Retry in a moment.', 'server_error', 'images_busy', null, { 'retry-after': '1' });
const invalidImageUrl = (message: string, param: string) => new OpenAIError(400, message, 'invalid_request_error', 'invalid_image_url', param);

/** The image type of these bytes, by their signature, or undefined. */
export function sniffImage(b: Uint8Array): ImageMediaType | undefined {
  const at = (i: number, ...xs: number[]) => xs.every((x, k) => b[i + k] === x);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (at(0, 0x47, 0x49, 0x46, 0x38) && (b[4] === 0x37 || b[4] === 0x39) && b[5] === 0x61) return 'image/gif';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'image/webp';
  return undefined;
}

const DATA_URL = /^data:([^;,]*)((?:;[^;,]*)*),/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const normalType = (t: string) => (t.toLowerCase() === 'image/jpg' ? 'image/jpeg' : t.toLowerCase());

function checkBytes(bytes: Uint8Array, declared: string | undefined, maxBytes: number, param: string): ImageMediaType {
  if (bytes.length > maxBytes) throw invalidImage(`Invalid value for '${param}': the image is ${bytes.length} bytes; at most ${maxBytes} (IMAGE_MAX_BYTES).`, param);
  const sniffed = sniffImage(bytes);
  if (!sniffed) throw invalidImage(`Invalid value for '${param}': not a PNG, JPEG, GIF or WebP image.`, param);
  if (declared && normalType(declared) !== sniffed) throw invalidImage(`Invalid value for '${param}': declared as ${declared.slice(0, 64)} but the bytes are ${sniffed}.`, param);
  return sniffed;
}

/** Decodes a `data:` URL (base64 only). */
/** The decoded size a base64 `data:` URL declares by its length (0 when it is not one): known before decoding. */
export function dataUrlBytes(url: string): number {
  const comma = url.indexOf(',');
  if (comma < 0) return 0;
  const n = url.length - comma - 1;
  return Math.max(0, Math.floor((n * 3) / 4) - (url.endsWith('==') ? 2 : url.endsWith('=') ? 1 : 0));
}

export function decodeDataUrl(url: string, maxBytes: number, param: string): ResolvedImage {
  const m = DATA_URL.exec(url);
  if (!m) throw invalidImage(`Invalid value for '${param}': not a valid data: URL.`, param);
  const type = m[1]!.trim();
  if (!(IMAGE_MEDIA_TYPES as readonly string[]).includes(normalType(type))) {
    throw invalidImage(`Invalid value for '${param}': the media type ${JSON.stringify(type.slice(0, 64))} is not supported; send image/png, image/jpeg, image/gif or image/webp.`, param);
  }
  if (!/;base64$/i.test(m[2]!)) throw invalidImage(`Invalid value for '${param}': only base64 data: URLs are supported.`, param);
  const payload = url.slice(m[0].length);
  // Checked before decoding: the decoded size follows from the length.
  if (Math.floor((payload.length * 3) / 4) - 2 > maxBytes) throw invalidImage(`Invalid value for '${param}': the image is larger than ${maxBytes} bytes (IMAGE_MAX_BYTES).`, param);
  if (payload.length === 0 || payload.length % 4 !== 0 || !BASE64.test(payload)) throw invalidImage(`Invalid value for '${param}': the data is not valid base64.`, param);
  const bytes = Buffer.from(payload, 'base64');
  const mediaType = checkBytes(bytes, type, maxBytes, param);
  return { data: payload, mediaType, bytes: bytes.length };
}

/** Fetches an http(s) image through the outbound guard. */
export async function fetchImage(url: string, opts: ImageOptions, param: string, signal?: AbortSignal): Promise<ResolvedImage> {
  let res: Response;
  try {
    res = await opts.fetch(url, { headers: { accept: IMAGE_MEDIA_TYPES.join(', ') }, signal });
  } catch (err) {
    const o = outboundErrorIn(err);
    // The guard's messages are ours (never the remote's text); others are not passed on.
    const why = o ? o.message : 'the image could not be fetched';
    throw invalidImageUrl(`Invalid value for '${param}': ${why}.`, param);
  }
  if (res.status !== 200) throw invalidImageUrl(`Invalid value for '${param}': fetching the image answered status ${res.status}.`, param);
  const contentType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  if (!(IMAGE_MEDIA_TYPES as readonly string[]).includes(normalType(contentType))) {
    throw invalidImage(`Invalid value for '${param}': the URL answered with content-type ${JSON.stringify(contentType.slice(0, 64))}; send a PNG, JPEG, GIF or WebP image.`, param);
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  const mediaType = checkBytes(bytes, contentType, opts.maxBytes, param);
  return { data: Buffer.from(bytes).toString('base64'), mediaType, bytes: bytes.length };
}

/** An image part's URL (data: or http(s):) resolved to its bytes. */
export async function resolveImage(url: string, opts: ImageOptions, param: string, signal?: AbortSignal): Promise<ResolvedImage> {
  if (/^data:/i.test(url)) return decodeDataUrl(url, opts.maxBytes, param);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalidImageUrl(`Invalid value for '${param}': not a valid URL.`, param);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw invalidImageUrl(`Invalid value for '${param}': only https:, http: and data: image URLs are supported.`, param);
  return fetchImage(u.toString(), opts, param, signal);
}
