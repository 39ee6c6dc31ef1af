/** `list-artifacts`: the user's most recent artifacts (newest first). */
import { createTool } from '@mastra/core/tools';
import type pg from 'pg';
import { z } from 'zod';
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
      const r = await db.query<{ id: string; kind: string; title: string | null; cid: string | null; at_uri: string | null; created_at: Date }>(
        `select id, kind, title, cid, at_uri, created_at from artifacts where owner_id = $1 and ($2::text is null or kind = $2)
          order by created_at desc, id limit $3`,
        [owner, input.kind ?? null, input.limit ?? 10],
      );
      return { artifacts: r.rows.map((a) => ({ id: a.id, kind: a.kind, title: a.title, cid: a.cid, atUri: a.at_uri, createdAt: a.created_at.toISOString() })) };
    }),
  });
}
