/** `save-artifact`: records something an agent produced (a post, a pinned file) in the user's synced artifacts. */
import { createTool } from '@mastra/core/tools';
import type pg from 'pg';
import { z } from 'zod';
import { insertArtifact } from '../../stores/powersync/artifacts';
import { newId } from '../../stores/powersync/ids';
import { assertNoSecret } from '../../util/secrets';
import { runTool, toolResult } from '../result';
import { userOf } from './user';

export function createSaveArtifactTool(db: pg.Pool) {
  return createTool({
    id: 'save-artifact',
    description: "Record an artifact for the user (kind, title, optional IPFS CID and AT Protocol URI); it syncs to the user's devices.",
    inputSchema: z.object({
      kind: z.string().min(1).max(64).describe('e.g. post, file, archive, link'),
      title: z.string().max(500).optional(),
      cid: z.string().regex(/^[A-Za-z0-9]{10,200}$/, 'must be a CID').optional(),
      atUri: z.string().regex(/^at:\/\/\S+$/, 'must be an at:// URI').max(500).optional(),
      sizeBytes: z.number().int().nonnegative().optional(),
    }),
    outputSchema: toolResult({ id: z.string() }),
    execute: (input, context) => runTool(async () => {
      assertNoSecret('artifact', input.title);
      const owner = userOf(context);
      const id = newId();
      await insertArtifact(db, { id, ownerId: owner, agent: context?.agent?.agentId ?? null, kind: input.kind, title: input.title ?? null, cid: input.cid ?? null, atUri: input.atUri ?? null, sizeBytes: input.sizeBytes ?? null });
      return { id };
    }),
  });
}
