/** `atproto-post`: publish a post as the agent (rich text, languages, image, quote or link card). */
import { createTool } from '@mastra/core/tools';
import { z } from 'zod';
import { publishPost } from '../../clients/atproto/posting';
import { actingAgent, postingDeps, run, type AtprotoToolDeps } from './common';
import { toolResult } from '../result';

export const imageInput = z.object({
  data: z.string().min(1).describe('base64 bytes or a data: URL (PNG, JPEG, GIF, WebP; at most 1 MB)'),
  alt: z.string().max(2000).describe('alt text describing the image for people who cannot see it'),
  mimeType: z.string().optional(),
  aspectRatio: z.object({ width: z.number().int().min(1), height: z.number().int().min(1) }).optional().describe('read from PNG/JPEG headers when omitted'),
});

export const longTextInput = z
  .enum(['split', 'refuse'])
  .optional()
  .describe('text over 300 graphemes: split into a self-reply thread, or refuse with TEXT_TOO_LONG (default from ATPROTO_LONG_TEXT)');

export const postOutputShape = {
  uri: z.string().nullable(),
  cid: z.string().nullable(),
  posts: z.array(z.object({ uri: z.string().nullable(), cid: z.string().nullable(), text: z.string() })),
  split: z.boolean().describe('true when the text was split into a thread of several posts'),
  dryRun: z.boolean().describe('true when nothing was written (dry-run mode); the post was recorded instead'),
  longText: z.enum(['split', 'refuse']),
};

export function createPostTool(d: AtprotoToolDeps) {
  return createTool({
    id: 'atproto-post',
    description:
      'Publish a new Bluesky/AT Protocol post as this agent. @handles, links and #hashtags become rich-text facets. ' +
      'Optional: languages, one image with alt text, a quoted post (at:// URI) or a link card. Posts are labelled as automated.',
    inputSchema: z.object({
      text: z.string().max(10_000).describe('the post text (300 graphemes per post)'),
      langs: z.array(z.string()).max(3).optional().describe('BCP-47 language tags, e.g. ["en"]'),
      image: imageInput.optional(),
      quoteUri: z.string().optional().describe('at:// URI of a post to quote'),
      link: z.object({ uri: z.string(), title: z.string().max(300), description: z.string().max(1000).optional() }).optional().describe('a link card'),
      longText: longTextInput,
    }),
    outputSchema: toolResult(postOutputShape),
    execute: async (input, context) =>
      run(d, 'atproto-post', async () => {
        const longText = input.longText ?? d.longText;
        const r = await publishPost(postingDeps(d), actingAgent(d, context), { ...input, longText });
        return { uri: r.uri, cid: r.cid, posts: r.posts, split: r.split, dryRun: r.dryRun, longText };
      }),
  });
}
