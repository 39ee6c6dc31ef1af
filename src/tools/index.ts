/**
 * Every tool the runtime knows, keyed by the name the model sees. Groups by backing
 * service live in their own folders (general/, atproto/, ipfs/, sync/) and are
 * contributed by their feature (src/features).
 */
import type { AppContext } from '../context';
import { enabledFeatures } from '../features';
import { calculateTool } from './general/calculate';
import { currentTimeTool } from './general/current-time';

export function createGeneralTools() {
  return { calculate: calculateTool, 'current-time': currentTimeTool };
}

export function createAllTools(ctx: AppContext) {
  return Object.assign({ ...createGeneralTools() }, ...enabledFeatures(ctx.config).map((f) => f.tools?.(ctx) ?? {}));
}
