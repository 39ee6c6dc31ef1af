/**
 * The user a tool call acts for: the memory resource of the conversation the agent is
 * in (set by the server from the API key owner, never by the model). Tools take no
 * user id as input, so the model cannot choose another user's rows.
 */
import { MASTRA_RESOURCE_ID_KEY } from '@mastra/core/request-context';
import { AppError } from '../../errors';

export class NoUserError extends AppError<'NO_USER'> {
  constructor() {
    super('NO_USER', 'this tool only works inside a conversation with a user (no memory resource)');
  }
}

export function userOf(context: { agent?: { resourceId?: string }; requestContext?: { get(key: string): unknown } } | undefined): string {
  const fromAgent = context?.agent?.resourceId;
  const fromRequest = context?.requestContext?.get(MASTRA_RESOURCE_ID_KEY);
  const user = fromAgent ?? (typeof fromRequest === 'string' ? fromRequest : undefined);
  if (!user) throw new NoUserError();
  return user;
}
