/** Every workflow the runtime knows, keyed by id, contributed by the features. */
import type { AppContext } from '../context';
import { features } from '../features';

export function createWorkflows(ctx: AppContext) {
  return Object.assign({}, ...features.map((f) => f.workflows?.(ctx) ?? {}));
}
