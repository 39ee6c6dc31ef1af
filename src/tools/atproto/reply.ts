/** `atproto-reply`: answer a post; root and parent refs are right at any depth of a thread. */
import { createTool } from '@mastra/core/tools';
import { z } from 'zod';
import { publishPost } from '../../clients/atproto/posting';
import { actingAgent, postingDeps, run, type AtprotoToolDeps } from './common';
import { toolResult } from '../result';
import { imageInput, longTextInput, postOutputShape } from './post';

export function createReplyTool(d: AtprotoToolDeps) {
  return createTool({
    id: 'atproto-reply',
    description: 'Reply to a post (given by its at:// URI) as this agent. The reply joins the same thread. Rich text as in atproto-post.',
    inputSchema: z.object({
      parentUri: z.string().describe('at:// URI of the post to answer'),
      text: z.string().max(10_000),
      langs: z.array(z.string()).max(3).optional(),
      image: imageInput.optional(),
      longText: longTextInput,
    }),
    outputSchema: toolResult(postOutputShape),
    execute: async (input, context) =>
      run(d, 'atproto-reply', async () => {
        const longText = input.longText ?? d.longText;
        const r = await publishPost(postingDeps(d), actingAgent(d, context), { text: input.text, langs: input.langs, image: input.image, replyTo: input.parentUri, longText });
        return { uri: r.uri, cid: r.cid, posts: r.posts, split: r.split, dryRun: r.dryRun, longText };
      }),
  });
}
