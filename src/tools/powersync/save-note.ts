/** `save-note`: writes a note into the user's synced notes (it reaches their devices). */
import { createTool } from '@mastra/core/tools';
import type pg from 'pg';
import { z } from 'zod';
import { newId } from '../../stores/powersync/ids';
import { insertNote } from '../../stores/powersync/notes';
import { assertNoSecret } from '../../util/secrets';
import { runTool, toolResult } from '../result';
import { userOf } from './user';

export function createSaveNoteTool(db: pg.Pool) {
  return createTool({
    id: 'save-note',
    description: "Save a note for the user (synced to all of the user's devices). Returns the note id.",
    inputSchema: z.object({
      title: z.string().min(1).max(500).describe('short title'),
      body: z.string().max(100_000).describe('the note text'),
    }),
    outputSchema: toolResult({ id: z.string(), title: z.string() }),
    execute: (input, context) => runTool(async () => {
      assertNoSecret('note', input.title, input.body);
      const owner = userOf(context);
      const id = newId();
      await insertNote(db, { id, ownerId: owner, title: input.title, body: input.body, createdBy: context?.agent?.agentId ?? 'agent' });
      return { id, title: input.title };
    }),
  });
}
