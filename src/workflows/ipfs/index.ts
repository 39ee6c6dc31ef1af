/**
 * The IPFS workflows:
 *   archive-agent      pin an agent's AT repo (CAR) and conversations (JSON), record them
 *                      in `archives`, then verify each by re-reading it
 *   verify-archive     re-read one recorded archive by id and check CID and size
 *   publish-with-media pin an image or document, then post it with its CID through the
 *                      runtime's `atproto-post` tool when there is one (else say it was skipped)
 * Their pins are recorded with an owner (ipfs_pins) like the tools' pins.
 */
import { MASTRA_RESOURCE_ID_KEY } from '@mastra/core/request-context';
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { z } from 'zod';
import { clientOf, type AppContext } from '../../clients/context';
import { IpfsError } from '../../clients/ipfs/errors';
import { IpfsPins } from '../../clients/ipfs/pins';
import { archiveAgent, verifyArchive, type VerifyOutcome } from './archive';

const archiveRecord = z.object({
  id: z.string(),
  ownerId: z.string(),
  agent: z.string(),
  kind: z.enum(['at-repo', 'conversations']),
  cid: z.string(),
  sizeBytes: z.number(),
  createdAt: z.string(),
  verifiedAt: z.string().nullable(),
  gatewayUrl: z.string(),
});
const verifyOutcome = z.object({
  id: z.string(),
  cid: z.string(),
  ok: z.boolean(),
  sizeBytes: z.number(),
  readBytes: z.number(),
  recomputedCid: z.string().nullable(),
  reason: z.string().optional(),
  verifiedAt: z.string().nullable(),
});

export function createArchiveAgentWorkflow(ctx: AppContext) {
  const input = z.object({
    agent: z.string().min(1).describe('the agent whose data is archived'),
    ownerId: z.string().min(1).optional().describe('only this owner’s conversations; also the archive rows’ owner (default agent:<name>)'),
    includeRepo: z.boolean().default(true),
    verify: z.boolean().default(true),
  });
  const archived = z.object({ agent: z.string(), ownerId: z.string(), did: z.string().nullable(), archives: z.array(archiveRecord), notes: z.array(z.string()), verify: z.boolean() });
  const output = archived.extend({ verification: z.array(verifyOutcome) });

  const archive = createStep({
    id: 'export-and-pin',
    inputSchema: input,
    outputSchema: archived,
    execute: async ({ inputData }) => ({ ...(await archiveAgent(ctx, inputData)), verify: inputData.verify ?? true }),
  });
  const verify = createStep({
    id: 'verify',
    inputSchema: archived,
    outputSchema: output,
    execute: async ({ inputData }) => {
      const verification: VerifyOutcome[] = [];
      if (inputData.verify) for (const a of inputData.archives) verification.push(await verifyArchive(ctx, a.id));
      const archives = inputData.archives.map((a) => ({ ...a, verifiedAt: verification.find((v) => v.id === a.id && v.ok)?.verifiedAt ?? a.verifiedAt }));
      return { ...inputData, archives, verification };
    },
  });
  return createWorkflow({
    id: 'archive-agent',
    description: "Archive an agent's AT Protocol repo (CAR) and conversations (JSON) to IPFS, record the CIDs, and verify them.",
    inputSchema: input,
    outputSchema: output,
  })
    .then(archive)
    .then(verify)
    .commit();
}

export function createVerifyArchiveWorkflow(ctx: AppContext) {
  const input = z.object({ archiveId: z.string().min(1) });
  const step = createStep({ id: 'verify', inputSchema: input, outputSchema: verifyOutcome, execute: async ({ inputData }) => verifyArchive(ctx, inputData.archiveId) });
  return createWorkflow({ id: 'verify-archive', description: 'Re-read an archive from IPFS by its id and check its CID and size.', inputSchema: input, outputSchema: verifyOutcome }).then(step).commit();
}

const DOC_TYPES = /^(image\/(png|jpeg|gif|webp)|application\/pdf|text\/(plain|markdown|html)|application\/json)$/;
const POST_IMAGE_MAX = 1_000_000;

