/**
 * Stored responses: GET /v1/responses/:id, DELETE /v1/responses/:id and
 * GET /v1/responses/:id/input_items (paginated). Only the owner's (ownerOf): another
 * owner's id is indistinguishable from an unknown one.
 */
import type { Request, Response, Router } from 'express';
import { deleteResponse, getResponse } from '../../../db/responses';
import { errors } from '../errors';
import { ownerOf } from './authorize';
import { storedObject } from './objects';
import type { ResponsesDeps } from './run';
import { RESPONSE_ID } from './thread';

export function addStoredResponseRoutes(router: Router, deps: ResponsesDeps): Router {
  const find = async (req: Request, res: Response) => {
    const id = String(req.params.id);
    const found = RESPONSE_ID.test(id) ? await getResponse(deps.db, id, ownerOf(res)) : undefined;
    if (!found) throw errors.responseNotFound();
    return found;
  };
  router.get('/responses/:id', async (req, res) => {
    if (req.query.stream === 'true') throw errors.invalidBody("Invalid value for 'stream': streaming a stored response again is not supported.", 'stream');
    res.json(storedObject(await find(req, res)));
  });
  router.delete('/responses/:id', async (req, res) => {
    const id = String(req.params.id);
    if (!RESPONSE_ID.test(id) || !(await deleteResponse(deps.db, id, ownerOf(res)))) throw errors.responseNotFound();
    res.json({ id, object: 'response', deleted: true });
  });
  router.get('/responses/:id/input_items', async (req, res) => {
    const q = req.query;
    const limit = q.limit === undefined ? 20 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw errors.invalidBody("Invalid value for 'limit': an integer from 1 to 100.", 'limit');
    const order = q.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') throw errors.invalidBody("Invalid value for 'order': 'asc' or 'desc'.", 'order');
    if (q.after !== undefined && typeof q.after !== 'string') throw errors.invalidBody("Invalid value for 'after': an item id.", 'after');
    const found = await find(req, res);
    let list = (found.inputItems as Array<{ id: string }>).slice();
    if (order === 'desc') list.reverse();
    if (q.after !== undefined) {
      const at = list.findIndex((i) => i.id === q.after);
      if (at < 0) throw errors.invalidBody("Invalid value for 'after': no input item of this response has that id.", 'after');
      list = list.slice(at + 1);
    }
    const page = list.slice(0, limit);
    res.json({ object: 'list', data: page, first_id: page[0]?.id ?? null, last_id: page.at(-1)?.id ?? null, has_more: list.length > limit });
  });
  return router;
}
