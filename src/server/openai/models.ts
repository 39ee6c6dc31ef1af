/** GET /v1/models and /v1/models/:id: the named agents, in OpenAI's list format. */
import type { Agent } from '@mastra/core/agent';
import { Router } from 'express';
import { errors } from './errors';

/** The agent named by request data (`model`, a URL), or undefined: own properties only, so `constructor` or `__proto__` is just unknown. */
export function agentNamed(agents: Record<string, Agent>, name: string): Agent | undefined {
  return Object.hasOwn(agents, name) ? agents[name] : undefined;
}

/** Lists and describes only the agents the caller may use (`mayUse`); others are 404 as if unknown. */
export function modelsRouter(agents: Record<string, Agent>, startedAt: number, mayUse: (owner: string | undefined, agent: string) => boolean = () => true) {
  const router = Router();
  const created = Math.floor(startedAt / 1000);
  const describe = (name: string) => ({
    id: name,
    object: 'model' as const,
    created,
    owned_by: 'one-agents',
    description: agents[name]!.getDescription?.() ?? '',
  });
  router.get('/models', (_req, res) => {
    const owner = res.locals.caller?.owner;
    res.json({ object: 'list', data: Object.keys(agents).filter((name) => mayUse(owner, name)).sort().map(describe) });
  });
  router.get('/models/:id', (req, res) => {
    const id = req.params.id;
    if (!agentNamed(agents, id) || !mayUse(res.locals.caller?.owner, id)) throw errors.modelNotFound(id);
    res.json(describe(id));
  });
  return router;
}
