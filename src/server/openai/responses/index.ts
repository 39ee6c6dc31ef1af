/**
 * OpenAI's Responses API on the agents:
 *   POST   /v1/responses                       run the agent named by `model`
 *   GET    /v1/responses/:id                   a stored response
 *   DELETE /v1/responses/:id                   delete a stored response
 *   GET    /v1/responses/:id/input_items       its input items (paginated)
 *
 * POST goes through one stage per file, as chat completions do (../chat/):
 *   parse.ts      the body, input items and function tools, checked
 *   authorize.ts  the agent, whether the key owner may use it, its tools and text.format, the budget
 *   thread.ts     the response's memory thread and its run lease (src/conversations):
 *                 previous_response_id, conversation, or a new thread; `store: false`
 *                 runs without memory; a thread a run is on answers conversation_locked
 *   input.ts      the input items as the agent's messages (with a known thread only the
 *                 items after the last assistant message are new)
 *   run.ts        the run, the stored response, the answer as one Response object;
 *                 stream.ts the event stream
 * Stored responses are read and deleted in stored.ts; objects.ts builds the objects.
 *
 * Function tools (`tools: [{type: "function", …}]`) are offered to the model beside the
 * agent's own tools; when the model calls one, the run ends with `function_call` output
 * items, and the next request carries `function_call_output` items (with
 * previous_response_id, conversation or the full transcript).
 */
import { Router, type Request, type Response } from 'express';
import { ImageHold, IMAGES_UNCONFIGURED } from '../images';
import { itemId } from '../responses-schema';
import { authorizeResponse } from './authorize';
import { planTurn } from './input';
import type { OutputItem } from './objects';
import { parseResponseRequest } from './parse';
import { responseMeter, runResponse, type ResponsesDeps } from './run';
import { addStoredResponseRoutes } from './stored';
import { resolveResponseThread, takeResponseThread, threadSourceOf } from './thread';

export type { ResponsesDeps };

export function createResponsesHandler(deps: ResponsesDeps) {
  return async function createResponse(req: Request, res: Response) {
    const request = parseResponseRequest(req.body);
    const { body, items } = request;
    const auth = await authorizeResponse(deps, res, body, request.tools);
    const meter = responseMeter(deps.usage, auth.usageOwner, body.model);

    const store = body.store ?? true;
    const source = threadSourceOf(body, auth.owner, store);
    const found = await resolveResponseThread(deps, source, auth.resourceId);
    // Cancelled when the client goes away (an image fetch, then the model call).
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client disconnected'));
    });
    const named = found?.id !== undefined ? found : undefined;
    const previousOutput = (named?.previous?.output ?? []) as OutputItem[];
    // The request's image bytes count against IMAGE_MAX_INFLIGHT_BYTES until it has been answered.
    const hold = new ImageHold(deps.images?.gate);
    try {
      const input = await planTurn(items, body.instructions, named?.exists ?? false, previousOutput, { images: deps.images ?? IMAGES_UNCONFIGURED, signal: abort.signal, hold });

      const id = itemId('resp');
      // A new thread is claimed (and created) now that the input is checked; one run at a time per thread.
      const { thread, lease } = await takeResponseThread(deps, source, found, id);
      try {
        await runResponse(deps, { res, request, auth, thread, lease, id, store, abort, input, meter });
      } finally {
        await lease.release();
        await meter.count();
      }
    } finally {
      hold.release();
    }
  };
}

export function responsesRouter(deps: ResponsesDeps) {
  const router = Router();
  router.post('/responses', createResponsesHandler(deps));
  return addStoredResponseRoutes(router, deps);
}
