/**
 * The IPFS tools. Every one reaches IPFS through ctx.clients.ipfs (kubo-rpc-client,
 * and the cluster client when IPFS_CLUSTER_URL is set) and answers `{ok: true, …}`
 * or `{ok: false, error: {code, message}}` with the stable codes of
 * src/clients/ipfs/errors.ts.
 *
 * Pins belong to the user the tool acts for (userOf: the conversation's memory
 * resource, never model input): pins are recorded per owner (src/clients/ipfs/pins.ts),
 * and list-pins, pin-status, unpin and read-by-name see only the caller's pins. Reading
 * a bare CID is open: content addressed data is public to whoever has the CID.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createTool } from '@mastra/core/tools';
import type pg from 'pg';
import { z } from 'zod';
import { IpfsError, toIpfsError } from '../../clients/ipfs/errors';
import { IpfsPins } from '../../clients/ipfs/pins';
import type { IpfsService } from '../../clients/ipfs/service';
import { userOf } from '../powersync/user';
import { runTool, toolResult } from '../result';

export interface IpfsToolDeps {
  ipfs: () => IpfsService;
  /** Where pins' owners are recorded (ipfs_pins). */
  db: pg.Pool;
  /** Directory the pin-file tool may read from. */
  filesDir: string;
}

const pinResultShape = {
  cid: z.string(),
  size: z.number(),
  gatewayUrl: z.string(),
  name: z.string().optional(),
  pinnedVia: z.enum(['kubo', 'cluster']),
};
const run = <T extends object>(fn: () => Promise<T>) => runTool(fn, { toError: toIpfsError });

const nameInput = z.string().trim().min(1).max(200).optional().describe('a label for the pin, shown by list-pins');

