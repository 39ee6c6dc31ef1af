/** `update-task`: creates a task for the user, or changes one of theirs (status, title, due date). */
import { createTool } from '@mastra/core/tools';
import type pg from 'pg';
import { z } from 'zod';
import { newId } from '../../stores/powersync/ids';
import { insertTask, updateTask } from '../../stores/powersync/tasks';
import { AppError } from '../../errors';
import { runTool, toolResult } from '../result';
import { userOf } from './user';

const STATUS = z.enum(['open', 'in_progress', 'done', 'cancelled']);

export function createUpdateTaskTool(db: pg.Pool) {
  return createTool({
    id: 'update-task',
    description: "Create a task for the user (no id) or update one of the user's tasks by id: status, title or due date.",
    inputSchema: z.object({
      id: z.string().max(128).optional().describe('the task to change; omit to create a new task'),
      title: z.string().min(1).max(500).optional(),
      status: STATUS.optional(),
      dueAt: z.string().datetime({ offset: true }).nullable().optional().describe('ISO 8601, or null to clear'),
    }),
    outputSchema: toolResult({ id: z.string(), title: z.string(), status: STATUS, created: z.boolean() }),
    execute: (input, context) => runTool(async () => {
      const owner = userOf(context);
      if (!input.id) {
        if (!input.title) throw new AppError('BAD_INPUT', 'a new task needs a title');
        const id = newId();
        await insertTask(db, { id, ownerId: owner, title: input.title, status: input.status ?? 'open', dueAt: input.dueAt ?? null, createdBy: context?.agent?.agentId ?? 'agent' });
        return { id, title: input.title, status: input.status ?? 'open', created: true };
      }
      const task = await updateTask(db, owner, input.id, { title: input.title, status: input.status, dueAt: input.dueAt });
      // Another user's task looks exactly like a missing one.
      if (!task) throw new AppError('NOT_FOUND', `no task ${input.id} among this user's tasks`);
      return { ...task, created: false };
    }),
  });
}
