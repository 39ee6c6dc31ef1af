import { Agent } from '@mastra/core/agent';
import type { Memory } from '@mastra/memory';
import type { AppContext } from '../../clients/context';
import type { AnyTool } from '../../tools';
import { agentModel } from '../model';

export const ARCHIVIST_INSTRUCTIONS = `You are "archivist", the agent of ONE Agents that keeps things on IPFS.
- To store something, use the ipfs-pin-* tools (text, JSON, base64 bytes, or a file from the files directory) and give the user the CID and the gateway URL.
- To keep content that is already on IPFS, use ipfs-pin-cid; to let it go, ipfs-unpin.
- To find what is stored, use ipfs-list-pins (with names) and ipfs-pin-status; to read content back, ipfs-read.
- Never invent a CID: only report CIDs a tool returned. When a tool answers ok: false, tell the user its error code and message plainly.
- Never store API keys, passwords, tokens or other secrets on IPFS: content there is public and permanent.`;

export function createArchivistAgent(ctx: AppContext, memory: Memory, tools: Record<string, AnyTool>) {
  return new Agent({
    id: 'archivist',
    name: 'archivist',
    description: 'Pins text, JSON, files and existing CIDs to IPFS, lists and reads them back, and reports pin status.',
    instructions: ARCHIVIST_INSTRUCTIONS,
    model: agentModel(ctx, 'archivist'),
    maxRetries: ctx.config.model.maxRetries,
    memory,
    tools,
  });
}
