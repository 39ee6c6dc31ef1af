/** `list-artifacts`: the user's most recent artifacts (newest first). */
import { createTool } from '@mastra/core/tools';
import type pg from 'pg';
import { z } from 'zod';
import { listArtifacts } from '../../stores/powersync/artifacts';
import { runTool, toolResult } from '../result';
import { userOf } from './user';

export function createListArtifactsTool(db: pg.Pool) {
  return createTool({
    id: 'list-artifacts',
    description: "List the user's most recent artifacts (posts, files, archives), newest first.",
    inputSchema: z.object({
      limit: z.number().int().min(1).max(50).default(10),
      kind: z.string().max(64).optional().describe('only this kind'),
    }),
    outputSchema: toolResult({
      artifacts: z.array(z.object({ id: z.string(), kind: z.string(), title: z.string().nullable(), cid: z.string().nullable(), atUri: z.string().nullable(), createdAt: z.string() })),
    }),
    execute: (input, context) => runTool(async () => {
      const owner = userOf(context);
      const rows = await listArtifacts(db, owner, { kind: input.kind ?? null, limit: input.limit ?? 10 });
      return { artifacts: rows.map((a) => ({ id: a.id, kind: a.kind, title: a.title, cid: a.cid, atUri: a.at_uri, createdAt: a.created_at.toISOString() })) };
    }),
  });
}
