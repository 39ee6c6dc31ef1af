/**
 * POST /v1/chat/completions: runs the named agent (its tools run here, server-side)
 * and answers as OpenAI does, as one `chat.completion` or as `chat.completion.chunk`
 * server-sent events ending in `data: [DONE]`.
 *
 * One stage per file, in the order a request goes through them:
 *   parse.ts      the body, checked (400 naming the parameter)
 *   authorize.ts  the agent, whether the key owner may use it, its tools and format, the budget
 *   thread.ts     the caller's thread and its run lease (src/conversations): x-thread-id,
 *                 else the resent transcript or X-OpenWebUI-Chat-Id (transcript.ts), else a
 *                 new one; every response names it in the `x-thread-id` header
 *   run.ts        the turn's messages (messages.ts: with a known thread only the messages
 *                 after the last assistant turn are new) and the agent run
 *   answer.ts     the answer as JSON; stream.ts as server-sent events
 *
 * Client-side tools (../client-tools.ts) are offered beside the agent's own; a call of one
 * ends the response with `tool_calls`. `response_format` is checked server-side
 * (../structured-output.ts); image parts are resolved in ../conversation.ts. Open WebUI's
 * background tasks run without tools or memory (../openwebui.ts); every request is counted
 * and budgeted per owner (../../usage.ts); what each request parameter does is in ../params.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { openWebUITask } from '../openwebui';
import type { AgentRouteDeps } from '../route-deps';
import { authorizeChat } from './authorize';
import { parseBody } from './parse';
import { runChatTurn, runTask } from './run';
import { chatThread, threadSourceOf } from './thread';

export type ChatDeps = AgentRouteDeps;

export { finishReason } from './answer';

export function createChatHandler(deps: ChatDeps) {
  return async function chatCompletions(req: Request, res: Response) {
    const body = parseBody(req.body);
    const auth = await authorizeChat(deps, req, res, body);
    // ---- Open WebUI background task: the agent's model alone, no tools, no memory ----
    const task = openWebUITask(body.messages);
    if (task) return runTask(deps, res, body, auth.agent, task, auth.usageOwner, auth.format);

    const source = threadSourceOf(req, body);
    const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client disconnected'));
    });
    const { thread, lease } = await chatThread(deps, { source, resourceId: auth.resourceId, runId: id, signal: abort.signal });
    try {
      await runChatTurn(deps, { res, body, auth, thread, lease, id, abort });
    } finally {
      await lease.release();
    }
  };
}
