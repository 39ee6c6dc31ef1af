/**
 * `scheduled-post`: the agent writes one post about a topic and publishes it (or, in
 * dry-run, records it). Started by the schedules in ATPROTO_SCHEDULE, or by hand from
 * the API/Studio.
 */
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { z } from 'zod';
import { clientOf, type AppContext } from '../../clients/context';
import { AtprotoError } from '../../clients/atproto/errors';
import { MAX_GRAPHEMES, publishPost } from '../../clients/atproto/posting';
import { cleanDraft, secretRefusal } from './reply-to-mention';

const input = z.object({
  agent: z.string().default('social'),
  topic: z.string().min(1).max(1000).describe('what the post should be about'),
  dryRun: z.boolean().optional(),
});
const output = z.object({ agent: z.string(), text: z.string(), uri: z.string().nullable(), dryRun: z.boolean() });

export function createScheduledPostWorkflow(ctx: AppContext) {
  const write = createStep({
    id: 'write-and-post',
    inputSchema: input,
    outputSchema: output,
    execute: async ({ inputData, mastra, runId }) => {
      const name = inputData.agent ?? 'social';
      const clients = clientOf(ctx, 'atproto');
      const store = clients.store;
      clients.account(name);
      const agent = mastra.getAgent(name);
      const res = await agent.generate(
        [{ role: 'user', content: `Write one new post for your followers about: ${inputData.topic}\nAt most ${MAX_GRAPHEMES} characters. Reply with the post text only.` }],
        { memory: { resource: `atproto:${name}`, thread: `atproto:${name}:scheduled` }, toolChoice: 'none', activeTools: [], maxSteps: 1, runId },
      );
      const longText = ctx.config.atproto.longText;
      const text = cleanDraft(res.text ?? '', longText);
      if (!text) throw new Error('the agent wrote nothing');
      // Key material fails the run with SECRET_DETECTED (named by kind, never echoed); nothing is written.
      const refused = secretRefusal(text);
      if (refused) throw new AtprotoError('SECRET_DETECTED', refused);
      const dryRun = inputData.dryRun ?? ctx.config.atproto.dryRun;
      // Long text is split into a self-reply thread, as the post tool does (ATPROTO_LONG_TEXT).
      const r = await publishPost({ clients, store, longText, dryRun }, name, { text, dryRun });
      return { agent: name, text, uri: r.uri, dryRun: r.dryRun };
    },
  });
  return createWorkflow({ id: 'scheduled-post', description: 'An agent writes and publishes one post about a topic.', inputSchema: input, outputSchema: output }).then(write).commit();
}