export function createPublishWithMediaWorkflow(ctx: AppContext) {
  const input = z.object({
    text: z.string().min(1).max(280).describe('the post text; the CID link is added after it'),
    media: z.object({
      base64: z.string().min(1).describe('the image or document, base64'),
      mimeType: z.string().describe('image/png, image/jpeg, image/gif, image/webp, application/pdf, text/plain, text/markdown, application/json'),
      filename: z.string().max(200).optional(),
      alt: z.string().max(2000).optional().describe('alt text for an image'),
    }),
    agent: z.string().optional().describe('the agent account that posts (default: the AT feature’s first agent)'),
    ownerId: z.string().min(1).optional().describe('who owns the pin (default: the run’s memory resource, else agent:<agent>)'),
  });
  const pinnedShape = z.object({ cid: z.string(), size: z.number(), gatewayUrl: z.string(), mimeType: z.string(), input });
  const output = z.object({
    cid: z.string(),
    size: z.number(),
    gatewayUrl: z.string(),
    posted: z.boolean(),
    post: z.object({ uri: z.string().nullable(), cid: z.string().nullable() }).nullable(),
    skipped: z.string().optional(),
  });

  const pin = createStep({
    id: 'pin-media',
    inputSchema: input,
    outputSchema: pinnedShape,
    execute: async ({ inputData, requestContext }) => {
      const fromRun = requestContext?.get(MASTRA_RESOURCE_ID_KEY);
      const owner = inputData.ownerId ?? (typeof fromRun === 'string' && fromRun ? fromRun : `agent:${inputData.agent ?? 'publish-with-media'}`);
      const mimeType = inputData.media.mimeType.toLowerCase();
      if (!DOC_TYPES.test(mimeType)) throw new IpfsError('BAD_INPUT', `media type ${mimeType} is not an image or document this workflow publishes`);
      const b64 = inputData.media.base64.replace(/^data:[^,]*,/, '').replace(/\s+/g, '');
      if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(b64)) throw new IpfsError('BAD_INPUT', 'media.base64 is not base64');
      const bytes = Buffer.from(b64, 'base64');
      const r = await new IpfsPins(ctx.db, clientOf(ctx, 'ipfs')).pinBytes(owner, bytes, { name: inputData.media.filename ?? `media/${new Date().toISOString()}`, metadata: { mimeType } });
      return { cid: r.cid, size: r.size, gatewayUrl: r.gatewayUrl, mimeType, input: inputData };
    },
  });
  const post = createStep({
    id: 'post',
    inputSchema: pinnedShape,
    outputSchema: output,
    execute: async ({ inputData, mastra }) => {
      const base = { cid: inputData.cid, size: inputData.size, gatewayUrl: inputData.gatewayUrl };
      const tools = (mastra?.listTools?.() ?? {}) as Record<string, { execute?: (input: unknown, context?: unknown) => Promise<unknown> }>;
      const postTool = tools['atproto-post'];
      if (!postTool?.execute) return { ...base, posted: false, post: null, skipped: 'no AT Protocol post tool is registered: the media is pinned, the post was skipped' };
      const { text, media, agent } = inputData.input;
      const image =
        inputData.mimeType.startsWith('image/') && inputData.size <= POST_IMAGE_MAX ? { data: media.base64.replace(/^data:[^,]*,/, ''), alt: media.alt ?? media.filename ?? 'image', mimeType: inputData.mimeType } : undefined;
      const r = (await postTool.execute(
        { text: `${text}\nipfs://${inputData.cid}`, image, link: image ? undefined : { uri: inputData.gatewayUrl, title: media.filename ?? `ipfs://${inputData.cid}` } },
        { agent: agent ? { agentId: agent } : undefined, mastra },
      )) as { ok?: boolean; uri?: string | null; cid?: string | null; error?: { code: string; message: string } };
      if (r?.ok === false) return { ...base, posted: false, post: null, skipped: `the media is pinned; the post failed: ${r.error?.code}: ${r.error?.message}` };
      return { ...base, posted: true, post: { uri: r?.uri ?? null, cid: r?.cid ?? null } };
    },
  });
  return createWorkflow({
    id: 'publish-with-media',
    description: 'Pin an image or document to IPFS, then post it with its CID on the AT Protocol (when the AT tools are present).',
    inputSchema: input,
    outputSchema: output,
  })
    .then(pin)
    .then(post)
    .commit();
}

export function createIpfsWorkflows(ctx: AppContext) {
  return {
    'archive-agent': createArchiveAgentWorkflow(ctx),
    'verify-archive': createVerifyArchiveWorkflow(ctx),
    'publish-with-media': createPublishWithMediaWorkflow(ctx),
  };
}