export function createIpfsTools(d: IpfsToolDeps) {
  const pins = () => new IpfsPins(d.db, d.ipfs());
  const pinText = createTool({
    id: 'ipfs-pin-text',
    description: 'Store text on IPFS and pin it. Returns the CID, the size in bytes and a gateway URL to share.',
    inputSchema: z.object({ text: z.string().min(1).describe('the text to store (UTF-8)'), name: nameInput }),
    outputSchema: toolResult(pinResultShape),
    execute: async ({ text, name }, context) =>
      run(async () => pins().pinBytes(userOf(context), new TextEncoder().encode(text), { name })),
  });

  const pinJson = createTool({
    id: 'ipfs-pin-json',
    description: 'Store a JSON value on IPFS (serialised with 2-space indentation) and pin it. Returns CID, size and gateway URL.',
    inputSchema: z.object({ data: z.unknown().describe('any JSON value'), name: nameInput }),
    outputSchema: toolResult(pinResultShape),
    execute: async ({ data, name }, context) =>
      run(async () => {
        const owner = userOf(context);
        if (data === undefined) throw new IpfsError('BAD_INPUT', 'data is required');
        const json = JSON.stringify(data, null, 2);
        return pins().pinBytes(owner, new TextEncoder().encode(json), { name });
      }),
  });

  const pinBytes = createTool({
    id: 'ipfs-pin-bytes',
    description: 'Store binary content given as base64 (or a data: URL) on IPFS and pin it. Returns CID, size and gateway URL.',
    inputSchema: z.object({ base64: z.string().min(1).describe('base64 bytes or a data: URL'), name: nameInput }),
    outputSchema: toolResult(pinResultShape),
    execute: async ({ base64, name }, context) =>
      run(async () => {
        const owner = userOf(context);
        const b64 = base64.startsWith('data:') ? base64.slice(base64.indexOf(',') + 1) : base64;
        const clean = b64.replace(/\s+/g, '');
        if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean)) throw new IpfsError('BAD_INPUT', 'base64 must contain only base64 characters');
        return pins().pinBytes(owner, Buffer.from(clean, 'base64'), { name });
      }),
  });

  const pinFile = createTool({
    id: 'ipfs-pin-file',
    description: `Store a local file on IPFS and pin it. Only files inside the server's files directory can be read; give the path relative to it.`,
    inputSchema: z.object({ path: z.string().min(1).max(1000).describe('file path relative to the files directory'), name: nameInput }),
    outputSchema: toolResult({ ...pinResultShape, path: z.string() }),
    execute: async ({ path: rel, name }, context) =>
      run(async () => {
        const owner = userOf(context);
        const root = await fs.realpath(d.filesDir).catch(() => {
          throw new IpfsError('NOT_FOUND', 'the files directory does not exist');
        });
        let real: string;
        try {
          real = await fs.realpath(path.resolve(root, rel));
        } catch {
          throw new IpfsError('NOT_FOUND', `no such file: ${rel}`);
        }
        if (real !== root && !real.startsWith(root + path.sep)) throw new IpfsError('BAD_INPUT', 'the path is outside the files directory');
        const st = await fs.stat(real);
        if (!st.isFile()) throw new IpfsError('BAD_INPUT', `${rel} is not a regular file`);
        const max = d.ipfs().config.maxPinBytes;
        if (st.size > max) throw new IpfsError('TOO_LARGE', `the file is ${st.size} bytes; the limit is ${max} (IPFS_MAX_PIN_BYTES)`);
        const r = await pins().pinBytes(owner, await fs.readFile(real), { name: name ?? path.basename(real) });
        return { ...r, path: path.relative(root, real) };
      }),
  });

  const pinCid = createTool({
    id: 'ipfs-pin-cid',
    description: 'Pin content that is already on IPFS, by CID, so it is kept. Fails with NOT_FOUND when the node cannot get its blocks.',
    inputSchema: z.object({ cid: z.string().min(1).describe('the CID (or /ipfs/CID, ipfs://CID)'), name: nameInput }),
    outputSchema: toolResult(pinResultShape),
    execute: async ({ cid, name }, context) => run(() => pins().pinCid(userOf(context), cid, { name })),
  });

  const unpin = createTool({
    id: 'ipfs-unpin',
    description: "Remove your pin of a CID (all your names for it). The content may then be garbage-collected, unless someone else also pins it. NOT_PINNED when it is not among your pins.",
    inputSchema: z.object({ cid: z.string().min(1) }),
    outputSchema: toolResult({ cid: z.string() }),
    execute: async ({ cid }, context) => run(() => pins().unpin(userOf(context), cid)),
  });

  const listPins = createTool({
    id: 'ipfs-list-pins',
    description: 'List your pins (newest first) with the names given when they were pinned. Optionally only pins with one name.',
    inputSchema: z.object({ name: z.string().optional().describe('only pins with exactly this name'), limit: z.number().int().min(1).max(1000).optional() }),
    outputSchema: toolResult({ pins: z.array(z.object({ cid: z.string(), name: z.string().optional(), type: z.string(), createdAt: z.string() })), count: z.number() }),
    execute: async ({ name, limit }, context) =>
      run(async () => {
        const owner = userOf(context);
        const type = d.ipfs().cluster ? 'cluster' : 'recursive';
        const list = (await pins().list(owner, { name, limit })).map((p) => ({ cid: p.cid, name: p.name, type, createdAt: p.createdAt }));
        return { pins: list, count: list.length };
      }),
  });

  const read = createTool({
    id: 'ipfs-read',
    description: 'Read content from IPFS by CID (or CID/path), or by the name of one of your pins. Text comes back as text, binary as base64. Bounded in size and time.',
    inputSchema: z.object({
      cid: z.string().min(1).optional().describe('the CID (or CID/path); any content on IPFS can be read by its CID'),
      name: z.string().min(1).max(200).optional().describe('instead of cid: the name of one of your pins (the newest with that name)'),
      maxBytes: z.number().int().min(1).optional().describe('at most this many bytes (capped by IPFS_MAX_READ_BYTES)'),
      truncate: z.boolean().optional().describe('return the first maxBytes instead of failing with TOO_LARGE'),
      timeoutMs: z.number().int().min(100).optional(),
    }),
    outputSchema: toolResult({ cid: z.string(), encoding: z.enum(['utf8', 'base64']), content: z.string(), size: z.number(), truncated: z.boolean() }),
    execute: async ({ cid, name, maxBytes, truncate, timeoutMs }, context) =>
      run(async () => {
        if (!cid && !name) throw new IpfsError('BAD_INPUT', 'give a cid or the name of one of your pins');
        if (cid && name) throw new IpfsError('BAD_INPUT', 'give either a cid or a name, not both');
        const target = cid ?? (await pins().cidByName(userOf(context), name!));
        const r = await d.ipfs().read(target, { maxBytes, truncate, timeoutMs });
        const text = new TextDecoder('utf-8', { fatal: true });
        let content: string;
        let encoding: 'utf8' | 'base64' = 'utf8';
        try {
          content = text.decode(r.bytes);
        } catch {
          content = Buffer.from(r.bytes).toString('base64');
          encoding = 'base64';
        }
        return { cid: r.cid, encoding, content, size: r.bytes.length, truncated: r.truncated };
      }),
  });

  const status = createTool({
    id: 'ipfs-pin-status',
    description: 'Whether a CID is among your pins, and if so its name and the pin type on the node, or each cluster peer’s status when IPFS Cluster is used. A CID you do not pin answers pinned: false.',
    inputSchema: z.object({ cid: z.string().min(1) }),
    outputSchema: toolResult({
      cid: z.string(),
      pinned: z.boolean(),
      type: z.string().optional(),
      name: z.string().optional(),
      peers: z.array(z.object({ peer: z.string(), status: z.string(), error: z.string().optional() })).optional(),
      source: z.enum(['kubo', 'cluster']),
    }),
    execute: async ({ cid }, context) => run(() => pins().status(userOf(context), cid)),
  });

  return {
    'ipfs-pin-text': pinText,
    'ipfs-pin-json': pinJson,
    'ipfs-pin-bytes': pinBytes,
    'ipfs-pin-file': pinFile,
    'ipfs-pin-cid': pinCid,
    'ipfs-unpin': unpin,
    'ipfs-list-pins': listPins,
    'ipfs-read': read,
    'ipfs-pin-status': status,
  };
}
