/**
 * Chat Completions, stage 2: the agent the request names, whether this key owner may
 * use it, the parameters it may take (params.ts), the client tools and response format
 * checked against it (all before any thread is claimed), the caller's memory resource and
 * usage owner, and the owner's budget.
 */
import type { Agent } from '@mastra/core/agent';
import type { Request, Response } from 'express';
import { resolveResource } from '../../auth';
import { usageOwner } from '../../usage';
import { checkClientTools, checkToolChoice, type ClientTool, type ToolChoice } from '../client-tools';
import { errors } from '../errors';
import { agentNamed } from '../models';
import { checkParams } from '../params';
import type { AgentRouteDeps } from '../route-deps';
import type { ChatCompletionRequest } from '../schema';
import { compileResponseFormat, type CompiledFormat } from '../structured-output';
import { clientToolsOf, responseFormatOf } from './parse';

export interface AuthorizedChat {
  agent: Agent;
  /** The provider-options namespace of the agent's OpenAI-compatible model (route-deps.ts compatibleProvider). */
  provider: string | undefined;
  tools: ClientTool[];
  choice: ToolChoice | undefined;
  /** The legacy functions shape: `function_call`, finish_reason "function_call". */
  legacy: boolean;
  format: CompiledFormat | undefined;
  /** The memory resource: the caller's identity. */
  resourceId: string;
  /** Whom the request is counted and budgeted for (../../usage.ts). */
  usageOwner: string;
}

export async function authorizeChat(deps: AgentRouteDeps, req: Request, res: Response, body: ChatCompletionRequest): Promise<AuthorizedChat> {
  const agent = agentNamed(deps.agents, body.model);
  if (!agent) throw errors.modelNotFound(body.model);
  if (deps.mayUse && !deps.mayUse(res.locals.caller?.owner, body.model)) throw errors.agentForbidden(body.model);
  const provider = deps.compatibleProvider?.(body.model);
  const { ignoredUnknown } = checkParams(req.body as Record<string, unknown>, provider !== undefined);
  if (ignoredUnknown.length) res.setHeader('x-ignored-params', ignoredUnknown.join(', '));

  // Client tools and the response format are checked before any thread is claimed.
  const { tools, choice, legacy } = clientToolsOf(body);
  if (tools.length) checkClientTools(tools, Object.keys(await agent.listTools()), legacy ? 'functions' : 'tools');
  checkToolChoice(choice, tools, legacy ? 'function_call' : 'tool_choice');
  const format = compileResponseFormat(responseFormatOf(body));

  // Open WebUI (ENABLE_FORWARD_USER_INFO_HEADERS) names its own user in X-OpenWebUI-User-Id: one
  // memory per Open WebUI user inside the key owner's space, as `user` gives (a `user` in the body wins).
  const user = body.user ?? req.get('x-openwebui-user-id');
  const resourceId = resolveResource(res.locals.caller?.owner, user);
  const owner = usageOwner(res.locals.caller?.owner, user ?? undefined);
  await deps.usage?.check(owner);
  return { agent, provider, tools, choice, legacy, format, resourceId, usageOwner: owner };
}
