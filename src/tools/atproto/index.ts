/** The AT Protocol tools, keyed by the name the model sees. */
import type { AtprotoToolDeps } from './common';
import { createDeletePostTool, createFollowTool, createLikeTool, createRepostTool, createUnfollowTool } from './interact';
import { createPostTool } from './post';
import { createReadProfileTool, createReadThreadTool } from './read';
import { createReplyTool } from './reply';

export type { AtprotoToolDeps } from './common';

export function createAtprotoTools(d: AtprotoToolDeps) {
  return {
    'atproto-post': createPostTool(d),
    'atproto-reply': createReplyTool(d),
    'atproto-like': createLikeTool(d),
    'atproto-repost': createRepostTool(d),
    'atproto-follow': createFollowTool(d),
    'atproto-unfollow': createUnfollowTool(d),
    'atproto-delete-post': createDeletePostTool(d),
    'atproto-read-thread': createReadThreadTool(d),
    'atproto-read-profile': createReadProfileTool(d),
  };
}
