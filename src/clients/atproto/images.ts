/**
 * Images attached to posts: base64 or data: URL in, bytes and a sniffed type out, with
 * the size limit of the app.bsky image embed and the aspect ratio read from the header.
 */
import { AtprotoError } from './errors';

export const MAX_IMAGE_BYTES = 1_000_000;

export interface ImageInput {
  /** base64 or a data: URL */
  data: string;
  alt: string;
  mimeType?: string;
  aspectRatio?: { width: number; height: number };
}

export function decodeImage(img: ImageInput): { bytes: Uint8Array; mimeType: string } {
  let data = img.data.trim();
  let mimeType = img.mimeType;
  const m = /^data:([\w/+.-]+);base64,/.exec(data);
  if (m) {
    mimeType ??= m[1];
    data = data.slice(m[0].length);
  }
  if (!/^[A-Za-z0-9+/=\s_-]+$/.test(data)) throw new AtprotoError('BAD_IMAGE', 'image data must be base64 or a base64 data: URL');
  const bytes = new Uint8Array(Buffer.from(data, 'base64'));
  if (bytes.length === 0) throw new AtprotoError('BAD_IMAGE', 'image data is empty');
  if (bytes.length > MAX_IMAGE_BYTES) throw new AtprotoError('BAD_IMAGE', `image is ${bytes.length} bytes; the limit is ${MAX_IMAGE_BYTES}`);
  const sniffed = bytes[0] === 0x89 && bytes[1] === 0x50 ? 'image/png' : bytes[0] === 0xff && bytes[1] === 0xd8 ? 'image/jpeg' : bytes[0] === 0x47 && bytes[1] === 0x49 ? 'image/gif' : undefined;
  mimeType ??= sniffed;
  if (!mimeType || !/^image\//.test(mimeType)) throw new AtprotoError('BAD_IMAGE', 'unknown image type: give mimeType (image/png, image/jpeg, …)');
  return { bytes, mimeType };
}

/** Width and height from a PNG or JPEG header (else undefined: the caller must give aspectRatio). */
export function imageSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length > 24 && bytes[0] === 0x89 && bytes[1] === 0x50) return { width: dv.getUint32(16), height: dv.getUint32(20) };
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    let i = 2;
    while (i + 9 < bytes.length) {
      if (bytes[i] !== 0xff) return undefined;
      const marker = bytes[i + 1]!;
      const len = dv.getUint16(i + 2);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return { height: dv.getUint16(i + 5), width: dv.getUint16(i + 7) };
      i += 2 + len;
    }
  }
  return undefined;
}

