/**
 * The Responses API, stage 2: the agent the request names, whether this key owner may
 * use it, the function tools, tool choice and text.format checked against it (all before
 * any thread is claimed), the owner's budget, and who the caller is: the owner of stored
 * responses and the memory resource.
 */
import type { Agent } from '@mastra/core/agent';
import type { Response } from 'express';
import { resolveResource } from '../../auth';
import { usageOwner } from '../../usage';
import { checkClientTools, checkToolChoice, type ClientTool, type ToolChoice } from '../client-tools';
import { errors } from '../errors';
import { agentNamed } from '../models';
import type { AgentRouteDeps } from '../route-deps';
import type { FunctionTool, ResponsesRequest } from '../responses-schema';
import { compileResponseFormat, type CompiledFormat } from '../structured-output';

/** The owner of stored responses: the API key's owner; without API_KEYS (loopback development) every caller is `anonymous`. */
export const ownerOf = (res: Response) => res.locals.caller?.owner ?? 'anonymous';

export interface AuthorizedResponse {
  agent: Agent;
  tools: ClientTool[];
  choice: ToolChoice | undefined;
  format: CompiledFormat | undefined;
  /** The API key's owner (undefined without API_KEYS). */
  keyOwner: string | undefined;
  /** Whom the request is counted and budgeted for (../../usage.ts). */
  usageOwner: string;
  /** The owner of the stored response (ownerOf). */
  owner: string;
  /** The memory resource: the caller's identity. */
  resourceId: string;
}

/**
 * The request's function tools and tool choice in the API-neutral shapes of client-tools.ts,
 * checked there (names against the agent's own tools, sizes, depth). The tool's schema is
 * parseTools' checked copy (patterns removed); errors name `tools[i].name` and `tool_choice.name`.
 */
async function clientToolsOf(agent: Agent, body: ResponsesRequest, tools: FunctionTool[]): Promise<{ tools: ClientTool[]; choice: ToolChoice | undefined }> {
  const client = tools.map((t, i): ClientTool => ({ name: t.name, description: t.description ?? undefined, parameters: t.agentSchema, strict: t.strict ?? undefined, param: `tools[${i}]` }));
  if (client.length) checkClientTools(client, Object.keys(await agent.listTools()));
  const tc = body.tool_choice;
  const choice: ToolChoice | undefined = tc == null ? undefined : typeof tc === 'string' ? tc : { name: tc.name };
  checkToolChoice(choice, client, typeof choice === 'object' ? 'tool_choice.name' : 'tool_choice');
  return { tools: client, choice };
}

export async function authorizeResponse(deps: AgentRouteDeps, res: Response, body: ResponsesRequest, tools: FunctionTool[]): Promise<AuthorizedResponse> {
  const agent = agentNamed(deps.agents, body.model);
  if (!agent) throw errors.modelNotFound(body.model);
  const keyOwner = res.locals.caller?.owner;
  if (deps.mayUse && !deps.mayUse(keyOwner, body.model)) throw errors.agentForbidden(body.model);
  // Client tools, tool choice and text.format are checked before any thread is claimed.
  const client = await clientToolsOf(agent, body, tools);
  const format = compileResponseFormat(body.text?.format ?? undefined, 'text.format.schema');
  // Usage and budgets per key owner (keyless: per `user`), as on chat completions.
  const meterOwner = usageOwner(keyOwner, body.user ?? undefined);
  await deps.usage?.check(meterOwner);
  return { agent, tools: client.tools, choice: client.choice, format, keyOwner, usageOwner: meterOwner, owner: ownerOf(res), resourceId: resolveResource(keyOwner, body.user) };
}
