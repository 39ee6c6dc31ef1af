/**
 * Keeps image bytes out of the traces (issue 21 item 1): a span output processor that,
 * before a span is exported (Studio's store, OTLP), replaces every image it carries with
 * a short placeholder `[image: image/png, 1234 bytes]`, as memory does
 * (src/db/memory/memory.ts withImagePlaceholders): `data:image/…` URLs wherever they are,
 * and the data of image parts (`{type: 'image' | 'file', mediaType: 'image/…', image | data}`,
 * base64 text or bytes). Spans hold a copy (Mastra's serializer made it, truncating strings at
 * 128 KiB): the run's own messages are not touched. What this cannot remove: the cost
 * of that serialization itself, which Mastra pays when the span is created.
 */
import type { AnySpan, SpanOutputProcessor } from '@mastra/core/observability';

const DATA_IMAGE = /^data:(image\/[A-Za-z0-9.+-]{1,64})[^,]{0,200},/i;
const MAX_DEPTH = 24;

function approxBytes(base64Length: number): number {
  return Math.floor((base64Length * 3) / 4);
}

function placeholder(mediaType: string, data: unknown): string {
  if (typeof data === 'string') {
    const comma = data.startsWith('data:') ? data.indexOf(',') + 1 : 0;
    const truncated = data.endsWith('…[truncated]');
    return `[image: ${mediaType}${truncated ? '' : `, ${approxBytes(data.length - comma)} bytes`}]`;
  }
  if (data instanceof Uint8Array) return `[image: ${mediaType}, ${data.length} bytes]`;
  return `[image: ${mediaType}]`;
}

/** `v` with its images replaced (new arrays and objects where something changed; `v` itself is not modified). */
export function withoutImageBytes(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') {
    const m = DATA_IMAGE.exec(v.slice(0, 300));
    return m ? placeholder(m[1]!.toLowerCase(), v) : v;
  }
  if (v instanceof Uint8Array || depth > MAX_DEPTH || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    let changed = false;
    const out = v.map((x) => {
      const y = withoutImageBytes(x, depth + 1);
      if (y !== x) changed = true;
      return y;
    });
    return changed ? out : v;
  }
  const o = v as Record<string, unknown>;
  const media = [o.mediaType, o.mimeType, o.contentType].find((x): x is string => typeof x === 'string') ?? '';
  const imagePart = (o.type === 'image' || o.type === 'file') && (o.type === 'image' || media.toLowerCase().startsWith('image/'));
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) {
    let y: unknown;
    if (imagePart && (k === 'image' || k === 'data') && (x instanceof Uint8Array || (typeof x === 'string' && !/^https?:/i.test(x)))) y = placeholder(media || 'image', x);
    else y = withoutImageBytes(x, depth + 1);
    if (y !== x) changed = true;
    out[k] = y;
  }
  return changed ? out : v;
}

export class ImageBytesFilter implements SpanOutputProcessor {
  name = 'image-bytes-filter';
  process(span?: AnySpan): AnySpan | undefined {
    if (!span) return span;
    const s = span as unknown as Record<'input' | 'output' | 'attributes' | 'metadata', unknown>;
    for (const k of ['input', 'output', 'attributes', 'metadata'] as const) {
      if (s[k] !== undefined) s[k] = withoutImageBytes(s[k]);
    }
    return span;
  }
  async shutdown(): Promise<void> {}
}
