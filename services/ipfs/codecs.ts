/**
 * The IPLD codecs and hash functions the node knows (dag-pb, dag-cbor, dag-json, raw,
 * json; sha2-256, sha2-512), looked up by Kubo's names, and the links of a block by
 * its codec (what gc, pin and export walk).
 */
import * as dagCbor from '@ipld/dag-cbor';
import * as dagJson from '@ipld/dag-json';
import * as dagPb from '@ipld/dag-pb';
import type { CID as CIDType } from 'multiformats/cid';
import { CID } from 'multiformats/cid';
import * as json from 'multiformats/codecs/json';
import * as raw from 'multiformats/codecs/raw';
import { sha256, sha512 } from 'multiformats/hashes/sha2';
import { argError, KuboError } from './errors';

export const CODECS = {
  'dag-pb': dagPb,
  'dag-cbor': dagCbor,
  'dag-json': dagJson,
  raw,
  json,
} as const;
export type CodecName = keyof typeof CODECS;
export type Codec = (typeof CODECS)[CodecName];
const CODEC_BY_CODE = new Map<number, Codec>(Object.values(CODECS).map((c) => [c.code, c]));
export const HASHERS = { 'sha2-256': sha256, 'sha2-512': sha512 } as const;

export function codecByName(name: string): Codec {
  const alias: Record<string, CodecName> = { protobuf: 'dag-pb', cbor: 'dag-cbor', v0: 'dag-pb' };
  const c = CODECS[(alias[name] ?? name) as CodecName];
  if (!c) throw argError(`unknown multicodec: "${name}" (supported: ${Object.keys(CODECS).join(', ')})`);
  return c;
}

export function codecByCode(code: number): Codec | undefined {
  return CODEC_BY_CODE.get(code);
}

export function hasherByName(name: string) {
  const h = HASHERS[name as keyof typeof HASHERS];
  if (!h) throw argError(`unrecognized hash function: ${name} (supported: ${Object.keys(HASHERS).join(', ')})`);
  return h;
}

/**
 * Runs a codec's decode or encode. The codecs recurse once per nesting level, so a
 * block of a few hundred KiB of `[[[[…` exhausts the stack: that RangeError (and any
 * other codec failure) becomes a KuboError here, so no caller sees a bare stack
 * overflow and gc or a pin walk can report the block instead of failing blindly.
 */
export function codecCall<T>(what: string, fn: () => T, client = false): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof KuboError) throw err;
    const msg = err instanceof RangeError && /call stack/i.test(err.message) ? 'the node is nested too deeply' : (err as Error).message;
    throw client ? argError(`${what}: ${msg}`) : new KuboError(`${what}: ${msg}`);
  }
}

/** Decodes a block with the codec its CID names. */
export function decodeBlock(cid: CIDType, bytes: Uint8Array): unknown {
  const codec = CODEC_BY_CODE.get(cid.code);
  if (!codec) throw new KuboError(`unsupported codec 0x${cid.code.toString(16)} in ${cid}`);
  return codecCall(`cannot decode ${cid} as ${codec.name}`, () => codec.decode(bytes));
}

/** The CIDs a block links to, by codec (none for raw, json and unknown codecs). */
export function linksOf(cid: CIDType, bytes: Uint8Array): CIDType[] {
  switch (cid.code) {
    case dagPb.code:
      return codecCall(`cannot decode ${cid} as dag-pb`, () => dagPb.decode(bytes).Links.map((l) => l.Hash));
    case dagCbor.code:
    case dagJson.code:
      return collectCids(decodeBlock(cid, bytes));
    default:
      return [];
  }
}

/** The links of a block with their names (dag-pb link names; '' for links inside dag-cbor/dag-json). */
export function namedLinksOf(cid: CIDType, bytes: Uint8Array): Array<{ name: string; cid: CIDType }> {
  if (cid.code === dagPb.code) return codecCall(`cannot decode ${cid} as dag-pb`, () => dagPb.decode(bytes).Links.map((l) => ({ name: l.Name ?? '', cid: l.Hash })));
  return linksOf(cid, bytes).map((c) => ({ name: '', cid: c }));
}

/** Every CID in a decoded value, in document order; iterative (no recursion per level). */
function collectCids(root: unknown): CIDType[] {
  const out: CIDType[] = [];
  const stack: unknown[] = [root];
  while (stack.length) {
    const value = stack.pop();
    const cid = CID.asCID(value);
    if (cid) out.push(cid);
    else if (Array.isArray(value)) for (let i = value.length - 1; i >= 0; i--) stack.push(value[i]);
    else if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
      const vals = Object.values(value);
      for (let i = vals.length - 1; i >= 0; i--) stack.push(vals[i]);
    }
  }
  return out;
}
