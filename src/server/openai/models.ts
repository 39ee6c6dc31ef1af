/** GET /v1/models and /v1/models/:id: the named agents, in OpenAI's list format. */
import type { Agent } from '@mastra/core/agent';
import { Router } from 'express';
import { errors } from './errors';

/** The agent named by request data (`model`, a URL), or undefined: own properties only, so `constructor` or `__proto__` is just unknown. */
export function agentNamed(agents: Record<string, Agent>, name: string): Agent | undefined {
  return Object.hasOwn(agents, name) ? agents[name] : undefined;
}

export function modelsRouter(agents: Record<string, Agent>, startedAt: number) {
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
    res.json({ object: 'list', data: Object.keys(agents).sort().map(describe) });
  });
  router.get('/models/:id', (req, res) => {
    const id = req.params.id;
    if (!agentNamed(agents, id)) throw errors.modelNotFound(id);
    res.json(describe(id));
  });
  return router;
}
