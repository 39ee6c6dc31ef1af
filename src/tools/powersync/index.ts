/** The synced-data tools (notes, artifacts, tasks), always scoped to the conversation's user. */
import type pg from 'pg';
import { createListArtifactsTool } from './list-artifacts';
import { createSaveArtifactTool } from './save-artifact';
import { createSaveNoteTool } from './save-note';
import { createUpdateTaskTool } from './update-task';

export function createPowerSyncTools(db: pg.Pool) {
  return {
    'save-note': createSaveNoteTool(db),
    'save-artifact': createSaveArtifactTool(db),
    'list-artifacts': createListArtifactsTool(db),
    'update-task': createUpdateTaskTool(db),
  };
}
