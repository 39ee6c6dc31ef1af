/** Every workflow the runtime knows, keyed by id, contributed by the features. */
import type { AppContext } from '../context';
import { enabledFeatures } from '../features';

export function createWorkflows(ctx: AppContext) {
  return Object.assign({}, ...enabledFeatures(ctx.config).map((f) => f.workflows?.(ctx) ?? {}));
}
