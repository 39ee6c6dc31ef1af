/**
 * MCP tool annotations (readOnlyHint, destructiveHint, idempotentHint, openWorldHint) of
 * the project's Mastra tools, by tool id, and of an `ask_<agent>` tool: what its agent's
 * tools may do, combined. A tool id not in the table is assumed to write, to be
 * destructive and to reach outside (the safe guesses for a client asking a human).
 */
import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';

type Hints = Required<Pick<ToolAnnotations, 'readOnlyHint' | 'destructiveHint' | 'idempotentHint' | 'openWorldHint'>>;

const read = (openWorld: boolean): Hints => ({ readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: openWorld });
const write = (destructive: boolean, idempotent: boolean, openWorld: boolean): Hints => ({ readOnlyHint: false, destructiveHint: destructive, idempotentHint: idempotent, openWorldHint: openWorld });

/** What each of the project's tools does (src/tools). */
export const TOOL_HINTS: Record<string, Hints> = {
  calculate: read(false),
  'current-time': read(false),
  // AT Protocol: public posts and follows on a shared account.
  'atproto-post': write(false, false, true),
  'atproto-reply': write(false, false, true),
  'atproto-like': write(false, true, true),
  'atproto-repost': write(false, true, true),
  'atproto-follow': write(false, true, true),
  'atproto-unfollow': write(true, true, true),
  'atproto-delete-post': write(true, true, true),
  'atproto-read-thread': read(true),
  'atproto-read-profile': read(true),
  // IPFS: pins are public and permanent once replicated; unpin removes one.
  'ipfs-pin-text': write(false, true, true),
  'ipfs-pin-json': write(false, true, true),
  'ipfs-pin-bytes': write(false, true, true),
  'ipfs-pin-file': write(false, true, true),
  'ipfs-pin-cid': write(false, true, true),
  'ipfs-unpin': write(true, true, true),
  'ipfs-list-pins': read(false),
  'ipfs-read': read(true),
  'ipfs-pin-status': read(false),
  // PowerSync: the caller's own synced rows.
  'save-note': write(false, false, false),
  'save-artifact': write(false, false, false),
  'update-task': write(true, true, false),
  'list-artifacts': read(false),
};

const UNKNOWN: Hints = write(true, false, true);

export function toolHints(toolId: string): Hints {
  return Object.hasOwn(TOOL_HINTS, toolId) ? TOOL_HINTS[toolId]! : UNKNOWN;
}

/**
 * An `ask_<agent>` call: never read-only (the turn is stored in the caller's memory
 * thread) nor idempotent (every call is a new turn); destructive or open-world when any
 * of the agent's tools is.
 */
export function askHints(toolIds: string[]): Hints {
  const all = toolIds.map(toolHints);
  return {
    readOnlyHint: false,
    destructiveHint: all.some((h) => h.destructiveHint),
    idempotentHint: false,
    // The model itself is outside this server, but a turn only reaches the outside world through a tool.
    openWorldHint: all.some((h) => h.openWorldHint),
  };
}
