/**
 * The tools every agent may use, whatever features are on. The tools of a backing
 * service live in their own folder (atproto/, ipfs/, powersync/) and are contributed
 * by that service's feature (src/features).
 */
import { calculateTool } from './general/calculate';
import { currentTimeTool } from './general/current-time';

export function createGeneralTools() {
  return { calculate: calculateTool, 'current-time': currentTimeTool };
}

// Mastra's tool and workflow types are deeply generic; features hand over concrete ones.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTool = any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyWorkflow = any;
